"""Landing JSON lines -> raw Avro throughput: ``build_raw_partition`` over every (subject, day) partition.

Setup (not timed): ~200k sample events ingested into a temporary local lake by ``EventIntake`` with the
default batch limits (what ``lake events ingest`` does), then indexed as the sensor does. Timed: every raw
partition built into its own temporary folder, best of ``--repeat``. For comparison, on the same records:
decoding alone (the lines ``build_raw_partition`` decodes, from bytes already in memory) and fastavro writing
alone (records decoded beforehand, same schema, codec and metadata), so the gap shows where the time goes.
A landing object holds events of every subject and of more than one day, so each partition decodes every
line of each object it draws on; the "lines decoded" figure shows that amplification.

    .venv/bin/python bench/bench_raw.py [--events 200000] [--days 3] [--repeat 3] [--batch-events N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro

from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import EventDecoder
from lake_assets.resources.lake import LakeResource
from lake_assets.samples.events import generate_events
from lake_assets.sensors.landing import plan_new_objects
from lake_assets.settings import BatchLimits
from lake_assets.sources.events.intake import EventIntake
from lake_assets.sources.events.kind import EventSourceKind
from lake_assets.sources.events.landing_index import partition_objects
from lake_assets.sources.events.raw import avro_file_name, build_raw_partition, build_raw_partitions
from lake_assets.sources.landing_cursor import LandingCursor
from lake_assets.sources.raw_avro import AVRO_CODEC, FINGERPRINT_KEY, SCHEMA_ID_KEY, SOURCE_OBJECT_KEY
from lake_assets.storage import ObjectStore

Partition = tuple[str, str]


def best_of(repeat: int, run: Callable[[Path], object]) -> tuple[float, float]:
    """Minimum wall and CPU time over ``repeat`` runs, each writing into a fresh temporary folder.

    CPU time is reported too because on a shared machine the wall time also measures the neighbours.
    """
    walls, cpus = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench-raw-out-") as out:
            started, cpu = time.perf_counter(), time.process_time()
            run(Path(out))
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def build_all(
    store: ObjectStore,
    registry: SchemaRegistry,
    decoder: EventDecoder,
    partitions: list[Partition],
    out: Path,
) -> int:
    records = 0
    for subject, day in partitions:
        folder = out / subject / f"dt={day}"
        folder.mkdir(parents=True)
        records += build_raw_partition(store, registry, decoder, subject, day, folder).records
    return records


def build_per_asset(
    store: ObjectStore,
    registry: SchemaRegistry,
    decoder: EventDecoder,
    partitions: list[Partition],
    out: Path,
) -> int:
    """What the raw assets do in one run over a range of days: one pass per subject over its objects."""
    days_by_subject: dict[str, list[str]] = {}
    for subject, day in partitions:
        days_by_subject.setdefault(subject, []).append(day)
    records = 0
    for subject, days in days_by_subject.items():
        folder = out / subject
        folder.mkdir(parents=True)
        results = build_raw_partitions(store, registry, decoder, subject, days, folder)
        records += sum(r.records for r in results.values())
    return records


def partition_records(decoder: EventDecoder, subject: str, day: str, data: bytes) -> list[dict[str, Any]]:
    """What ``build_raw_partition`` does per landing object minus the read and the write."""
    records = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        version, record = decoder.decode(line)
        if version.subject == subject and record["event_time"].astimezone(dt.UTC).date().isoformat() == day:
            records.append(record)
    return records


def decode_all(decoder: EventDecoder, work: list[tuple[Partition, str, bytes]]) -> int:
    return sum(len(partition_records(decoder, subject, day, data)) for (subject, day), _, data in work)


def write_all(
    registry: SchemaRegistry, batches: list[tuple[Partition, str, list[dict[str, Any]]]], out: Path
) -> int:
    """fastavro alone: the same files from records decoded beforehand."""
    written = 0
    for (subject, day), key, records in batches:
        latest = registry.latest(subject)
        folder = out / subject / f"dt={day}"
        folder.mkdir(parents=True, exist_ok=True)
        metadata = {
            SCHEMA_ID_KEY: latest.schema_id,
            FINGERPRINT_KEY: latest.fingerprint,
            SOURCE_OBJECT_KEY: key,
        }
        with open(folder / avro_file_name(key), "wb") as handle:
            fastavro.writer(
                handle, latest.parsed, records, codec=AVRO_CODEC, metadata=metadata, validator=False
            )
        written += len(records)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--batch-events", type=int, default=None, help="landing batch size (default: settings)"
    )
    args = parser.parse_args()
    limits = BatchLimits() if args.batch_events is None else BatchLimits(max_events=args.batch_events)

    with tempfile.TemporaryDirectory(prefix="bench-raw-lake-") as root:
        lake = LakeResource(lake_root=root)
        store, registry, decoder = lake.store, lake.registry, lake.decoder
        started = time.perf_counter()
        report = EventIntake(store, decoder, limits).ingest(
            generate_events(args.events, days=args.days), "bench"
        )
        plan, _ = plan_new_objects(lake, EventSourceKind(registry), LandingCursor(), bounded=False)
        partitions = sorted(plan.partitions)
        print(
            f"setup {time.perf_counter() - started:.1f} s: {args.events:,} events generated, "
            f"{report.landed:,} landed in {len(report.landing_keys)} objects "
            f"(batches of <= {limits.max_events:,} events / "
            f"{limits.max_bytes / 2**20:.0f} MiB), {report.quarantined:,} quarantined; {len(partitions)} raw "
            f"partitions"
        )

        # Inputs for the two comparison rows, prepared outside the timing.
        work = [
            ((subject, day), entry.object_key, store.get_bytes(entry.object_key))
            for subject, day in partitions
            for entry in partition_objects(store, subject, day)
        ]
        lines_decoded = sum(sum(1 for line in data.split(b"\n") if line.strip()) for _, _, data in work)
        batches = [
            ((subject, day), key, records)
            for (subject, day), key, data in work
            if (records := partition_records(decoder, subject, day, data))
        ]
        n_records = sum(len(records) for _, _, records in batches)

        with tempfile.TemporaryDirectory(prefix="bench-raw-check-") as out:
            built = build_all(store, registry, decoder, partitions, Path(out))
            avro_bytes = sum(p.stat().st_size for p in Path(out).rglob("*.avro"))
        assert built == n_records == decode_all(decoder, work), (built, n_records)
        print(
            f"{n_records:,} raw records in {len(batches)} Avro files "
            f"({avro_bytes / 1e6:.1f} MB, {AVRO_CODEC}); "
            f"{lines_decoded:,} lines decoded to build them ({lines_decoded / n_records:.1f}x)"
        )
        print(
            f"Python {platform.python_version()}, fastavro {fastavro.__version__}, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.1f}; best of {args.repeat}\n"
        )

        rows = [
            (
                "build_raw_partitions, one run per asset",
                best_of(args.repeat, lambda out: build_per_asset(store, registry, decoder, partitions, out)),
            ),
            (
                "build_raw_partition, one run per partition",
                best_of(args.repeat, lambda out: build_all(store, registry, decoder, partitions, out)),
            ),
            (
                "  decode only (EventDecoder.decode + filter)",
                best_of(args.repeat, lambda _: decode_all(decoder, work)),
            ),
            (
                "  fastavro.writer only (records pre-decoded)",
                best_of(args.repeat, lambda out: write_all(registry, batches, out)),
            ),
        ]
        print(f"{'step':<46} {'wall time':>10} {'records/s':>12} {'CPU time':>10} {'records/CPU-s':>14}")
        for name, (wall, cpu) in rows:
            rates = f"{n_records / wall:>12,.0f} {cpu:>8.2f} s {n_records / cpu:>14,.0f}"
            print(f"{name:<46} {wall:>8.2f} s {rates}")
        print("\ntarget: landing -> raw >= 100,000 records/s")


if __name__ == "__main__":
    main()
