"""CDC merge cost: 10,000 changes merged into a 1,000,000-row table versus into a 10,000-row table.

Setup (not timed): the table's history and current state written straight with Spark into a temporary
local lake, bucketed by key hash (``--buckets``), its schema registered; then one DMS change file of
``--changes`` changes (50 % updates of existing keys, 30 % inserts, 20 % deletes) landed and turned into raw
Avro. Timed: ``merge_new_changes`` (read the new raw file, find the touched buckets, rebuild and publish
them, write the manifest); best of ``--repeat`` (each repeat starts from the same lake copy).

    .venv/bin/python bench/bench_cdc_merge.py [--sizes 10000 1000000] [--changes 10000] [--buckets 64]
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import random
import shutil
import tempfile
import time
from pathlib import Path

from pyspark.sql import functions as F

from lake_assets.assets.cdc_merge import current_prefix, history_prefix, merge_new_changes
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--buckets", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    spark = build_spark_session(app_name="bench_cdc_merge")
    spec = CdcTableSpec("bench", "public", "orders", ("order_id",), buckets=args.buckets)
    print(f"{platform.processor() or platform.machine()}, Spark local[2], {args.buckets} buckets")
    for rows in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp) / "base"
            build_table(spark, base, spec, rows)
            land_changes(base, spec, rows, args.changes)
            best, report = float("inf"), {}
            for _ in range(args.repeat):
                lake = Path(tmp) / "lake"
                shutil.rmtree(lake, ignore_errors=True)
                shutil.copytree(base, lake)
                start = time.perf_counter()
                report = merge_new_changes(spark, LocalObjectStore(lake), spec)
                best = min(best, time.perf_counter() - start)
            touched = len(report["buckets_rewritten"])
            print(
                f"{args.changes:,} changes into {rows:,} rows: {best:.2f} s (best of {args.repeat}), "
                f"{touched}/{args.buckets} buckets rewritten, {report['rows']:,} rows after"
            )
    spark.stop()


if __name__ == "__main__":
    main()
