"""CDC merge cost on Iceberg: 10,000 changes merged (MERGE INTO, merge-on-read) into 1,000,000 rows vs 10,000.

Prints figures; never a timed test. Run from the repo root:

    .venv/bin/python bench/bench_cdc_merge.py [--sizes 10000 1000000] [--changes 10000] [--repeat 2]
    .venv/bin/python bench/bench_cdc_merge.py --sizes 1000 --tables 11     # also 11 demo-sized tables

Setup (printed, not timed), for each size: a temporary local lake (SQLite catalog in
``_system/catalog.db``) whose Iceberg tables ``intermediate.cdc_bench_orders`` and ``..._history`` hold
``rows`` keys, written straight with Spark in the layout ``merge_new_changes`` leaves (its columns and types;
created through ``write_audit_publish`` with ``current_table``/``history_table``, so the partition spec
``bucket(N, order_id)`` and the merge-on-read properties are the real ones): one version per key, as after a
full load. The raw
schema is registered and an empty ``Manifest`` saved; then one DMS change file of ``--changes`` changes (50 %
updates of existing keys, 30 % inserts, 20 % deletes, random keys) is landed and turned into raw Avro, so the
merge sees exactly that file as new. The lake is then copied aside (``pristine``).

Timed, best of ``--repeat``; each repeat restores the lake from the pristine copy AT THE SAME PATH (the
catalog holds absolute metadata paths) and opens a new Spark session of its catalog (a session's JDBC
catalog keeps its SQLite connection to the replaced ``catalog.db`` open, so it is not reused):

* ``merge``: ``merge_new_changes`` (MERGE INTO history and current on audit branches, checks, fast-forward;
  its closing count of the current state included);
* ``read``: ``read_current(...).count()`` with the merge's position deletes applied;
* ``maintain``: ``maintain_table`` on the current table (rewrite_data_files with the deletes folded in,
  rewrite_position_delete_files, expire_snapshots, remove_orphan_files).

Data / position-delete file counts (the ``.files`` metadata table) are printed before the merge, after it and
after the compaction. The project's target: merge into 1,000,000 rows / merge into 10,000 rows <= 1.5.

``--tables N``: N small tables (``--table-rows`` rows, ``--table-changes`` changes each, like the demo's),
each landed as a DMS full load plus one change file; merged one after another in one Spark session (the
first merge creates the tables), then another change file each merged again. Totals printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake_assets.layers.cdc import (
    Manifest,
    current_table,
    history_table,
    merge_new_changes,
    merge_tables,
    read_current,
)
from lake_assets.registry.cdc import CDC_SCHEMA_ROOT, candidate_schema, register_version, subject_name
from lake_assets.registry.registry import SchemaVersion
from lake_assets.settings import SparkSettings
from lake_assets.sources.cdc.dms_format import ChangeRow, format_lsn_position, write_changes, write_full_load
from lake_assets.sources.cdc.raw import build_cdc_raw
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.storage import Zone, partition_prefix
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.iceberg import qualified, table_exists, write_audit_publish
from lake_assets.tables.maintenance import maintain_table
from lake_assets.tables.specs import TableSpec
from lake_assets.transforms import cdc as T
from lake_assets.transforms.spark_session import build_spark_session

COLUMNS = ["order_id", "customer", "amount"]
LOAD_TS = dt.datetime(2026, 11, 24, 8)
DAY = LOAD_TS.date().isoformat()


# ------------------------------------------------------------------------------------------------ sessions


def lake_session(spark: SparkSession, catalog: CatalogConfig) -> SparkSession:
    """A NEW session whose ``lake`` catalog is ``catalog`` (what ``catalog_session`` sets, without its cache).

    Iceberg's JDBC catalog keeps its SQLite connections open: after the lake folder is replaced by the
    pristine copy, an old session would go on reading the deleted ``catalog.db``.
    """
    session = spark.newSession()
    for name, value in catalog.spark_conf().items():
        session.conf.set(name, value)
    catalog.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    return session


# ------------------------------------------------------------------------------------------------- setup


def _rows(spark: SparkSession, rows: int) -> DataFrame:
    """Keys 1..rows as a full load would leave them: Op I at LOAD_TS, positions of log position 1."""
    return spark.range(1, rows + 1).select(
        F.col("id").cast("string").alias("order_id"),
        F.concat(F.lit("c"), (F.col("id") % 997).cast("string")).alias("customer"),
        F.format_number(F.col("id") % 1000 / 7, 2).alias("amount"),
        F.lit("I").alias(T.OP),
        F.lit(LOAD_TS).cast("timestamp").alias(T.COMMIT_TS),
        F.concat(F.lit(f"{1:020d}"), F.lpad(F.col("id").cast("string"), 15, "0")).alias(T.POSITION),
    )


def _append(df: DataFrame, target: str) -> None:
    df.writeTo(target).append()


def build_tables(
    spark: SparkSession, catalog: CatalogConfig, store: LocalObjectStore, spec: CdcTableSpec, rows: int
) -> None:
    """History and current state of ``rows`` keys, in the columns, types and table specs the merge writes."""
    schema = candidate_schema(spec, dict.fromkeys(COLUMNS, "string"), None)
    register_version(store, spec, SchemaVersion(subject_name(spec), 1, schema), CDC_SCHEMA_ROOT)
    base = _rows(spark, rows)
    history = base.select(  # build_history's columns (bucket dropped), in its order
        *COLUMNS,
        T.OP,
        T.COMMIT_TS,
        T.POSITION,
        F.col(T.COMMIT_TS).alias("valid_from"),
        F.lit(None).cast("timestamp").alias("valid_to"),
        F.lit(True).alias("is_current"),
        F.lit(False).alias("is_deleted"),
        F.lit(None).cast("array<string>").alias(T.UNCHANGED),
    )
    current = base.select(*COLUMNS, T.COMMIT_TS, T.POSITION)  # current_state's columns (bucket dropped)
    for table, frame in ((history_table(spec), history), (current_table(spec), current)):
        published = write_audit_publish(spark, catalog, table, frame, lambda _staged: True, write=_append)
        assert published.published, published
    Manifest().save(store, spec)  # no raw file merged yet: the change file landed next is the only new one


def change_batch(
    rng: random.Random, live: list[int], next_key: int, changes: int, when: dt.datetime, lsn: int
) -> tuple[list[ChangeRow], set[int], range, set[int]]:
    """``changes`` changes: 50 % updates of live keys, 30 % inserts (keys from ``next_key``), 20 % deletes."""
    existing = rng.sample(live, min(len(live), int(changes * 0.7)))
    updates, deletes = existing[: int(changes * 0.5)], existing[int(changes * 0.5) :]
    inserts = range(next_key, next_key + changes - len(updates) - len(deletes))
    batch = []
    for n, (op, key) in enumerate(
        [("U", k) for k in updates] + [("I", k) for k in inserts] + [("D", k) for k in deletes], start=1
    ):
        values = (
            {"order_id": str(key)} if op == "D" else {"order_id": str(key), "customer": "z", "amount": "1.00"}
        )
        batch.append(ChangeRow(op, when, format_lsn_position(lsn, n), values))
    return batch, set(updates), inserts, set(deletes)


def land_raw(store: LocalObjectStore, spec: CdcTableSpec, expected: int) -> None:
    """The raw Avro of everything landed (day ``DAY``), published; new schema versions registered."""
    with store.staging_dir() as stage:
        result = build_cdc_raw(store, spec, [DAY], stage)
        store.publish_dir(stage / f"dt={DAY}", partition_prefix(Zone.RAW, "cdc", spec.name, DAY))
    for version in result.resolver.new_versions:
        register_version(store, spec, version, CDC_SCHEMA_ROOT)
    assert result.days[DAY] == expected, (result.days, expected)


def land_changes(store: LocalObjectStore, spec: CdcTableSpec, rows: int, changes: int, seed: int = 7) -> int:
    """One DMS change file into the lake's landing, turned into raw; returns the expected current rows."""
    rng = random.Random(seed)
    batch, _updates, inserts, deletes = change_batch(
        rng, range(1, rows + 1), rows + 1, changes, LOAD_TS + dt.timedelta(hours=1), 2
    )
    write_changes(store, spec.source, spec.schema, spec.table, COLUMNS, batch)
    land_raw(store, spec, changes)
    return rows + len(inserts) - len(deletes)


