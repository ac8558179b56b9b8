"""``lake_status`` on a temporary lake: raw folders, Iceberg tables (pyiceberg, no Spark), the quarantine
zone, failed checks and freshness expectations handed in as ``commands.py`` reads them from Dagster."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lake_assets.operations.status import lake_status
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.tables.catalog import CatalogConfig
from lake_assets_tests.lake_helpers import event, ingest_lines
from lake_assets_tests.operations.tables import day, iceberg_table, raw_avro

DAILY_LAG = dt.timedelta(hours=26)
SUBJECTS = ["cart_update", "order_placed", "page_view"]


def test_status_per_table(lake_root: Path) -> None:
    store = LocalObjectStore(lake_root)
    raw_avro(store, "raw/events/page_view/dt=2026-11-20/a.avro", 3)
    raw_avro(store, "raw/events/page_view/dt=2026-11-21/b.avro", 2)
    raw_avro(store, "raw/cdc/shop/customers/dt=2026-11-21/LOAD1.avro", 4)
    funnel = iceberg_table(
        lake_root,
        "final.shop_daily_funnel",
        [
            {"dt": day("2026-11-20"), "n": 1},
            {"dt": day("2026-11-22"), "n": 2},
            {"dt": day("2026-11-22"), "n": 3},
        ],
        by_day=True,
    )
    iceberg_table(lake_root, "intermediate.cdc_shop_customers", [{"id": i} for i in range(5)], by_day=False)
    ingest_lines(
        store, [event(1), event(2, device="tv"), event(3, device="tv"), b"{oops", b'{"event_type": 1}']
    )
    committed = dt.datetime.fromtimestamp(funnel.current_snapshot().timestamp_ms / 1000, dt.UTC)

    def status(now: dt.datetime, failed: dict[str, list[str]] | None):  # noqa: ANN202
        return lake_status(
            store,
            CatalogConfig.for_lake(str(lake_root)),
            subjects=SUBJECTS,
            expectations={"final.shop_daily_funnel": DAILY_LAG, "final.shop_daily_product_sales": DAILY_LAG},
            failed_checks=failed,
            now=now,
        )

    fresh = status(committed + dt.timedelta(hours=1), {"intermediate.cdc_shop_customers": ["keys_unique"]})
    tables = {t.table: t for t in fresh.tables}
    assert list(tables) == [
        "raw.cdc_shop_customers",
        "raw.events_page_view",
        "intermediate.cdc_shop_customers",
        "final.shop_daily_funnel",
        "final.shop_daily_product_sales",
        "quarantine.events",
    ]
    page_view = tables["raw.events_page_view"]
    assert (page_view.rows, page_view.last_partition) == (5, "2026-11-21")
    assert dict(page_view.quarantined) == {"invalid_value": 2}
    # not attributable to a table: not JSON, or an event_type that names no subject
    assert dict(tables["quarantine.events"].quarantined) == {"malformed_json": 1, "wrong_type": 1}
    f = tables["final.shop_daily_funnel"]
    assert (f.snapshot_id, f.rows, f.last_partition) == (
        funnel.current_snapshot().snapshot_id,
        3,
        "2026-11-22",
    )
    assert not f.stale(fresh.now) and f.age(fresh.now) == dt.timedelta(hours=1)
    customers = tables["intermediate.cdc_shop_customers"]
    assert (customers.rows, customers.last_partition, customers.failed_checks) == (5, None, ["keys_unique"])
    missing = tables["final.shop_daily_product_sales"]
    assert missing.snapshot_id is None and missing.stale(fresh.now)  # expected, never written: overdue
    assert fresh.problems == [
        "final.shop_daily_product_sales: stale",
        "intermediate.cdc_shop_customers: failed keys_unique",
    ]
    text = fresh.render()
    assert "final.shop_daily_funnel" in text and "2 problem(s)" in text and "2: invalid_value 2" in text

    late = status(committed + dt.timedelta(hours=27), None)
    by_name = {t.table: t for t in late.tables}
    assert by_name["final.shop_daily_funnel"].stale(late.now)
    assert by_name["raw.events_page_view"].failed_checks is None and "unknown" in late.render()
    assert late.to_json()["tables"][3]["stale"] is True and late.to_json()["checks_known"] is False
