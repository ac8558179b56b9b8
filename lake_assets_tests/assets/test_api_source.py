"""An API source through its schedule's run against a real HTTP server: pull, landing, raw, intermediate."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import fastavro
import pytest

from lake_assets.assets.keys import PULL_TAG, raw_source_key
from lake_assets.definitions import build_source_assets
from lake_assets.resources.spark import SparkResource
from lake_assets.sensors.api import RANGE_END, RANGE_START, build_api_schedule
from lake_assets.sources.api.pull import load_watermark
from lake_assets.sources.specs import SourceSpec, parse_spec
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.iceberg_readers import pyiceberg_table
from lake_assets_tests.lake_helpers import lake_resource
from lake_assets_tests.sources.files import test_api as server

api = server.api  # the source-layer tests' local http.server fixture (faults, request log)
INITIAL = "2026-11-20T00:00:00+00:00"


def orders_spec(url: str) -> SourceSpec:
    spec, problems = parse_spec(
        {
            "name": "orders_api",
            "kind": "http_api",
            "event_time": "updated_at",
            "primary_key": ["order_id"],
            "trigger": {"schedule": "15 * * * *"},
            "api": {
                "url": f"{url}/cursor",
                "records_path": "data",
                "pagination": {
                    "style": "cursor",
                    "next_cursor_path": "meta.next_cursor",
                    "page_size_param": "limit",
                    "page_size": 10,
                },
                "incremental": {"param": "updated_since", "field": "updated_at", "initial": INITIAL},
                "auth": {"token_env": "LAKE_TEST_API_TOKEN"},
                "retries": {"max_attempts": 2, "backoff_seconds": 0.1},
                "timeout_seconds": 5,
            },
        }
    )
    assert spec is not None, problems
    return spec


def test_the_schedule_run_pulls_then_lands_raw_and_intermediate(
    api: server.Api, local_store: LocalObjectStore, spark, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKE_TEST_API_TOKEN", server.TOKEN)
    spec = orders_spec(api.url)
    lake = lake_resource(local_store.root)
    assets = build_source_assets([spec])
    schedule = build_api_schedule(spec)

    def tick(at: dt.datetime) -> dg.ExecuteInProcessResult:
        context = dg.build_schedule_context(scheduled_execution_time=at, resources={"lake": lake})
        (request,) = schedule.evaluate_tick(context).run_requests
        assert request.asset_selection == [raw_source_key(spec)] and request.tags[PULL_TAG]
        result = dg.materialize(
            assets,
            resources={"lake": lake, "spark": SparkResource()},
            tags=request.tags,
            raise_on_error=False,
        )
        assert result.success
        checks = result.get_asset_check_evaluations()
        assert checks and all(c.passed for c in checks)
        return result

    first = tick(dt.datetime(2026, 11, 24, 13, 15, tzinfo=dt.UTC))
    assert (
        first.dagster_run.tags[RANGE_START] == "2026-11-20"
        and first.dagster_run.tags[RANGE_END] == "2026-11-24"
    )
    expected = {o["order_id"]: o for o in server.ORDERS if o["updated_at"] > INITIAL}  # the server's filter
    assert api.requests[0]["query"]["updated_since"] == INITIAL
    assert all(r["auth"] == f"Bearer {server.TOKEN}" for r in api.requests)  # token from the environment
    assert load_watermark(local_store, spec) == server.ORDERS[-1]["updated_at"]
    raw = []
    for path in sorted((local_store.base / "raw" / "api" / "orders_api").rglob("*.avro")):
        with open(path, "rb") as handle:
            raw += list(fastavro.reader(handle))
    assert sorted(r["order_id"] for r in raw) == sorted(expected)

    # The next tick starts at the watermark's day; nothing new, and the day it rebuilds keeps its rows.
    asked = len(api.requests)
    second = tick(dt.datetime(2026, 11, 24, 14, 15, tzinfo=dt.UTC))
    assert second.dagster_run.tags[RANGE_START] == "2026-11-23"
    assert (
        len(api.requests) == asked + 1
        and api.requests[-1]["query"]["updated_since"] == server.ORDERS[-1]["updated_at"]
    )
    table = pyiceberg_table(local_store.base, "intermediate.api_orders_api")
    rows = table.select(["order_id", "amount", "dt"]).to_pylist()
    assert sorted(r["order_id"] for r in rows) == sorted(expected)
    by_id = {r["order_id"]: r for r in rows}
    for order_id, order in expected.items():
        assert by_id[order_id]["amount"] == order["amount"]
        assert str(by_id[order_id]["dt"]) == order["updated_at"][:10]


def test_a_missing_token_fails_the_run_and_keeps_the_watermark(
    api: server.Api, local_store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LAKE_TEST_API_TOKEN", raising=False)
    spec = orders_spec(api.url)
    raw_asset = build_source_assets([spec])[0]
    result = dg.materialize(
        [raw_asset],
        resources={"lake": lake_resource(local_store.root)},
        tags={PULL_TAG: "true", RANGE_START: "2026-11-24", RANGE_END: "2026-11-24"},
        raise_on_error=False,
    )
    assert not result.success
    assert (
        "LAKE_TEST_API_TOKEN is not set"
        in result.get_step_failure_events()[0].step_failure_data.error.message
    )
    assert api.requests == [] and load_watermark(local_store, spec) == INITIAL
