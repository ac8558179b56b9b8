"""Iceberg maintenance on a real table: compaction, expiry of old and never-published snapshots, and the
Dagster job that runs it over every table of the catalog."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
from pyspark.sql import functions as F

from lake_assets.assets.maintenance import iceberg_maintenance
from lake_assets.resources.spark import SparkResource
from lake_assets.tables.catalog import CatalogConfig, catalog_session
from lake_assets.tables.iceberg import write_audit_publish
from lake_assets.tables.maintenance import maintain_table
from lake_assets.tables.specs import TableSpec
from lake_assets_tests.iceberg_readers import pyiceberg_catalog, pyiceberg_table
from lake_assets_tests.lake_helpers import lake_resource

SPEC = TableSpec("final", "t_kept", partition_by=("dt",))


def _append(session, catalog, key: str, publish: bool = True) -> None:
    df = session.createDataFrame([(dt.date(2026, 11, 20), key)], "dt date, k string")
    write_audit_publish(session, catalog, SPEC, df, lambda s: publish, replace_where=F.lit(False))


def test_maintenance_compacts_and_expires_but_keeps_every_row(tmp_path: Path, spark) -> None:
    catalog = CatalogConfig.for_lake(str(tmp_path))
    session = catalog_session(spark, catalog)
    for key in ("a", "b", "c"):
        _append(session, catalog, key)  # three small files in one day
    _append(session, catalog, "never", publish=False)  # a staged snapshot that was not published
    table = pyiceberg_catalog(tmp_path).load_table("final.t_kept")
    data_files = {f.file.file_path for f in table.scan().plan_files()}
    assert len(data_files) == 3 and len(table.snapshots()) >= 5

    done = maintain_table(
        session,
        "final.t_kept",
        keep_snapshots_days=0,
        keep_last=1,
        now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5),
    )
    assert (done.rewritten_data_files, done.added_data_files) == (3, 1)
    table = pyiceberg_catalog(tmp_path).load_table("final.t_kept")
    assert len(table.snapshots()) == 1 and done.expired_snapshots >= 4
    assert sorted(r["k"] for r in table.scan().to_arrow().to_pylist()) == ["a", "b", "c"]
    assert all(not Path(p.removeprefix("file:")).exists() for p in data_files)  # replaced files deleted
    staged = [p for p in (tmp_path / "final" / "t_kept" / "data").rglob("*.parquet")]
    assert len(staged) == 1  # the never-published write's file went with its snapshot


def test_the_maintenance_job_runs_over_every_table(tmp_path: Path, spark) -> None:
    catalog = CatalogConfig.for_lake(str(tmp_path))
    session = catalog_session(spark, catalog)
    _append(session, catalog, "a")
    other = TableSpec("intermediate", "t_other")
    write_audit_publish(session, catalog, other, session.createDataFrame([(1,)], "n int"), lambda s: True)
    result = iceberg_maintenance.execute_in_process(
        resources={"lake": lake_resource(tmp_path), "spark": SparkResource()},
        run_config={"ops": {"maintain_iceberg_tables": {"config": {"keep_last": 1}}}},
    )
    assert result.success
    assert result.output_for_node("maintain_iceberg_tables") == 2
    assert pyiceberg_table(tmp_path, "final.t_kept").num_rows == 1
    assert isinstance(iceberg_maintenance, dg.JobDefinition)
