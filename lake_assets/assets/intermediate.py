"""intermediate/events/<subject>: typed, deduplicated Parquet by event day, one asset per registry subject."""

import dagster as dg

from lake_assets.assets.partitions import DAILY, EAGER, SINGLE_RUN
from lake_assets.assets.raw import raw_event_key
from lake_assets.assets.spark_io import (
    clean_params,
    publish_by_day,
    read_raw_events,
    table_schema,
    write_by_day,
)
from lake_assets.checks.table_checks import duplicate_keys, null_counts
from lake_assets.registry import SchemaRegistry
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.storage import Zone
from lake_assets.transforms.events import clean_events

UNIQUE = "event_id_unique"
NOT_NULL = "required_columns_not_null"
COUNTS = "counts_reconcile_with_raw"


def intermediate_event_key(subject: str) -> dg.AssetKey:
    return dg.AssetKey(["intermediate", "events", subject])


def required_columns(registry: SchemaRegistry, subject: str) -> list[str]:
    """Fields whose Avro type admits no null: they must never be null after typing."""
    fields = registry.latest(subject).schema["fields"]
    return [f["name"] for f in fields if not (isinstance(f["type"], list) and "null" in f["type"])]


def build_intermediate_event_asset(registry: SchemaRegistry, subject: str) -> dg.AssetsDefinition:
    key = intermediate_event_key(subject)
    required = required_columns(registry, subject)

    @dg.asset(
        key=key,
        deps=[raw_event_key(subject)],
        group_name="intermediate",
        kinds={"spark", "parquet"},
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        automation_condition=EAGER,
        description=f"`{subject}` events typed and deduplicated by event_id, Parquet partitioned by dt.",
        check_specs=[
            dg.AssetCheckSpec(UNIQUE, asset=key, blocking=True, description="event_id is unique per table."),
            dg.AssetCheckSpec(
                NOT_NULL, asset=key, blocking=True, description=f"Not null: {', '.join(required)}"
            ),
            dg.AssetCheckSpec(COUNTS, asset=key, description="rows = raw records - duplicates removed."),
        ],
    )
    def intermediate_events(
        context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource
    ) -> dg.MaterializeResult:
        session = spark.session()
        store = lake.store
        days = context.partition_keys
        with (
            read_raw_events(session, store, lake.registry, subject, days) as raw,
            store.staging_dir() as stage,
        ):
            cleaned = clean_events(session, {"raw": raw}, clean_params(lake.registry, subject))
            written = write_by_day(session, cleaned, stage / "table")
            raw_rows = raw.count()
            raw_distinct = raw.select("event_id").distinct().count()
            rows = written.count()
            dupes = duplicate_keys(written, ["event_id"])
            nulls = null_counts(written, required)
            publish_by_day(store, stage / "table", Zone.INTERMEDIATE, "events", subject, days)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "dagster/column_schema": table_schema(written),
                "raw_records": raw_rows,
                "duplicates_removed": raw_rows - rows,
                "partitions": len(days),
            },
            check_results=[
                dg.AssetCheckResult(check_name=UNIQUE, passed=dupes == 0, metadata={"duplicate_keys": dupes}),
                dg.AssetCheckResult(
                    check_name=NOT_NULL,
                    passed=not any(nulls.values()),
                    metadata={"null_counts": dg.MetadataValue.json(nulls)},
                ),
                dg.AssetCheckResult(
                    check_name=COUNTS,
                    passed=rows == raw_distinct,
                    metadata={"raw_records": raw_rows, "distinct_ids_in_raw": raw_distinct, "rows": rows},
                ),
            ],
        )

    return intermediate_events


def build_intermediate_event_assets(registry: SchemaRegistry) -> list[dg.AssetsDefinition]:
    return [build_intermediate_event_asset(registry, s) for s in registry.subjects("events")]
