"""final/shop/*: business tables for reports and SQL; Iceberg tables laid out per tables.yaml.

The tables and their run are data and a Dagster-free function (``layers/final.py``); this is the Dagster
side: the asset, its checks, and the engine that runs it (local Spark here, a Glue job run through Pipes when
``LAKE_SPARK_ENGINE=glue``).
"""

import dagster as dg

from lake_assets.assets.keys import final_key, intermediate_event_key
from lake_assets.assets.partitions import DAILY, EAGER, SINGLE_RUN
from lake_assets.assets.table_commit import committed_results
from lake_assets.layers.final import FINAL_TABLES, FinalTable, run_final
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource


def build_final_asset(table: FinalTable) -> dg.AssetsDefinition:
    key = final_key(table.name)
    spec = table.spec

    @dg.asset(
        key=key,
        deps=[intermediate_event_key(s) for s in table.inputs.values()],
        group_name="final",
        kinds={"spark", "iceberg"},
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        automation_condition=EAGER,
        description=f"{table.description} Iceberg table `{spec.identifier}`.",
        metadata={"dagster/table_name": spec.identifier, "sorted_by": ", ".join(spec.sort_by)},
        check_specs=[c.spec(key) for c in table.checks],
    )
    def final_table(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource):  # noqa: ANN202
        if spark.engine == "glue":
            yield from spark.on_glue().run_layer(
                context, {"--lake-layer": "final", "--lake-table": table.name}
            )
            return
        days = context.partition_keys
        session = spark.lake_session(lake.catalog)
        outcome = run_final(session, lake.catalog, lake.registry, table, days)
        yield from committed_results(outcome, lake.catalog, spec, {"partitions": len(days)})

    return final_table


def build_final_assets() -> list[dg.AssetsDefinition]:
    return [build_final_asset(table) for table in FINAL_TABLES.values()]
