"""intermediate/<files|api>/<source>: generated from the source specs (one factory, no copies).

Intermediate types and deduplicates raw with Spark (``transforms.sources``) and commits through the one
stage -> check -> commit path; the raw tables come from the raw asset factory (``assets/raw.py``).
"""

from collections.abc import Sequence
from typing import Any

import dagster as dg
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake_assets.assets.keys import intermediate_source_key, is_daily, raw_source_key
from lake_assets.assets.partitions import DAILY, EAGER, SINGLE_RUN
from lake_assets.assets.spark_io import days_filter, read_raw_avro
from lake_assets.assets.table_commit import commit_with_checks
from lake_assets.checks.staged import StagedCheck, key_unique, not_null, rows_equal
from lake_assets.registry import SchemaVersion
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.sources.files.raw import resolve_schema
from lake_assets.sources.kind import UNPARTITIONED
from lake_assets.sources.specs import SourceSpec
from lake_assets.storage import ObjectStore, Zone, zone_prefix
from lake_assets.tables.specs import TableSpec, table_spec
from lake_assets.transforms.events import PARTITION_COL
from lake_assets.transforms.sources import clean_source, field_for_column, required_fields

KEY_UNIQUE = "key_unique"
NOT_NULL = "required_columns_not_null"
COUNTS = "counts_reconcile_with_raw"


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


def build_intermediate_source_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    key = intermediate_source_key(spec)
    table = intermediate_source_table(spec)
    daily = is_daily(spec)
    pk = list(spec.primary_key)
    run: dict[str, Any] = {}  # what each run computed from raw, read by its checks
    checks = [
        StagedCheck(
            NOT_NULL,
            "Required columns (key, event time) are never null.",
            lambda frame: not_null(NOT_NULL, run["required"]).evaluate(frame),
        ),
        rows_equal(
            COUNTS,
            "rows = distinct keys in raw" + (" per day" if daily else "") if pk else "rows = raw rows",
            lambda: run["figures"],
            "expected_rows",
        ),
    ]
    if pk:
        checks.insert(
            0,
            StagedCheck(
                KEY_UNIQUE,
                f"{', '.join(pk)} is unique" + (" per day" if daily else ""),
                lambda frame: key_unique(KEY_UNIQUE, run["group"]).evaluate(frame),
            ),
        )

    @dg.asset(
        key=key,
        deps=[raw_source_key(spec)],
        group_name="intermediate",
        kinds={"spark", "iceberg"},
        partitions_def=DAILY if daily else None,
        backfill_policy=SINGLE_RUN,
        automation_condition=EAGER,
        description=f"`{spec.name}` typed"
        + (f", latest row per {', '.join(pk)}" + (" and day" if daily else "") if pk else "")
        + f": Iceberg table `{table.identifier}`"
        + (" partitioned by dt." if daily else "."),
        metadata={"dagster/table_name": table.identifier},
        check_specs=[c.spec(key) for c in checks],
    )
    def intermediate_source(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource):  # noqa: ANN202
        session = spark.lake_session(lake.catalog)
        store = lake.store
        days = list(context.partition_keys) if daily else [UNPARTITIONED]
        version = resolve_schema(store, spec, lake.registry)
        if version is None:
            # Nothing has landed (or only unreadable objects): there is no table to build or check yet.
            context.log.warning(f"{spec.name}: no schema yet, raw has landed no rows; nothing to build")
            note = {"note": "no schema yet: raw has landed no rows"}
            yield dg.MaterializeResult(
                metadata={"dagster/row_count": 0, "partitions": len(days)},
                check_results=[
                    dg.AssetCheckResult(check_name=c.name, passed=True, metadata=note) for c in checks
                ],
            )
            return
        schema = version.schema
        key_fields = [field_for_column(schema, c) for c in pk]
        time_field = field_for_column(schema, spec.event_time) if spec.event_time else None
        params = {"avro_schema": schema, "key": key_fields, "time": time_field, "daily": daily}
        group = [*key_fields, *([PARTITION_COL] if daily else [])]
        raw = read_raw_source(session, store, spec, version, days)
        cleaned = clean_source(session, {"raw": raw}, params)
        raw_rows = raw.count()
        expected = (
            clean_source(session, {"raw": raw}, {**params, "key": []}).select(*group).distinct().count()
            if pk
            else raw_rows
        )
        run.update(
            required=required_fields(schema),
            group=group,
            figures={"raw_records": raw_rows, "expected_rows": expected},
        )
        yield from commit_with_checks(
            session,
            lake.catalog,
            table,
            cleaned,
            checks,
            replace_where=days_filter(days) if daily else F.lit(True),
            metadata={"raw_records": raw_rows, "partitions": len(days), "schema_id": version.schema_id},
        )

    return intermediate_source


def build_intermediate_source_assets(specs: Sequence[SourceSpec]) -> list[dg.AssetsDefinition]:
    """The intermediate table of every file/API source spec (their raw tables: ``assets/raw.py``)."""
    return [build_intermediate_source_asset(spec) for spec in specs]
