"""intermediate/<files|api>/<source>: generated from the source specs (one factory, no copies).

The table, its checks and its run are ``layers/sources.py`` (Dagster-free: a Glue job runs it too); this is
the Dagster side: the asset, its checks, and the engine that runs it (local Spark here, a Glue job run
through Pipes when ``LAKE_SPARK_ENGINE=glue``). The raw tables come from the raw asset factory
(``assets/raw.py``).
"""

from collections.abc import Sequence

import dagster as dg

from lake_assets.assets.keys import intermediate_source_key, is_daily, raw_source_key
from lake_assets.assets.partitions import DAILY, EAGER, SINGLE_RUN
from lake_assets.assets.table_commit import committed_results
from lake_assets.layers.sources import intermediate_source_table, run_intermediate_source, source_checks
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.sources.kind import UNPARTITIONED
from lake_assets.sources.specs import SourceSpec


def build_intermediate_source_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    key = intermediate_source_key(spec)
    table = intermediate_source_table(spec)
    daily = is_daily(spec)
    pk = list(spec.primary_key)

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
        check_specs=[c.spec(key) for c in source_checks(spec)],
    )
    def intermediate_source(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource):  # noqa: ANN202
        if spark.engine == "glue":
            yield from spark.on_glue().run_layer(
                context, {"--lake-layer": "sources", "--lake-table": spec.name}
            )
            return
        days = list(context.partition_keys) if daily else [UNPARTITIONED]
        session = spark.lake_session(lake.catalog)
        outcome, figures = run_intermediate_source(
            session, lake.catalog, lake.store, lake.registry, spec, days
        )
        if outcome.snapshot_id is None and outcome.published:
            context.log.warning(f"{spec.name}: no schema yet, raw has landed no rows; nothing to build")
        yield from committed_results(outcome, lake.catalog, table, figures)

    return intermediate_source


def build_intermediate_source_assets(specs: Sequence[SourceSpec]) -> list[dg.AssetsDefinition]:
    """The intermediate table of every file/API source spec (their raw tables: ``assets/raw.py``)."""
    return [build_intermediate_source_asset(spec) for spec in specs]
