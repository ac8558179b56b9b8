"""intermediate/events/<subject>: typed, deduplicated Iceberg tables by event day, one per subject.

The table and its run are Dagster-free (``layers/events.py``); this is the Dagster side: the asset, its
checks, and the engine that runs it (local Spark, or a Glue job run through Pipes when
``LAKE_SPARK_ENGINE=glue``).
"""

import dagster as dg

from lake_assets.assets.keys import intermediate_event_key, raw_event_key
from lake_assets.assets.partitions import DAILY, EAGER, SINGLE_RUN
from lake_assets.assets.table_commit import committed_results
from lake_assets.layers.events import intermediate_checks, intermediate_event_table, run_intermediate_events
from lake_assets.registry import SchemaRegistry
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource


def build_intermediate_event_asset(registry: SchemaRegistry, subject: str) -> dg.AssetsDefinition:
    key = intermediate_event_key(subject)
    table = intermediate_event_table(subject)

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
        check_specs=[c.spec(key) for c in intermediate_checks(registry, subject)],
    )
    def intermediate_events(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource):  # noqa: ANN202
        if spark.engine == "glue":
            yield from spark.on_glue().run_layer(context, {"--lake-layer": "events", "--lake-table": subject})
            return
        days = context.partition_keys
        session = spark.lake_session(lake.catalog)
        outcome, figures = run_intermediate_events(
            session, lake.catalog, lake.store, lake.registry, subject, days
        )
        metadata = {"raw_records": figures["raw_records"], "partitions": len(days)}
        yield from committed_results(outcome, lake.catalog, table, metadata)

    return intermediate_events


def build_intermediate_event_assets(registry: SchemaRegistry) -> list[dg.AssetsDefinition]:
    return [build_intermediate_event_asset(registry, s) for s in registry.subjects("events")]
