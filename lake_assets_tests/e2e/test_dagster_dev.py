"""`dagster dev` from the repo root loads workspace.yaml and dagster.yaml; asked through its GraphQL API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lake_assets_tests.fixtures.dagster_dev import graphql, lake_env, new_dagster_home, running_dagster_dev

ASSET_QUERY = """{ assetNodes { assetKey { path } groupName isPartitioned hasAssetChecks: assetChecksOrError {
  ... on AssetChecks { checks { name blocking } } } } }"""
SENSOR_QUERY = """{ sensorsOrError(repositorySelector: {repositoryName: "__repository__",
  repositoryLocationName: "lake_assets.definitions"}) { ... on Sensors { results { name
  sensorState { status } } } } }"""


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[str]:
    env = lake_env(tmp_path / "lake", new_dagster_home(tmp_path / "home"))
    with running_dagster_dev(env, tmp_path / "dagster-dev.log") as url:
        yield url


@pytest.mark.e2e
def test_dagster_dev_serves_the_graph_its_checks_and_sensors(dagster_dev: str) -> None:
    nodes = graphql(dagster_dev, ASSET_QUERY)["assetNodes"]
    groups = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes}
    assert groups["raw/events/page_view"] == "raw"
    assert groups["final/shop/daily_funnel"] == "final"
    partitioned = {"/".join(n["assetKey"]["path"]): n["isPartitioned"] for n in nodes}
    assert all(partitioned[key] for key in groups if "/events/" in key or key.startswith("final/shop/"))
    assert not partitioned["final/reports/daily_sales"]  # a report is one chart over the last days
    assert partitioned["raw/files/stores"] is False  # a source without an event time is one table
    raw = next(n for n in nodes if n["assetKey"]["path"] == ["raw", "events", "order_placed"])
    assert {c["name"]: c["blocking"] for c in raw["hasAssetChecks"]["checks"]} == {
        "conforms_to_schema": True,
        "counts_reconcile_with_landing": True,
    }
    deadline = time.monotonic() + 60
    while True:  # the code location may still be loading for the sensor query
        sensors = graphql(dagster_dev, SENSOR_QUERY)["sensorsOrError"]
        if "results" in sensors or time.monotonic() > deadline:
            break
        time.sleep(1)
    states = {s["name"]: s["sensorState"]["status"] for s in sensors["results"]}
    assert states["landing_events_sensor"] == "RUNNING"
    assert states["automation_condition_sensor"] == "RUNNING"
    assert states["landing_files_sensor"] == "RUNNING"
