"""clean_events on small hand-made frames; the rule that transforms stay portable (no RDD, UDF, Dagster)."""

from __future__ import annotations

import ast
import datetime as dt
import io
import tokenize
from pathlib import Path

import pytest

from lake_assets.transforms import avro_to_spark_ddl, clean_events, column_contract

UTC = dt.UTC
PAGE_VIEW_DDL = (
    "event_id string, event_type string, event_time timestamp, session_id string, user_id string, "
    "page_url string, page_type string, product_id string, referrer string, device string, "
    "_source_file string"
)


def ts(day: int, hour: int = 12, minute: int = 0, second: int = 0, ms: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, second, ms * 1000, tzinfo=UTC)


def pv(event_id: str, when: dt.datetime, source: str, url: str = "/", session: str = "s1") -> tuple:
    return (event_id, "page_view", when, session, None, url, "home", None, None, "mobile", source)


def as_utc(value: object) -> object:
    """PySpark returns timestamps as naive local datetimes; make them comparable to aware UTC ones."""
    return value.astimezone(UTC) if isinstance(value, dt.datetime) else value


def collect(df, *cols: str) -> list[tuple]:
    return sorted(tuple(as_utc(r[c]) for c in cols) for r in df.collect())


def test_duplicates_across_files_keep_the_earliest_delivery(spark) -> None:
    rows = [
        pv("e1", ts(24, 10), "20261124T1100Z-0002.avro", url="/second"),
        pv("e1", ts(24, 10), "20261124T1000Z-0001.avro", url="/first"),
        pv("e2", ts(24, 11), "20261124T1100Z-0002.avro", url="/only"),
        # same delivery twice in one file with different times: the earlier event time wins
        pv("e3", ts(24, 9, 30), "20261124T1000Z-0001.avro", url="/later-time"),
        pv("e3", ts(24, 9, 0), "20261124T1000Z-0001.avro", url="/earlier-time"),
        # an earlier file wins even over an earlier event time in a later file
        pv("e4", ts(24, 8), "20261124T1100Z-0002.avro", url="/later-file"),
        pv("e4", ts(24, 9), "20261124T1000Z-0001.avro", url="/earlier-file"),
    ]
    out = clean_events(spark, {"raw": spark.createDataFrame(rows, PAGE_VIEW_DDL)})
    assert collect(out, "event_id", "page_url", "_ingested_from", "event_time") == [
        ("e1", "/first", "20261124T1000Z-0001.avro", ts(24, 10)),
        ("e2", "/only", "20261124T1100Z-0002.avro", ts(24, 11)),
        ("e3", "/earlier-time", "20261124T1000Z-0001.avro", ts(24, 9)),
        ("e4", "/earlier-file", "20261124T1000Z-0001.avro", ts(24, 9)),
    ]
    assert out.columns[-2:] == ["_ingested_from", "dt"]
    assert "_source_file" not in out.columns


def test_full_ties_are_broken_the_same_way_whatever_the_input_order(spark) -> None:
    rows = [pv("e1", ts(24), "f1.avro", url=f"/u{i}") for i in range(6)]
    picks = set()
    for order in (rows, list(reversed(rows)), rows[3:] + rows[:3]):
        df = spark.createDataFrame(order, PAGE_VIEW_DDL).repartition(3)
        picks.add(tuple(collect(clean_events(spark, {"raw": df}), "event_id", "page_url")))
    assert len(picks) == 1
    assert len(next(iter(picks))) == 1


def test_dt_is_the_utc_day_of_the_event_even_when_it_arrives_late(spark) -> None:
    rows = [
        pv("late", ts(23, 23, 59, 59, 999), "20261125T0300Z-0009.avro"),  # delivered two days later
        pv("midnight", ts(24, 0, 0, 0, 0), "20261124T0001Z-0001.avro"),
        pv("day25", ts(25, 12), "20261125T1300Z-0010.avro"),
    ]
    df = spark.createDataFrame(rows, PAGE_VIEW_DDL)
    before = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")  # a Glue job's default may differ
    try:
        got = collect(clean_events(spark, {"raw": df}), "event_id", "dt")
    finally:
        spark.conf.set("spark.sql.session.timeZone", before)
    assert got == [
        ("day25", dt.date(2026, 11, 25)),
        ("late", dt.date(2026, 11, 23)),
        ("midnight", dt.date(2026, 11, 24)),
    ]


