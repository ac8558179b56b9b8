"""Rows of text or JSON values -> Avro records of a schema, with a reason for every value that does not fit.

The converter is compiled once per schema (one function per field), so the per-row cost is a dict build and
one call per cell. Columns map to fields by the field's ``lake.column`` attribute (the original header, kept
by inference) or else by the field name itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from lake_assets.registry import SchemaVersion

SUPPORTED = (
    "string",
    "long",
    "int",
    "double",
    "float",
    "boolean",
    "timestamp-millis",
    "timestamp-micros",
    "date",
)
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


class RowError(ValueError):
    """A row's value does not fit its field; ``kind`` classifies it for the quarantine."""

    def __init__(self, reason: str, kind: str = "invalid_value") -> None:
        super().__init__(reason)
        self.kind = kind


def field_type(avro_type: Any) -> tuple[str, bool]:
    """(base type, nullable) of a field type: ``["null", {"type": "long", ...}]`` -> ("long", True)."""
    nullable = False
    if isinstance(avro_type, list):
        rest = [t for t in avro_type if t != "null"]
        nullable = len(rest) < len(avro_type)
        if len(rest) != 1:
            raise ValueError(f'union {avro_type} is not supported (only ["null", T])')
        avro_type = rest[0]
    base = avro_type.get("logicalType") or avro_type.get("type") if isinstance(avro_type, dict) else avro_type
    if base not in SUPPORTED:
        raise ValueError(
            f"type {base!r} is not supported for file sources (use one of {', '.join(SUPPORTED)})"
        )
    return str(base), nullable


def column_of(avro_field: dict[str, Any]) -> str:
    return str(avro_field.get("lake.column", avro_field["name"]))


def timestamp_parser(tz: dt.tzinfo, fmt: str | None) -> Callable[[Any], dt.datetime]:
    # strptime is slow and log lines repeat the same second many times: remember recent answers.
    parse = functools.lru_cache(maxsize=4096)(lambda text: dt.datetime.strptime(text, fmt)) if fmt else None

    def convert(value: Any) -> dt.datetime:
        if isinstance(value, dt.datetime):
            stamp = value
        elif isinstance(value, dt.date):
            stamp = dt.datetime(value.year, value.month, value.day)
        elif isinstance(value, str):
            stamp = parse(value) if parse else dt.datetime.fromisoformat(value.strip())
        else:
            raise ValueError("not a timestamp")
        return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=tz)

    return convert


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0):
            raise ValueError("has a time of day")
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value.strip())
    raise ValueError("not a date")


def _long(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("has a fraction")
        return int(value)
    if isinstance(value, str):
        number = int(value)
        if not -(2**63) <= number < 2**63:
            raise ValueError("out of the 64-bit range")
        return number
    raise ValueError("not a whole number")


def _double(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a boolean")
    if isinstance(value, int | float | str):
        return float(value)
    raise ValueError("not a number")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise ValueError("not true/false")


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()  # nested JSON is kept as JSON text
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


@dataclass(frozen=True)
class _Field:
    name: str
    column: str
    base: str
    nullable: bool
    convert: Callable[[Any], Any]


class RecordConverter:
    """Compiled from one schema version; ``convert(values)`` returns the record or raises ``RowError``."""

    def __init__(
        self,
        version: SchemaVersion,
        *,
        timezone: str = "UTC",
        time_formats: dict[str, str] | None = None,
        null_values: Sequence[str] = ("",),
    ) -> None:
        self.version = version
        tz = zoneinfo.ZoneInfo(timezone)
        formats = time_formats or {}
        self.fields: list[_Field] = []
        for f in version.schema["fields"]:
            base, nullable = field_type(f["type"])
            column = column_of(f)
            if base.startswith("timestamp"):
                fn: Callable[[Any], Any] = timestamp_parser(tz, formats.get(column) or formats.get(f["name"]))
            else:
                fn = {"date": _date, "long": _long, "int": _long, "double": _double, "float": _double}.get(
                    base, _boolean if base == "boolean" else _string
                )
            self.fields.append(_Field(f["name"], column, base, nullable, fn))
        self._nulls = frozenset(null_values)
        self._columns = {f.column for f in self.fields}

    def column_problem(self, columns: Sequence[str]) -> str | None:
        """Why a file's header cannot feed this schema (unknown or missing required columns), or None."""
        unknown = [c for c in columns if c not in self._columns]
        present = set(columns)
        missing = [f.column for f in self.fields if not f.nullable and f.column not in present]
        if not unknown and not missing:
            return None
        parts = []
        if unknown:
            parts.append(f"columns not in schema {self.version.schema_id}: {', '.join(map(repr, unknown))}")
        if missing:
            parts.append(f"required columns missing: {', '.join(map(repr, missing))}")
        problem = "; ".join(parts)
        if len(columns) == 1:
            for sep in (";", "\t", "|", ","):
                if sep in columns[0]:
                    problem += f" (the header is one column {columns[0]!r}: is the delimiter {sep!r}?)"
                    break
        elif missing and unknown and any(_looks_like_data(c) for c in columns):
            problem += (
                " (the first line looks like data: is the header missing? set header: false and columns)"
            )
        return problem

    def convert(self, values: dict[str, Any], check_keys: bool = False) -> dict[str, Any]:
        """The Avro record for ``values``; ``check_keys`` rejects keys outside the schema (JSON rows, whose
        keys vary per row; delimited files are checked once by their header instead)."""
        record: dict[str, Any] = {}
        nulls = self._nulls
        for f in self.fields:
            value = values.get(f.column)
            if value is None or (
                isinstance(value, str) and value in nulls and not (f.base == "string" and not f.nullable)
            ):
                if not f.nullable:
                    raise RowError(f"column {f.column!r}: a value is required", "missing_value")
                record[f.name] = None
                continue
            try:
                record[f.name] = f.convert(value)
            except (ValueError, TypeError, OverflowError) as exc:
                raise RowError(f"column {f.column!r}: {value!r} is not a valid {f.base} ({exc})") from None
        if check_keys and not values.keys() <= self._columns:
            unknown = [k for k in values if k not in self._columns]
            if unknown:
                raise RowError(
                    f"fields not in schema {self.version.schema_id}: {', '.join(map(repr, unknown))}",
                    "schema_mismatch",
                )
        return record


def _looks_like_data(cell: str) -> bool:
    cell = cell.strip()
    if not cell:
        return True
    try:
        float(cell)
        return True
    except ValueError:
        pass
    try:
        dt.date.fromisoformat(cell[:10])
        return True
    except ValueError:
        return False
