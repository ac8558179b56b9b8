"""intermediate/<files|api>/<source>: raw Avro typed, latest row per key, and its run (Dagster-free).

The assets run it in the Dagster process; on AWS the same function runs inside the Glue job
(``layers/glue_job.py``). The checks are built per run, from the schema the rows are held to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake_assets.assets.spark_io import days_filter, read_raw_avro
from lake_assets.checks.staged import StagedCheck, key_unique, not_null, rows_equal
from lake_assets.registry import SchemaRegistry, SchemaVersion
from lake_assets.sources.files.kind import is_daily
from lake_assets.sources.files.raw import resolve_schema
from lake_assets.sources.kind import UNPARTITIONED
from lake_assets.sources.specs import SourceSpec
from lake_assets.storage import ObjectStore, Zone, zone_prefix
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.checked_commit import CommitOutcome, commit_checked
from lake_assets.tables.specs import TableSpec, table_spec
from lake_assets.transforms.events import PARTITION_COL
from lake_assets.transforms.sources import clean_source, field_for_column, required_fields

KEY_UNIQUE = "key_unique"
NOT_NULL = "required_columns_not_null"
COUNTS = "counts_reconcile_with_raw"
NO_SCHEMA = "no schema yet: raw has landed no rows"


def table_folder(zone: Zone, spec: SourceSpec, day: str) -> str:
    """``raw/files/products/dt=2026-11-20/``, or the table folder itself when unpartitioned."""
    return zone_prefix(zone, spec.zone_folder, f"dt={day}" if day != UNPARTITIONED else "")


def read_raw_source(
    spark: SparkSession, store: ObjectStore, spec: SourceSpec, version: SchemaVersion, days: Sequence[str]
) -> DataFrame:
    """Raw Avro of the given days with ``_source_file`` (an empty frame of the schema when there is none)."""
    return read_raw_avro(spark, store, [table_folder(Zone.RAW, spec, day) for day in days], version.schema)


def intermediate_source_table(spec: SourceSpec) -> TableSpec:
    """``intermediate.<files|api>_<name>``, partitioned by dt when the source spec says daily."""
    return table_spec(
        "intermediate",
        spec.zone_folder.replace("/", "_"),
        partition_by=(PARTITION_COL,) if is_daily(spec) else (),
    )


def source_checks(
    spec: SourceSpec, schema: Mapping[str, Any] | None = None, figures: Mapping[str, int] | None = None
) -> list[StagedCheck]:
    """The table's checks; ``schema``: the Avro schema the run holds rows to (None: only their specs),
    ``figures``: what the run counted in raw (the reconciliation compares them)."""
    daily, pk = is_daily(spec), list(spec.primary_key)
    per_day = " per day" if daily else ""
    key_fields = [field_for_column(schema, c) for c in pk] if schema else pk
    counted = figures if figures is not None else {}
    checks = [
        dataclasses.replace(
            not_null(NOT_NULL, required_fields(schema) if schema else []),
            description="Required columns (key, event time) are never null.",
        ),
        rows_equal(
            COUNTS,
            f"rows = distinct keys in raw{per_day}" if pk else "rows = raw rows",
            lambda: counted,
            "expected_rows",
        ),
    ]
    if pk:
        group = [*key_fields, *([PARTITION_COL] if daily else [])]
        unique = key_unique(KEY_UNIQUE, group)
        checks.insert(0, dataclasses.replace(unique, description=f"{', '.join(pk)} is unique{per_day}"))
    return checks


def run_intermediate_source(
    session: SparkSession,
    catalog: CatalogConfig,
    store: ObjectStore,
    registry: SchemaRegistry,
    spec: SourceSpec,
    days: Sequence[str],
) -> tuple[CommitOutcome, dict[str, Any]]:
    """Rebuild ``days`` (``[UNPARTITIONED]`` for a table without days) from raw; the outcome and what the
    run read. Before anything has landed there is no schema and nothing to build: an outcome that published
    nothing and needs nothing, its checks passing with that note."""
    table = intermediate_source_table(spec)
    version = resolve_schema(store, spec, registry)
    if version is None:
        checks = {c.name: (True, {"note": NO_SCHEMA}) for c in source_checks(spec)}
        return CommitOutcome.nothing_to_publish(table.identifier, checks), {"partitions": len(days)}
    schema = version.schema
    key_fields = [field_for_column(schema, c) for c in spec.primary_key]
    time_field = field_for_column(schema, spec.event_time) if spec.event_time else None
    daily = is_daily(spec)
    params = {"avro_schema": schema, "key": key_fields, "time": time_field, "daily": daily}
    group = [*key_fields, *([PARTITION_COL] if daily else [])]
    raw = read_raw_source(session, store, spec, version, days)
    cleaned = clean_source(session, {"raw": raw}, params)
    raw_rows = raw.count()
    expected = (
        clean_source(session, {"raw": raw}, {**params, "key": []}).select(*group).distinct().count()
        if key_fields
        else raw_rows
    )
    figures = {"raw_records": raw_rows, "expected_rows": expected}
    outcome = commit_checked(
        session,
        catalog,
        table,
        cleaned,
        source_checks(spec, schema, figures),
        replace_where=days_filter(days) if daily else F.lit(True),
    )
    return outcome, {"raw_records": raw_rows, "partitions": len(days), "schema_id": version.schema_id}
