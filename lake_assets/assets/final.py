"""final/shop/*: business tables for reports and SQL; Iceberg tables laid out per tables.yaml."""

from collections.abc import Callable, Mapping

import dagster as dg
from pyspark.sql import DataFrame, SparkSession

from lake_assets.assets.keys import final_key, intermediate_event_key
from lake_assets.assets.partitions import DAILY, EAGER, SINGLE_RUN
from lake_assets.assets.spark_io import days_filter, read_intermediate_events
from lake_assets.assets.table_commit import commit_with_checks
from lake_assets.checks.staged import invariants_hold, key_unique
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.tables.specs import TableSpec, table_spec
from lake_assets.transforms.shop import daily_funnel, daily_product_sales

Transform = Callable[[SparkSession, dict[str, DataFrame]], DataFrame]


def final_table_spec(table: str) -> TableSpec:
    """``final.shop_<table>``: partitioning and sort order from tables.yaml."""
    return table_spec("final", f"shop_{table}")


def build_final_asset(
    table: str,
    inputs: Mapping[str, str],
    transform: Transform,
    key_columns: list[str],
    invariants: list[str],
    description: str,
) -> dg.AssetsDefinition:
    """A final table from intermediate event tables: ``inputs`` maps transform input names to subjects."""
    key = final_key(table)
    spec = final_table_spec(table)
    checks = [key_unique("key_unique", key_columns), invariants_hold("invariants_hold", invariants)]

    @dg.asset(
        key=key,
        deps=[intermediate_event_key(s) for s in inputs.values()],
        group_name="final",
        kinds={"spark", "iceberg"},
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        automation_condition=EAGER,
        description=f"{description} Iceberg table `{spec.identifier}`.",
        metadata={"dagster/table_name": spec.identifier, "sorted_by": ", ".join(spec.sort_by)},
        check_specs=[c.spec(key) for c in checks],
    )
    def final_table(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource):  # noqa: ANN202
        session = spark.lake_session(lake.catalog)
        days = context.partition_keys
        frames = {
            name: read_intermediate_events(session, lake.registry, subject, days)
            for name, subject in inputs.items()
        }
        yield from commit_with_checks(
            session,
            lake.catalog,
            spec,
            transform(session, frames),
            checks,
            replace_where=days_filter(days),
            metadata={"partitions": len(days)},
        )

    return final_table


def build_final_assets() -> list[dg.AssetsDefinition]:
    return [
        build_final_asset(
            "daily_product_sales",
            {"orders": "order_placed"},
            daily_product_sales,
            key_columns=["dt", "product_id"],
            invariants=["units > 0", "revenue_cents >= 0", "orders > 0"],
            description="Units, orders and revenue per product and day; sorted by dt, product_id.",
        ),
        build_final_asset(
            "daily_funnel",
            {"page_views": "page_view", "cart_updates": "cart_update", "orders": "order_placed"},
            daily_funnel,
            key_columns=["dt"],
            invariants=[
                "sessions >= sessions_with_product_view",
                "sessions >= sessions_with_cart_add",
                "sessions >= sessions_with_order",
            ],
            description="Sessions per day and how many viewed a product, added to cart and ordered.",
        ),
    ]
