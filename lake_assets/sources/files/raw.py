"""Landing object (file, log or API page) -> raw Avro file(s) + quarantine records, streamed.

One Avro file per landing object and day (``<staging>/dt=<day>/<object>.avro``; no ``dt=`` folder when the
spec says ``partitioning: none``), with the schema id, fingerprint and source object in the file metadata,
as the events' raw writer does. Rows that do not fit go to ``quarantine/<files|api>/<source>/<object>/``
as JSON lines with the object, line (or sheet row, or record index in a page), the reason and the original
payload. Names derive from the landing key, so a re-run rewrites the same objects. The caller publishes the
staging folder; ``rows_read == rows_written + rows_quarantined`` is checked before returning.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from fastavro.write import Writer

from lake_assets.registry import SchemaRegistry, SchemaVersion
from lake_assets.sources.files import ByteSource, Row, UnreadableFile, open_reader
from lake_assets.sources.files.convert import RecordConverter, RowError
from lake_assets.sources.raw_avro import AVRO_CODEC, FINGERPRINT_KEY, SCHEMA_ID_KEY, SOURCE_OBJECT_KEY
from lake_assets.sources.schema_inference import infer_schema, load_inferred, save_inferred
from lake_assets.sources.specs import SourceSpec
from lake_assets.storage import ObjectStore

QUARANTINE_PART_BYTES = 8 << 20  # quarantine is uploaded in parts, so a wholly bad 1 GB file stays flat


class CountMismatch(RuntimeError):
    """Rows read != rows written + rows quarantined: a bug, never a data problem; nothing may be published."""


@dataclass
class ObjectRawResult:
    source: str
    object_key: str
    schema_id: str = ""
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    rows_by_day: dict[str, int] = field(default_factory=dict)  # "" when the source is not partitioned
    files: list[str] = field(default_factory=list)  # relative to the staging folder
    quarantine_keys: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)  # quarantine kind -> rows
    file_error: str | None = None  # the whole object was unreadable (all its rows are in quarantine)
    schema_inferred: bool = False  # this call inferred and stored the source's schema

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_written + self.rows_quarantined


def relative_name(spec: SourceSpec, object_key: str) -> str:
    """The object's path below the source's landing prefix (``2026/11/24/products.csv``)."""
    if not object_key.startswith(spec.landing_prefix):
        raise ValueError(
            f"{object_key!r} is not under source {spec.name}'s landing prefix {spec.landing_prefix}"
        )
    return object_key[len(spec.landing_prefix) :]


def avro_file_name(spec: SourceSpec, object_key: str) -> str:
    """Flat and unique per object: ``2026__11__24__products.csv.avro``."""
    return relative_name(spec, object_key).replace("/", "__") + ".avro"


def quarantine_prefix(spec: SourceSpec, object_key: str) -> str:
    return f"quarantine/{spec.zone_folder}/{relative_name(spec, object_key)}/"


class _Quarantine:
    """JSON-lines parts under one prefix per landing object; stale parts of an earlier run are removed."""

    def __init__(self, store: ObjectStore, prefix: str, spec: SourceSpec, object_key: str) -> None:
        self.store, self.prefix, self.spec, self.object_key = store, prefix, spec, object_key
        self.buffer = bytearray()
        self.keys: list[str] = []
        self.location = (
            "record" if spec.kind == "http_api" else "row" if spec.kind == "xlsx" else "line_number"
        )

    def add(self, row: Row, reason: str, kind: str, payload: bytes | str | None = None) -> None:
        record: dict[str, Any] = {
            "reason": reason,
            "kind": kind,
            "source": self.spec.name,
            "object": self.object_key,
            self.location: row.number,
        }
        data = row.payload if payload is None else payload
        if isinstance(data, bytes):
            try:
                record["payload"] = data.decode("utf-8")
            except UnicodeDecodeError:
                import base64

                record["payload_base64"] = base64.b64encode(data).decode("ascii")
        else:
            record["payload"] = data
        self.buffer += orjson.dumps(record, default=str) + b"\n"
        if len(self.buffer) >= QUARANTINE_PART_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            key = f"{self.prefix}part-{len(self.keys):05d}.jsonl"
            self.store.put_bytes(key, bytes(self.buffer))
            self.keys.append(key)
            self.buffer.clear()

    def reset(self) -> None:
        self.buffer.clear()
        self.keys.clear()

    def finish(self) -> list[str]:
        self.flush()
        for key in self.store.list_keys(self.prefix):
            if key not in self.keys:
                self.store.delete(key)  # from an earlier run of the same object
        return self.keys


def _values_payload(values: dict[str, Any]) -> bytes:
    return orjson.dumps(values, default=str)


def resolve_schema(
    store: ObjectStore, spec: SourceSpec, registry: SchemaRegistry | None
) -> SchemaVersion | None:
    """The schema rows are held to: the registry subject's latest version, or the stored inferred one."""
    if spec.schema_subject is not None:
        if registry is None:
            raise ValueError(f"source {spec.name} declares subject {spec.schema_subject}: pass the registry")
        return registry.latest(spec.schema_subject)
    return load_inferred(store, spec)


