"""Freshness checks: a table updated within its lag passes, one never (or too long ago) updated is overdue."""

from __future__ import annotations

import datetime as dt

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_factories.freshness_checks import last_update

from lake_assets.checks.freshness import DAILY_LAG, FRESHNESS_SENSOR, freshness_checks
from lake_assets.definitions import build_definitions

KEY = dg.AssetKey(["final", "shop", "t"])


def _evaluate(instance: dg.DagsterInstance) -> bool:
    @dg.asset(key=KEY)
    def t() -> int:
        return 1

    checks, _ = freshness_checks({KEY: DAILY_LAG})
    result = dg.materialize([t, *checks], instance=instance, selection=dg.AssetSelection.all_asset_checks())
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation.passed


def test_a_table_never_updated_is_overdue_and_a_fresh_one_passes() -> None:
    with dg.instance_for_test() as instance:
        assert _evaluate(instance) is False
        instance.report_runless_asset_event(dg.AssetMaterialization(KEY))
        assert _evaluate(instance) is True


def test_an_update_older_than_the_lag_is_overdue(monkeypatch) -> None:  # noqa: ANN001
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(KEY))
        later = (dt.datetime.now(dt.UTC) + DAILY_LAG + dt.timedelta(hours=1)).timestamp()
        monkeypatch.setattr(last_update, "get_current_timestamp", lambda: later)  # a day and 3 hours on
        assert _evaluate(instance) is False


def test_the_lake_checks_freshness_of_final_and_cdc_current_tables() -> None:
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    fresh = {k.asset_key for k in graph.asset_check_keys if k.name.startswith("freshness")}
    assert dg.AssetKey(["final", "shop", "daily_funnel"]) in fresh
    assert dg.AssetKey(["final", "shop", "daily_product_sales"]) in fresh
    assert all(k.path[0] == "final" or k.path[:2] == ["intermediate", "cdc"] for k in fresh)
    assert defs.resolve_sensor_def(FRESHNESS_SENSOR).default_status == dg.DefaultSensorStatus.RUNNING
