"""Landing JSON lines -> raw Avro: one Avro file per landing object and partition, schema id inside.

The file name is derived from the landing object, so re-running a partition rewrites the same files. A
landing object that cannot be read fails the partition with a message naming the object and line; nothing
is published for that partition and nothing in landing is touched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
import msgspec

from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import EventDecoder, InvalidEvent
from lake_assets.sources.events.landing_index import partition_objects
from lake_assets.sources.kind import RawInputError
from lake_assets.sources.raw_avro import (
    AVRO_CODEC,
    FINGERPRINT_KEY,
    SCHEMA_ID_KEY,
    SOURCE_OBJECT_KEY,
    RawVerification,
    staged_avro_files,
    verify_avro_files,
)
from lake_assets.storage import ObjectStore


class CorruptLandingObject(RawInputError):
    """A landing object holds a line that is not a valid event of the expected kind."""


@dataclass
class RawPartitionResult:
    subject: str
    day: str
    schema_id: str
    records: int = 0
    expected: int = 0
    files: list[str] = field(default_factory=list)
    landing_objects: list[str] = field(default_factory=list)


def avro_file_name(object_key: str) -> str:
    name = object_key.rsplit("/", 1)[-1]
    return (name[: -len(".jsonl")] if name.endswith(".jsonl") else name) + ".avro"


def _utc_day(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).date().isoformat()


class _Head(msgspec.Struct):
    """Only the two fields a partition is chosen by; msgspec skips the rest of the line unparsed."""

    event_type: object = None
    event_time: object = None


_HEAD = msgspec.json.Decoder(_Head)


def _belongs_to(line: bytes, subject: str, days: set[str]) -> bool | None:
    """A cheap look at a line before the full decode: False when it is surely for another partition.

    None means "cannot tell" (the line is malformed): the full decode then names the problem, so a corrupt
    line is never skipped. Every landing object feeds several partitions, so most lines stop here.
    """
    try:
        head = _HEAD.decode(line)
    except msgspec.DecodeError:
        return None
    if head.event_type != subject:
        return False if isinstance(head.event_type, str) else None
    stamp = head.event_time
    if isinstance(stamp, str) and stamp.endswith(("Z", "+00:00")) and stamp[:10] not in days:
        return False  # UTC already: the date is the first ten characters
    return None


def build_raw_partitions(
    store: ObjectStore,
    registry: SchemaRegistry,
    decoder: EventDecoder,
    subject: str,
    days: list[str],
    out_dir: Path,
) -> dict[str, RawPartitionResult]:
    """Write raw partitions (subject, day) for ``days`` into ``out_dir/dt=<day>/`` (a staging folder).

    Each landing object is read and scanned once for all the days of the run (a backfill of a range is one
    pass over its objects, not one per day).
    """
    latest = registry.latest(subject)
    results = {day: RawPartitionResult(subject, day, latest.schema_id) for day in days}
    counts: dict[str, dict[str, int]] = {}  # landing object -> indexed count per day of this run
    for day in days:
        for entry in partition_objects(store, subject, day):
            counts.setdefault(entry.object_key, {})[day] = entry.count
    wanted = set(days)
    metadata = {SCHEMA_ID_KEY: latest.schema_id, FINGERPRINT_KEY: latest.fingerprint}
    for key in sorted(counts):
        by_day: dict[str, list[dict[str, Any]]] = {day: [] for day in counts[key]}
        for number, line in enumerate(store.get_bytes(key).split(b"\n"), start=1):
            if not line.strip() or _belongs_to(line, subject, wanted) is False:
                continue  # blank, or another subject's or day's event: that partition's run validates it
            try:
                version, record = decoder.decode(line)
            except InvalidEvent as exc:
                raise CorruptLandingObject(
                    f"landing object {store.uri(key)} line {number}: {exc}. Nothing was published for "
                    f"raw/events/{subject} ({', '.join(days)}); the object is left in place: "
                    "fix or move it, then re-run the partition."
                ) from None
            day = _utc_day(record["event_time"])
            if version.subject == subject and day in wanted:
                # setdefault: a record the index did not count still lands, and the count check catches it.
                by_day.setdefault(day, []).append(record)
        for day, records in by_day.items():
            result = results[day]
            result.expected += counts[key].get(day, 0)
            result.landing_objects.append(key)
            if not records:
                continue
            folder = out_dir / f"dt={day}"
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / avro_file_name(key), "wb") as out:
                fastavro.writer(
                    out,
                    latest.parsed,
                    records,
                    codec=AVRO_CODEC,
                    metadata={**metadata, SOURCE_OBJECT_KEY: key},
                    validator=False,
                )
            result.records += len(records)
            result.files.append(avro_file_name(key))
    return results


def build_raw_partition(
    store: ObjectStore, registry: SchemaRegistry, decoder: EventDecoder, subject: str, day: str, out_dir: Path
) -> RawPartitionResult:
    """One day's raw partition written flat into ``out_dir``."""
    result = build_raw_partitions(store, registry, decoder, subject, [day], out_dir)[day]
    folder = out_dir / f"dt={day}"
    if folder.is_dir():
        for path in folder.iterdir():
            path.rename(out_dir / path.name)
        folder.rmdir()
    return result


def verify_raw_files(folder: Path, registry: SchemaRegistry, subject: str, expected: int) -> RawVerification:
    """A staged events partition: any version of the subject, counted against the landing index."""
    allowed = {v.schema_id: v for v in registry.subject(subject).versions}
    return verify_avro_files(staged_avro_files(folder), allowed, expected, "landing indexed")
