"""Raw Avro -> clean -> daily_product_sales / daily_funnel: local Spark against DuckDB on the same files.

Prints figures; never a timed test. Run from the repo root:

    .venv/bin/python bench/bench_transforms.py                      # generate, then Spark, then DuckDB
    .venv/bin/python bench/bench_transforms.py --keep /tmp/bench    # keep the data to re-run one side
    .venv/bin/python bench/bench_transforms.py --data /tmp/bench --only spark --conf spark.x=y

Data: about 1e6 shop events over 3 days as the raw layer stores them (``<type>/dt=<day>/<batch>.avro``,
fastavro, deflate, one file per 5-minute delivery batch, ~2% re-delivered in a later batch, some late).
DuckDB reads the Avro files with its avro extension, loaded offline from the ``duckdb-extension-avro``
wheel (PyPI, same version as duckdb); without it the bench converts Avro to Parquet with fastavro + pyarrow
first and reports that conversion as its own stage. Each side runs in its own process, so Spark's cold
start is measured in a fresh JVM and the two engines do not share memory (Spark driver 1 GB heap, about
1.3 GB resident; DuckDB memory_limit 1 GB; both on 2 threads). The machine may be shared: use --repeat.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TYPES = {"page_view": "page_views", "cart_update": "cart_updates", "order_placed": "orders"}
FIRST_DAY = dt.date(2026, 11, 23)


# --- data ----------------------------------------------------------------------------------------------


def generate(
    root: Path, events: int, days: int, sessions_per_day: int, products: int, batch_minutes: int
) -> dict:
    """Write raw Avro the way the raw layer lands it; returns record and file counts."""
    import fastavro

    from lake_assets.registry import SchemaRegistry

    registry = SchemaRegistry.from_directory()
    schemas = {t: registry.latest(t).parsed for t in TYPES}
    rnd = random.Random(20261124)
    product_ids = [f"P{i:05d}" for i in range(products)]
    prices = [
        rnd.choice((199, 499, 999, 1499, 2499, 4999, 9999)) + rnd.randrange(0, 100) for _ in product_ids
    ]
    cum = list(_cumulative(1.0 / (i + 1) ** 0.8 for i in range(products)))  # Zipf-like popularity
    page_types = ["product"] * 45 + ["category"] * 20 + ["home"] * 10 + ["search"] * 10
    page_types += ["cart"] * 7 + ["checkout"] * 3 + ["other"] * 5
    devices = ["mobile"] * 6 + ["desktop"] * 3 + ["tablet"]
    pv_mean = max(1.0, events / (days * sessions_per_day) / 1.02 - 3.0)  # ~3 non-view events per session
    batch_ms = batch_minutes * 60_000
    counts: dict[str, int] = defaultdict(int)
    files: dict[str, int] = defaultdict(int)

    def pick_product() -> int:
        return bisect.bisect_left(cum, rnd.random() * cum[-1])

    def eid() -> str:
        return f"{rnd.getrandbits(128):032x}"

    pending: dict[tuple[str, dt.date, int], list[dict]] = defaultdict(list)

    def deliver(kind: str, rec: dict) -> None:
        t = rec["event_time"]
        lag = rnd.expovariate(1 / 20_000) if rnd.random() > 0.01 else rnd.uniform(3_600_000, 30 * 3_600_000)
        day = dt.datetime.fromtimestamp(t / 1000, dt.UTC).date()
        pending[(kind, day, int((t + lag) // batch_ms))].append(rec)
        counts[kind] += 1
        if rnd.random() < 0.02:  # the producer or queue delivers it again, a few minutes to an hour later
            pending[(kind, day, int((t + lag + rnd.uniform(300_000, 3_600_000)) // batch_ms))].append(rec)
            counts[kind] += 1

    def flush(before_day: dt.date | None) -> None:
        for key in sorted(k for k in pending if before_day is None or k[1] < before_day):
            kind, day, batch = key
            stamp = dt.datetime.fromtimestamp(batch * batch_ms / 1000, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            folder = root / "raw" / "events" / kind / f"dt={day.isoformat()}"
            folder.mkdir(parents=True, exist_ok=True)
            with (folder / f"{stamp}-{kind}.avro").open("wb") as fh:
                fastavro.writer(fh, schemas[kind], pending.pop(key), codec="deflate")
            files[kind] += 1

    for d in range(days):
        day = FIRST_DAY + dt.timedelta(days=d)
        day_ms = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
        for s in range(sessions_per_day):
            session = f"S{d:02d}{s:06d}{rnd.getrandbits(24):06x}"
            user = f"U{rnd.randrange(200_000):06d}" if rnd.random() < 0.4 else None
            t = day_ms + int(86_400_000 * rnd.betavariate(2.2, 1.6))  # busier in the evening
            device = rnd.choice(devices)
            viewed: list[int] = []
            cart: dict[int, int] = {}
            for i in range(max(1, int(rnd.expovariate(1 / pv_mean)))):
                t += int(rnd.expovariate(1 / 40_000)) + 500
                page_type = rnd.choice(page_types)
                product = pick_product() if page_type == "product" else None
                if product is not None:
                    viewed.append(product)
                url = f"/p/{product_ids[product]}" if product is not None else f"/{page_type}"
                deliver(
                    "page_view",
                    {
                        "event_id": eid(),
                        "event_type": "page_view",
                        "event_time": t,
                        "session_id": session,
                        "user_id": user,
                        "page_url": url,
                        "page_type": page_type,
                        "product_id": None if product is None else product_ids[product],
                        "referrer": "https://www.example.com/" if i == 0 and rnd.random() < 0.5 else None,
                        "device": device,
                    },
                )
                if viewed and rnd.random() < 0.14:
                    product = rnd.choice(viewed)
                    remove = product in cart and rnd.random() < 0.2
                    qty = 1 if remove else rnd.choice((1, 1, 1, 2, 3))
                    cart[product] = cart.get(product, 0) + (-qty if remove else qty)
                    if cart[product] <= 0:
                        del cart[product]
                    t += 2_000
                    deliver(
                        "cart_update",
                        {
                            "event_id": eid(),
                            "event_type": "cart_update",
                            "event_time": t,
                            "session_id": session,
                            "user_id": user,
                            "product_id": product_ids[product],
                            "action": "remove" if remove else "add",
                            "quantity": qty,
                            "unit_price_cents": prices[product],
                        },
                    )
            if cart and rnd.random() < 0.25:
                t += 60_000
                items = [
                    {"product_id": product_ids[p], "quantity": q, "unit_price_cents": prices[p]}
                    for p, q in cart.items()
                ]
                deliver(
                    "order_placed",
                    {
                        "event_id": eid(),
                        "event_type": "order_placed",
                        "event_time": t,
                        "session_id": session,
                        "user_id": user or f"U{rnd.randrange(200_000):06d}",
                        "order_id": f"O{rnd.getrandbits(40):010x}",
                        "currency": "EUR",
                        "items": items,
                        "total_cents": sum(i["quantity"] * i["unit_price_cents"] for i in items),
                        "coupon_code": "WINTER10" if rnd.random() < 0.1 else None,
                    },
                )
        flush(day)  # sessions of later days never produce events of this day: write it and free memory
    flush(None)
    return {"records": dict(counts), "files": dict(files)}


def _cumulative(values: Iterator[float]) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


# --- timing --------------------------------------------------------------------------------------------


class Timer:
    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.stages[name] = round(time.perf_counter() - start, 3)
        print(f"  {name:<34} {self.stages[name]:8.2f} s", file=sys.stderr, flush=True)


def folder_stats(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*.parquet")]
    return len(files), sum(p.stat().st_size for p in files)


# --- Spark ---------------------------------------------------------------------------------------------


def run_spark(data: Path, out: Path, confs: dict[str, str], breakdown: bool) -> dict[str, Any]:
    """Fresh session; the steps the assets run, each reading its inputs from storage and writing Parquet."""
    timer = Timer()
    with timer.stage("cold start: imports + JVM + session"):
        from pyspark.sql import functions as F

        from lake_assets.registry import SchemaRegistry
        from lake_assets.transforms import (
            AVRO_FORMAT,
            build_spark_session,
            clean_events,
            daily_funnel,
            daily_product_sales,
        )

        spark = build_spark_session(app_name="bench_transforms")
        for key, value in confs.items():
            spark.conf.set(key, value)
    with timer.stage("cold start: first job"):
        spark.range(1).count()
    registry = SchemaRegistry.from_directory()

    def raw(kind: str):
        schema = registry.latest(kind).schema
        return (
            spark.read.format(AVRO_FORMAT)
            .option("avroSchema", json.dumps(schema))
            .load(str(data / "raw" / "events" / kind))
            .withColumn("_source_file", F.col("_metadata.file_name"))
        ), schema

    if breakdown:
        for kind in TYPES:
            with timer.stage(f"decode only {kind} (noop sink)"):
                raw(kind)[0].write.format("noop").mode("overwrite").save()
            with timer.stage(f"clean only {kind} (noop sink)"):
                df, schema = raw(kind)
                clean_events(spark, {"raw": df}, {"avro_schema": schema}).write.format("noop").mode(
                    "overwrite"
                ).save()
    for kind, table in TYPES.items():
        with timer.stage(f"raw->clean {kind}"):
            df, schema = raw(kind)
            clean = clean_events(spark, {"raw": df}, {"avro_schema": schema})
            clean.write.mode("overwrite").partitionBy("dt").parquet(str(out / "intermediate" / table))
    inter = {t: spark.read.parquet(str(out / "intermediate" / t)) for t in TYPES.values()}
    with timer.stage("daily_product_sales"):
        daily_product_sales(spark, inter).write.mode("overwrite").partitionBy("dt").parquet(
            str(out / "final" / "daily_product_sales")
        )
    with timer.stage("daily_funnel"):
        daily_funnel(spark, inter).write.mode("overwrite").partitionBy("dt").parquet(
            str(out / "final" / "daily_funnel")
        )
    result = {
        "stages": timer.stages,
        "rows": {t: spark.read.parquet(str(out / "intermediate" / t)).count() for t in TYPES.values()},
        "files": {t: folder_stats(out / "intermediate" / t)[0] for t in TYPES.values()},
        "sales_rows": spark.read.parquet(str(out / "final" / "daily_product_sales")).count(),
        "funnel": [
            [str(r["dt"]), r["sessions"], r["sessions_with_order"], round(r["conversion_rate"], 5)]
            for r in spark.read.parquet(str(out / "final" / "daily_funnel")).orderBy("dt").collect()
        ],
    }
    gateway = spark.sparkContext._gateway  # the JVM's peak RSS: the part of Spark that the Python side hides
    proc = getattr(gateway, "proc", None)
    status = Path(f"/proc/{proc.pid}/status") if proc is not None else None
    if status is not None and status.exists():
        hwm = [line for line in status.read_text().splitlines() if line.startswith("VmHWM")]
        result["jvm_peak_rss_mb"] = int(hwm[0].split()[1]) // 1024 if hwm else None
    spark.stop()
    return result


# --- DuckDB --------------------------------------------------------------------------------------------


def _duckdb_connect(threads: int, memory: str):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}; SET memory_limit = '{memory}'; SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    try:
        import duckdb_extension_avro  # the PyPI wheel ships the extension binary: loads offline

        ext = Path(duckdb_extension_avro.__file__).parent / "extensions" / f"v{duckdb.__version__}"
        con.execute(f"LOAD '{ext / 'avro.duckdb_extension'}'")
        return con, "read_avro"
    except (ImportError, duckdb.Error):
        pass
    try:
        con.execute("LOAD avro")
        return con, "read_avro"
    except duckdb.Error:
        return con, "parquet"


def _avro_to_parquet(data: Path, target: Path) -> None:
    """Fallback when read_avro is not available: fastavro -> pyarrow -> Parquet, same partition layout."""
    import fastavro
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in sorted((data / "raw" / "events").rglob("*.avro")):
        with path.open("rb") as fh:
            records = list(fastavro.reader(fh))
        for r in records:
            r["event_time"] = r["event_time"].replace(tzinfo=None)
        dest = target / path.relative_to(data / "raw").with_suffix(".parquet")
        dest.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(records), dest)


def run_duckdb(data: Path, out: Path, threads: int, memory: str) -> dict[str, Any]:
    """The same logic in DuckDB SQL, reading the same Avro files and writing the same Parquet layout."""
    timer = Timer()
    with timer.stage("start (connect + load extension)"):
        con, mode = _duckdb_connect(threads, memory)
    if mode == "parquet":
        with timer.stage("convert Avro -> Parquet (fastavro)"):
            _avro_to_parquet(data, out / "converted")

    def raw(kind: str) -> str:
        if mode == "read_avro":
            glob = data / "raw" / "events" / kind / "*" / "*.avro"
            return f"read_avro('{glob}', filename = true, hive_partitioning = false)"
        glob = out / "converted" / "events" / kind / "*" / "*.parquet"
        return f"read_parquet('{glob}', filename = true, hive_partitioning = false, union_by_name = true)"

    def copy(query: str, target: Path, order: str = "") -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"COPY ({query} {order}) TO '{target}' "
            "(FORMAT parquet, COMPRESSION snappy, PARTITION_BY (dt), OVERWRITE_OR_IGNORE, "
            "FILENAME_PATTERN 'part_{i}')"
        )

    for kind, table in TYPES.items():
        with timer.stage(f"raw->clean {kind}"):
            cols = con.execute(f"DESCRIBE SELECT * FROM {raw(kind)}").fetchall()
            names = [c[0] for c in cols if c[0] not in ("filename", "dt")]
            typed = ", ".join(
                f"CAST({n} AS VARCHAR) AS {n}" if str(t).startswith("ENUM") else n
                for n, t, *_ in cols
                if n in names
            )
            copy(
                f"""
                SELECT {typed}, parse_filename(filename) AS _ingested_from,
                       CAST(event_time AS DATE) AS dt
                FROM {raw(kind)}
                QUALIFY row_number() OVER (
                    PARTITION BY event_id
                    ORDER BY parse_filename(filename), event_time, hash({", ".join(names)})
                ) = 1""",
                out / "intermediate" / table,
            )

    def inter(table: str) -> str:
        return f"read_parquet('{out / 'intermediate' / table / '*' / '*.parquet'}', hive_partitioning = true)"

    with timer.stage("daily_product_sales"):
        copy(
            f"""
            SELECT dt, item.product_id AS product_id, count(DISTINCT order_id) AS orders,
                   sum(item.quantity)::BIGINT AS units,
                   sum(item.quantity::BIGINT * item.unit_price_cents)::BIGINT AS revenue_cents
            FROM (SELECT order_id, dt, unnest(items) AS item FROM {inter("orders")})
            GROUP BY ALL""",
            out / "final" / "daily_product_sales",
            "ORDER BY dt, product_id",
        )
    with timer.stage("daily_funnel"):
        copy(
            f"""
            WITH steps AS (
                SELECT dt, session_id, page_type = 'product' AS viewed, false AS added, false AS ordered
                FROM {inter("page_views")}
                UNION ALL
                SELECT dt, session_id, false, action = 'add', false FROM {inter("cart_updates")}
                UNION ALL
                SELECT dt, session_id, false, false, true FROM {inter("orders")}
            ), per_session AS (
                SELECT dt, session_id, bool_or(viewed) AS viewed, bool_or(added) AS added,
                       bool_or(ordered) AS ordered
                FROM steps GROUP BY ALL
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
            FROM per_day""",
            out / "final" / "daily_funnel",
            "ORDER BY dt",
        )
    final = out / "final"
    return {
        "mode": mode,
        "stages": timer.stages,
        "rows": {t: con.execute(f"SELECT count(*) FROM {inter(t)}").fetchone()[0] for t in TYPES.values()},
        "files": {t: folder_stats(out / "intermediate" / t)[0] for t in TYPES.values()},
        "sales_rows": con.execute(
            f"SELECT count(*) FROM read_parquet('{final / 'daily_product_sales' / '*' / '*.parquet'}')"
        ).fetchone()[0],
        "funnel": [
            [str(d), s, o, round(c, 5)]
            for d, s, o, c in con.execute(
                "SELECT dt, sessions, sessions_with_order, conversion_rate FROM "
                f"read_parquet('{final / 'daily_funnel' / '*' / '*.parquet'}', hive_partitioning = true) "
                "ORDER BY dt"
            ).fetchall()
        ],
    }


# --- driver --------------------------------------------------------------------------------------------


def child(engine: str, data: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run one engine in a fresh process and collect its figures (and its peak memory, JVM included)."""
    cmd = [sys.executable, __file__, "--data", str(data), "--out", str(out), "--_child", engine]
    cmd += [x for kv in args.conf for x in ("--conf", kv)] + (["--breakdown"] if args.breakdown else [])
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYTHONPATH": str(REPO)}
    if args.java_opts:  # JVM flags must be given at launch; keep the session's UTC default with them
        opts = shlex.quote(f"{args.java_opts} -Duser.timezone=UTC")
        env["PYSPARK_SUBMIT_ARGS"] = f"--driver-java-options {opts} pyspark-shell"
    start = time.perf_counter()
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=env)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = round(time.perf_counter() - start, 2)
    return result  # peak_rss_mb: the child's own (see _own_peak_rss_mb)


