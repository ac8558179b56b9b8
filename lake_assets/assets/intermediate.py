"""intermediate/events/<subject>: typed, deduplicated Iceberg tables by event day, one per subject."""

import dagster as dg

from lake_assets.assets.keys import intermediate_event_key, raw_event_key
from lake_assets.assets.partitions import DAILY, EAGER, SINGLE_RUN
from lake_assets.assets.spark_io import clean_params, days_filter, read_raw_events
from lake_assets.assets.table_commit import commit_with_checks
from lake_assets.checks.staged import key_unique, not_null, rows_equal
from lake_assets.registry import SchemaRegistry
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.tables.specs import TableSpec, table_spec
from lake_assets.transforms.events import clean_events

UNIQUE = "event_id_unique"
NOT_NULL = "required_columns_not_null"
COUNTS = "counts_reconcile_with_raw"


def required_columns(registry: SchemaRegistry, subject: str) -> list[str]:
    """Fields whose Avro type admits no null: they must never be null after typing."""
    fields = registry.latest(subject).schema["fields"]
    return [f["name"] for f in fields if not (isinstance(f["type"], list) and "null" in f["type"])]


def intermediate_event_table(subject: str) -> TableSpec:
    """``intermediate.events_<subject>``: partitioning and sort order from tables.yaml."""
    return table_spec("intermediate", f"events_{subject}")


def build_intermediate_event_asset(registry: SchemaRegistry, subject: str) -> dg.AssetsDefinition:
    key = intermediate_event_key(subject)
    required = required_columns(registry, subject)
    table = intermediate_event_table(subject)
    raw_figures: dict[str, int] = {}  # filled by each run before its audit reads them
    checks = [
        key_unique(UNIQUE, ["event_id"]),
        not_null(NOT_NULL, required),
        rows_equal(
            COUNTS, "rows = raw records - duplicates removed.", lambda: raw_figures, "distinct_ids_in_raw"
        ),
    ]

    @dg.asset(
        key=key,
        deps=[raw_event_key(subject)],
        group_name="intermediate",
        kinds={"spark", "iceberg"},
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        automation_condition=EAGER,
        description=f"`{subject}` events typed and deduplicated by event_id: Iceberg table "
        f"`{table.identifier}` partitioned by {', '.join(table.partition_by) or 'nothing'}.",
        metadata={"dagster/table_name": table.identifier},
        check_specs=[c.spec(key) for c in checks],
    )
    def intermediate_events(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource):  # noqa: ANN202
        session = spark.lake_session(lake.catalog)
        days = context.partition_keys
        raw = read_raw_events(session, lake.store, lake.registry, subject, days)
        cleaned = clean_events(session, {"raw": raw}, clean_params(lake.registry, subject))
        raw_rows = raw.count()
        raw_figures.update(
            raw_records=raw_rows, distinct_ids_in_raw=raw.select("event_id").distinct().count()
        )
        yield from commit_with_checks(
            session,
            lake.catalog,
            table,
            cleaned,
            checks,
            replace_where=days_filter(days),
            metadata={"raw_records": raw_rows, "partitions": len(days)},
        )

    return intermediate_events


def build_intermediate_event_assets(registry: SchemaRegistry) -> list[dg.AssetsDefinition]:
    return [build_intermediate_event_asset(registry, s) for s in registry.subjects("events")]
