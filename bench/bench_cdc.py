"""PostgreSQL change data capture throughput: row changes read from a slot and landed as DMS files per second.

Setup (not timed): a table of ``--rows`` rows, a full load (``snapshot``), then ``--changes`` row changes
in ``--transactions`` transactions (40 % inserts, 40 % updates, 20 % deletes). Timed: one ``stream`` call
that decodes them from the slot (pgoutput), writes the change files (CSV or Parquet) into a temporary local
lake, and confirms the slot; best of ``--repeat`` (each repeat re-creates the changes). Without ``--url`` it
starts its own PostgreSQL with wal_level=logical from the installed binaries (as the tests do).

    .venv/bin/python bench/bench_cdc.py [--url postgresql://postgres@HOST:PORT/DB] [--changes 50000]
                                        [--transactions 5] [--format csv|parquet] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import uuid

import psycopg2

from lake_assets.sources.cdc.dms_format import DmsOptions
from lake_assets.sources.cdc.postgres import drop_slot, snapshot, stream
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.fixtures.databases import start_postgres, stop_database


def make_changes(
    conn: psycopg2.extensions.connection, table: str, changes: int, transactions: int, base: int
) -> int:
    """Inserts, updates and deletes ``changes`` rows in ``transactions`` commits; returns the count made."""
    per_txn = changes // transactions
    ins, upd = per_txn * 2 // 5, per_txn * 2 // 5
    dele = per_txn - ins - upd
    made = 0
    with conn.cursor() as cur:
        for t in range(transactions):
            start = base + t * ins
            cur.execute(
                f"INSERT INTO {table} SELECT g, 'name ' || g, g * 0.01, now() "
                f"FROM generate_series({start}, {start + ins - 1}) g"
            )
            cur.execute(f"UPDATE {table} SET amount = amount + 1 WHERE id >= {start} AND id < {start + upd}")
            cur.execute(f"DELETE FROM {table} WHERE id >= {start + ins - dele} AND id < {start + ins}")
            conn.commit()
            made += ins + upd + dele
    return made


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a PostgreSQL with wal_level=logical (default: start one)")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=50_000)
    parser.add_argument("--transactions", type=int, default=5)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server = None
    if args.url is None:
        server = start_postgres()
        args.url = server.url
    try:
        run(args)
    finally:
        if server is not None:
            stop_database(server)


def run(args: argparse.Namespace) -> None:
    name = f"bench_cdc_{uuid.uuid4().hex[:8]}"
    table = f"{name}_t"
    options = DmsOptions(data_format=args.format)
    conn = psycopg2.connect(args.url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"CREATE TABLE {table} (id bigint PRIMARY KEY, name text, amount numeric(12,2), "
                "at timestamptz)"
            )
            cur.execute(
                f"INSERT INTO {table} SELECT -g, 'name ' || g, g * 0.01, now() "
                f"FROM generate_series(1, {args.rows}) g"
            )
        conn.commit()
        with tempfile.TemporaryDirectory() as tmp:
            store = LocalObjectStore(tmp)
            t0 = time.perf_counter()
            loaded = snapshot(args.url, [table], store, "bench", slot=name, options=options)
            load_s = time.perf_counter() - t0
            best = float("inf")
            landed = 0
            for r in range(args.repeat):
                made = make_changes(conn, table, args.changes, args.transactions, base=1 + r * args.changes)
                t0 = time.perf_counter()
                out = stream(args.url, name, store, "bench", options=options)
                elapsed = time.perf_counter() - t0
                if out.changes != made:
                    raise SystemExit(f"landed {out.changes} changes, made {made}")
                best, landed = min(best, elapsed), out.changes
            files = len(store.list_keys("landing/cdc/bench/"))
    finally:
        conn.rollback()
        drop_slot(args.url, name)
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        conn.commit()
        conn.close()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"full load: {sum(loaded.tables.values()):,} rows in {load_s:.2f} s")
    print(
        f"stream ({args.format}): {landed:,} row changes in {args.transactions} transactions: "
        f"best {best:.2f} s of {args.repeat} -> {landed / best:,.0f} changes/s ({files} files in the lake)"
    )


if __name__ == "__main__":
    main()
