"""``lake quarantine replay`` and ``lake status`` end to end through the real ``lake`` command on a
temporary lake (events ingested with ``lake events ingest``; the schema fix in a copy of the registry)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import orjson
import pytest

from lake_assets.cli import main
from lake_assets.settings import REPO_ROOT
from lake_assets.sources.events.intake import LANDING_PREFIX, QUARANTINE_PREFIX
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.operations.conftest import FIXED, NEW_REASON, STILL_FAILING, VALID, event_ids
from lake_assets_tests.operations.tables import day, iceberg_table

LAKE = str(Path(sys.executable).with_name("lake"))


def lake_cli(lake_root: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKE_", "AWS_", "DAGSTER_"))}
    env.update(LAKE_ROOT=str(lake_root), **extra)
    return subprocess.run([LAKE, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def _lines(store: LocalObjectStore, prefix: str) -> list[bytes]:
    return [line for key in store.list_keys(prefix) for line in store.get_bytes(key).splitlines() if line]


def test_replay_through_the_cli(
    lake_root: Path,
    tmp_path: Path,
    fixed_registry: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join([*VALID, *FIXED, *NEW_REASON, *STILL_FAILING]) + b"\n")
    ingested = lake_cli(lake_root, "events", "ingest", str(source))
    assert ingested.returncode == 0, ingested.stderr
    store = LocalObjectStore(lake_root)
    assert len(_lines(store, QUARANTINE_PREFIX)) == 9

    dry = lake_cli(
        lake_root, "quarantine", "replay", "--dry-run", "--registry", str(fixed_registry), "--json"
    )
    assert dry.returncode == 0, dry.stderr
    counts = json.loads(dry.stdout)["outcomes"]
    assert counts == {"replayed": 4, "new_reason": 2, "still_failing": 3, "not_retried": 0}
    assert len(_lines(store, LANDING_PREFIX)) == len(VALID)

    done = lake_cli(lake_root, "quarantine", "replay", "--registry", str(fixed_registry))
    assert done.returncode == 0, done.stderr
    assert "landed 4 in 1 landing object(s)" in done.stdout and "wrong_type 2" in done.stdout
    assert sorted(event_ids(_lines(store, LANDING_PREFIX))) == sorted(event_ids([*VALID, *FIXED]))
    kept = [orjson.loads(line) for line in _lines(store, QUARANTINE_PREFIX)]
    assert (
        sorted(r["kind"] for r in kept)
        == ["invalid_value", "invalid_value", "malformed_json"] + ["wrong_type"] * 2
    )

    state = {key: store.get_bytes(key) for key in store.list_keys("")}
    again = lake_cli(lake_root, "quarantine", "replay", "--registry", str(fixed_registry), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["outcomes"]["replayed"] == 0
    assert {key: store.get_bytes(key) for key in store.list_keys("")} == state  # a no-op

    # In process from here (the same main(), without another interpreter start): without the fix nothing
    # passes, and a registry folder that is not there is one line naming it.
    monkeypatch.setenv("LAKE_ROOT", str(lake_root))
    assert main(["quarantine", "replay", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outcomes"]["replayed"] == 0
    assert main(["quarantine", "replay", "--registry", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


FRESH = ["final.shop_daily_funnel", "final.shop_daily_product_sales"]
CDC_CURRENT = ["intermediate.cdc_shop_customers", "intermediate.cdc_shop_orders"]


@dg.asset(
    key=["final", "shop", "daily_funnel"],
    check_specs=[dg.AssetCheckSpec("freshness_check", asset=dg.AssetKey(["final", "shop", "daily_funnel"]))],
)
def funnel_stand_in():  # noqa: ANN201 - yields results
    """Stands in for the real asset in the instance's history: the same asset and check keys."""
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(check_name="freshness_check", passed=False, description="overdue")


def test_status_through_the_cli(
    lake_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every table the definitions expect fresh exists and is fresh: exit 0; then a failed check recorded
    in the Dagster instance (--dagster-home) makes it exit 1 and names the check."""
    for name in FRESH:
        iceberg_table(lake_root, name, [{"dt": day("2026-11-29"), "n": 1}], by_day=True)
    for name in CDC_CURRENT:
        iceberg_table(lake_root, name, [{"id": 1}], by_day=False)
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("LAKE_ROOT", str(lake_root))  # in process first (the definitions load once)
    assert main(["status", "--json", "--dagster-home", str(home)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["checks_known"] is True and report["problems"] == []
    tables = {t["table"]: t for t in report["tables"]}
    assert {t: tables[t]["expected_within_seconds"] for t in FRESH + CDC_CURRENT} == dict.fromkeys(
        FRESH + CDC_CURRENT, 26 * 3600
    )
    assert tables["final.shop_daily_funnel"]["last_partition"] == "2026-11-29"

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert dg.materialize([funnel_stand_in], instance=instance).success
    failed = lake_cli(lake_root, "status", "--dagster-home", str(home))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "final.shop_daily_funnel: failed freshness_check (error)" in failed.stdout


@pytest.mark.parametrize("value", ["2026-02-30"])
def test_a_bad_partitions_start_stops_the_cli_with_its_name(tmp_path: Path, value: str) -> None:
    done = lake_cli(tmp_path, "status", LAKE_PARTITIONS_START=value)
    assert done.returncode == 2 and "LAKE_PARTITIONS_START" in done.stderr and "Traceback" not in done.stderr
