"""The real landing sensor tick (``landing_events_sensor``) on SeaweedFS S3 and on a local folder.

``bench_listing.py`` times the listing alone; this times what a Dagster daemon tick does: list after the
cursor, read each new object, write its index markers, build the run requests and the new cursor. Setup (not
timed): land 10,000 small objects under Firehose-like keys ``landing/events/YYYY/MM/DD/HH/shop-1-<time>-<uuid>
.jsonl`` spread over 7 days (a few valid events each from ``generate_events``), then index them all with
``plan_new_objects(bounded=False)`` so the cursor has caught up. Timed: one tick after 10 new objects
land (repeated ``--repeat`` times, each with 10 fresh objects), then one tick with nothing new.

    .venv/bin/python bench/bench_sensor.py [--objects 10000] [--new 10] [--repeat 3] [--only s3|local]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fixtures live in lake_assets_tests

import dagster as dg  # noqa: E402
import orjson  # noqa: E402

import lake_assets.resources.lake as lake_module  # noqa: E402
from lake_assets.registry import SchemaRegistry  # noqa: E402
from lake_assets.resources.lake import LakeResource  # noqa: E402
from lake_assets.samples.events import generate_events  # noqa: E402
from lake_assets.sensors.landing import landing_events_sensor, plan_new_objects  # noqa: E402
from lake_assets.sources.events.kind import EventSourceKind  # noqa: E402
from lake_assets.sources.events.landing_index import EVENTS_LANDING_PREFIX  # noqa: E402
from lake_assets.sources.landing_cursor import LandingCursor  # noqa: E402
from lake_assets.storage import ObjectStore  # noqa: E402
from lake_assets_tests.fixtures.seaweed import (  # noqa: E402
    DUMMY_ACCESS_KEY,
    DUMMY_SECRET_KEY,
    s3_client,
    start_seaweed,
    stop_seaweed,
)

BUCKET = "bench-sensor"


@dataclass
class Tick:
    seconds: float
    list_calls: int
    reads: int
    writes: int
    run_requests: int
    open_seconds: float
    cursor_bytes: int
    cursor: str


def landing_objects(count: int, per_object: int, days: int, seed: int = 3) -> list[tuple[str, bytes]]:
    """Objects as Firehose delivers them: a few events each, named by a close time after their events.

    Invalid lines are turned off (an unreadable line would make the object feed every subject); duplicates
    and late events stay, so some objects feed two days. The days end before today: the sensor does not
    request runs for days outside the daily partitions (which end today).
    """
    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days + 2)
    lines = list(generate_events(count * per_object, days=days, start=start, seed=seed, invalid_rate=0))
    rng = Random(seed)
    objects: list[tuple[str, bytes]] = []
    previous: dt.datetime | None = None
    for start in range(0, len(lines), per_object):
        chunk = lines[start : start + per_object]
        newest = max(dt.datetime.fromisoformat(orjson.loads(line)["event_time"]) for line in chunk)
        closed = newest + dt.timedelta(seconds=5)
        if previous is not None and closed <= previous:
            closed = previous + dt.timedelta(seconds=1)  # keys strictly time-ordered, as one stream writes
        previous = closed
        name = f"shop-1-{closed:%Y-%m-%d-%H-%M-%S}-{uuid.UUID(int=rng.getrandbits(128), version=4)}.jsonl"
        objects.append((f"{EVENTS_LANDING_PREFIX}{closed:%Y/%m/%d/%H}/{name}", b"\n".join(chunk) + b"\n"))
    return objects


def land(store: ObjectStore, objects: list[tuple[str, bytes]], threads: int = 16) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda item: store.put_bytes(*item), objects))
    return time.perf_counter() - started


class StoreSpy:
    """Finds the store a tick really uses and counts its requests.

    ``build_sensor_context`` hands the sensor a fresh copy of the resource (as a daemon tick builds its
    resources anew), so the bench's own ``lake.store`` sees none of the tick's calls. The spy wraps the
    ``open_store`` the resource calls, keeps every store it opens and counts their reads and writes;
    list calls come from each store's own ``list_calls``.
    """

    def __init__(self) -> None:
        self.stores: list[ObjectStore] = []
        self.reads = self.writes = 0
        self.open_seconds = 0.0  # building the store (boto3 session and clients on S3)
        self._real = real = lake_module.open_store

        def open_store(*args: Any, **kwargs: Any) -> ObjectStore:
            started = time.perf_counter()
            store = real(*args, **kwargs)
            self.open_seconds += time.perf_counter() - started
            self._count(store)
            self.stores.append(store)
            return store

        lake_module.open_store = open_store

    def close(self) -> None:
        lake_module.open_store = self._real

    @property
    def list_calls(self) -> int:
        return sum(store.list_calls for store in self.stores)

    def _count(self, store: ObjectStore) -> None:
        get, put = store.get_bytes, store.put_bytes

        def get_bytes(key: str) -> bytes:
            self.reads += 1
            return get(key)

        def put_bytes(key: str, data: bytes) -> None:
            self.writes += 1
            put(key, data)

        store.get_bytes = get_bytes  # type: ignore[method-assign]
        store.put_bytes = put_bytes  # type: ignore[method-assign]


def sensor_tick(lake: LakeResource, spy: StoreSpy, cursor: str) -> Tick:
    """One evaluation as the daemon runs it: the timed part includes building the resource's store."""
    context = dg.build_sensor_context(cursor=cursor, resources={"lake": lake})
    lists, reads, writes, opening = spy.list_calls, spy.reads, spy.writes, spy.open_seconds
    started = time.perf_counter()
    result: Any = landing_events_sensor(context)
    elapsed = time.perf_counter() - started
    return Tick(
        elapsed,
        spy.list_calls - lists,
        spy.reads - reads,
        spy.writes - writes,
        len(result.run_requests or []),
        spy.open_seconds - opening,
        len(result.cursor.encode()),
        result.cursor,
    )