def _own_peak_rss_mb() -> int | None:
    """This process's peak RSS since exec (VmHWM). Not getrusage(RUSAGE_CHILDREN) in the parent: Linux keeps a
    child's high-water mark across exec, so a forked child would report at least its parent's peak (the
    generator's records), and the figure is the largest child's, whichever engine that was."""
    status = Path("/proc/self/status")
    hwm = [line for line in status.read_text().splitlines() if line.startswith("VmHWM")]
    return int(hwm[0].split()[1]) // 1024 if hwm else None


def report(spark: dict | None, duck: dict | None) -> None:
    print("\nstage                                  spark s   duckdb s    ratio")
    names = list(dict.fromkeys([*(spark or {}).get("stages", {}), *(duck or {}).get("stages", {})]))
    for name in names:
        s = (spark or {}).get("stages", {}).get(name)
        d = (duck or {}).get("stages", {}).get(name)
        ratio = f"{s / d:8.1f}x" if s is not None and d else ""
        print(f"{name:<36} {_fmt(s)} {_fmt(d)} {ratio}")
    for label, side in (("spark", spark), ("duckdb", duck)):
        if side:
            work = sum(
                v
                for k, v in side["stages"].items()
                if not k.startswith(("cold", "start", "decode", "clean only", "convert"))
            )
            side["work"] = round(work, 2)
            print(
                f"{label}: pipeline {work:.2f} s (excl. start), wall {side['wall']} s, "
                f"peak RSS {side['peak_rss_mb']} MB (JVM {side.get('jvm_peak_rss_mb', '-')} MB),"
                f" rows {side['rows']}, files {side['files']}, sales rows {side['sales_rows']}"
            )
            print(f"  funnel {side['funnel']}")
    if spark and duck:
        print(
            f"ratio spark/duckdb, pipeline without start: {spark['work'] / duck['work']:.1f}x; "
            f"wall: {spark['wall'] / duck['wall']:.1f}x"
        )
        same = spark["rows"] == duck["rows"] and spark["funnel"] == duck["funnel"]
        same = same and spark["sales_rows"] == duck["sales_rows"]
        print("results agree" if same else "RESULTS DIFFER")


