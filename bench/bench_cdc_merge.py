"""CDC merge cost: 10,000 changes merged into a 1,000,000-row table versus into a 10,000-row table.

Setup (not timed): the table's history and current state written straight with Spark into a temporary
local lake, bucketed by key hash (``--buckets``), its schema registered; then one DMS change file of
``--changes`` changes (50 % updates of existing keys, 30 % inserts, 20 % deletes) landed and turned into raw
Avro. Timed, best of ``--repeat``, each repeat from the same lake copy:

* ``append``: ``merge_new_changes`` writing the changes as one pending file (merge-on-read; thresholds off);
* ``compact``: the same merge forced to rewrite the buckets the changes touch (copy-on-write);
* ``default``: the table's default policy (``compact_ratio`` 0.1): which of the two it chose, and its time;
* ``read``: counting the current state with the pending file applied (``read_current``), after ``append``.

Amortised cost per merge under the default policy at this change rate: one compaction every
``compact_ratio * rows / changes`` merges, the others appends.

    .venv/bin/python bench/bench_cdc_merge.py [--sizes 10000 1000000] [--changes 10000] [--buckets 64]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import platform
import random
import shutil
import tempfile
import time
from pathlib import Path

from pyspark.sql import functions as F

from lake_assets.assets.cdc_merge import (
    Manifest,
    current_prefix,
    history_prefix,
    merge_new_changes,
    read_current,
)
from lake_assets.registry.registry import SchemaVersion
from lake_assets.sources.cdc.dms_format import ChangeRow, write_changes
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.sources.cdc_raw import build_cdc_raw, candidate_schema, register_version
from lake_assets.storage import Zone, partition_prefix
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.transforms import cdc as T
from lake_assets.transforms.spark_session import build_spark_session

COLUMNS = ["order_id", "customer", "amount"]
LOAD_TS = dt.datetime(2026, 11, 24, 8)


def build_table(spark, root: Path, spec: CdcTableSpec, rows: int) -> None:
    store = LocalObjectStore(root)
    schema = candidate_schema(spec, dict.fromkeys(COLUMNS, "string"), None)
    register_version(store, spec, SchemaVersion("cdc/bench/orders", 1, schema), "_system/schemas/cdc")
    history = T.with_bucket(
        spark.range(1, rows + 1).select(
            F.col("id").cast("string").alias("order_id"),
            F.concat(F.lit("c"), (F.col("id") % 997).cast("string")).alias("customer"),
            F.format_number(F.col("id") % 1000 / 7, 2).alias("amount"),
            F.lit("I").alias("Op"),
            F.lit(LOAD_TS).alias("commit_ts"),
            F.lpad(F.col("id").cast("string"), 35, "0").alias("position"),
        ),
        ["order_id"],
        spec.buckets,
    )
    history = history.select(
        *COLUMNS,
        "Op",
        "commit_ts",
        "position",
        F.col("commit_ts").alias("valid_from"),
        F.lit(None).cast("timestamp").alias("valid_to"),
        F.lit(True).alias("is_current"),
        F.lit(False).alias("is_deleted"),
        "bucket",
    )
    history.repartition("bucket").write.partitionBy("bucket").parquet(str(root / history_prefix(spec)))
    current = history.select(*COLUMNS, "commit_ts", "position", "bucket")
    current.repartition("bucket").write.partitionBy("bucket").parquet(str(root / current_prefix(spec)))
    # The manifest a merge would have left: the compacted rows per bucket (its compaction threshold).
    counts = {r["bucket"]: r["count"] for r in current.groupBy("bucket").count().collect()}
    Manifest(rows=counts).save(store, spec)


def land_changes(root: Path, spec: CdcTableSpec, rows: int, changes: int, seed: int = 7) -> None:
    store = LocalObjectStore(root)
    rng = random.Random(seed)
    when = LOAD_TS + dt.timedelta(hours=1)
    batch = []
    existing = rng.sample(range(1, rows + 1), min(rows, int(changes * 0.7)))
    updates, deletes = existing[: int(changes * 0.5)], existing[int(changes * 0.5) :]
    inserts = range(rows + 1, rows + 1 + changes - len(updates) - len(deletes))
    for n, (op, key) in enumerate(
        [("U", k) for k in updates] + [("I", k) for k in inserts] + [("D", k) for k in deletes], start=1
    ):
        values = (
            {"order_id": str(key)} if op == "D" else {"order_id": str(key), "customer": "z", "amount": "1.00"}
        )
        batch.append(ChangeRow(op, when, f"{9:020d}{n:015d}", values))
    write_changes(store, spec.source, spec.schema, spec.table, COLUMNS, batch)
    with store.staging_dir() as stage:
        result = build_cdc_raw(store, spec, ["2026-11-24"], stage)
        store.publish_dir(stage / "dt=2026-11-24", partition_prefix(Zone.RAW, "cdc", spec.name, "2026-11-24"))
    assert sum(result.days.values()) == changes


def timed(base: Path, lake: Path, repeat: int, action) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        shutil.rmtree(lake, ignore_errors=True)
        shutil.copytree(base, lake)
        start = time.perf_counter()
        out = action(LocalObjectStore(lake))
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--buckets", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    spark = build_spark_session(app_name="bench_cdc_merge")
    spec = CdcTableSpec("bench", "public", "orders", ("order_id",), buckets=args.buckets)
    never = dataclasses.replace(spec, compact_ratio=1e9, max_pending_merges=1000)
    print(f"{platform.processor() or platform.machine()}, Spark local[2], {args.buckets} buckets")
    for rows in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            base, lake = Path(tmp) / "base", Path(tmp) / "lake"
            build_table(spark, base, spec, rows)
            land_changes(base, spec, rows, args.changes)
            append, _ = timed(base, lake, args.repeat, lambda s: merge_new_changes(spark, s, never))
            with contextlib.ExitStack() as stack:
                start = time.perf_counter()
                counted = read_current(spark, LocalObjectStore(lake), spec, stack).count()
                read = time.perf_counter() - start
            compact, report = timed(
                base, lake, args.repeat, lambda s: merge_new_changes(spark, s, spec, compact=True)
            )
            default, chosen = timed(base, lake, args.repeat, lambda s: merge_new_changes(spark, s, spec))
            every = max(1.0, spec.compact_ratio * rows / args.changes)
            amortised = (compact + (every - 1) * append) / every
            print(
                f"{args.changes:,} changes into {rows:,} rows: append {append:.2f} s, "
                f"compact {compact:.2f} s ({len(report['buckets_rewritten'])}/{args.buckets} buckets), "
                f"default -> {chosen['mode']} {default:.2f} s, amortised {amortised:.2f} s/merge "
                f"(a compaction every {every:.0f} merges); read current {read:.2f} s ({counted:,} rows)"
            )
    spark.stop()


if __name__ == "__main__":
    main()
