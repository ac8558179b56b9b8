"""The daily partitions' first day: a typed setting with a stable default that covers the lake's data,
one definition for every partitioned asset, and days before it never dropped silently."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import warnings
from pathlib import Path

import dagster as dg
import pytest

from lake_assets.assets.partitions import DAILY, daily_partitions, outside_partitions
from lake_assets.samples.events import DEFAULT_START
from lake_assets.sensors.landing import landing_events_sensor
from lake_assets.settings import REPO_ROOT, LakeSettings, SettingsError, load_partitions_start, load_settings
from lake_assets_tests.lake_helpers import event, ingest_lines, lake_resource


def test_default_is_a_fixed_day_covering_the_samples_without_years_of_empty_days() -> None:
    assert load_partitions_start({}) == LakeSettings.partitions_start == "2026-10-01"
    assert DAILY.start.date() == dt.date(2026, 10, 1)  # the definitions use the setting (unset here)
    # The shipped samples' days (events, API, the CDC tests' oldest), and the demo's (the days before today)
    today = dt.date.today()
    for day in [DEFAULT_START, dt.date(2026, 11, 20), dt.date(2026, 10, 29), today - dt.timedelta(days=3)]:
        assert DAILY.has_partition_key(day.isoformat()), day
    # Stable: the same start whatever the clock; two months of days as of the issue, not 1,065.
    as_of_issue = daily_partitions(load_partitions_start({}))
    days = as_of_issue.get_partition_keys(current_time=dt.datetime(2026, 11, 30, tzinfo=dt.UTC))
    assert days[0] == "2026-10-01" and len(days) == 61


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "is not a day like"),
        ("2026-02-30", "is not a day like"),
        ("20261001", "is not a day like"),
        ("2026-W40-1", "is not a day like"),
        ("2999-01-01", "is in the future"),
    ],
)
def test_a_bad_start_is_refused_naming_the_variable(value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=f"LAKE_PARTITIONS_START={value!r}|LAKE_PARTITIONS_START={value}"):
        load_partitions_start({"LAKE_PARTITIONS_START": value})
    with pytest.raises(SettingsError, match=message):
        load_settings({"LAKE_PARTITIONS_START": value})


def test_an_override_reaches_every_asset_through_the_one_definition() -> None:
    assert load_settings({"LAKE_PARTITIONS_START": " 2026-11-15 "}).partitions_start == "2026-11-15"
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "from lake_assets.definitions import defs\n"
        "graph = defs.resolve_asset_graph()\n"
        "starts = {str(graph.get(k).partitions_def.start.date()) for k in graph.get_all_asset_keys()\n"
        "          if graph.get(k).partitions_def is not None}\n"
        "print(sorted(starts))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKE_")}
    env["LAKE_PARTITIONS_START"] = "2026-11-15"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "['2026-11-15']"


def test_every_partitioned_asset_uses_the_one_definition() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lake_assets.definitions import defs
    graph = defs.resolve_asset_graph()
    partitioned = {k: graph.get(k).partitions_def for k in graph.get_all_asset_keys()}
    partitioned = {k: p for k, p in partitioned.items() if p is not None}
    layers = {k.path[0] for k in partitioned}
    assert {"raw", "intermediate", "final"} <= layers
    assert all(p == DAILY for p in partitioned.values()), {k: p for k, p in partitioned.items() if p != DAILY}


def test_days_outside_the_partitions_are_named_with_the_fix() -> None:
    outside, note = outside_partitions(["2026-09-30", "2026-11-20", "2026-09-01", "2999-01-01", ""])
    assert outside == ["2026-09-01", "2026-09-30", "2999-01-01"]
    assert note is not None and "set LAKE_PARTITIONS_START to 2026-09-01 or earlier" in note
    assert "before the first daily partition 2026-10-01" in note and "after today" in note
    assert "nothing is dropped" in note
    assert outside_partitions(["2026-11-20"]) == ([], None)


def test_the_sensor_requests_only_valid_keys_and_keeps_older_days(lake_root: Path) -> None:
    """An event dated before the start: no run is requested for it (Dagster would refuse the key), and
    its landing object and index marker stay, for a run once the setting reaches back that far."""
    lake = lake_resource(lake_root)
    ingest_lines(lake.store, [event(1), event(2, event_time="2026-09-15T08:00:00Z")])
    result = landing_events_sensor(dg.build_sensor_context(resources={"lake": lake}))
    keys = {r.partition_key for r in result.run_requests}
    assert keys == {"2026-11-24"} and all(DAILY.has_partition_key(k) for k in keys)
    assert len(lake.store.list_keys("landing/events/")) == 1
    assert lake.store.list_keys("_system/index/events/page_view/dt=2026-09-15/")


def test_a_tick_with_only_days_before_the_start_says_which_setting_to_change(lake_root: Path) -> None:
    """Nothing runnable landed: the tick's skip reason (what the UI shows) names the setting and the fix."""
    lake = lake_resource(lake_root)
    ingest_lines(lake.store, [event(3, event_time="2026-09-15T08:00:00Z")])
    result = landing_events_sensor(dg.build_sensor_context(resources={"lake": lake}))
    assert not result.run_requests
    assert "set LAKE_PARTITIONS_START to 2026-09-15 or earlier" in str(result.skip_reason)
    assert "backfill those days" in str(result.skip_reason)
