"""The final layer as an AWS Glue job run through Dagster Pipes, with the job script run here.

What stands in for AWS: moto's Glue API holds the job definition (a missing job fails as Glue's API does);
Glue itself cannot run here, so ``start_job_run`` of a small stand-in runs the job script
(``lake_assets/layers/glue_job.py``) in this process, under the test session's Spark, with exactly the
arguments ``PipesGlueClient`` passes, and answers ``get_job_run`` with the state the script ended in. Pipes'
context and messages go through S3 on the local SeaweedFS server, as they go through S3 on AWS.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster_pipes import PipesContext

from lake_assets.definitions import build_assets, build_cdc_assets, build_source_assets
from lake_assets.layers import final as final_layer
from lake_assets.layers import glue_job
from lake_assets.layers.final import FinalTable
from lake_assets.registry import SchemaRegistry
from lake_assets.resources.glue import GlueResource
from lake_assets.resources.spark import SparkResource
from lake_assets.samples import files as file_samples
from lake_assets.sensors.landing import build_landing_sensor
from lake_assets.settings import load_settings
from lake_assets.sources.cdc.dms_format import ChangeRow, write_full_load
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.sources.files.kind import FileSourceKind
from lake_assets.sources.specs import load_specs
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.transforms.shop import daily_product_sales
from lake_assets_tests.assets.cdc_helpers import table
from lake_assets_tests.fixtures.moto import MOTO_REGION, moto_client
from lake_assets_tests.fixtures.seaweed import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, SeaweedServer
from lake_assets_tests.iceberg_readers import pyiceberg_table, snapshot_ids
from lake_assets_tests.lake_helpers import START, index_landing, ingest_lines, lake_resource, sample_lines

DAY = START.isoformat()


class LocalGlueRuns:
    """Glue's job runs, run here: the job must exist in moto's Glue; its script runs in this process."""

    def __init__(self, moto_glue: Any) -> None:
        self.glue = moto_glue
        self.meta = moto_glue.meta  # the client's region, which PipesGlueClient reads
        self.runs: dict[str, dict[str, Any]] = {}
        self.arguments: list[dict[str, str]] = []

    def start_job_run(self, JobName: str, Arguments: dict[str, str], **_: Any) -> dict[str, str]:  # noqa: N803
        self.glue.get_job(JobName=JobName)  # raises EntityNotFoundException, as Glue does
        self.arguments.append(dict(Arguments))
        run_id = f"jr_{uuid.uuid4().hex}"
        saved = dict(os.environ)  # the script sets the lake's settings in its environment, as on Glue
        PipesContext._instance = None  # each Glue run is a new process: no context from an earlier run
        try:
            glue_job.run([part for key, value in Arguments.items() for part in (key, value)])
            self.runs[run_id] = {"JobRunState": "SUCCEEDED"}
        except Exception as exc:  # noqa: BLE001 - the job run fails, Glue reports its error message
            self.runs[run_id] = {"JobRunState": "FAILED", "ErrorMessage": f"{type(exc).__name__}: {exc}"}
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return {"JobRunId": run_id}

    def get_job_run(self, JobName: str, RunId: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        return {"JobRun": {"Id": RunId, "JobName": JobName, **self.runs[RunId]}}

    def batch_stop_job_run(self, JobName: str, JobRunIds: list[str]) -> dict[str, Any]:  # noqa: N803
        return {"SuccessfulSubmissions": [], "Errors": []}


@pytest.fixture
def lake(tmp_path: Path, spark) -> Path:  # noqa: ANN001
    """A lake with one day through every layer, built locally: the final tables have a first snapshot."""
    root = tmp_path / "lake"
    ingest_lines(LocalObjectStore(root), sample_lines(600, days=1, seed=5))
    index_landing(lake_resource(root))
    resources = {"lake": lake_resource(root), "spark": SparkResource()}
    assert dg.materialize(
        build_assets(SchemaRegistry.from_directory()), resources=resources, partition_key=DAY
    ).success
    return root


@pytest.fixture
def glue_runs(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> LocalGlueRuns:
    glue = moto_client("glue", moto_server)
    name = f"lake-layers-{uuid.uuid4().hex[:6]}"
    glue.create_job(
        Name=name,
        Role="arn:aws:iam::123456789012:role/lake-glue",
        Command={
            "Name": "glueetl",
            "ScriptLocation": "s3://lake-artifacts/glue/glue_job.py",
            "PythonVersion": "3",
        },
        GlueVersion="6.0",
    )
    runs = LocalGlueRuns(glue)
    runs.job_name = name  # type: ignore[attr-defined]
    monkeypatch.setattr(GlueResource, "glue_client", lambda self: runs)
    return runs


def on_glue(
    root: Path,
    runs: LocalGlueRuns,
    s3_server: SeaweedServer,
    s3_bucket: str,
    job: str | None = None,
    env: dict[str, str] | None = None,
) -> SparkResource:
    env = {
        "LAKE_ROOT": str(root),
        "LAKE_S3_ENDPOINT_URL": s3_server.endpoint_url,
        "AWS_REGION": MOTO_REGION,
        **(env or {}),
    }
    glue = GlueResource(
        job_name=job or runs.job_name,  # type: ignore[attr-defined]
        pipes_bucket=s3_bucket,
        region=MOTO_REGION,
        s3_endpoint_url=s3_server.endpoint_url,
        settings_env=env,
        poll_seconds=0.2,
    )
    return SparkResource(engine="glue", glue=glue)


@pytest.fixture(autouse=True)
def s3_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
    }.items():
        monkeypatch.setenv(name, value)


def materialize_final(root: Path, spark: SparkResource, table: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        build_assets(SchemaRegistry.from_directory()),
        selection=f"final/shop/{table}",
        resources={"lake": lake_resource(root), "spark": spark},
        partition_key=DAY,
        raise_on_error=False,
    )


def test_the_final_layer_runs_as_a_glue_job_and_reports_what_the_local_engine_reports(
    lake: Path, glue_runs: LocalGlueRuns, s3_server: SeaweedServer, s3_bucket: str
) -> None:
    identifier = "final.shop_daily_funnel"
    before, rows = snapshot_ids(lake, identifier), pyiceberg_table(lake, identifier).to_pylist()
    result = materialize_final(lake, on_glue(lake, glue_runs, s3_server, s3_bucket), "daily_funnel")
    assert result.success
    [arguments] = glue_runs.arguments
    assert arguments["--lake-layer"] == "final" and arguments["--lake-table"] == "daily_funnel"
    assert arguments["--lake-partitions"] == f"{DAY}/{DAY}"
    assert {"--dagster-pipes-context", "--dagster-pipes-messages", "--lake-settings"} <= set(arguments)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"key_unique": True, "invariants_hold": True}
    [materialization] = result.asset_materializations_for_node("final__shop__daily_funnel")
    assert materialization.metadata["engine"].value == "glue"
    assert materialization.metadata["dagster/table_name"].value == identifier
    after = snapshot_ids(lake, identifier)
    assert after[:-1] == before and len(after) == len(before) + 1  # the job committed one snapshot
    assert materialization.metadata["snapshot_id"].value == str(after[-1])
    assert sorted(pyiceberg_table(lake, identifier).to_pylist(), key=str) == sorted(rows, key=str)


def test_a_blocking_check_that_fails_in_the_job_fails_the_run_and_publishes_nothing(
    lake: Path,
    glue_runs: LocalGlueRuns,
    s3_server: SeaweedServer,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    identifier = "final.shop_daily_product_sales"
    before, rows = snapshot_ids(lake, identifier), pyiceberg_table(lake, identifier).num_rows

    def duplicated(spark, frames):  # noqa: ANN001, ANN202
        sales = daily_product_sales(spark, frames)
        return sales.unionByName(sales.limit(2))

    good = final_layer.FINAL_TABLES["daily_product_sales"]
    buggy = FinalTable(
        good.name, good.inputs, duplicated, good.key_columns, good.invariants, good.description
    )
    monkeypatch.setitem(final_layer.FINAL_TABLES, "daily_product_sales", buggy)  # what the job script runs
    result = materialize_final(lake, on_glue(lake, glue_runs, s3_server, s3_bucket), "daily_product_sales")
    assert not result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"key_unique": False, "invariants_hold": True}
    failure = result.failure_data_for_node("final__shop__daily_product_sales").error.message
    assert "blocking check(s) key_unique failed on the staged snapshot; nothing was published" in failure
    assert snapshot_ids(lake, identifier) == before and pyiceberg_table(lake, identifier).num_rows == rows


def test_a_job_that_fails_fails_the_run_with_its_error_and_a_missing_job_is_one_line(
    lake: Path,
    glue_runs: LocalGlueRuns,
    s3_server: SeaweedServer,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the catalog is unreachable")

    monkeypatch.setattr(final_layer, "commit_checked", broken)
    result = materialize_final(lake, on_glue(lake, glue_runs, s3_server, s3_bucket), "daily_funnel")
    assert not result.success
    message = result.failure_data_for_node("final__shop__daily_funnel").error.message
    assert "FAILED" in message and "RuntimeError: the catalog is unreachable" in message

    missing = materialize_final(
        lake, on_glue(lake, glue_runs, s3_server, s3_bucket, job="no-such-job"), "daily_funnel"
    )
    message = missing.failure_data_for_node("final__shop__daily_funnel").error.message
    assert "Failure: Glue job no-such-job: An error occurred (EntityNotFoundException)" in message
    assert "\n" not in message.strip()  # one line


def test_the_engine_is_glue_on_aws_and_local_spark_otherwise() -> None:
    assert load_settings({"LAKE_ENV": "aws", "LAKE_ROOT": "s3://lake-bucket/lake"}).spark.engine == "glue"
    assert load_settings({"LAKE_ENV": "aws", "LAKE_ROOT": "s3://b/l"}).glue.pipes_bucket == "b"
    assert load_settings({}).spark.engine == "local"
    s3 = {"LAKE_ENV": "s3", "LAKE_ROOT": "s3://b/l", "LAKE_S3_ENDPOINT_URL": "http://127.0.0.1:1"}
    assert load_settings(s3).spark.engine == "local"
    assert load_settings({**s3, "LAKE_SPARK_ENGINE": "glue"}).spark.engine == "glue"


def test_an_intermediate_events_table_runs_as_a_glue_job_too(
    lake: Path, glue_runs: LocalGlueRuns, s3_server: SeaweedServer, s3_bucket: str
) -> None:
    identifier = "intermediate.events_page_view"
    before, rows = snapshot_ids(lake, identifier), pyiceberg_table(lake, identifier).num_rows
    result = dg.materialize(
        build_assets(SchemaRegistry.from_directory()),
        selection="intermediate/events/page_view",
        resources={"lake": lake_resource(lake), "spark": on_glue(lake, glue_runs, s3_server, s3_bucket)},
        partition_key=DAY,
        raise_on_error=False,
    )
    assert result.success
    assert glue_runs.arguments[-1]["--lake-layer"] == "events"
    assert glue_runs.arguments[-1]["--lake-table"] == "page_view"
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "event_id_unique": True,
        "required_columns_not_null": True,
        "counts_reconcile_with_raw": True,
    }
    [materialization] = result.asset_materializations_for_node("intermediate__events__page_view")
    assert (
        materialization.metadata["raw_records"].value
        >= rows
        == materialization.metadata["dagster/row_count"].value
    )
    assert len(snapshot_ids(lake, identifier)) == len(before) + 1
    assert pyiceberg_table(lake, identifier).num_rows == rows


def test_a_file_source_intermediate_table_runs_as_a_glue_job_like_the_local_engine(
    tmp_path: Path, spark, glue_runs: LocalGlueRuns, s3_server: SeaweedServer, s3_bucket: str
) -> None:  # noqa: ANN001
    """products (a daily CSV source): raw built locally, its intermediate table by the job, then the same
    days again in process: the two engines report the same checks and rows."""
    root = tmp_path / "lake"
    file_samples.write_samples(root, seed=3)
    specs = [s for s in load_specs() if s.name == "products"]
    sensor = build_landing_sensor(FileSourceKind(specs))
    assert sensor is not None and sensor(dg.build_sensor_context(resources={"lake": lake_resource(root)}))
    tags = {
        "dagster/asset_partition_range_start": "2026-11-19",
        "dagster/asset_partition_range_end": "2026-11-22",
    }

    def run(spark_resource: SparkResource) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            build_source_assets(specs),
            selection="intermediate/files/products" if spark_resource.engine == "glue" else None,
            resources={"lake": lake_resource(root), "spark": spark_resource},
            tags=tags,
            raise_on_error=False,
        )

    assert run(SparkResource()).success  # raw and intermediate in process: the reference
    local = pyiceberg_table(root, "intermediate.files_products").to_pylist()
    result = run(on_glue(root, glue_runs, s3_server, s3_bucket))
    assert result.success
    arguments = glue_runs.arguments[-1]
    assert (arguments["--lake-layer"], arguments["--lake-table"]) == ("sources", "products")
    # a range of four days in one run: the days travel as an argument (Pipes' context has no range here)
    assert arguments["--lake-partitions"] == "2026-11-19/2026-11-22"
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "key_unique": True,
        "required_columns_not_null": True,
        "counts_reconcile_with_raw": True,
    }
    materializations = result.asset_materializations_for_node("intermediate__files__products")
    assert len(materializations) == 4  # one per day of the range, as in process
    assert {m.metadata["engine"].value for m in materializations} == {"glue"}
    assert {m.metadata["dagster/row_count"].value for m in materializations} == {len(local)} != {0}
    rebuilt = pyiceberg_table(root, "intermediate.files_products").to_pylist()
    assert sorted(rebuilt, key=str) == sorted(local, key=str)


def test_the_cdc_merge_runs_as_a_glue_job_and_one_failed_table_leaves_the_others_published(
    tmp_path: Path, spark, glue_runs: LocalGlueRuns, s3_server: SeaweedServer, s3_bucket: str
) -> None:  # noqa: ANN001
    """Two tables of one source merged in one job run: each reported as the local merge reports it; a table
    whose raw schema is gone fails with its message while the other is published."""
    root = tmp_path / "lake"
    store = LocalObjectStore(root)
    specs = [CdcTableSpec("sales", "sales", f"t{i}", ("order_id",), buckets=2) for i in range(2)]
    when = dt.datetime(2026, 11, 24, 9)
    for n, spec in enumerate(specs):
        load = [ChangeRow("I", when, f"{i:035d}", {"order_id": str(i), "v": f"{n}"}) for i in range(1, 6)]
        write_full_load(store, "sales", "sales", spec.table, ["order_id", "v"], load)
    tables_yaml = tmp_path / "cdc_tables.yaml"
    entries = [
        {"source": s.source, "schema": s.schema, "table": s.table, "primary_key": ["order_id"], "buckets": 2}
        for s in specs
    ]
    tables_yaml.write_text(yaml.safe_dump({"tables": entries}))
    defs = build_cdc_assets(specs)
    local = {"lake": lake_resource(root), "spark": SparkResource()}
    for spec in specs:
        assert dg.materialize(
            defs, selection=f"raw/cdc/{spec.name}", partition_key="2026-11-24", resources=local
        )
    shutil.rmtree(root / "_system" / "schemas" / "cdc" / "sales" / "t1")  # raw there, its schema gone

    glue = on_glue(root, glue_runs, s3_server, s3_bucket, env={"LAKE_CDC_TABLES": str(tables_yaml)})
    result = dg.materialize(
        defs,
        selection=dg.AssetSelection.groups("intermediate"),
        resources={"lake": lake_resource(root), "spark": glue},
        raise_on_error=False,
    )
    assert not result.success
    assert glue_runs.arguments[-1]["--lake-layer"] == "cdc"
    assert set(glue_runs.arguments[-1]["--lake-table"].split(",")) == {"sales/t0", "sales/t1"}
    failure = result.failure_data_for_node("merge_cdc_sales").error.message
    assert "1 of 2 CDC table(s) of sales did not merge (1 published)" in failure
    assert "raw/cdc/sales/t1 has no registered schema" in failure
    done = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    assert set(done) == {"intermediate/cdc/sales/t0", "intermediate/cdc/sales/t0_history"}
    current = done["intermediate/cdc/sales/t0"].materialization.metadata
    assert current["engine"].value == "glue" and current["dagster/row_count"].value == 5
    checks = {
        (e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()
    }
    assert checks == {
        ("intermediate/cdc/sales/t0", "primary_key_unique"): True,
        ("intermediate/cdc/sales/t0_history", "history_versions_unique"): True,
    }
    assert sorted(r["order_id"] for r in table(root, specs[0])) == ["1", "2", "3", "4", "5"]
    assert table(root, specs[1]) == []
