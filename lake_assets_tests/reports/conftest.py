"""A small lake with real final tables and one CDC current-state table, written once per module.

The final tables are Iceberg tables in the lake's SQL catalog, written through the project's write path
(``write_audit_publish``, the layout of ``tables.yaml``) by the shared Spark session; the rows are given
here so the expected chart data is computed independently of the code under test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest

from lake_assets.layers.cdc import current_table
from lake_assets.layers.final import FINAL_TABLES
from lake_assets.settings import LakeSettings
from lake_assets.sources.cdc.specs import load_specs
from lake_assets.tables.catalog import CatalogConfig, catalog_session
from lake_assets.tables.iceberg import write_audit_publish

DAYS = [dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)]
PRODUCTS = [f"p{i:02d}" for i in range(10)]  # more than TOP_SERIES: the rest become "other"


def sales_rows() -> list[tuple]:
    """(dt, product_id, orders, units, revenue_cents): product i sells i+1 units at 250 cents each day."""
    return [
        (day, product, n + 1, 2 * (n + 1), 250 * (n + 1) * (d + 1))
        for d, day in enumerate(DAYS)
        for n, product in enumerate(PRODUCTS)
    ]


def funnel_rows() -> list[tuple]:
    return [(day, 100 + d, 60 + d, 20 + d, 5 + d, 0.3, 0.25, 0.05) for d, day in enumerate(DAYS)]


@dataclass(frozen=True)
class ReportLake:
    root: Path
    catalog: CatalogConfig
    cdc_tables: list[str]  # every CDC current table of tables.yaml; only the first one is written


@pytest.fixture(scope="module")
def report_lake(spark, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportLake]:
    root = tmp_path_factory.mktemp("reports") / "lake"
    root.mkdir()
    catalog = CatalogConfig.for_lake(str(root))
    session = catalog_session(spark, catalog)
    sales = session.createDataFrame(
        sales_rows(), "dt date, product_id string, orders bigint, units bigint, revenue_cents bigint"
    )
    funnel = session.createDataFrame(
        funnel_rows(),
        "dt date, sessions bigint, sessions_with_product_view bigint, sessions_with_cart_add bigint, "
        "sessions_with_order bigint, view_to_cart_rate double, cart_to_order_rate double, "
        "conversion_rate double",
    )
    for name, frame in (("daily_product_sales", sales), ("daily_funnel", funnel)):
        assert write_audit_publish(session, catalog, FINAL_TABLES[name].spec, frame, lambda s: True).published
    # The freshness report reads only the CDC table's snapshot time: one pyiceberg commit is enough (and
    # cheaper than a Spark merge); the table sits where the merge puts it, in the same catalog.
    specs = load_specs(LakeSettings().cdc_tables)
    identifier = current_table(specs[0]).identifier
    cat = catalog.pyiceberg()
    customers = pa.table({"customer_id": pa.array([1, 2], pa.int32()), "name": ["Ada", "Grace"]})
    cat.create_namespace_if_not_exists("intermediate")
    database, name = identifier.split(".")
    location = catalog.table_location(database, name)
    cat.create_table(identifier, schema=customers.schema, location=location).append(customers)
    yield ReportLake(root, catalog, [current_table(s).identifier for s in specs])
