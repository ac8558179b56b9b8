"""Local Spark against DuckDB on the same Apache Iceberg tables the lake writes: transforms and ad-hoc SQL.

Prints figures; never a timed test. Run from the repo root:

    .venv/bin/python bench/bench_iceberg.py                        # generate, build the tables, time both
    .venv/bin/python bench/bench_iceberg.py --events 100000        # small
    .venv/bin/python bench/bench_iceberg.py --keep /tmp/bi         # keep the lake folder to re-run later
    .venv/bin/python bench/bench_iceberg.py --data /tmp/bi --repeat 3 --warm

Setup (printed, not timed): raw Avro from ``bench_transforms.generate`` (about 1e6 shop events over 3 days)
in ``<lake>/raw/events``; then one Spark process builds the lake's Iceberg tables in that lake folder as the
assets do: ``intermediate.events_<type>`` (``clean_events`` of the raw Avro read by ``read_raw_events``,
committed with ``write_audit_publish``, audit always passing, replacing the generated days), then
``final.shop_daily_product_sales`` and ``final.shop_daily_funnel`` from those tables. The catalog is the
lake's SQLite SQL catalog (``<lake>/_system/catalog.db``).

Timed: each engine in its own fresh process (cold start measured and shown on its own rows), both reading the
intermediate tables through the catalog:

- Spark: ``build_spark_session`` + ``catalog_session``, the lake's ``daily_product_sales`` / ``daily_funnel``
  over ``spark.table("lake.intermediate.events_<type>")``, results collected to the driver (no write).
- DuckDB: the ``lake query`` path (pyiceberg lists the tables, ``iceberg_scan`` of each current metadata file,
  ``query.duckdb_with_iceberg``), the same two results in SQL, fetched to Python (no write).
- Both: a few ad-hoc queries, the ``lake query`` use case, the same SQL text on both engines.

Both results are compared row by row. Spark: driver 1 GB heap, local[2]; DuckDB: 2 threads, memory_limit 1 GB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bench_transforms import FIRST_DAY, TYPES, Timer, _fmt, generate  # noqa: E402

SALES = "shop_daily_product_sales"
FUNNEL = "shop_daily_funnel"
TABLES = [f"intermediate.events_{t}" for t in TYPES] + [f"final.{SALES}", f"final.{FUNNEL}"]

# The DuckDB port of transforms.shop, as in bench_transforms.run_duckdb (there it is inline, over Parquet
# globs, so it is restated here over the catalog's tables; the same columns and column order as Spark's).
SALES_SQL = """
SELECT dt, item.product_id AS product_id, count(DISTINCT order_id) AS orders,
       sum(item.quantity)::BIGINT AS units,
       sum(item.quantity::BIGINT * item.unit_price_cents)::BIGINT AS revenue_cents
FROM (SELECT order_id, dt, unnest(items) AS item FROM intermediate.events_order_placed)
GROUP BY ALL"""
FUNNEL_SQL = """
WITH steps AS (
    SELECT dt, session_id, page_type = 'product' AS viewed, false AS added, false AS ordered
    FROM intermediate.events_page_view
    UNION ALL
    SELECT dt, session_id, false, action = 'add', false FROM intermediate.events_cart_update
    UNION ALL
    SELECT dt, session_id, false, false, true FROM intermediate.events_order_placed
), per_session AS (
    SELECT dt, session_id, bool_or(coalesce(viewed, false)) AS viewed,
           bool_or(coalesce(added, false)) AS added, bool_or(ordered) AS ordered
    FROM steps WHERE session_id IS NOT NULL GROUP BY ALL
), per_day AS (
    SELECT dt, count(*) AS sessions, count_if(viewed)::BIGINT AS sessions_with_product_view,
           count_if(added)::BIGINT AS sessions_with_cart_add,
           count_if(ordered)::BIGINT AS sessions_with_order
    FROM per_session GROUP BY dt
)
SELECT *,
    sessions_with_cart_add / nullif(sessions_with_product_view, 0)::DOUBLE AS view_to_cart_rate,
    sessions_with_order / nullif(sessions_with_cart_add, 0)::DOUBLE AS cart_to_order_rate,
    sessions_with_order / nullif(sessions, 0)::DOUBLE AS conversion_rate