def run(name: str, lake: LakeResource, args: argparse.Namespace) -> None:
    store = lake.store
    total = args.objects + args.new * args.repeat
    started = time.perf_counter()
    objects = landing_objects(total, args.events_per_object, args.days)
    old, new = objects[: args.objects], objects[args.objects :]
    print(f"\n== {name}: {store.root}")
    print(f"generated {len(objects):,} objects in {time.perf_counter() - started:.1f} s")
    print(
        f"landed {len(old):,} objects in {land(store, old, args.threads):.1f} s ({old[0][0]} .. {old[-1][0]})"
    )

    started = time.perf_counter()
    cursor, lists, ticks, partitions = LandingCursor(), store.list_calls, 0, 0
    kind = EventSourceKind(SchemaRegistry.from_directory())
    while True:  # unbounded: everything in one call; the loop only proves nothing is left
        plan, found = plan_new_objects(lake, kind, cursor, bounded=False)
        cursor = found.cursor
        ticks += 1
        partitions += len(plan.partitions)
        if not plan.partitions:
            break
    print(
        f"catch-up (not timed): {ticks} plan_new_objects calls (the last finds nothing), "
        f"{store.list_calls - lists} list calls, "
        f"{partitions} partitions, {time.perf_counter() - started:.1f} s; cursor {len(cursor.to_json()):,} "
        f"bytes, {len(cursor.seen)} keys in the look-back window"
    )

    spy = StoreSpy()
    own_lists = store.list_calls
    try:
        state = cursor.to_json()
        sensor_tick(lake, spy, state)  # warm-up with nothing new: first-call imports and Dagster set-up
        rows: list[tuple[str, Tick]] = []
        for i in range(args.repeat):
            land(store, new[i * args.new : (i + 1) * args.new], args.threads)
            tick = sensor_tick(lake, spy, state)
            state = tick.cursor
            rows.append((f"{args.new} new objects (#{i + 1})", tick))
        rows.append(("0 new objects", sensor_tick(lake, spy, state)))
    finally:
        spy.close()

    header = f"{'tick':<24} {'wall time':>10} {'list calls':>11} {'reads':>6} {'writes':>7} {'runs':>5}"
    print(f"\n{header} {'cursor':>9} {'of which opening the store':>27}")
    for label, t in rows:
        print(
            f"{label:<24} {t.seconds * 1000:>7.1f} ms {t.list_calls:>11} {t.reads:>6} {t.writes:>7} "
            f"{t.run_requests:>5} {t.cursor_bytes:>7,} B {t.open_seconds * 1000:>24.1f} ms"
        )
    print(
        f"(the bench's own lake.store saw {store.list_calls - own_lists} list calls during these ticks: each "
        "tick ran on the fresh resource copy build_sensor_context makes, counted by StoreSpy)"
    )
    median = statistics.median(t.seconds for _, t in rows[:-1])
    print(f"median tick with {args.new} new objects: {median * 1000:.1f} ms (target < 1 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="timed ticks, each after --new fresh objects")
    parser.add_argument("--events-per-object", type=int, default=3)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--threads", type=int, default=16, help="upload threads (setup only)")
    parser.add_argument("--only", choices=("s3", "local"))
    args = parser.parse_args()
    # The resource takes credentials from the AWS chain; the test server accepts any.
    os.environ["AWS_ACCESS_KEY_ID"] = DUMMY_ACCESS_KEY
    os.environ["AWS_SECRET_ACCESS_KEY"] = DUMMY_SECRET_KEY
    print(
        f"{args.objects:,} objects of {args.events_per_object} events over {args.days} days, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start"
    )

    with tempfile.TemporaryDirectory(prefix="bench-sensor-") as tmp:
        if args.only in (None, "s3"):
            started = time.perf_counter()
            server = start_seaweed(Path(tmp) / "seaweed")
            print(f"SeaweedFS up at {server.endpoint_url} in {time.perf_counter() - started:.1f} s")
            try:
                lake = LakeResource(
                    env="s3", lake_root=f"s3://{BUCKET}/lake", s3_endpoint_url=server.endpoint_url
                )
                s3_client(server.endpoint_url).create_bucket(Bucket=BUCKET)
                run("SeaweedFS S3 (loopback)", lake, args)
            finally:
                stop_seaweed(server)
        if args.only in (None, "local"):
            lake = LakeResource(env="local", lake_root=str(Path(tmp) / "lake"))
            run("local folder", lake, args)


if __name__ == "__main__":
    main()
