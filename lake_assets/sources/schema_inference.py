"""Infer an Avro schema from a source's first rows, store it in the lake, and enforce it from then on.

Inference runs once, on the first landing object of a source whose spec says ``schema: infer``. The result
is written to ``_system/schemas/<source>/v1.avsc`` and every later file is held to it (rows that do not fit
go to quarantine), so a source cannot drift silently. Types are the narrowest that fit every sampled value:
boolean, long, double, date, timestamp-millis, else string; nested JSON is kept as JSON text. Columns are
nullable except the primary key and the event time. Each field keeps its original column name in
``lake.column`` (Avro names allow only letters, digits and ``_``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import fastavro

from lake_assets.registry import SchemaVersion
from lake_assets.sources.specs import SourceSpec
from lake_assets.storage import ObjectStore

_INT = re.compile(r"^[+-]?(0|[1-9][0-9]*)$")  # no leading zeros: "00123" is a code, not a number
_FLOAT = re.compile(r"^[+-]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_BOOL = frozenset({"true", "false"})
_WIDER = {("long", "double"): "double", ("date", "timestamp"): "timestamp"}


class InferenceError(ValueError):
    """The sample cannot give a schema (no header, event time not a timestamp, ...); the message says why."""


def schema_key(spec: SourceSpec) -> str:
    return f"_system/schemas/{spec.name}/v1.avsc"


def subject_name(spec: SourceSpec) -> str:
    """Inferred schemas get ids like ``files/products:v1``, apart from the registry's own subjects."""
    return spec.zone_folder


def load_inferred(store: ObjectStore, spec: SourceSpec) -> SchemaVersion | None:
    key = schema_key(spec)
    if not store.exists(key):
        return None
    return SchemaVersion(subject_name(spec), 1, json.loads(store.get_bytes(key)))


def save_inferred(store: ObjectStore, spec: SourceSpec, schema: dict[str, Any]) -> SchemaVersion:
    """Store the inferred schema unless one is there already (the first one wins and is enforced)."""
    existing = load_inferred(store, spec)
    if existing is not None:
        return existing
    fastavro.parse_schema(schema, _write_hint=False)  # never store a schema Avro would refuse
    store.put_bytes(schema_key(spec), json.dumps(schema, indent=2).encode() + b"\n")
    return SchemaVersion(subject_name(spec), 1, schema)


def avro_name(column: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]+", "_", column.strip()).strip("_").lower() or "column"
    return f"_{name}" if name[0].isdigit() else name


def _classify(value: Any, text_typed: bool, time_format: str | None) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, dt.datetime):
        return "timestamp"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, dict | list):
        return "string"
    text = str(value).strip()
    if time_format:
        try:
            dt.datetime.strptime(text, time_format)
            return "timestamp"
        except ValueError:
            return "string"
    if text_typed:  # CSV, TSV and log values are all text: look inside
        if _INT.match(text):
            return "long" if -(2**63) <= int(text) < 2**63 else "string"
        if _FLOAT.match(text):
            return "double"
        if text.lower() in _BOOL:
            return "boolean"
        if _DATE.match(text):
            try:
                dt.date.fromisoformat(text)
                return "date"
            except ValueError:
                return "string"
    if len(text) >= 16 and text[4:5] == "-" and text[10:11] in ("T", " "):
        try:
            dt.datetime.fromisoformat(text)
            return "timestamp"
        except ValueError:
            pass
    return "string"


def _merge(a: str | None, b: str) -> str:
    if a is None or a == b:
        return b
    return _WIDER.get((a, b)) or _WIDER.get((b, a)) or "string"


_AVRO = {
    "boolean": "boolean",
    "long": "long",
    "double": "double",
    "string": "string",
    "date": {"type": "int", "logicalType": "date"},
    "timestamp": {"type": "long", "logicalType": "timestamp-millis"},
}


def infer_schema(
    spec: SourceSpec,
    rows: Iterable[dict[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    text_typed: bool = True,
    time_formats: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An Avro record schema for ``rows`` (dicts by column); ``columns`` fixes the order when known."""
    sample = list(rows)
    order: list[str] = list(columns) if columns is not None else []
    if columns is None:
        seen: set[str] = set()
        for row in sample:
            for key in row:
                if key not in seen:
                    seen.add(key)
                    order.append(key)
    if columns is not None and spec.kind in ("csv", "tsv", "xlsx") and spec.format.header:
        _check_header(spec, order)
    formats = dict(time_formats or {})
    if spec.event_time and spec.event_time_format:
        formats[spec.event_time] = spec.event_time_format
    types: dict[str, str | None] = dict.fromkeys(order)
    nulls = set(spec.format.null_values)
    for row in sample:
        for column in order:
            value = row.get(column)
            if value is None or (isinstance(value, str) and value in nulls):
                continue
            types[column] = _merge(types[column], _classify(value, text_typed, formats.get(column)))
    required = set(spec.primary_key)
    for column in required | ({spec.event_time} if spec.event_time else set()):
        if column not in types:
            raise InferenceError(
                f"source {spec.name}: the spec names column {column!r} but the sample has only "
                f"{', '.join(map(repr, order)) or 'no columns'}"
            )
    if spec.event_time:
        required.add(spec.event_time)
        if types[spec.event_time] not in ("timestamp", "date"):
            raise InferenceError(
                f"source {spec.name}: event_time column {spec.event_time!r} holds {types[spec.event_time]} "
                "values, not timestamps (set event_time.format to their strptime format)"
            )
        types[spec.event_time] = "timestamp"
    fields = []
    used: set[str] = set()
    for column in order:
        name = avro_name(column)
        while name in used:
            name += "_"
        used.add(name)
        avro_type = _AVRO[types[column] or "string"]
        fields.append(
            {
                "name": name,
                "type": avro_type if column in required else ["null", avro_type],
                **({} if column in required else {"default": None}),
                "lake.column": column,
            }
        )
    return {
        "type": "record",
        "name": avro_name(spec.name),
        "namespace": f"lake.{spec.zone_folder.split('/')[0]}",
        "doc": f"inferred from the first {len(sample)} rows of source {spec.name}",
        "fields": fields,
    }


def _check_header(spec: SourceSpec, columns: Sequence[str]) -> None:
    """A header must be names: a sample whose first line is data would give a schema of garbage."""
    from lake_assets.sources.files.convert import _looks_like_data

    bad = [c for c in columns if _looks_like_data(c)]
    if bad:
        raise InferenceError(
            f"source {spec.name}: the header holds {', '.join(map(repr, bad[:5]))}, which look like data, "
            "not column names: is the header missing? (set format.header: false and format.columns)"
        )
    dupes = sorted({c for c in columns if list(columns).count(c) > 1})
    if dupes:
        raise InferenceError(f"source {spec.name}: the header repeats {', '.join(map(repr, dupes))}")