def land_object_to_raw(
    store: ObjectStore,
    spec: SourceSpec,
    object_key: str,
    out_dir: Path,
    *,
    registry: SchemaRegistry | None = None,
    source: ByteSource | None = None,
) -> ObjectRawResult:
    """Write one landing object's rows as raw Avro under ``out_dir`` and its bad rows to quarantine.

    ``source`` (a binary file object or byte chunks) replaces reading ``object_key`` from the store. The
    first object of a ``schema: infer`` source infers and stores the schema from its first rows.
    """
    result = ObjectRawResult(spec.name, object_key)
    quarantine = _Quarantine(store, quarantine_prefix(spec, object_key), spec, object_key)
    writers: dict[str, tuple[BinaryIO, Writer, Path]] = {}
    with contextlib.ExitStack() as stack:
        stream = source if source is not None else stack.enter_context(store.open_read(object_key))
        reader = open_reader(spec, stream)
        rows: Iterator[Row] = iter(reader)
        try:
            version = resolve_schema(store, spec, registry)
            if version is None:
                head = list(itertools.islice(rows, spec.infer_rows))
                schema = infer_schema(
                    spec,
                    (r.values for r in head if r.values is not None),
                    reader.columns,
                    text_typed=spec.kind in ("csv", "tsv", "log"),
                )
                version = save_inferred(store, spec, schema)
                result.schema_inferred = True
                rows = itertools.chain(head, rows)
            result.schema_id = version.schema_id
            time_formats = {spec.event_time: spec.event_time_format} if spec.event_time_format else {}
            converter = RecordConverter(
                version,
                timezone=spec.timezone,
                time_formats=time_formats,
                null_values=spec.format.null_values,
            )
            _convert_rows(
                spec, version, rows, reader, converter, quarantine, writers, out_dir, object_key, result
            )
        except UnreadableFile as exc:
            for handle, _, path in writers.values():
                handle.close()
                path.unlink(missing_ok=True)
            writers.clear()
            quarantine.reset()
            result.file_error = str(exc)
            result.rows_quarantined = result.rows_read
            result.rows_written = 0
            result.rows_by_day.clear()
            result.reasons = Counter({"unreadable_file": max(result.rows_read, 1)})
            quarantine.add(
                Row(0, None), f"the whole object is unreadable: {exc}", "unreadable_file",
                payload=f"rows read before the failure: {result.rows_read}; the object stays in landing",
            )  # fmt: skip
        finally:
            for handle, writer, _ in writers.values():
                writer.flush()
                handle.close()
    result.files = sorted(p.relative_to(out_dir).as_posix() for _, _, p in writers.values())
    result.quarantine_keys = quarantine.finish()
    if not result.reconciles:
        raise CountMismatch(
            f"{store.uri(object_key)}: read {result.rows_read} rows but wrote {result.rows_written} and "
            f"quarantined {result.rows_quarantined}; nothing from it may be published"
        )
    return result


def _convert_rows(
    spec: SourceSpec,
    version: SchemaVersion,
    rows: Iterator[Row],
    reader: Any,
    converter: RecordConverter,
    quarantine: _Quarantine,
    writers: dict[str, tuple[BinaryIO, Writer, Path]],
    out_dir: Path,
    object_key: str,
    result: ObjectRawResult,
) -> None:
    """The hot loop: one conversion and one Avro write per good row, one quarantine record per bad one."""
    metadata = {
        SCHEMA_ID_KEY: version.schema_id,
        FINGERPRINT_KEY: version.fingerprint,
        SOURCE_OBJECT_KEY: object_key,
    }
    file_name = avro_file_name(spec, object_key)
    time_field = next((f.name for f in converter.fields if f.column == spec.event_time), None)
    daily = spec.partitioning == "daily"
    check_keys = reader.columns is None
    header_problem: str | None = None
    header_checked = False
    by_day = result.rows_by_day
    reasons = result.reasons
    read = written = 0
    try:
        for row in rows:
            read += 1
            if not header_checked and reader.columns is not None:
                header_problem = converter.column_problem(reader.columns)
                header_checked = True
            if header_problem is not None:
                payload = row.payload if row.values is None else _values_payload(row.values)
                quarantine.add(row, header_problem, "schema_mismatch", payload)
                reasons["schema_mismatch"] += 1
                continue
            if row.values is None:
                quarantine.add(row, row.error or "unreadable row", row.kind or "malformed_row")
                reasons[row.kind or "malformed_row"] += 1
                continue
            try:
                record = converter.convert(row.values, check_keys)
            except RowError as exc:
                quarantine.add(row, str(exc), exc.kind, _values_payload(row.values))
                reasons[exc.kind] += 1
                continue
            day = ""
            if daily:
                stamp = record[time_field]  # type: ignore[index]
                day = stamp.astimezone(dt.UTC).date().isoformat()
            entry = writers.get(day)
            if entry is None:
                folder = out_dir / f"dt={day}" if daily else out_dir
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / file_name
                handle = open(path, "wb")  # noqa: SIM115 - closed by the caller's finally
                entry = (
                    handle,
                    Writer(handle, version.parsed, AVRO_CODEC, metadata=metadata, validator=False),
                    path,
                )
                writers[day] = entry
            entry[1].write(record)
            by_day[day] = by_day.get(day, 0) + 1
            written += 1
    finally:
        result.rows_read += read
        result.rows_written += written
        result.rows_quarantined += read - written
