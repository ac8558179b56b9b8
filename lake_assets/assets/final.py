"""final/shop/*: business tables for reports and SQL, Parquet by dt and sorted for their main filter."""

import contextlib
from collections.abc import Callable, Mapping

import dagster as dg
from pyspark.sql import DataFrame, SparkSession

from lake_assets.assets.intermediate import intermediate_event_key
from lake_assets.assets.partitions import DAILY, EAGER, SINGLE_RUN
from lake_assets.assets.spark_io import publish_by_day, read_intermediate_events, table_schema, write_by_day
from lake_assets.checks.table_checks import duplicate_keys, rows_violating
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.storage import Zone
from lake_assets.transforms.shop import daily_funnel, daily_product_sales

Transform = Callable[[SparkSession, dict[str, DataFrame]], DataFrame]


def final_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["final", "shop", table])


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
    unique = "key_unique"
    valid = "invariants_hold"

    @dg.asset(
        key=key,
        deps=[intermediate_event_key(s) for s in inputs.values()],
        group_name="final",
        kinds={"spark", "parquet"},
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        automation_condition=EAGER,
        description=description,
        metadata={"sorted_by": ", ".join(key_columns)},
        check_specs=[
            dg.AssetCheckSpec(
                unique, asset=key, blocking=True, description=f"Unique: {', '.join(key_columns)}"
            ),
            dg.AssetCheckSpec(valid, asset=key, description="; ".join(invariants)),
        ],
    )
    def final_table(
        context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource
    ) -> dg.MaterializeResult:
        session = spark.session()
        store = lake.store
        days = context.partition_keys
        with contextlib.ExitStack() as stack, store.staging_dir() as stage:
            frames: dict[str, DataFrame] = {}
            for name, subject in inputs.items():
                frames[name] = stack.enter_context(
                    read_intermediate_events(session, store, lake.registry, subject, days)
                )
            result = transform(session, frames)
            written = write_by_day(session, result, stage / "table")
            rows = written.count()
            dupes = duplicate_keys(written, key_columns)
            broken = {inv: rows_violating(written, inv) for inv in invariants}
            publish_by_day(store, stage / "table", Zone.FINAL, "shop", table, days)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "dagster/column_schema": table_schema(written),
                "partitions": len(days),
            },
            check_results=[
                dg.AssetCheckResult(check_name=unique, passed=dupes == 0, metadata={"duplicate_keys": dupes}),
                dg.AssetCheckResult(
                    check_name=valid,
                    passed=not any(broken.values()),
                    metadata={"violations": dg.MetadataValue.json(broken)},
                ),
            ],
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
