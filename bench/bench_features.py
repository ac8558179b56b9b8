"""The ML feature table (``transforms.features.customer_day_features``) on the demo's data and on 10x it.

Prints figures; never a timed test. Run from the repo root:

    .venv/bin/python bench/bench_features.py [--scale 1 10] [--repeat 3]

Setup (not timed): the demo's event stream (``samples.events``: 120,000 events over 3 days, 4,800 users) and
its CDC customers (2,000, one SCD2 version each, plus a tier change for every tenth), or ``--scale`` times
both, decoded to the clean columns the transform reads and written to Parquet; Spark reads them from there.
Timed, in one local[2] Spark session (as the assets run), medians of ``--repeat``:

* baseline: a plain ``count()`` of each of the four inputs (what reading them costs at all);
* features: the feature table for every event day (label horizon = the last day), written to Spark's
  ``noop`` sink, so the figure is the transform and not the Iceberg commit (``bench_iceberg.py`` has those).

Peak memory: the resident set of this process and its JVM together, sampled every 20 ms during each stage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from lake_assets.registry import SchemaRegistry  # noqa: E402
from lake_assets.registry.validation import EventDecoder  # noqa: E402
from lake_assets.samples.events import generate_events  # noqa: E402

DEMO_EVENTS, DEMO_CUSTOMERS, DAYS = 120_000, 2_000, 3
START = dt.date(2026, 11, 20)


def _tree_rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, from /proc."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            continue
    return total


def measured(fn: Callable[[], object]) -> tuple[float, int]:
    """(seconds, peak RSS of the process tree while ``fn`` ran)."""
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_bytes(os.getpid()))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return elapsed, peak[0]


def write_inputs(folder: Path, scale: int) -> dict[str, int]:
    """The demo's valid events (decoded like intermediate) and customers' history, as Parquet."""
    decoder = EventDecoder(SchemaRegistry.from_directory())
    rows: dict[str, list[dict]] = {"page_view": [], "cart_update": [], "order_placed": []}
    seen: set[str] = set()
    for line in generate_events(DEMO_EVENTS * scale, days=DAYS, start=START, seed=7):
        if decoder.validate(line) is not None:
            continue
        event = orjson.loads(line)
        if event["event_id"] in seen:  # intermediate keeps one row per event_id
            continue
        seen.add(event["event_id"])
        at = dt.datetime.fromisoformat(event["event_time"]).astimezone(dt.UTC)
        row = {
            "event_time": at,
            "dt": at.date(),
            "session_id": event["session_id"],
            "user_id": event.get("user_id"),
        }
        if event["event_type"] == "cart_update":
            row["action"] = event["action"]
        if event["event_type"] == "order_placed":
            row |= {"order_id": event["order_id"], "total_cents": event["total_cents"]}
        rows[event["event_type"]].append(row)
    counts = {}
    for name, records in rows.items():
        pq.write_table(pa.Table.from_pylist(records), folder / f"{name}.parquet")
        counts[name] = len(records)
    since = dt.datetime.combine(START, dt.time(8), tzinfo=dt.UTC)
    change = since + dt.timedelta(days=1, hours=3)
    history = []
    for c in range(1, DEMO_CUSTOMERS * scale + 1):
        changes = c % 10 == 0
        history.append(
            (c, ("std", "silver", "gold")[c % 3], True, since, change if changes else None, False, "1")
        )
        if changes:
            history.append((c, "gold", True, change, None, False, "2"))
    columns = ["customer_id", "tier", "active", "valid_from", "valid_to", "is_deleted", "position"]
    table = pa.Table.from_pylist([dict(zip(columns, h, strict=True)) for h in history])
    pq.write_table(
        table.cast(table.schema.set(0, pa.field("customer_id", pa.int32()))), folder / "history.parquet"
    )
    counts["history"] = len(history)
    return counts


def run_scale(spark: object, scale: int, repeat: int) -> None:
    """Setup, warm-up, then baseline and features interleaved ``repeat`` times; prints the figures."""
    from lake_assets.transforms.features import customer_day_features

    days = [(START + dt.timedelta(days=n)).isoformat() for n in range(DAYS)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        counts = write_inputs(folder, scale)
        print(f"\nscale {scale}x: {counts} (setup {time.perf_counter() - t0:.1f} s, not timed)")
        read = spark.read  # type: ignore[attr-defined]
        frames = {
            "orders": read.parquet(str(folder / "order_placed.parquet")),
            "page_views": read.parquet(str(folder / "page_view.parquet")),
            "cart_updates": read.parquet(str(folder / "cart_update.parquet")),
            "customers_history": read.parquet(str(folder / "history.parquet")),
        }
        params = {"days": days, "horizon": days[-1]}

        def baseline() -> None:
            for frame in frames.values():
                frame.count()

        def features() -> None:
            customer_day_features(spark, frames, params).write.format("noop").mode("overwrite").save()

        rows = customer_day_features(spark, frames, params).count()  # warm-up, and the row count
        results: dict[str, list[tuple[float, int]]] = {"baseline": [], "features": []}
        for _ in range(repeat):  # interleaved, so a busy moment hits both
            results["baseline"].append(measured(baseline))
            results["features"].append(measured(features))
    medians = {k: statistics.median(t for t, _ in v) for k, v in results.items()}
    for name, runs in results.items():
        peak = max(m for _, m in runs) / 2**20
        print(f"  {name:9s} {medians[name]:6.2f} s (median of {repeat}), peak {peak:,.0f} MiB")
    ratio = medians["features"] / medians["baseline"]
    print(f"  feature rows {rows:,}; features / baseline = {ratio:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from lake_assets.transforms.spark_session import build_spark_session

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    spark = build_spark_session(app_name="bench_features")
    for scale in args.scale:
        run_scale(spark, scale, args.repeat)
    spark.stop()


if __name__ == "__main__":
    main()
