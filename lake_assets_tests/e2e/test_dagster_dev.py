"""`dagster dev` from the repo root loads workspace.yaml and dagster.yaml; asked through its GraphQL API."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from lake_assets.settings import REPO_ROOT

ASSET_QUERY = """{ assetNodes { assetKey { path } groupName isPartitioned hasAssetChecks: assetChecksOrError {
  ... on AssetChecks { checks { name blocking } } } } }"""
SENSOR_QUERY = """{ sensorsOrError(repositorySelector: {repositoryName: "__repository__",
  repositoryLocationName: "lake_assets.definitions"}) { ... on Sensors { results { name
  sensorState { status } } } } }"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _reset_signals() -> None:
    # A non-interactive parent may ignore SIGINT; dagster dev copies that to SIGTERM (see NOTES.md).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture
def dagster_dev(tmp_path: Path) -> Iterator[str]:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKE_")}
    env.update({"DAGSTER_HOME": str(home), "LAKE_ROOT": str(tmp_path / "lake")})
    port = _free_port()
    log = open(tmp_path / "dagster-dev.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster")), "dev", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_reset_signals,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/server_info", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None, (tmp_path / "dagster-dev.log").read_text()[-3000:]
            time.sleep(0.5)
        else:
            pytest.fail(
                "dagster dev did not answer in 90 s:\n" + (tmp_path / "dagster-dev.log").read_text()[-3000:]
            )
        yield url
    finally:
        for sig, wait in ((signal.SIGINT, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if process.poll() is not None:
                break
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        log.close()


@pytest.mark.e2e
def test_dagster_dev_serves_the_graph_its_checks_and_sensors(dagster_dev: str) -> None:
    def graphql(query: str) -> dict:
        response = requests.post(f"{dagster_dev}/graphql", json={"query": query}, timeout=30)
        response.raise_for_status()
        return response.json()["data"]

    nodes = graphql(ASSET_QUERY)["assetNodes"]
    groups = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes}
    assert groups["raw/events/page_view"] == "raw"
    assert groups["final/shop/daily_funnel"] == "final"
    partitioned = {"/".join(n["assetKey"]["path"]): n["isPartitioned"] for n in nodes}
    assert all(partitioned[key] for key in groups if "/events/" in key or key.startswith("final/"))
    assert partitioned["raw/files/stores"] is False  # a source without an event time is one table
    raw = next(n for n in nodes if n["assetKey"]["path"] == ["raw", "events", "order_placed"])
    assert {c["name"]: c["blocking"] for c in raw["hasAssetChecks"]["checks"]} == {
        "conforms_to_schema": True,
        "counts_reconcile_with_landing": True,
    }
    deadline = time.monotonic() + 60
    while True:  # the code location may still be loading for the sensor query
        sensors = graphql(SENSOR_QUERY)["sensorsOrError"]
        if "results" in sensors or time.monotonic() > deadline:
            break
        time.sleep(1)
    states = {s["name"]: s["sensorState"]["status"] for s in sensors["results"]}
    assert states["landing_events_sensor"] == "RUNNING"
    assert states["automation_condition_sensor"] == "RUNNING"
    assert states["landing_files_sensor"] == "RUNNING"