# ----------------------------------------------------------------------------------------------- figures


def file_counts(spark: SparkSession, table: TableSpec) -> tuple[int, int, int]:
    """(data files, position-delete files, rows in data files) of the table's current snapshot."""
    found = {
        r["content"]: (r["n"], r["records"])
        for r in spark.sql(
            f"SELECT content, count(*) AS n, sum(record_count) AS records FROM {qualified(table)}.files "
            "GROUP BY content"
        ).collect()
    }
    data, deletes = found.get(0, (0, 0)), found.get(1, (0, 0))
    return data[0], deletes[0], data[1]


def _files(counts: tuple[int, int, int]) -> str:
    return f"{counts[0]} data + {counts[1]} delete files ({counts[2]:,} rows in data files)"


def machine(spark: SparkSession) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, Spark {spark.version} "
        f"local[2], {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, load average {load}"
    )


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = action()
    return time.perf_counter() - start, out


# ---------------------------------------------------------------------------------------------- one size


def bench_size(
    spark: SparkSession, spec: CdcTableSpec, rows: int, changes: int, repeat: int, title: str = ""
) -> dict[str, float]:
    current, history = current_table(spec), history_table(spec)
    with tempfile.TemporaryDirectory(prefix="bench_cdc_merge_") as tmp:
        lake, pristine = Path(tmp) / "lake", Path(tmp) / "pristine"
        catalog = CatalogConfig.for_lake(str(lake))
        session = lake_session(spark, catalog)
        setup, _ = timed(lambda: build_tables(session, catalog, LocalObjectStore(lake), spec, rows))
        landing, expected = timed(lambda: land_changes(LocalObjectStore(lake), spec, rows, changes))
        before = file_counts(session, current), file_counts(session, history)
        shutil.copytree(lake, pristine)  # catalog.db included; restored to the same path for every repeat
        print(
            f"\n{title}{rows:,} rows: setup (not timed) tables {setup:.1f} s, {changes:,} changes landed + "
            f"raw {landing:.1f} s; before the merge: current {_files(before[0])}, history {_files(before[1])}"
        )
        best = {"merge": float("inf"), "read": float("inf"), "maintain": float("inf")}
        for attempt in range(1, repeat + 1):
            shutil.rmtree(lake)
            shutil.copytree(pristine, lake)
            session = lake_session(spark, catalog)
            assert table_exists(session, current)  # opens the restored catalog (not timed)
            store = LocalObjectStore(lake)
            merge, report = timed(lambda: merge_new_changes(session, store, catalog, spec))  # noqa: B023
            assert report["mode"] == "merged" and report["changes"] == changes, report
            read, counted = timed(lambda: read_current(session, spec).count())  # noqa: B023
            assert counted == expected == report["rows"], (counted, expected, report["rows"])
            merged = file_counts(session, current), file_counts(session, history)
            maintain, upkeep = timed(lambda: maintain_table(session, current.identifier))  # noqa: B023
            compacted = file_counts(session, current)
            print(
                f"  repeat {attempt}: merge {merge:.2f} s ({report['keys_touched']:,} keys touched), "
                f"read current {read:.2f} s ({counted:,} rows), maintain current {maintain:.2f} s"
            )
            best = {k: min(best[k], v) for k, v in (("merge", merge), ("read", read), ("maintain", maintain))}
        print(f"  after the merge:    current {_files(merged[0])}; history {_files(merged[1])}")
        print(
            f"  after maintenance: current {_files(compacted)} (rewritten {upkeep.rewritten_data_files} data "
            f"-> {upkeep.added_data_files} added, {upkeep.rewritten_delete_files} delete files rewritten, "
            f"{upkeep.expired_snapshots} snapshots expired, {upkeep.orphan_files} orphans)"
        )
        print(
            f"  best of {repeat}: {changes:,} changes into {rows:,} rows: merge {best['merge']:.2f} s, "
            f"read current {best['read']:.2f} s, maintain (compaction) {best['maintain']:.2f} s"
        )
    return best


