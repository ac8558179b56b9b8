"""The production instance profile, ``deploy/dagster.production.yaml``, on a real PostgreSQL server.

``test_runs_cursors_and_schedules_survive_a_restart`` runs ``dagster-webserver`` and ``dagster-daemon run``
(two processes, as the ECS services are) on the profile against the repo's ``workspace.yaml``, with storage in
a fresh database of the test session's own PostgreSQL. One event object lands; through the webserver's
GraphQL API the automation and freshness sensors are stopped (so nothing but the landing sensor's run starts)
and a schedule is switched from its code default each way (``shop_orders_api_pull_schedule`` on,
``iceberg_maintenance_schedule`` off); the daemon then ticks ``landing_events_sensor``, which stores a cursor
and requests a raw run that goes through the run queue and the run launcher to SUCCESS. Both services are
stopped (process groups: SIGINT, then TERM, then KILL; no process of theirs survives), started again, and the
run with its status and tags, the sensor's cursor and tick, and every sensor and schedule state are read
back through a DagsterInstance on the same profile and through the restarted webserver. The restarted
daemon's next landing tick then skips with the sensor's own "no new ... landing objects": it resumed from the
stored cursor (a lost cursor would re-plan the object and be stopped only by Dagster's run-key check).

What stands in for what: ECS does not run here, so the test writes the profile into its DAGSTER_HOME with
``run_launcher`` replaced by Dagster's ``DefaultRunLauncher`` (runs as subprocesses of the daemon's code
server) and ``compute_logs`` pointed at the session's SeaweedFS S3 server (``endpoint_url`` added; the
bucket comes from DAGSTER_COMPUTE_LOG_BUCKET as in production). Everything else is the production file as
it is. ``test_the_production_profile_loads_as_written`` loads the file unchanged, ECS launcher included,
with every AWS API call made to fail: the launcher and the S3 compute log manager are built offline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson
import psycopg2
import pytest
import requests
import yaml

from lake_assets.settings import REPO_ROOT
from lake_assets_tests.fixtures.dagster_dev import free_port, reset_signals
from lake_assets_tests.fixtures.databases import DatabaseServer
from lake_assets_tests.fixtures.seaweed import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, SeaweedServer, s3_client
from lake_assets_tests.lake_helpers import START, sample_lines

PROFILE = REPO_ROOT / "deploy" / "dagster.production.yaml"
LOCATION = "lake_assets.definitions"
REPOSITORY = "__repository__"
LANDING_SENSOR = "landing_events_sensor"
STOPPED_SENSORS = ("automation_condition_sensor", "freshness_checks_sensor")
STARTED_SCHEDULE = "shop_orders_api_pull_schedule"  # STOPPED in code
STOPPED_SCHEDULE = "iceberg_maintenance_schedule"  # RUNNING in code
BIN = Path(sys.executable).parent

SENSOR_QUERY = """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename
  ... on Sensor { sensorState { id status typeSpecificData { ... on SensorData { lastCursor } }
    ticks(limit: 20) { tickId status timestamp cursor runIds skipReason } } }
  ... on PythonError { message } } }"""
SCHEDULE_QUERY = """query($s: ScheduleSelector!) { scheduleOrError(scheduleSelector: $s) { __typename
  ... on Schedule { scheduleState { id status } } ... on PythonError { message } } }"""
RUN_QUERY = """query($id: ID!) { runOrError(runId: $id) { __typename
  ... on Run { runId status tags { key value } } ... on PythonError { message } } }"""
RUNS_QUERY = """query($tags: [ExecutionTag!]) { runsOrError(filter: {tags: $tags}) {
  ... on Runs { results { runId status } } } }"""
LOCATIONS_QUERY = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
STOP_SENSOR = """mutation($id: String!) { stopSensor(id: $id) { __typename
  ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }"""
START_SCHEDULE = """mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) { __typename
  ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }"""
STOP_SCHEDULE = """mutation($id: String!) { stopRunningSchedule(id: $id) { __typename
  ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }"""


# --- the instance profile ----------------------------------------------------------------------------------


def _pg_env(server: DatabaseServer, database: str) -> dict[str, str]:
    url = urlparse(server.url)
    return {
        "DAGSTER_PG_HOST": str(url.hostname),
        "DAGSTER_PG_PORT": str(url.port),
        "DAGSTER_PG_USER": str(url.username),
        "DAGSTER_PG_PASSWORD": "not-checked",  # the test server trusts loopback connections
        "DAGSTER_PG_DB": database,
    }


def _create_database(server: DatabaseServer, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = urlparse(server.url)
    conn = psycopg2.connect(host=url.hostname, port=url.port, user=url.username, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    return name


def _test_profile(home: Path, s3_endpoint: str) -> None:
    """The production profile with the two AWS-only parts replaced (see the module docstring)."""
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["run_launcher"]["class"] == "EcsRunLauncher"
    profile["run_launcher"] = {"module": "dagster.core.launcher", "class": "DefaultRunLauncher"}
    profile["compute_logs"]["config"]["endpoint_url"] = s3_endpoint
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))


def test_the_production_profile_loads_as_written(
    postgres_server: DatabaseServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.client
    import dagster as dg
    from dagster._core.instance.config import dagster_instance_config
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_aws.ecs import EcsRunLauncher
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_postgres import PostgresRunStorage

    def no_aws(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"an AWS API call while loading the profile: {args[1:]}")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", no_aws)
    for key, value in _pg_env(postgres_server, _create_database(postgres_server, "profile")).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAGSTER_COMPUTE_LOG_BUCKET", "lake-bucket")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    (tmp_path / "dagster.yaml").write_bytes(PROFILE.read_bytes())

    config, custom_class = dagster_instance_config(str(tmp_path))  # Dagster's schema for dagster.yaml
    assert custom_class is None
    assert set(config["storage"]["postgres"]["postgres_db"]) >= {"hostname", "port", "username", "db_name"}
    instance = dg.DagsterInstance.from_config(str(tmp_path))  # creates the tables in the new database
    try:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        launcher = instance.run_launcher  # validated against EcsRunLauncher.config_type() and built
        assert isinstance(launcher, EcsRunLauncher)
        assert launcher.use_current_ecs_task_config and launcher.include_sidecars
        assert launcher.secrets_tags == [] and launcher.secrets == []
        assert launcher.run_resources == {"cpu": "2048", "memory": "8192"}
        assert launcher.supports_check_run_worker_health and launcher.supports_resume_run
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        assert coordinator.get_run_queue_config().max_concurrent_runs == 6
        logs = instance.compute_log_manager
        assert isinstance(logs, S3ComputeLogManager)
        assert logs._s3_bucket == "lake-bucket"
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_start_timeout_seconds == 600
        assert instance.run_monitoring_cancel_timeout_seconds == 300
        assert instance.run_retries_enabled and not instance.run_retries_retry_on_asset_or_op_failure
        assert not instance.telemetry_enabled and not instance.nux_enabled
    finally:
        instance.dispose()


# --- the services ------------------------------------------------------------------------------------------


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, chars: int = 3000) -> str:
        return f"--- {self.name} log tail ---\n" + self.log.read_text(errors="replace")[-chars:]

    def signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def stop(self) -> None:
        """After SIGINT to the process group (Dagster's own shutdown): wait, then TERM, then KILL."""
        for sig, wait in ((None, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            if sig is not None:
                self.signal(sig)
            try:
                self.process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # The group leader is gone; its children (code servers, run workers) must be too.
        self.signal(signal.SIGKILL)


def _start(name: str, args: list[str], env: dict[str, str], logs: Path) -> Service:
    log = logs / f"{name}-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / args[0]), *args[1:]],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=reset_signals,
        )
    return Service(name, process, log)


def _processes_of(home: Path) -> list[int]:
    """Every process whose environment names this DAGSTER_HOME (the services and all they started)."""
    needle = f"DAGSTER_HOME={home}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if needle in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
    return found


class Deployment:
    """The webserver and the daemon on one DAGSTER_HOME, started and stopped together."""

    def __init__(self, home: Path, env: dict[str, str], logs: Path, s3_endpoint: str) -> None:
        self.home, self.env, self.logs, self.s3_endpoint = home, env, logs, s3_endpoint
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.services: list[Service] = []

    def start_webserver(self) -> None:
        args = ["dagster-webserver", "-h", "127.0.0.1", "-p", str(self.port), "-w", "workspace.yaml"]
        self.services.append(_start("webserver", args, self.env, self.logs))

    def start_daemon(self) -> None:
        self.services.append(
            _start("daemon", ["dagster-daemon", "run", "-w", "workspace.yaml"], self.env, self.logs)
        )

    def tails(self) -> str:
        return "\n".join(s.tail() for s in self.services)

    def stop(self) -> None:
        for service in reversed(self.services):  # the daemon first: it launches runs
            service.signal(signal.SIGINT)
        for service in reversed(self.services):
            service.stop()
        self.services = []
        deadline = time.monotonic() + 10
        while (left := _processes_of(self.home)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, f"processes of the deployment outlived it: {left}"

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def wait_until_loaded(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for service in self.services:
                assert service.process.poll() is None, self.tails()
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/server_info", timeout=2).ok:
                    entries = self.graphql(LOCATIONS_QUERY)["workspaceOrError"]["locationEntries"]
                    if [e["loadStatus"] for e in entries if e["name"] == LOCATION] == ["LOADED"]:
                        return
            time.sleep(0.3)
        pytest.fail(f"the webserver did not load {LOCATION} in {timeout:.0f} s\n{self.tails()}")

    def sensor(self, name: str) -> dict[str, Any]:
        selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": name}
        result = self.graphql(SENSOR_QUERY, s=selector)["sensorOrError"]
        assert result["__typename"] == "Sensor", result
        return result["sensorState"]

    def schedule(self, name: str) -> dict[str, Any]:
        selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "scheduleName": name}
        result = self.graphql(SCHEDULE_QUERY, s=selector)["scheduleOrError"]
        assert result["__typename"] == "Schedule", result
        return result["scheduleState"]

    def run(self, run_id: str) -> dict[str, Any]:
        result = self.graphql(RUN_QUERY, id=run_id)["runOrError"]
        assert result["__typename"] == "Run", result
        return result

    def wait_for(self, what: str, probe: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for service in self.services:
                assert service.process.poll() is None, self.tails()
            found = probe()
            if found:
                return found
            time.sleep(0.5)
        pytest.fail(f"no {what} after {timeout:.0f} s\n{self.tails()}")


@pytest.fixture
def deployment(
    postgres_server: DatabaseServer, s3_server: SeaweedServer, tmp_path: Path
) -> Iterator[Deployment]:
    home = tmp_path / "dagster_home"
    _test_profile(home, s3_server.endpoint_url)
    bucket = f"dagster-{uuid.uuid4().hex[:12]}"
    s3_client(s3_server.endpoint_url).create_bucket(Bucket=bucket)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKE_", "DAGSTER_", "AWS_"))}
    env.update(_pg_env(postgres_server, _create_database(postgres_server, "restart")))
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "DAGSTER_COMPUTE_LOG_BUCKET": bucket,
            "LAKE_ROOT": str(tmp_path / "lake"),
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
            "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        }
    )
    logs = tmp_path / "logs"
    logs.mkdir()
    running = Deployment(home, env, logs, s3_server.endpoint_url)
    try:
        yield running
    finally:
        running.stop()


def _instance(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A DagsterInstance on the deployment's profile, in this process, with the services' variables."""
    import dagster as dg

    for key, value in deployment.env.items():
        if key.startswith(("DAGSTER_PG_", "DAGSTER_COMPUTE_", "AWS_")):
            monkeypatch.setenv(key, value)
    return dg.DagsterInstance.from_config(str(deployment.home))


def _states(instance: Any) -> dict[str, Any]:
    return {state.instigator_name: state for state in instance.all_instigator_state()}


def _land_one_event_object(deployment: Deployment, tmp_path: Path) -> subprocess.Popen[bytes]:
    """``lake events ingest`` of one day of page views: one landing object, one raw partition."""
    day = START.isoformat().encode()
    lines = [
        line
        for line in sample_lines(80, days=1, seed=5)
        if b'"event_type":"page_view"' in line and b'"event_time":"' + day in line
    ]
    assert len(lines) >= 10
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    return subprocess.Popen(
        [str(BIN / "lake"), "events", "ingest", str(source)],
        cwd=REPO_ROOT,
        env=deployment.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.e2e
def test_runs_cursors_and_schedules_survive_a_restart(
    deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    began = time.monotonic()
    marks: dict[str, float] = {}
    instance = _instance(deployment, monkeypatch)  # creates the tables: the services only find them
    ingest = _land_one_event_object(deployment, tmp_path)
    deployment.start_webserver()
    output, _ = ingest.communicate(timeout=60)
    assert ingest.returncode == 0, output.decode(errors="replace")
    landed = sorted(
        p.relative_to(tmp_path / "lake").as_posix() for p in (tmp_path / "lake" / "landing").rglob("*.jsonl")
    )
    assert len(landed) == 1, landed
    deployment.wait_until_loaded()
    marks["webserver up"] = time.monotonic() - began

    # Away from the code defaults, before the daemon's first tick: two sensors off, one schedule each way.
    for name in STOPPED_SENSORS:
        stopped = deployment.graphql(STOP_SENSOR, id=deployment.sensor(name)["id"])["stopSensor"]
        assert stopped["instigationState"]["status"] == "STOPPED", stopped
    selector = {
        "repositoryLocationName": LOCATION,
        "repositoryName": REPOSITORY,
        "scheduleName": STARTED_SCHEDULE,
    }
    started = deployment.graphql(START_SCHEDULE, s=selector)["startSchedule"]
    assert started["scheduleState"]["status"] == "RUNNING", started
    stopped = deployment.graphql(STOP_SCHEDULE, id=deployment.schedule(STOPPED_SCHEDULE)["id"])
    assert stopped["stopRunningSchedule"]["scheduleState"]["status"] == "STOPPED", stopped

    # The daemon ticks the landing sensor: a cursor, and a raw run through the queue and the launcher.
    deployment.start_daemon()

    def tick_with_run() -> dict[str, Any] | None:
        ticks = deployment.sensor(LANDING_SENSOR)["ticks"]
        return next((t for t in ticks if t["runIds"]), None)

    tick = deployment.wait_for("landing sensor tick with a run", tick_with_run, timeout=90)
    # The orphan check in Deployment.stop sees the services and their children (it is not vacuous).
    assert {s.process.pid for s in deployment.services} < set(_processes_of(deployment.home))
    marks["first tick"] = time.monotonic() - began
    (run_id,) = tick["runIds"]

    def finished() -> dict[str, Any] | None:
        run = deployment.run(run_id)
        return run if run["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

    run = deployment.wait_for(f"end of run {run_id}", finished, timeout=90)
    assert run["status"] == "SUCCESS", deployment.tails()
    marks["run done"] = time.monotonic() - began
    before = _states(instance)
    cursor = before[LANDING_SENSOR].instigator_data.cursor
    assert landed[0] in orjson.loads(cursor)["seen"]

    deployment.stop()  # asserts that no process of the deployment is left
    marks["stopped"] = time.monotonic() - began
    restarted_at = time.time()

    # What survived is in PostgreSQL, read by a new instance on the same profile.
    instance.dispose()
    instance = _instance(deployment, monkeypatch)
    after = _states(instance)
    assert after[LANDING_SENSOR].instigator_data.cursor == cursor
    assert {
        name: after[name].status.value for name in (*STOPPED_SENSORS, STARTED_SCHEDULE, STOPPED_SCHEDULE)
    } == {
        **dict.fromkeys(STOPPED_SENSORS, "STOPPED"),
        STARTED_SCHEDULE: "RUNNING",
        STOPPED_SCHEDULE: "STOPPED",
    }
    stored = instance.get_run_by_id(run_id)
    assert stored is not None and stored.status.value == "SUCCESS"
    assert stored.tags["dagster/sensor_name"] == LANDING_SENSOR
    assert stored.tags["dagster/partition"] == START.isoformat()
    ticks = instance.get_ticks(after[LANDING_SENSOR].instigator_origin_id, after[LANDING_SENSOR].selector_id)
    assert [t.run_ids for t in ticks if t.tick_id == int(tick["tickId"])] == [[run_id]]
    # The run's stdout and stderr went to the bucket (the profile's S3 compute log manager).
    listing = s3_client(deployment.s3_endpoint).list_objects_v2(
        Bucket=deployment.env["DAGSTER_COMPUTE_LOG_BUCKET"], Prefix="_system/dagster/compute-logs/"
    )
    assert any(run_id in o["Key"] for o in listing.get("Contents", [])), listing.get("Contents")

    # The restarted services see the same.
    deployment.start_webserver()
    deployment.start_daemon()
    deployment.wait_until_loaded()
    marks["restarted"] = time.monotonic() - began
    landing = deployment.sensor(LANDING_SENSOR)
    assert landing["status"] == "RUNNING"
    assert landed[0] in orjson.loads(landing["typeSpecificData"]["lastCursor"])["seen"]
    assert tick["tickId"] in [t["tickId"] for t in landing["ticks"]]
    for name in STOPPED_SENSORS:
        assert deployment.sensor(name)["status"] == "STOPPED"
    assert deployment.schedule(STARTED_SCHEDULE)["status"] == "RUNNING"
    assert deployment.schedule(STOPPED_SCHEDULE)["status"] == "STOPPED"
    run = deployment.run(run_id)
    assert run["status"] == "SUCCESS"
    assert {"key": "dagster/sensor_name", "value": LANDING_SENSOR} in run["tags"]

    # The restarted daemon's next landing tick (30 s after the last) starts from the stored cursor.
    def tick_after_restart() -> dict[str, Any] | None:
        ticks = deployment.sensor(LANDING_SENSOR)["ticks"]
        return next((t for t in ticks if t["timestamp"] > restarted_at and t["status"] != "STARTED"), None)

    new_tick = deployment.wait_for("landing tick after the restart", tick_after_restart, timeout=60)
    marks["tick after restart"] = time.monotonic() - began
    assert new_tick["status"] == "SKIPPED", new_tick
    assert new_tick["skipReason"] == "no new events landing objects", new_tick
    landing_tag = [{"key": "dagster/sensor_name", "value": LANDING_SENSOR}]
    runs = deployment.graphql(RUNS_QUERY, tags=landing_tag)["runsOrError"]["results"]
    assert [r["runId"] for r in runs] == [run_id]
    instance.dispose()
    print("timings (s since start): " + ", ".join(f"{k} {v:.1f}" for k, v in marks.items()))
