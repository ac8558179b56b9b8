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

from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import EventDecoder, InvalidEvent
from lake_assets.sources.landing_index import partition_objects
from lake_assets.storage import ObjectStore

SCHEMA_ID_KEY = "lake.schema_id"
FINGERPRINT_KEY = "lake.schema_fingerprint"
SOURCE_OBJECT_KEY = "lake.source_object"
AVRO_CODEC = "deflate"  # readable by every Avro implementation without extra codecs


class CorruptLandingObject(RuntimeError):
    """A landing object holds a line that is not a valid event of the expected kind."""


class RawCheckFailed(RuntimeError):
    """Written raw files do not conform to their schema or do not reconcile with landing."""


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


def build_raw_partition(
    store: ObjectStore,
    registry: SchemaRegistry,
    decoder: EventDecoder,
    subject: str,
    day: str,
    out_dir: Path,
) -> RawPartitionResult:
    """Write the Avro files of raw partition (subject, day) into ``out_dir`` (a staging folder)."""
    latest = registry.latest(subject)
    result = RawPartitionResult(subject, day, latest.schema_id)
    metadata = {SCHEMA_ID_KEY: latest.schema_id, FINGERPRINT_KEY: latest.fingerprint}
    for entry in partition_objects(store, subject, day):
        records: list[dict[str, Any]] = []
        data = store.get_bytes(entry.object_key)
        for number, line in enumerate(data.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                version, record = decoder.decode(line)
            except InvalidEvent as exc:
                raise CorruptLandingObject(
                    f"landing object {store.uri(entry.object_key)} line {number}: {exc}. Nothing was "
                    f"published for raw/events/{subject} dt={day}; the object is left in place: "
                    "fix or move it, then re-run the partition."
                ) from None
            if version.subject == subject and _utc_day(record["event_time"]) == day:
                records.append(record)
        result.expected += entry.count
        result.landing_objects.append(entry.object_key)
        if not records:
            continue
        name = avro_file_name(entry.object_key)
        with open(out_dir / name, "wb") as out:
            fastavro.writer(
                out,
                latest.parsed,
                records,
                codec=AVRO_CODEC,
                metadata={**metadata, SOURCE_OBJECT_KEY: entry.object_key},
                validator=False,
            )
        result.records += len(records)
        result.files.append(name)
    return result


@dataclass
class RawVerification:
    records: int
    problems: list[str]

    @property
    def passed(self) -> bool:
        return not self.problems


def verify_raw_files(folder: Path, registry: SchemaRegistry, subject: str, expected: int) -> RawVerification:
    """Read the files back as a reader would: schema id resolvable, every record valid, counts reconcile."""
    from fastavro.validation import validate

    problems: list[str] = []
    total = 0
    for path in sorted(folder.glob("*.avro")):
        with open(path, "rb") as handle:
            reader = fastavro.reader(handle)
            schema_id = reader.metadata.get(SCHEMA_ID_KEY)
            if schema_id is None:
                problems.append(f"{path.name}: no {SCHEMA_ID_KEY} in the file metadata")
                continue
            version = registry.by_id(schema_id)
            if version.subject != subject:
                problems.append(f"{path.name}: schema {schema_id} is not a version of {subject}")
            invalid = 0
            for record in reader:
                total += 1
                if not validate(record, version.parsed, raise_errors=False):
                    invalid += 1
            if invalid:
                problems.append(f"{path.name}: {invalid} records do not conform to {schema_id}")
    if total != expected:
        problems.append(f"raw holds {total} records but landing indexed {expected}")
    return RawVerification(total, problems)
