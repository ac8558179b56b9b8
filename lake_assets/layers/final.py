"""final/shop/*: the business tables, as data, and their run (Dagster-free: a Glue job runs it too)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from lake_assets.assets.spark_io import days_filter, read_intermediate_events
from lake_assets.checks.staged import StagedCheck, invariants_hold, key_unique
from lake_assets.registry import SchemaRegistry
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.checked_commit import CommitOutcome, commit_checked
from lake_assets.tables.specs import TableSpec, table_spec
from lake_assets.transforms.shop import daily_funnel, daily_product_sales

Transform = Callable[[SparkSession, dict[str, DataFrame]], DataFrame]


@dataclass(frozen=True)
class FinalTable:
    name: str
    inputs: Mapping[str, str]  # transform input name -> event subject (its intermediate table)
    transform: Transform
    key_columns: tuple[str, ...]
    invariants: tuple[str, ...]
    description: str

    @property
    def spec(self) -> TableSpec:
        """``final.shop_<name>``: partitioning and sort order from tables.yaml."""
        return table_spec("final", f"shop_{self.name}")

    @property
    def checks(self) -> list[StagedCheck]:
        return [
            key_unique("key_unique", self.key_columns),
            invariants_hold("invariants_hold", self.invariants),
        ]


FINAL_TABLES = {
    t.name: t
    for t in (
        FinalTable(
            "daily_product_sales",
            {"orders": "order_placed"},
            daily_product_sales,
            ("dt", "product_id"),
            ("units > 0", "revenue_cents >= 0", "orders > 0"),
            "Units, orders and revenue per product and day; sorted by dt, product_id.",
        ),
        FinalTable(
            "daily_funnel",
            {"page_views": "page_view", "cart_updates": "cart_update", "orders": "order_placed"},
            daily_funnel,
            ("dt",),
            (
                "sessions >= sessions_with_product_view",
                "sessions >= sessions_with_cart_add",
                "sessions >= sessions_with_order",
            ),
            "Sessions per day and how many viewed a product, added to cart and ordered.",
        ),
    )
}


def run_final(
    session: SparkSession,
    catalog: CatalogConfig,
    registry: SchemaRegistry,
    table: FinalTable,
    days: Sequence[str],
) -> CommitOutcome:
    """Rebuild ``days`` of the final table from the intermediate event tables; checked before published."""
    frames = {
        name: read_intermediate_events(session, registry, subject, days)
        for name, subject in table.inputs.items()
    }
    return commit_checked(
        session,
        catalog,
        table.spec,
        table.transform(session, frames),
        table.checks,
        replace_where=days_filter(days),
    )
