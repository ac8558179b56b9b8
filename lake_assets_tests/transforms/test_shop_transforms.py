"""order_lines, daily_product_sales, daily_funnel with exact expected rows; one run from real Avro files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import fastavro
import pyarrow.parquet as pq
from pyspark.sql import functions as F

from lake_assets.transforms import (
    AVRO_FORMAT,
    clean_events,
    column_contract,
    daily_funnel,
    daily_product_sales,
    order_lines,
)

UTC = dt.UTC
D23, D24, D25 = dt.date(2026, 11, 23), dt.date(2026, 11, 24), dt.date(2026, 11, 25)
ORDERS_DDL = (
    "order_id string, user_id string, session_id string, "
    "items array<struct<product_id:string,quantity:int,unit_price_cents:bigint>>, dt date"
)


def rows(df, *cols: str) -> list[tuple]:
    return sorted(tuple(r[c] for c in cols) for r in df.collect())


def orders_frame(spark):
    return spark.createDataFrame(
        [
            ("o1", "u1", "s1", [("p1", 2, 100), ("p2", 1, 250), ("p1", 1, 90)], D24),  # p1 twice in one order
            ("o2", "u2", "s2", [("p1", 3, 100)], D24),
            ("o3", "u1", "s3", [("p2", 1, 250)], D25),
            ("o4", "u3", "s4", [], D25),  # no items: no line, no sales
        ],
        ORDERS_DDL,
    )


def test_order_lines_one_row_per_item(spark) -> None:
    out = order_lines(spark, {"orders": orders_frame(spark)})
    assert out.columns == [
        "order_id",
        "line_no",
        "user_id",
        "product_id",
        "quantity",
        "unit_price_cents",
        "line_total_cents",
        "dt",
    ]
    assert rows(out, *out.columns) == [
        ("o1", 1, "u1", "p1", 2, 100, 200, D24),
        ("o1", 2, "u1", "p2", 1, 250, 250, D24),
        ("o1", 3, "u1", "p1", 1, 90, 90, D24),
        ("o2", 1, "u2", "p1", 3, 100, 300, D24),
        ("o3", 1, "u1", "p2", 1, 250, 250, D25),
    ]
    assert dict((n, t) for n, t, _ in column_contract(out))["line_total_cents"] == "bigint"


def test_daily_product_sales_totals(spark) -> None:
    out = daily_product_sales(spark, {"orders": orders_frame(spark)})
    assert out.columns == ["dt", "product_id", "orders", "units", "revenue_cents"]
    assert rows(out, *out.columns) == [
        (D24, "p1", 2, 6, 590),  # o1 counts once although p1 is on two of its lines
        (D24, "p2", 1, 1, 250),
        (D25, "p2", 1, 1, 250),
    ]


def test_daily_product_sales_writes_one_sorted_file_per_day(spark, tmp_path: Path) -> None:
    items = [[(f"p{(i * 37) % 50:03d}", 1, 10)] for i in range(200)]
    data = [(f"o{i}", "u", "s", items[i], D24 if i % 2 else D25) for i in range(200)]
    out = daily_product_sales(spark, {"orders": spark.createDataFrame(data, ORDERS_DDL).repartition(7)})
    out.write.partitionBy("dt").parquet(str(tmp_path / "sales"))
    for day in (D24, D25):
        files = list((tmp_path / "sales" / f"dt={day}").glob("*.parquet"))
        assert len(files) == 1
        products = pq.read_table(files[0]).column("product_id").to_pylist()
        assert products == sorted(products)
        assert len(products) == len(set(products)) > 20


def test_daily_funnel_counts_and_rates(spark) -> None:
    page_views = spark.createDataFrame(
        [
            ("s1", "product", D24),
            ("s1", "home", D24),
            ("s2", "product", D24),
            ("s3", "home", D24),
            ("s4", "product", D24),
            ("s9", "home", D25),  # D25: visits only, so both step denominators are 0
            ("s8", "search", D25),
            ("s7", "product", D23),  # D23: product views but no cart add
        ],
        "session_id string, page_type string, dt date",
    )
    cart_updates = spark.createDataFrame(
        [
            ("s1", "add", D24),
            ("s2", "add", D24),
            ("s2", "add", D24),
            ("s4", "remove", D24),  # a removal is not an add
            ("s5", "add", D24),  # cart add without a product view (from search)
        ],
        "session_id string, action string, dt date",
    )
    orders = spark.createDataFrame(
        [("s1", D24), ("s5", D24), ("s1", D24)],
        "session_id string, dt date",
    )
    out = daily_funnel(spark, {"page_views": page_views, "cart_updates": cart_updates, "orders": orders})
    assert out.columns == [
        "dt",
        "sessions",
        "sessions_with_product_view",
        "sessions_with_cart_add",
        "sessions_with_order",
        "view_to_cart_rate",
        "cart_to_order_rate",
        "conversion_rate",
    ]
    assert [tuple(r) for r in out.collect()] == [  # ordered by dt without an explicit sort
        (D23, 1, 1, 0, 0, 0.0, None, 0.0),
        (D24, 5, 3, 3, 2, 1.0, 2 / 3, 2 / 5),
        (D25, 2, 0, 0, 0, None, None, 0.0),
    ]
    assert {n: t for n, t, _ in column_contract(out)}["conversion_rate"] == "double"


# --- from real Avro files, as the raw layer stores them --------------------------------------------------


def ms(day: int, hour: int, minute: int = 0) -> int:
    return int(dt.datetime(2026, 11, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def write_avro(path: Path, schema: dict, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        fastavro.writer(fh, schema, records, codec="deflate")


def read_raw(spark, folder: Path, schema_json: str | None = None):
    """What the raw asset does: read the partition folders and name each record's landing object."""
    reader = spark.read.format(AVRO_FORMAT)
    if schema_json is not None:
        reader = reader.option("avroSchema", schema_json)
    return reader.load(str(folder)).withColumn("_source_file", F.col("_metadata.file_name"))