FROM per_day"""


def adhoc_queries(day: dt.date) -> dict[str, str]:
    """Stage name -> SQL valid on both engines; ``{lake}`` is ``lake.`` for Spark, empty for DuckDB."""
    return {
        "ad-hoc: page views per dt": (
            "SELECT dt, count(*) AS page_views FROM {lake}intermediate.events_page_view "
            "GROUP BY dt ORDER BY dt"
        ),
        "ad-hoc: top 5 products by revenue": (
            f"SELECT product_id, sum(revenue_cents) AS revenue_cents, sum(units) AS units "
            f"FROM {{lake}}final.{SALES} GROUP BY product_id ORDER BY revenue_cents DESC, product_id LIMIT 5"
        ),
        "ad-hoc: one day's orders (dt filter)": (
            "SELECT count(*) AS orders, sum(total_cents) AS total_cents, count(DISTINCT user_id) AS buyers "
            f"FROM {{lake}}intermediate.events_order_placed WHERE dt = DATE '{day}'"
        ),
        "ad-hoc: sessions per device, one day": (
            "SELECT device, count(DISTINCT session_id) AS sessions FROM {lake}intermediate.events_page_view "
            f"WHERE dt = DATE '{day}' GROUP BY device ORDER BY device"
        ),
        "ad-hoc: read final funnel table": f"SELECT * FROM {{lake}}final.{FUNNEL} ORDER BY dt",
        "ad-hoc: row count of 3 event tables": " UNION ALL ".join(
            f"SELECT '{t}' AS kind, count(*) AS n FROM {{lake}}intermediate.events_{t}" for t in TYPES
        ),
    }


def _plain(rows: list) -> list[list]:
    """Rows as JSON values: dates as text, doubles rounded (the engines sum in different orders)."""
    out = []
    for row in rows:
        values = []
        for v in row:
            if isinstance(v, dt.date):
                v = v.isoformat()
            elif isinstance(v, float):
                v = round(v, 9)
            elif v is not None and not isinstance(v, int | str | bool):
                v = int(v) if float(v).is_integer() else float(v)  # Decimal (Spark's sum of bigint is not)
            values.append(v)
        out.append(values)
    return out


def _peak_rss_mb(pid: int | str = "self") -> int | None:
    """A process's peak RSS (VmHWM): of its own address space since exec, so not the forking parent's."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    hwm = [line for line in status.read_text().splitlines() if line.startswith("VmHWM")]
    return int(hwm[0].split()[1]) // 1024 if hwm else None


def _jvm_peak_rss_mb(spark) -> int | None:  # noqa: ANN001
    proc = getattr(spark.sparkContext._gateway, "proc", None)
    return _peak_rss_mb(proc.pid) if proc is not None else None


def _days(lake: Path) -> list[str]:
    folders = (lake / "raw" / "events").glob("*/dt=*")
    return sorted({p.name.removeprefix("dt=") for p in folders})


# --- setup: the lake's tables, built as the assets build them --------------------------------------------


