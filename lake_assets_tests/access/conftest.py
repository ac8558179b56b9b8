"""A small lake with real Iceberg tables written by pyiceberg (no Spark): what lake query reads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.tables.catalog import CATALOG_NAME, CatalogConfig

SALES = pa.schema(
    [
        ("dt", pa.date32()),
        ("product_id", pa.string()),
        ("units", pa.int64()),
        ("orders", pa.int64()),
        ("revenue_cents", pa.int64()),
    ]
)
CUSTOMERS = pa.schema(
    [("customer_id", pa.int32()), ("email", pa.string()), ("tier", pa.string()), ("active", pa.bool_())]
)
FUNNEL = pa.schema([("dt", pa.date32()), ("sessions", pa.int64())])


def sales(day: str, product: str, units: int) -> dict:
    return {
        "dt": dt.date.fromisoformat(day),
        "product_id": product,
        "units": units,
        "orders": 1,
        "revenue_cents": units * 250,
    }


FIRST_SALES = [sales("2026-10-31", "p1", 3), sales("2026-11-01", "p1", 5), sales("2026-11-01", "p2", 7)]
LATER_SALES = [sales("2026-11-02", "p2", 11)]
CUSTOMER_ROWS = [
    {"customer_id": 1, "email": "a@example.com", "tier": "gold", "active": True},
    {"customer_id": 2, "email": "b@example.com", "tier": "basic", "active": False},
    {"customer_id": 3, "email": "c@example.com", "tier": "basic", "active": True},
]


class Lake:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = LocalObjectStore(root)
        self.catalog = CatalogConfig.for_lake(str(root))
        self.first_snapshot = 0


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return make_lake(tmp_path_factory.mktemp("access-lake"))


def make_lake(root: Path) -> Lake:
    lake = Lake(root)
    lake.catalog.sqlite_path.parent.mkdir(parents=True)
    # What Spark's first commit does in the lake: pyiceberg creates its catalog tables in a new file.
    cat = SqlCatalog(CATALOG_NAME, uri=lake.catalog.uri, warehouse=lake.catalog.warehouse)
    for database in ("final", "intermediate"):
        cat.create_namespace(database)
    product_sales = cat.create_table(
        "final.shop_daily_product_sales",
        SALES,
        location=lake.catalog.table_location("final", "shop_daily_product_sales"),
    )
    product_sales.append(pa.Table.from_pylist(FIRST_SALES, SALES))
    lake.first_snapshot = product_sales.current_snapshot().snapshot_id
    product_sales.append(pa.Table.from_pylist(LATER_SALES, SALES))
    funnel = cat.create_table(
        "final.shop_daily_funnel", FUNNEL, location=lake.catalog.table_location("final", "shop_daily_funnel")
    )
    funnel.append(pa.Table.from_pylist([{"dt": dt.date(2026, 11, 1), "sessions": 40}], FUNNEL))
    customers = cat.create_table(
        "intermediate.cdc_shop_customers",
        CUSTOMERS,
        location=lake.catalog.table_location("intermediate", "cdc_shop_customers"),
    )
    customers.append(pa.Table.from_pylist(CUSTOMER_ROWS, CUSTOMERS))
    return lake