# ------------------------------------------------------------------------------------------- many tables


def bench_tables(
    spark: SparkSession, count: int, rows: int, changes: int, buckets: int, workers: int
) -> tuple[float, float]:
    """``count`` demo-sized tables merged ``workers`` at a time in one session (``merge_tables``, what one
    run of a source's merge does): full load + changes, then changes. Returns the two rounds' seconds."""
    specs = [
        CdcTableSpec("demo", "public", f"t{i:02d}", ("order_id",), buckets=buckets) for i in range(count)
    ]
    with tempfile.TemporaryDirectory(prefix="bench_cdc_tables_") as tmp:
        lake = Path(tmp) / "lake"
        store, catalog = LocalObjectStore(lake), CatalogConfig.for_lake(str(lake))
        session = lake_session(spark, catalog)
        live: dict[str, list[int]] = {}

        def land_round(lsn: int, when: dt.datetime) -> None:
            for n, spec in enumerate(specs):
                rng = random.Random(1000 * lsn + n)
                keys = live[spec.table]
                batch, _updates, inserts, deletes = change_batch(rng, keys, max(keys) + 1, changes, when, lsn)
                write_changes(store, spec.source, spec.schema, spec.table, COLUMNS, batch)
                live[spec.table] = sorted((set(keys) - deletes) | set(inserts))
                land_raw(store, spec, rows + changes * (lsn - 1))  # the day's raw: load + every change file

        def merge_all() -> float:
            took, outcomes = timed(lambda: merge_tables(session, store, catalog, specs, workers=workers))
            for spec in specs:
                report = outcomes[spec.name]
                assert isinstance(report, dict), report
                assert report["mode"] == "merged" and report["rows"] == len(live[spec.table]), report
            return took

        def load_rows(n: int) -> Iterable[ChangeRow]:
            for key in range(1, n + 1):
                values = {"order_id": str(key), "customer": f"c{key % 97}", "amount": f"{key % 1000 / 7:.2f}"}
                yield ChangeRow("I", LOAD_TS, format_lsn_position(1, key), values)

        start = time.perf_counter()
        for spec in specs:
            write_full_load(store, spec.source, spec.schema, spec.table, COLUMNS, load_rows(rows))
            live[spec.table] = list(range(1, rows + 1))
        land_round(2, LOAD_TS + dt.timedelta(hours=1))
        how = "one after another" if workers == 1 else f"{workers} at a time"
        print(
            f"\n{count} tables of {rows:,} rows (+ {changes} changes each, 50/30/20 update/insert/delete), "
            f"merged {how}: landed + raw in {time.perf_counter() - start:.1f} s (not timed)"
        )
        first = merge_all()
        print(f"  first merge (full load + {changes} changes; creates both tables): {first:.1f} s")
        land_round(3, LOAD_TS + dt.timedelta(hours=2))
        second = merge_all()
        print(f"  next merge ({changes} more changes each): {second:.1f} s")
        return first, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 1_000_000])
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--buckets", type=int, default=CdcTableSpec("s", "p", "t", ("k",)).buckets)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--tables", type=int, default=0, help="also merge N demo-sized tables (0: skip)")
    parser.add_argument("--table-rows", type=int, default=1_500)
    parser.add_argument("--table-changes", type=int, default=80)
    parser.add_argument("--workers", type=int, default=SparkSettings.merge_workers, help="tables at a time")
    args = parser.parse_args()
    spark = build_spark_session(app_name="bench_cdc_merge")
    spark.sparkContext.setLogLevel("ERROR")
    spec = CdcTableSpec("bench", "public", "orders", ("order_id",), buckets=args.buckets)
    print(machine(spark))
    print(
        f"tables {current_table(spec).identifier} / {history_table(spec).identifier}: "
        f"partitioned by {', '.join(current_table(spec).partition_by)}, "
        f"{current_table(spec).properties or 'no extra properties'}"
    )
    # The JVM's first merge compiles and loads everything once: a small untimed round first, so the first size
    # is not charged for it (the ratio would flatter the large table).
    bench_size(spark, spec, 1_000, min(args.changes, 100), 1, title="warm-up, not counted: ")
    best = {rows: bench_size(spark, spec, rows, args.changes, args.repeat) for rows in args.sizes}
    if len(best) >= 2:
        small, large = min(best), max(best)
        ratio = best[large]["merge"] / best[small]["merge"]
        verdict = "meets" if ratio <= 1.5 else "misses"
        print(
            f"\nratio: merge of {args.changes:,} changes into {large:,} rows / into {small:,} rows = "
            f"{best[large]['merge']:.2f} / {best[small]['merge']:.2f} = {ratio:.2f} "
            f"({verdict} the target <= 1.5)"
        )
    if args.tables:
        # The baseline in the same run: the same tables merged one after another.
        one = bench_tables(spark, args.tables, args.table_rows, args.table_changes, args.buckets, 1)
        many = bench_tables(
            spark, args.tables, args.table_rows, args.table_changes, args.buckets, args.workers
        )
        for name, base, side in (("first merge", one[0], many[0]), ("next merge", one[1], many[1])):
            verdict = "meets" if side < 30 else "misses"
            print(
                f"\n{name} of {args.tables} tables: {args.workers} at a time {side:.1f} s vs one after "
                f"another {base:.1f} s = {side / base:.2f} ({verdict} the aim < 30 s)"
            )
    print("\n" + machine(spark))
    spark.stop()


if __name__ == "__main__":
    main()