def run_setup(lake: Path) -> dict[str, Any]:
    from lake_assets.assets.spark_io import (
        clean_params,
        days_filter,
        read_intermediate_events,
        read_raw_events,
    )
    from lake_assets.registry import SchemaRegistry
    from lake_assets.storage.object_store import LocalObjectStore
    from lake_assets.tables.catalog import CatalogConfig, catalog_session
    from lake_assets.tables.iceberg import qualified, write_audit_publish
    from lake_assets.tables.specs import table_spec
    from lake_assets.transforms import build_spark_session, clean_events, daily_funnel, daily_product_sales

    timer = Timer()
    with timer.stage("setup: Spark session"):
        catalog = CatalogConfig.for_lake(str(lake))
        spark = catalog_session(build_spark_session(app_name="bench_iceberg_setup"), catalog)
    registry = SchemaRegistry.from_directory()
    days = _days(lake)

    def audit(staged) -> bool:  # noqa: ANN001 - the bench's audit always publishes
        return True

    for subject in TYPES:
        spec = table_spec("intermediate", f"events_{subject}")
        with timer.stage(f"setup: {spec.identifier}"):
            raw = read_raw_events(spark, LocalObjectStore(lake), registry, subject, days)
            cleaned = clean_events(spark, {"raw": raw}, clean_params(registry, subject))
            write_audit_publish(spark, catalog, spec, cleaned, audit, replace_where=days_filter(days))
    finals = {
        SALES: (daily_product_sales, {"orders": "order_placed"}),
        FUNNEL: (
            daily_funnel,
            {"page_views": "page_view", "cart_updates": "cart_update", "orders": "order_placed"},
        ),
    }
    for name, (transform, inputs) in finals.items():
        spec = table_spec("final", name)
        with timer.stage(f"setup: {spec.identifier}"):
            frames = {k: read_intermediate_events(spark, registry, s, days) for k, s in inputs.items()}
            df = transform(spark, frames)
            write_audit_publish(spark, catalog, spec, df, audit, replace_where=days_filter(days))
    tables = {}
    for identifier in TABLES:
        database, name = identifier.split(".")
        files, size, rows = spark.sql(
            "SELECT count(*), coalesce(sum(file_size_in_bytes), 0), coalesce(sum(record_count), 0) "
            f"FROM {qualified(table_spec(database, name))}.files"
        ).collect()[0]
        tables[identifier] = {"rows": rows, "files": files, "mb": round(size / 1e6, 2)}
    spark.stop()
    return {"stages": timer.stages, "tables": tables, "days": days}


# --- timed: each engine in its own process -----------------------------------------------------------------


