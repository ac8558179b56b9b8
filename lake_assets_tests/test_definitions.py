"""The asset graph as data: a snapshot of keys and groups, and a new event type is just a schema file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dagster as dg

from lake_assets.definitions import build_assets, build_definitions
from lake_assets.registry import DEFAULT_SCHEMAS_DIR, SchemaRegistry
from lake_assets.settings import LakeSettings

SOURCES = (
    ("files", "inventory"),
    ("files", "products"),
    ("files", "reviews"),
    ("files", "stores"),
    ("files", "web_access"),
    ("api", "shop_orders_api"),
)
EXPECTED_GRAPH = {
    "raw/events/cart_update": ("raw", []),
    "raw/events/order_placed": ("raw", []),
    "raw/events/page_view": ("raw", []),
    "intermediate/events/cart_update": ("intermediate", ["raw/events/cart_update"]),
    "intermediate/events/order_placed": ("intermediate", ["raw/events/order_placed"]),
    "intermediate/events/page_view": ("intermediate", ["raw/events/page_view"]),
    "final/shop/daily_funnel": (
        "final",
        [
            "intermediate/events/cart_update",
            "intermediate/events/order_placed",
            "intermediate/events/page_view",
        ],
    ),
    "final/shop/daily_product_sales": ("final", ["intermediate/events/order_placed"]),
    **{f"raw/{zone}/{name}": ("raw", []) for zone, name in SOURCES},
    "raw/cdc/shop/customers": ("raw", []),
    "raw/cdc/shop/orders": ("raw", []),
    "intermediate/cdc/shop/customers": ("intermediate", ["raw/cdc/shop/customers"]),
    "intermediate/cdc/shop/customers_history": ("intermediate", ["raw/cdc/shop/customers"]),
    "intermediate/cdc/shop/orders": ("intermediate", ["raw/cdc/shop/orders"]),
    "intermediate/cdc/shop/orders_history": ("intermediate", ["raw/cdc/shop/orders"]),
    **{f"intermediate/{zone}/{name}": ("intermediate", [f"raw/{zone}/{name}"]) for zone, name in SOURCES},
    # dashboards: one per chart, over the tables it draws (quarantine: every raw table writes quarantine)
    "final/reports/daily_sales": ("final", ["final/shop/daily_product_sales"]),
    "final/reports/daily_funnel": ("final", ["final/shop/daily_funnel"]),
    "final/reports/cdc_freshness": (
        "final",
        ["intermediate/cdc/shop/customers", "intermediate/cdc/shop/orders"],
    ),
    "final/reports/quarantine": (
        "final",
        sorted(
            [
                *(f"raw/events/{s}" for s in ("cart_update", "order_placed", "page_view")),
                *(f"raw/{zone}/{name}" for zone, name in SOURCES),
                "raw/cdc/shop/customers",
                "raw/cdc/shop/orders",
            ]
        ),
    ),
    # ML: the point-in-time feature table, its time splits, the baseline model
    "final/ml/customer_day_features": (
        "ml",
        [
            "intermediate/cdc/shop/customers_history",
            "intermediate/events/cart_update",
            "intermediate/events/order_placed",
            "intermediate/events/page_view",
        ],
    ),
    "final/ml/customer_orders_7d": ("ml", ["final/ml/customer_day_features"]),
    "final/ml/customer_orders_7d_baseline": ("ml", ["final/ml/customer_orders_7d"]),
}


def test_graph_snapshot(tmp_path: Path) -> None:
    """Any change to the graph shows up here in review."""
    defs = build_definitions(LakeSettings(lake_root=str(tmp_path)))
    graph = defs.resolve_asset_graph()
    got = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        got[key.to_user_string()] = (
            node.group_name,
            sorted(parent.to_user_string() for parent in node.parent_keys),
        )
    assert got == EXPECTED_GRAPH
    checks = {c.to_user_string() for c in graph.asset_check_keys}
    assert "raw/events/page_view:conforms_to_schema" in checks
    assert "intermediate/events/order_placed:event_id_unique" in checks


def test_adding_an_event_type_is_adding_a_schema_file(tmp_path: Path) -> None:
    registry_dir = tmp_path / "schemas"
    shutil.copytree(DEFAULT_SCHEMAS_DIR, registry_dir)
    schema = json.loads((registry_dir / "events" / "page_view" / "v1.avsc").read_text())
    schema["name"] = "Search"
    schema["fields"][1]["type"] = {"type": "enum", "name": "SearchType", "symbols": ["search"]}
    (registry_dir / "events" / "search").mkdir()
    (registry_dir / "events" / "search" / "v1.avsc").write_text(json.dumps(schema))
    keys = {a.key for a in build_assets(SchemaRegistry.from_directory(registry_dir))}
    assert dg.AssetKey(["raw", "events", "search"]) in keys
    assert dg.AssetKey(["intermediate", "events", "search"]) in keys