def test_casts_to_the_registry_schema_and_fills_fields_older_files_lack(spark, registry) -> None:
    # v1 order rows as a loose reader might give them: epoch millis, long quantities, no coupon_code
    ddl = (
        "event_id string, event_type string, event_time bigint, session_id string, user_id string, "
        "order_id string, currency string, "
        "items array<struct<product_id:string,quantity:bigint,unit_price_cents:bigint>>, "
        "total_cents int, _source_file string, dt string"
    )
    millis = int(ts(24, 10).timestamp() * 1000)
    rows = [("e1", "order_placed", millis, "s1", "u1", "o1", "EUR", [("p1", 2, 150)], 300, "f1.avro", "x")]
    schema = registry.latest("order_placed").schema
    out = clean_events(spark, {"raw": spark.createDataFrame(rows, ddl)}, {"avro_schema": schema})
    assert [(n, t) for n, t, _ in column_contract(out)] == [
        ("event_id", "string"),
        ("event_type", "string"),
        ("event_time", "timestamp"),
        ("session_id", "string"),
        ("user_id", "string"),
        ("order_id", "string"),
        ("currency", "string"),
        ("items", "array<struct<product_id:string,quantity:int,unit_price_cents:bigint>>"),
        ("total_cents", "bigint"),
        ("coupon_code", "string"),
        ("_ingested_from", "string"),
        ("dt", "date"),
    ]
    row = out.collect()[0]
    assert as_utc(row["event_time"]) == ts(24, 10)
    assert row["coupon_code"] is None
    assert row["dt"] == dt.date(2026, 11, 24)  # recomputed, the input's own dt column is not trusted
    assert row["items"][0]["quantity"] == 2


@pytest.mark.parametrize("subject", ["page_view", "cart_update", "order_placed"])
def test_every_registry_schema_maps_to_spark_types(registry, subject: str) -> None:
    schema = registry.latest(subject).schema
    mapped = {f["name"]: avro_to_spark_ddl(f["type"]) for f in schema["fields"]}
    assert mapped["event_time"] == ("timestamp", False)
    assert mapped["event_type"] == ("string", False)
    assert mapped["event_id"] == ("string", False)
    if subject == "page_view":
        assert mapped["product_id"] == ("string", True)
    if subject == "cart_update":
        assert mapped["quantity"] == ("int", False)
        assert mapped["unit_price_cents"] == ("bigint", False)
    if subject == "order_placed":
        assert mapped["items"] == (
            "array<struct<`product_id`:string,`quantity`:int,`unit_price_cents`:bigint>>",
            False,
        )
        assert mapped["coupon_code"] == ("string", True)


def test_a_custom_key_and_time_column(spark) -> None:
    df = spark.createDataFrame(
        [("a", ts(24, 1), "f2"), ("a", ts(24, 1), "f1"), ("b", ts(22, 5), "f1")],
        "id string, at timestamp, _source_file string",
    )
    out = clean_events(spark, {"raw": df}, {"key": "id", "time": "at"})
    assert collect(out, "id", "_ingested_from", "dt") == [
        ("a", "f1", dt.date(2026, 11, 24)),
        ("b", "f1", dt.date(2026, 11, 22)),
    ]


def test_input_without_source_file_is_refused(spark) -> None:
    df = spark.createDataFrame([("a", ts(24))], "event_id string, event_time timestamp")
    with pytest.raises(ValueError, match="_source_file"):
        clean_events(spark, {"raw": df})


# --- the portability rule: transforms use the DataFrame/SQL API only ------------------------------------

TRANSFORMS_DIR = Path(__file__).resolve().parents[2] / "lake_assets" / "transforms"
FORBIDDEN_NAMES = {
    "rdd",
    "udf",
    "pandas_udf",
    "udtf",
    "mapInPandas",
    "mapInArrow",
    "applyInPandas",
    "applyInArrow",
    "foreach",
    "foreachPartition",
    "sparkContext",
    "toPandas",
}
FORBIDDEN_IMPORTS = ("dagster", "lake_assets.storage", "lake_assets.resources", "boto3", "pyarrow.fs")


def forbidden_uses(source: str) -> list[str]:
    """Code (not comments or docstrings) that leaves the portable API: RDDs, UDFs, Dagster, storage, paths."""
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and (tok.string in FORBIDDEN_NAMES or "udf" in tok.string.lower()):
            found.append(f"line {tok.start[0]}: {tok.string}")
    for node in ast.walk(ast.parse(source)):
        modules = []
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        for module in modules:
            if module.startswith(FORBIDDEN_IMPORTS):
                found.append(f"line {node.lineno}: import {module}")
        paths = ("s3://", "s3a://", "file://", "raw/", "final/")
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and any(p in node.value for p in paths)
        ):
            found.append(f"line {node.lineno}: storage path {node.value!r}")
    return found


def test_the_check_catches_each_kind_of_violation() -> None:
    bad = (
        "import dagster\n"
        "from pyspark.sql.functions import udf\n"
        "def f(df):\n"
        "    df.rdd.map(len)\n"
        "    return df.mapInPandas(g, 'x int').write.parquet('s3://b/raw/x')\n"
    )
    kinds = " ".join(forbidden_uses(bad))
    for word in ("dagster", "udf", "rdd", "mapInPandas", "s3://"):
        assert word in kinds
    assert forbidden_uses('"""No RDDs, no Python UDFs, no Dagster."""\nx = 1  # not dagster\n') == []


def test_transforms_stay_on_the_portable_api() -> None:
    sources = sorted(TRANSFORMS_DIR.glob("*.py"))
    assert {p.name for p in sources} >= {"events.py", "shop.py", "__init__.py"}
    found = {p.name: forbidden_uses(p.read_text(encoding="utf-8")) for p in sources}
    assert found == {p.name: [] for p in sources}