def _stages(timer: Timer, lake: Path, run_one, warm: bool) -> dict[str, list]:  # noqa: ANN001
    """Time the two transforms and the ad-hoc queries with ``run_one("sales" | "funnel" | sql)``."""
    days = _days(lake)
    day = dt.date.fromisoformat(days[(len(days) - 1) // 2]) if days else FIRST_DAY  # a middle day
    results: dict[str, list] = {}
    for label in ("", "warm: ") if warm else ("",):
        with timer.stage(f"{label}daily_product_sales (collect)"):
            results["sales"] = run_one("sales")
        with timer.stage(f"{label}daily_funnel (collect)"):
            results["funnel"] = run_one("funnel")
        for name, sql in adhoc_queries(day).items():
            with timer.stage(f"{label}{name}"):
                results[name] = run_one(sql)
    return results


def run_spark(lake: Path, warm: bool) -> dict[str, Any]:
    timer = Timer()
    with timer.stage("cold start: imports"):
        from lake_assets.tables.catalog import CatalogConfig, catalog_session
        from lake_assets.transforms import build_spark_session, daily_funnel, daily_product_sales
    with timer.stage("cold start: engine (JVM+session)"):
        spark = catalog_session(
            build_spark_session(app_name="bench_iceberg"), CatalogConfig.for_lake(str(lake))
        )
    with timer.stage("cold start: first job"):
        spark.range(1).count()
    with timer.stage("open tables (catalog lookup)"):
        inter = {t: spark.table(f"lake.intermediate.events_{t}") for t in TYPES}
        for identifier in TABLES:
            spark.table(f"lake.{identifier}").schema  # noqa: B018 - resolves the table in the catalog
    frames = {
        "page_views": inter["page_view"],
        "cart_updates": inter["cart_update"],
        "orders": inter["order_placed"],
    }

    def run_one(what: str) -> list:
        if what == "sales":
            df = daily_product_sales(spark, {"orders": frames["orders"]})
        elif what == "funnel":
            df = daily_funnel(spark, frames)
        else:
            df = spark.sql(what.format(lake="lake."))
        return _plain(df.collect())

    results = _stages(timer, lake, run_one, warm)
    out = {"stages": timer.stages, "results": results, "version": spark.version}
    out["jvm_peak_rss_mb"] = _jvm_peak_rss_mb(spark)
    out["peak_rss_mb"] = _peak_rss_mb()
    spark.stop()
    return out


def run_duckdb(lake: Path, warm: bool) -> dict[str, Any]:
    timer = Timer()
    with timer.stage("cold start: imports"):
        import duckdb

        from lake_assets.query import duckdb_with_iceberg, iceberg_scan_sql
        from lake_assets.tables.catalog import CatalogConfig
        from lake_assets.tables.inspect import list_tables
    with timer.stage("cold start: engine (JVM+session)"):  # Spark's row; here: connect + load extensions
        con = duckdb_with_iceberg()
        con.execute("SET threads = 2; SET memory_limit = '1GB'; SET TimeZone = 'UTC'")
    with timer.stage("cold start: first job"):
        con.execute("SELECT count(*) FROM range(1)").fetchall()
    with timer.stage("open tables (catalog lookup)"):  # as `lake query`: pyiceberg lists them, one view each
        for entry in list_tables(CatalogConfig.for_lake(str(lake))):
            database, name = entry.identifier.split(".")
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {database}")
            con.execute(f"CREATE VIEW {database}.{name} AS {iceberg_scan_sql(entry)}")

    def run_one(what: str) -> list:
        sql = {"sales": SALES_SQL, "funnel": FUNNEL_SQL}.get(what) or what.format(lake="")
        return _plain(con.execute(sql).fetchall())

    results = _stages(timer, lake, run_one, warm)
    return {
        "stages": timer.stages,
        "results": results,
        "version": duckdb.__version__,
        "peak_rss_mb": _peak_rss_mb(),
    }


# --- driver --------------------------------------------------------------------------------------------


def child(engine: str, lake: Path, warm: bool) -> dict[str, Any]:
    """One engine in a fresh process; wall time from launch to exit."""
    cmd = [sys.executable, __file__, "--data", str(lake), "--_child", engine] + (["--warm"] if warm else [])
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    stdout = proc.stdout.read()
    code = proc.wait()
    wall = round(time.perf_counter() - start, 2)
    if code != 0:
        raise SystemExit(f"{engine} child failed with exit code {code}")
    # Peak memory is read by the child itself (VmHWM): getrusage / wait4 would report at least this
    # process's peak, since a forked child inherits it (the generator's records here).
    result = json.loads(stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def _best(runs: list[dict]) -> dict:
    best = runs[0]
    for run in runs[1:]:
        best["stages"] = {k: min(v, run["stages"][k]) for k, v in best["stages"].items()}
        best["wall"] = min(best["wall"], run["wall"])
    return best


def _sum(side: dict, pick) -> float:  # noqa: ANN001
    return round(sum(v for k, v in side["stages"].items() if pick(k)), 3)


def _ratio(s: float | None, d: float | None) -> str:
    """Spark / DuckDB; not shown under 5 ms of DuckDB, where the timer's rounding would make it up."""
    if s is None or d is None:
        return ""
    return f"{s / d:8.1f}x" if d >= 0.005 else "   (<5 ms)"


def report(spark: dict | None, duck: dict | None) -> None:
    print(f"\n{'stage':<44} {'spark s':>9} {'duckdb s':>9}     ratio")
    names = list(dict.fromkeys([*(spark or {}).get("stages", {}), *(duck or {}).get("stages", {})]))
    for name in names:
        s = (spark or {}).get("stages", {}).get(name)
        d = (duck or {}).get("stages", {}).get(name)
        print(f"{name:<44} {_fmt(s)} {_fmt(d)} {_ratio(s, d)}")
    groups = {
        "cold start": lambda k: k.startswith("cold"),
        "open tables": lambda k: k.startswith("open"),
        "2 transforms": lambda k: k.startswith("daily_"),
        "ad-hoc queries": lambda k: k.startswith("ad-hoc"),
        "transforms + ad-hoc": lambda k: k.startswith(("daily_", "ad-hoc")),
        "all queries (excl. start)": lambda k: not k.startswith(("cold", "warm")),
        "warm: 2 transforms": lambda k: k.startswith("warm: daily_"),
        "warm: ad-hoc queries": lambda k: k.startswith("warm: ad-hoc"),
    }
    print()
    for group, pick in groups.items():
        s = _sum(spark, pick) if spark else None
        d = _sum(duck, pick) if duck else None
        if not s and not d:
            continue
        print(f"{'total ' + group:<44} {_fmt(s)} {_fmt(d)} {_ratio(s, d)}")
    s, d = (spark or {}).get("wall"), (duck or {}).get("wall")
    print(f"{'wall (process launch to exit)':<44} {_fmt(s)} {_fmt(d)} {_ratio(s, d)}")
    for label, side in (("spark", spark), ("duckdb", duck)):
        if side:
            results = side["results"]
            jvm = f", its JVM {side['jvm_peak_rss_mb']} MB" if side.get("jvm_peak_rss_mb") else ""
            print(
                f"{label} {side['version']}: peak RSS {side['peak_rss_mb']} MB{jvm}, "
                f"sales rows {len(results['sales'])},"
                f" event rows {dict((k, n) for k, n in results['ad-hoc: row count of 3 event tables'])}"
            )
            funnel = [[r[0], r[1], r[4], r[7]] for r in sorted(results["funnel"])]
            print(f"  funnel [dt, sessions, with order, conversion] {funnel}")
            print(f"  top 5 products {results['ad-hoc: top 5 products by revenue']}")
    if spark and duck:
        differ = [
            name
            for name, rows in spark["results"].items()
            if sorted(rows, key=json.dumps) != sorted(duck["results"][name], key=json.dumps)
        ]
        print("results agree" if not differ else f"RESULTS DIFFER: {', '.join(differ)}")
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.machine()}, "
        f"{platform.system()} {platform.release()}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end"
    )


def _has_tables(lake: Path) -> bool:
    db = lake / "_system" / "catalog.db"
    if not db.is_file():
        return False
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        found = {
            f"{ns}.{t}" for ns, t in con.execute("SELECT table_namespace, table_name FROM iceberg_tables")
        }
    return set(TABLES) <= found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--sessions-per-day", type=int, default=10_000)
    ap.add_argument("--products", type=int, default=2_000)
    ap.add_argument("--batch-minutes", type=int, default=5, help="one raw file per type per delivery batch")
    ap.add_argument("--data", type=Path, help="a lake folder from --keep (its tables are reused)")
    ap.add_argument("--keep", type=Path, help="generate and build into this folder and keep it")
    ap.add_argument("--only", choices=["spark", "duckdb"])
    ap.add_argument("--repeat", type=int, default=1, help="run each engine N times, keep each stage's best")
    ap.add_argument("--warm", action="store_true", help="run every query a second time in the same process")
    ap.add_argument("--_child", choices=["spark", "duckdb", "setup"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._child:
        if args._child == "setup":
            result = run_setup(args.data)
        elif args._child == "spark":
            result = run_spark(args.data, args.warm)
        else:
            result = run_duckdb(args.data, args.warm)
        print(json.dumps(result, default=str))
        return 0

    tmp = None
    if args.data is None:
        lake = (args.keep or Path(tmp := tempfile.mkdtemp(prefix="bench_iceberg_"))).resolve()
        start = time.perf_counter()
        counts = generate(
            lake, args.events, args.days, args.sessions_per_day, args.products, args.batch_minutes
        )
        size = sum(p.stat().st_size for p in (lake / "raw").rglob("*.avro")) / 1e6
        print(f"generated in {time.perf_counter() - start:.1f} s (not timed): {counts}, {size:.1f} MB Avro")
    else:
        lake = args.data.resolve()
    try:
        if _has_tables(lake):
            print(f"reusing the Iceberg tables in {lake}")
        else:
            print("setup (not timed):", file=sys.stderr, flush=True)
            start = time.perf_counter()
            setup = child("setup", lake, False)
            print(
                f"built the Iceberg tables in {time.perf_counter() - start:.1f} s "
                "(not timed, one Spark process):"
            )
            for name, secs in setup["stages"].items():
                print(f"  {name:<45} {secs:7.2f} s")
            for name, t in setup["tables"].items():
                print(f"  {name:<36} {t['rows']:>9} rows {t['files']:>4} data files {t['mb']:8.2f} MB")
        results: dict[str, dict | None] = {"spark": None, "duckdb": None}
        for engine in ("spark", "duckdb"):
            if args.only in (None, engine):
                print(f"{engine}:", file=sys.stderr, flush=True)
                results[engine] = _best([child(engine, lake, args.warm) for _ in range(args.repeat)])
        report(results["spark"], results["duckdb"])
        if args.keep and tmp is None and args.data is None:
            print(f"kept the lake folder {lake} (re-run with --data {lake})")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