def test_pipeline_from_avro_files_to_final_tables(spark, registry, tmp_path: Path) -> None:
    raw = tmp_path / "raw" / "events"
    orders_v2 = registry.latest("order_placed")
    orders_v1 = registry.version("order_placed", 1)

    def order(eid: str, t: int, sid: str, oid: str, items: list[tuple], v2: bool = True) -> dict:
        rec = {
            "event_id": eid,
            "event_type": "order_placed",
            "event_time": t,
            "session_id": sid,
            "user_id": "u-" + sid,
            "order_id": oid,
            "currency": "EUR",
            "items": [{"product_id": p, "quantity": q, "unit_price_cents": c} for p, q, c in items],
            "total_cents": sum(q * c for _, q, c in items),
        }
        return {**rec, "coupon_code": "XMAS"} if v2 else rec

    o1 = order("e1", ms(24, 9), "s1", "o1", [("p1", 2, 500), ("p2", 1, 1200)])
    # first delivery of dt=2026-11-24 was written with schema v1 (no coupon_code)
    write_avro(
        raw / "order_placed/dt=2026-11-24/20261124T100000Z-000001.avro",
        orders_v1.parsed,
        [
            {k: v for k, v in o1.items() if k != "coupon_code"},
            order("e2", ms(24, 9, 30), "s2", "o2", [("p1", 1, 500)], v2=False),
        ],
    )
    write_avro(
        raw / "order_placed/dt=2026-11-24/20261124T110000Z-000002.avro",
        orders_v2.parsed,
        [o1, order("e3", ms(24, 10), "s3", "o3", [("p2", 2, 1200)])],  # o1 again: a re-delivery
    )
    # a late order: happened on the 23rd, landed on the 25th, stored in its event day's partition
    write_avro(
        raw / "order_placed/dt=2026-11-23/20261125T080000Z-000003.avro",
        orders_v2.parsed,
        [order("e4", ms(23, 23, 50), "s4", "o4", [("p3", 1, 300)])],
    )
    pv_schema = registry.latest("page_view").parsed
    write_avro(
        raw / "page_view/dt=2026-11-24/20261124T100000Z-000001.avro",
        pv_schema,
        [
            {
                "event_id": f"v{i}",
                "event_type": "page_view",
                "event_time": ms(24, 8, i),
                "session_id": sid,
                "user_id": None,
                "page_url": "/p/" + pt,
                "page_type": pt,
                "product_id": None,
                "referrer": None,
                "device": "desktop",
            }
            for i, (sid, pt) in enumerate(
                [("s1", "product"), ("s2", "product"), ("s3", "home"), ("s5", "cart")]
            )
        ],
    )
    write_avro(
        raw / "cart_update/dt=2026-11-24/20261124T100000Z-000001.avro",
        registry.latest("cart_update").parsed,
        [
            {
                "event_id": f"c{i}",
                "event_type": "cart_update",
                "event_time": ms(24, 8, 30 + i),
                "session_id": sid,
                "user_id": None,
                "product_id": "p1",
                "action": action,
                "quantity": 1,
                "unit_price_cents": 500,
            }
            for i, (sid, action) in enumerate([("s1", "add"), ("s3", "add"), ("s2", "remove")])
        ],
    )

    orders_raw = read_raw(spark, raw / "order_placed", json.dumps(orders_v2.schema))
    assert dict(orders_raw.dtypes)["event_time"] == "timestamp"
    orders = clean_events(spark, {"raw": orders_raw}, {"avro_schema": orders_v2.schema})
    assert rows(orders, "event_id", "dt", "_ingested_from", "coupon_code") == [
        ("e1", D24, "20261124T100000Z-000001.avro", None),  # the v1 delivery came first
        ("e2", D24, "20261124T100000Z-000001.avro", None),
        ("e3", D24, "20261124T110000Z-000002.avro", "XMAS"),
        ("e4", D23, "20261125T080000Z-000003.avro", "XMAS"),
    ]
    page_views = clean_events(spark, {"raw": read_raw(spark, raw / "page_view")})
    cart_updates = clean_events(spark, {"raw": read_raw(spark, raw / "cart_update")})

    # the lead's assets write Parquet by dt and the next step reads it back: do the same
    for name, df in (("orders", orders), ("page_views", page_views), ("cart_updates", cart_updates)):
        df.write.mode("overwrite").partitionBy("dt").parquet(str(tmp_path / "intermediate" / name))
    back = {
        n: spark.read.parquet(str(tmp_path / "intermediate" / n))
        for n in ("orders", "page_views", "cart_updates")
    }
    assert dict(back["orders"].dtypes)["dt"] == "date"
    assert [c for c in column_contract(back["orders"]) if c[0] in ("event_time", "items")] == [
        ("event_time", "timestamp", True),
        ("items", "array<struct<product_id:string,quantity:int,unit_price_cents:bigint>>", True),
    ]

    sales = daily_product_sales(spark, back)
    assert rows(sales, *sales.columns) == [
        (D23, "p3", 1, 1, 300),
        (D24, "p1", 2, 3, 1500),
        (D24, "p2", 2, 3, 3600),
    ]
    funnel = daily_funnel(spark, back)
    assert [tuple(r) for r in funnel.collect()] == [
        (D23, 1, 0, 0, 1, None, None, 1.0),
        (D24, 4, 2, 2, 3, 1.0, 1.5, 0.75),  # s1..s3 ordered, s5 only browsed the cart page
    ]
