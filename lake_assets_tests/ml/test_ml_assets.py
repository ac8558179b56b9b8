"""The ML assets with ``dagster.materialize`` on a temporary lake holding synthetic events and a CDC history.

Intermediate event tables and the customers' SCD2 history are written through the lake's own checked commit
(the tables the real layers write), with customers whose order rate differs, so the label is learnable.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import pickle
import random
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from lake_assets.access.policy import load_policy
from lake_assets.assets.ml import (
    BASELINE_CHECK,
    MODEL_KEY,
    build_ml_assets,
    build_splits_asset,
    customer_orders_baseline,
)
from lake_assets.layers.cdc import history_table
from lake_assets.ml.datasets import PART, Manifest, SplitInfo, export_splits, manifest_key, split_prefix
from lake_assets.ml.features import FEATURE_TABLE
from lake_assets.resources.spark import SparkResource
from lake_assets.settings import load_settings
from lake_assets.sources.cdc.specs import load_specs
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.tables.catalog import CatalogConfig, catalog_session
from lake_assets.tables.checked_commit import commit_checked
from lake_assets.tables.specs import table_spec
from lake_assets.transforms.features import MATRIX_COLUMNS, SPLITS
from lake_assets_tests.iceberg_readers import pyiceberg_table
from lake_assets_tests.lake_helpers import lake_resource, policy_with

FIRST, DAYS, CUSTOMERS = dt.date(2026, 10, 1), 45, 60
CUSTOMERS_SPEC = next(s for s in load_specs(load_settings({}).cdc_tables) if s.table == "customers")


def _write_inputs(spark, root: Path) -> None:
    """45 days of sessions and orders for 60 customers (order rate by customer), and their history."""
    rng = random.Random(5)
    views, carts, orders = [], [], []
    for day in range(DAYS):
        date = FIRST + dt.timedelta(days=day)
        for c in range(1, CUSTOMERS + 1):
            rate = (0.02, 0.12, 0.4)[c % 3]
            at = dt.datetime.combine(date, dt.time(10 + c % 8), tzinfo=dt.UTC)
            session, user = f"s-{day}-{c}", f"u-{c:06d}"
            if rng.random() < rate:
                views.append((at, date, session, user))
                carts.append((at, date, session, user, "add"))
                orders.append((at, date, session, user, f"o-{day}-{c}", 1000 + 10 * c))
            elif rng.random() < 0.15:
                views.append((at, date, session, user))
                carts.append((at, date, session, user, "add"))
    event = "event_time timestamp, dt date, session_id string, user_id string"
    catalog = CatalogConfig.for_settings(lake_resource(root))
    session = catalog_session(spark, catalog)
    tables = {
        "events_page_view": session.createDataFrame(views, event),
        "events_cart_update": session.createDataFrame(carts, f"{event}, action string"),
        "events_order_placed": session.createDataFrame(
            orders, f"{event}, order_id string, total_cents bigint"
        ),
    }
    for name, df in tables.items():
        assert commit_checked(session, catalog, table_spec("intermediate", name), df, []).published
    since = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
    changed = dt.datetime(2026, 10, 20, 12, tzinfo=dt.UTC)
    history = [
        (c, ("std", "silver", "gold")[c % 3], True, since, changed if c == 1 else None, False, "01")
        for c in range(1, 61)
    ] + [(1, "gold", False, changed, None, False, "02")]  # customer 1 changes on 10-20
    frame = session.createDataFrame(
        history,
        "customer_id int, tier string, active boolean, valid_from timestamp, valid_to timestamp, "
        "is_deleted boolean, position string",
    )
    assert commit_checked(session, catalog, history_table(CUSTOMERS_SPEC), frame, []).published


def _run(root: Path, assets: list, **kwargs) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        resources={"lake": lake_resource(root), "spark": SparkResource()},
        raise_on_error=False,
        **kwargs,
    )


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory) -> tuple[Path, dict[str, dg.ExecuteInProcessResult]]:
    root = tmp_path_factory.mktemp("ml") / "lake"
    root.mkdir()
    _write_inputs(spark, root)
    features, splits, model = build_ml_assets([CUSTOMERS_SPEC], load_policy())
    last = (FIRST + dt.timedelta(days=DAYS - 1)).isoformat()
    runs = {
        "features": _run(
            root,
            [features],
            tags={
                "dagster/asset_partition_range_start": FIRST.isoformat(),
                "dagster/asset_partition_range_end": last,
            },
        ),
        "later": _run(root, [splits, model]),
    }
    return root, runs


def test_feature_table_is_committed_for_the_range_with_its_checks(lake) -> None:
    root, runs = lake
    result = runs["features"]
    assert result.success
    materializations = [e.materialization for e in result.get_asset_materialization_events()]
    assert {m.partition for m in materializations} == {
        (FIRST + dt.timedelta(days=n)).isoformat() for n in range(DAYS)
    }  # one run, every day of the range
    assert materializations[0].metadata["partitions"].value == DAYS
    assert all(e.passed for e in result.get_asset_check_evaluations())
    table = pyiceberg_table(root, FEATURE_TABLE.identifier).to_pylist()
    assert len({(r["dt"], r["customer_id"]) for r in table}) == len(table) == DAYS * CUSTOMERS
    by_key = {(r["dt"], r["customer_id"]): r for r in table}
    # Point in time: customer 1 changed to gold on 10-20 at noon; 10-19 still shows the old tier.
    assert by_key[(dt.date(2026, 10, 19), 1)]["tier"] == "silver"
    assert by_key[(dt.date(2026, 10, 20), 1)]["tier"] == "gold"
    # The horizon is the day before the newest event day (11-14): labels reach 11-06 (11-06 + 7 = 11-13).
    labelled = {r["dt"] for r in table if r["label"] is not None}
    assert max(labelled) == dt.date(2026, 11, 6) and min(labelled) == FIRST


def test_splits_are_exported_as_sagemaker_reads_them(lake) -> None:
    root, runs = lake
    assert runs["later"].success
    store = LocalObjectStore(root)
    manifest = Manifest.from_json(store.get_bytes(manifest_key()))
    assert manifest.columns == list(MATRIX_COLUMNS) and manifest.columns[0] == "label"
    assert list(manifest.splits) == list(SPLITS)
    previous_end = None
    for name in SPLITS:
        info = manifest.splits[name]
        assert store.list_keys(info.prefix) == [info.prefix + PART]  # one object per channel, nothing else
        rows = list(csv.reader(io.StringIO(store.get_bytes(info.prefix + PART).decode())))
        assert len(rows) == info.rows > 0 and all(len(r) == len(MATRIX_COLUMNS) for r in rows)
        assert {r[0] for r in rows} <= {"0", "1"} and sum(r[0] == "1" for r in rows) == info.positives
        start, end = dt.date.fromisoformat(info.first_day), dt.date.fromisoformat(info.last_day)
        assert info.rows == ((end - start).days + 1) * CUSTOMERS  # every customer on every day of the split
        if previous_end is not None:  # ordered, and no label window reaches into the next split
            assert previous_end + dt.timedelta(days=7) < start
        previous_end = end


def test_the_baseline_model_beats_the_base_rate_and_is_saved(lake) -> None:
    root, runs = lake
    result = runs["later"]
    (metadata,) = [
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == MODEL_KEY
    ]
    assert metadata["validation_auc"].value > 0.6
    assert metadata["validation_log_loss"].value < metadata["validation_baseline_log_loss"].value
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == BASELINE_CHECK]
    assert check.passed
    store = LocalObjectStore(root)
    model = pickle.loads(store.get_bytes("final/ml/customer_orders_7d/model/model.pkl"))
    assert model.predict_proba(np.zeros((1, len(MATRIX_COLUMNS) - 1))).shape == (1, 2)
    metrics = json.loads(store.get_bytes("final/ml/customer_orders_7d/model/metrics.json"))
    assert metrics["validation"]["auc"] == pytest.approx(metadata["validation_auc"].value, abs=1e-6)


def test_the_check_fails_when_the_model_learns_nothing(tmp_path: Path) -> None:
    """Random labels written as an export: the model asset materializes, its check fails."""
    store = LocalObjectStore(tmp_path)
    rng = np.random.default_rng(9)
    manifest = Manifest("customer_orders_7d", "final.x", 1, "text/csv", "label", list(MATRIX_COLUMNS), 7)
    for name, rows in zip(SPLITS, (3000, 1500, 500), strict=True):
        matrix = np.column_stack([rng.random(rows) < 0.3, rng.normal(size=(rows, len(MATRIX_COLUMNS) - 1))])
        text = "\n".join(",".join(f"{v:g}" for v in row) for row in matrix) + "\n"
        store.put_bytes(split_prefix(name) + PART, text.encode())
        manifest.splits[name] = SplitInfo(split_prefix(name), "", rows, 0, "2026-10-01", "2026-10-02")
    store.put_bytes(manifest_key(), manifest.to_json())
    result = dg.materialize([customer_orders_baseline], resources={"lake": lake_resource(tmp_path)})
    assert result.success  # the model is saved; the check says it is no better than the base rate
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == BASELINE_CHECK and not check.passed
    assert abs(check.metadata["validation_auc"].value - 0.5) < 0.02 + 1e-9 or (
        check.metadata["validation_log_loss"].value >= check.metadata["validation_baseline_log_loss"].value
    )


def test_without_labelled_days_the_splits_and_model_are_skipped_with_the_reason(
    tmp_path: Path, spark
) -> None:
    """A young lake: materializing everything succeeds; nothing is exported and the log says why."""
    instance = dg.DagsterInstance.ephemeral()
    result = _run(tmp_path, [build_splits_asset(load_policy()), customer_orders_baseline], instance=instance)
    assert result.success
    assert result.get_asset_materialization_events() == []
    skipped = [e for e in result.all_events if e.event_type_value == "STEP_SKIPPED"]
    assert [e.step_key for e in skipped] == ["final__ml__customer_orders_7d_baseline"]
    warnings = [r.user_message for r in instance.all_logs(result.run_id) if r.level >= 30]
    assert any("final.ml_customer_day_features does not exist" in m for m in warnings), warnings


def test_lake_ml_commands_on_the_local_export(lake, monkeypatch, capsys) -> None:
    """``lake ml manifest`` prints the export; ``lake ml train`` refuses a local lake and says why."""
    from lake_assets.cli import main

    root, _ = lake
    for name in [n for n in os.environ if n.startswith(("LAKE_", "AWS_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LAKE_ROOT", str(root))
    monkeypatch.setenv("LAKE_SAGEMAKER_ROLE_ARN", "arn:aws:iam::123456789012:role/lake-sagemaker")
    assert main(["ml", "manifest"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["columns"][0] == "label" and set(printed["splits"]) == set(SPLITS)
    assert main(["ml", "train", "--dry-run"]) == 2
    assert "SageMaker reads its channels from S3" in capsys.readouterr().err


def test_the_export_holds_only_the_rows_its_reader_may_read(lake, spark, tmp_path: Path) -> None:
    """analyst (the export's reader) granted the feature table from 2026-10-10 only: every split starts on or
    after that day,
    and the CSVs hold exactly the labelled rows of the table in the splits' days (read with pyiceberg)."""
    root, _ = lake
    grant = "  - principal: analyst\n    database: final\n"
    restricted = "  - principal: analyst\n    tables: [final.ml_customer_day_features]\n"
    policy = policy_with(tmp_path, (grant, restricted + "    row_filter: \"dt >= DATE '2026-10-10'\"\n"))
    session = catalog_session(spark, CatalogConfig.for_lake(str(root)))
    out = tmp_path / "out"
    out.mkdir()
    manifest = export_splits(session, LocalObjectStore(out), policy)
    assert manifest.read_as == "analyst"
    assert manifest.splits["train"].first_day == "2026-10-10"
    table = pyiceberg_table(root, FEATURE_TABLE.identifier).to_pylist()
    for name, info in manifest.splits.items():
        first, last = dt.date.fromisoformat(info.first_day), dt.date.fromisoformat(info.last_day)
        expected = [r for r in table if r["label"] is not None and first <= r["dt"] <= last]
        written = (out / "final" / "ml" / manifest.dataset / name / PART).read_text().splitlines()
        assert len(written) == info.rows == len(expected), name


def test_an_export_whose_reader_may_not_read_a_feature_is_refused(tmp_path: Path) -> None:
    """The export's reader (analyst) without the customer's tier: the export run fails naming the column,
    and nothing is written."""
    grant = "  - principal: analyst\n    database: final\n"
    restricted = "  - principal: analyst\n    tables: [final.ml_customer_day_features]\n"
    policy = policy_with(tmp_path, (grant, restricted + "    columns: {exclude: [tier]}\n"))
    out = tmp_path / "lake"
    out.mkdir()
    result = _run(out, [build_splits_asset(policy)])
    [failure] = result.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert "analyst, who may not read tier of final.ml_customer_day_features" in description
    assert not (out / "final").exists()
