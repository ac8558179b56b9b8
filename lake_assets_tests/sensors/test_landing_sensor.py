"""The landing sensor with build_sensor_context: partitions requested, run keys, restart, re-delivery."""

from __future__ import annotations

import dagster as dg

from lake_assets.definitions import build_definitions
from lake_assets.sensors.landing import landing_events_sensor
from lake_assets.settings import LakeSettings
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.lake_helpers import (
    expected_counts,
    ingest_lines,
    lake_resource,
    sample_lines,
    valid_events,
)


def evaluate(lake_root: str, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(cursor=cursor, resources={"lake": lake_resource(lake_root)})
    return landing_events_sensor(context)


def test_new_objects_request_one_run_per_subject_and_event_day(local_store: LocalObjectStore) -> None:
    lines = sample_lines(1500, days=2)
    ingest_lines(local_store, lines)
    result = evaluate(local_store.root, None)
    requested = {(r.asset_selection[0].path[-1], r.partition_key) for r in result.run_requests}
    expected = {key for key in expected_counts(valid_events(lines))}
    assert requested == expected
    assert all(r.run_key for r in result.run_requests)


def test_restart_with_stored_cursor_requests_nothing_new_then_only_new(local_store: LocalObjectStore) -> None:
    ingest_lines(local_store, sample_lines(500, days=1, seed=1))
    first = evaluate(local_store.root, None)
    assert first.run_requests
    again = evaluate(local_store.root, first.cursor)  # a restarted daemon reads the cursor back
    assert again.run_requests == [] and again.skip_reason is not None
    ingest_lines(local_store, sample_lines(50, days=1, seed=2))
    later = evaluate(local_store.root, again.cursor)
    assert later.run_requests
    assert {r.run_key for r in later.run_requests}.isdisjoint({r.run_key for r in first.run_requests})


def test_redelivered_objects_produce_the_same_run_keys(local_store: LocalObjectStore) -> None:
    """Without its cursor the sensor re-lists everything; identical run keys make Dagster skip them."""
    ingest_lines(local_store, sample_lines(300, days=1, seed=3))
    first = evaluate(local_store.root, None)
    lost_cursor = evaluate(local_store.root, None)
    assert sorted(r.run_key for r in first.run_requests) == sorted(
        r.run_key for r in lost_cursor.run_requests
    )


def test_sensor_is_part_of_the_definitions(lake_root) -> None:
    defs = build_definitions(LakeSettings(lake_root=str(lake_root)))
    sensor = defs.resolve_sensor_def("landing_events_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING and sensor.minimum_interval_seconds == 30
    targets = sensor.asset_selection.resolve(defs.resolve_asset_graph())
    assert targets and all(key.path[0] == "raw" for key in targets)
    assert dg.AssetKey(["raw", "events", "page_view"]) in targets


def test_events_dated_outside_the_partitions_do_not_break_the_tick(local_store: LocalObjectStore) -> None:
    """A producer with a wrong clock must not stop the sensor: its day is skipped with a warning."""
    future = b'{"event_type": "page_view", "event_time": "2031-01-01T00:00:00Z", "event_id": "f"}'
    key = "landing/events/2026/11/24/10/shop-1-2026-11-24-10-00-00-future.jsonl"
    local_store.put_bytes(key, future + b"\n" + sample_lines(20, days=1, seed=4)[0])
    result = evaluate(local_store.root, None)
    assert "2031-01-01" not in {r.partition_key for r in result.run_requests}
    assert result.run_requests  # the valid event's day is still requested
    assert local_store.exists(key)
