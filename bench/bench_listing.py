"""Sensor tick cost on a real S3 server: full-prefix listing (dagster-aws) vs a StartAfter cursor.

Starts its own SeaweedFS (``weed mini``), lands 10,000 small objects under time-ordered Firehose-style keys
``landing/events/YYYY/MM/DD/HH/``, then 10 new ones, and times the tick that must find those 10.

    .venv/bin/python bench/bench_listing.py [--objects 10000] [--new 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fixtures live in lake_assets_tests

from lake_assets.storage.s3 import S3ObjectStore  # noqa: E402
from lake_assets_tests.fixtures.seaweed import (  # noqa: E402
    DUMMY_ACCESS_KEY,
    DUMMY_SECRET_KEY,
    s3_client,
    start_seaweed,
    stop_seaweed,
)

BUCKET = "bench-listing"
ROOT_PREFIX = "lake"
LANDING = "landing/events/"


def firehose_key(i: int, start: datetime) -> str:
    """Keys as Firehose writes them: hour folders, then producer and timestamp in the name."""
    t = start + timedelta(seconds=36 * i)  # 100 objects per hour
    return f"{LANDING}{t:%Y/%m/%d/%H}/shop-{i % 3}-{t:%Y-%m-%d-%H-%M-%S}-{i:08d}.jsonl"


def land(store: S3ObjectStore, keys: list[str]) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda k: store.put_bytes(k, b'{"event": "page_view"}\n'), keys))
    return time.perf_counter() - started


def dagster_aws_tick(client, cursor_full_key: str) -> tuple[float, int, int, str]:
    """What a sensor built on dagster-aws does: list the whole prefix, then filter by the cursor."""
    calls = 0

    def count(**_: object) -> None:
        nonlocal calls
        calls += 1

    client.meta.events.register("before-call.s3.ListObjectsV2", count)
    try:
        from dagster_aws.s3.sensor import get_objects

        how = "dagster_aws.s3.sensor.get_objects(since_key=cursor)"
        started = time.perf_counter()
        found = get_objects(
            BUCKET, prefix=f"{ROOT_PREFIX}/{LANDING}", since_key=cursor_full_key, client=client
        )
    except ImportError:
        how = "full-prefix ListObjectsV2 pagination (get_objects not importable)"
        started = time.perf_counter()
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"{ROOT_PREFIX}/{LANDING}"
        )
        found = [o for p in pages for o in p.get("Contents", []) if o["Key"] > cursor_full_key]
    elapsed = time.perf_counter() - started
    client.meta.events.unregister("before-call.s3.ListObjectsV2", count)
    return elapsed, calls, len(found), how


def cursor_tick(store: S3ObjectStore, cursor: str) -> tuple[float, int, int]:
    before = store.list_calls
    started = time.perf_counter()
    found = list(store.list(LANDING, start_after=cursor))
    return time.perf_counter() - started, store.list_calls - before, len(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="ticks timed per method (median reported)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-seaweed-") as tmp:
        started = time.perf_counter()
        server = start_seaweed(Path(tmp))
        print(f"SeaweedFS up at {server.endpoint_url} in {time.perf_counter() - started:.1f} s")
        try:
            client = s3_client(server.endpoint_url, timeout=60)
            client.create_bucket(Bucket=BUCKET)
            store = S3ObjectStore(
                f"s3://{BUCKET}/{ROOT_PREFIX}",
                endpoint_url=server.endpoint_url,
                access_key_id=DUMMY_ACCESS_KEY,
                secret_access_key=DUMMY_SECRET_KEY,
            )
            start = datetime(2026, 11, 1)
            old = [firehose_key(i, start) for i in range(args.objects)]
            new = [firehose_key(i, start) for i in range(args.objects, args.objects + args.new)]
            print(f"landed {len(old):,} objects in {land(store, old):.1f} s")
            # The cursor a sensor would hold after the previous tick: the last key it saw.
            cursor = list(store.list(LANDING))[-1].key
            assert cursor == max(old), "listing did not end at the newest key"
            time.sleep(1.1)  # LastModified has 1 s resolution; dagster-aws sorts by it
            print(f"landed {len(new)} new objects in {land(store, new):.2f} s\n")

            a_runs = [dagster_aws_tick(client, f"{ROOT_PREFIX}/{cursor}") for _ in range(args.repeat)]
            b_runs = [cursor_tick(store, cursor) for _ in range(args.repeat)]
            how = a_runs[0][3]
            a_time = statistics.median(r[0] for r in a_runs)
            b_time = statistics.median(r[0] for r in b_runs)
            a_calls, a_found = a_runs[0][1], a_runs[0][2]
            b_calls, b_found = b_runs[0][1], b_runs[0][2]

            print(f"Tick that must find the {args.new} new objects among {len(old) + len(new):,} objects")
            print(f"median of {args.repeat} ticks each, SeaweedFS 4.48 on loopback\n")
            print(f"{'method':<58} {'wall time':>10} {'list calls':>11} {'found':>6}")
            print(f"{'(a) ' + how:<58} {a_time * 1000:>8.1f} ms {a_calls:>11} {a_found:>6}")
            print(
                f"{'(b) S3ObjectStore.list(prefix, start_after=cursor)':<58} "
                f"{b_time * 1000:>8.1f} ms {b_calls:>11} {b_found:>6}"
            )
            print(f"\nspeed-up {a_time / b_time:.0f}x; list calls {a_calls} -> {b_calls}")
            assert a_found == b_found == args.new, (a_found, b_found)
        finally:
            stop_seaweed(server)


if __name__ == "__main__":
    main()