def _fmt(v: float | None) -> str:
    return f"{v:9.2f}" if v is not None else " " * 9


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--sessions-per-day", type=int, default=10_000)
    ap.add_argument("--products", type=int, default=2_000)
    ap.add_argument("--batch-minutes", type=int, default=5, help="one raw file per type per delivery batch")
    ap.add_argument("--data", type=Path, help="existing generated data (skip generation)")
    ap.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--only", choices=["spark", "duckdb"])
    ap.add_argument("--conf", action="append", default=[], help="extra Spark SQL conf key=value (repeatable)")
    ap.add_argument("--java-opts", default="", help="extra driver JVM flags, e.g. -XX:TieredStopAtLevel=1")
    ap.add_argument("--repeat", type=int, default=1, help="run each engine N times, keep each stage's best")
    ap.add_argument("--breakdown", action="store_true", help="also time Avro decoding and dedup alone")
    ap.add_argument("--_child", choices=["spark", "duckdb"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._child:
        if args._child == "spark":
            confs = dict(kv.split("=", 1) for kv in args.conf)
            result = run_spark(args.data, args.out, confs, args.breakdown)
        else:
            result = run_duckdb(args.data, args.out, threads=2, memory="1GB")
        result["peak_rss_mb"] = _own_peak_rss_mb()
        print(json.dumps(result))
        return 0

    tmp = None
    if args.data is None:
        data = args.keep or Path(tmp := tempfile.mkdtemp(prefix="bench_transforms_"))
        start = time.perf_counter()
        counts = generate(
            data, args.events, args.days, args.sessions_per_day, args.products, args.batch_minutes
        )
        size = sum(p.stat().st_size for p in (data / "raw").rglob("*.avro")) / 1e6
        print(f"generated in {time.perf_counter() - start:.1f} s (not timed): {counts}, {size:.1f} MB Avro")
    else:
        data = args.data
    try:
        results: dict[str, dict | None] = {"spark": None, "duckdb": None}
        for engine in ("spark", "duckdb"):
            if args.only in (None, engine):
                out = data / f"out_{engine}"
                shutil.rmtree(out, ignore_errors=True)
                print(f"{engine}:", file=sys.stderr, flush=True)
                runs = [child(engine, data, out, args) for _ in range(args.repeat)]
                best = runs[0]
                for run in runs[1:]:
                    best["stages"] = {k: min(v, run["stages"][k]) for k, v in best["stages"].items()}
                    best["wall"] = min(best["wall"], run["wall"])
                results[engine] = best
        report(results["spark"], results["duckdb"])
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
