"""Operations: ``lake quarantine replay`` over a quarantine zone, and ``lake status`` over a lake.

Replay: the sample stream (a few percent invalid) is ingested into a temporary lake; then, per quarantined
record, a dry run and a replay (with the shipped registry nothing passes: the replay reads and validates
everything and writes nothing), against the baseline of ingesting the same payloads with ``EventIntake``
(validate and write them: what replay does for each record at most).

Status: ``lake_status`` (Dagster-free core; no instance, no expectations) over a lake given with ``--lake``
(e.g. one made by ``lake demo``), against the baseline of ``query.lake_summary`` on the same lake (the demo's
own summary: counts through DuckDB). Skipped without ``--lake``.

    .venv/bin/python bench/bench_operations.py [--events 200000] [--repeat 3] [--lake /path/to/lake]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lake_assets.operations.replay import payload_of, replay_quarantine
from lake_assets.operations.status import lake_status
from lake_assets.query import lake_summary
from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import EventDecoder
from lake_assets.samples.events import generate_events
from lake_assets.settings import BatchLimits
from lake_assets.sources.events.intake import QUARANTINE_PREFIX, EventIntake
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.tables.catalog import CatalogConfig


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_replay(events: int, repeat: int) -> None:
    import orjson

    decoder = EventDecoder(SchemaRegistry.from_directory())
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalObjectStore(Path(tmp) / "lake")
        report = EventIntake(store, decoder, BatchLimits()).ingest(generate_events(events, seed=3), "bench")
        records = [
            orjson.loads(line)
            for key in store.list_keys(QUARANTINE_PREFIX)
            for line in store.get_bytes(key).splitlines()
            if line
        ]
        payloads = [payload_of(r) for r in records]
        size = sum(len(store.get_bytes(k)) for k in store.list_keys(QUARANTINE_PREFIX))

        def baseline() -> None:
            scratch = LocalObjectStore(Path(tmp) / f"scratch-{time.perf_counter_ns()}")
            EventIntake(scratch, decoder, BatchLimits()).ingest(iter(payloads), "baseline")

        base = _median(baseline, repeat)
        dry = _median(lambda: replay_quarantine(store, decoder, dry_run=True), repeat)
        real = _median(lambda: replay_quarantine(store, decoder), repeat)
    n = report.quarantined
    print(f"quarantine: {n:,} records ({size / 1e6:.1f} MB) from {events:,} sample events")
    print(f"{'':<34} {'seconds':>8} {'records/s':>10} {'x baseline':>10}")
    for name, seconds in [
        ("baseline: intake of the payloads", base),
        ("replay --dry-run", dry),
        ("replay (nothing passes: no-op)", real),
    ]:
        print(f"{name:<34} {seconds:>8.3f} {n / seconds:>10,.0f} {seconds / base:>10.2f}")


def bench_status(lake: Path, repeat: int) -> None:
    store = LocalObjectStore(lake)
    catalog = CatalogConfig.for_lake(str(lake))
    subjects = SchemaRegistry.from_directory().subjects("events")
    lake_summary(store, catalog)  # warm: imports, DuckDB's extensions
    base = _median(lambda: lake_summary(store, catalog), repeat)
    status = lake_status(store, catalog, subjects=subjects, expectations={}, failed_checks=None)
    seconds = _median(
        lambda: lake_status(store, catalog, subjects=subjects, expectations={}, failed_checks=None), repeat
    )
    print(f"\nlake at {lake}: {len(status.tables)} tables")
    print(f"{'baseline: lake_summary (DuckDB)':<34} {base:>8.3f} s {1.0:>6.2f}x")
    print(f"{'lake_status (core)':<34} {seconds:>8.3f} s {seconds / base:>6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lake", type=Path, default=None, help="a lake to run lake_status over")
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"load average {os.getloadavg()[0]:.1f} at start; medians of {args.repeat}")
    bench_replay(args.events, args.repeat)
    if args.lake is not None:
        bench_status(args.lake, args.repeat)


if __name__ == "__main__":
    main()
