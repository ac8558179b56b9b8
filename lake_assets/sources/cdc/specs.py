"""CDC table specs as data (``tables.yaml``): which source tables the lake merges, by which key.

A table is added by adding an entry, not by writing an asset. A bad entry stops loading with one message
naming the file, the entry, the field and the fix, so a typo never becomes a half-built graph.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lake_assets.sources.cdc.dms_format import DEFAULT_TIMESTAMP_COLUMN

DEFAULT_SPECS_FILE = Path(__file__).parent / "tables.yaml"
PARTITIONINGS = ("day",)
# The live sources the reconciliation check reads (sources/cdc/reconcile.py).
_URL_SCHEMES = ("postgresql://", "postgres://", "mysql://", "mariadb://", "mysql+pymysql://")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELDS = (
    "source",
    "schema",
    "table",
    "primary_key",
    "partitioning",
    "buckets",
    "columns",
    "timestamp_column",
    "url",
)


_RETIRED = ("compact_ratio", "max_pending_merges")  # settings of the pending-file format before Iceberg


class CdcSpecError(ValueError):
    """``tables.yaml`` is not valid; the message names the file, the field and the fix."""


@dataclass(frozen=True)
class CdcTableSpec:
    source: str
    schema: str
    table: str
    primary_key: tuple[str, ...]
    partitioning: str = "day"
    buckets: int = 16  # the Iceberg tables' partitions: bucket(buckets, first key column)
    columns: tuple[str, ...] | None = None  # for landing files without a header line
    timestamp_column: str | None = DEFAULT_TIMESTAMP_COLUMN  # DMS TimestampColumnName; None when not set
    url: str | None = None  # the live source, for the reconciliation check

    @property
    def name(self) -> str:
        """``<source>/<table>``: how the lake names the table (raw/cdc/<source>/<table>)."""
        return f"{self.source}/{self.table}"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"


def _fail(path: Path, where: str, field: str, problem: str, fix: str) -> CdcSpecError:
    return CdcSpecError(f"{path}: {where}.{field}: {problem}; {fix}")


def _name(path: Path, where: str, entry: dict[str, Any], field: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not _NAME.match(value):
        raise _fail(
            path,
            where,
            field,
            f"{value!r} is not a name",
            "use letters, digits and _ (not starting with a digit)",
        )
    return value


def _columns(path: Path, where: str, entry: dict[str, Any], field: str) -> tuple[str, ...]:
    value = entry.get(field)
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(c, str) and _NAME.match(c) for c in value)
    ):
        raise _fail(
            path, where, field, f"{value!r} is not a list of column names", f"write {field}: [col, ...]"
        )
    if len(set(value)) != len(value):
        raise _fail(path, where, field, f"{value} names a column twice", "list each column once")
    return tuple(value)


def parse_spec(path: Path, where: str, entry: Any) -> CdcTableSpec:
    if not isinstance(entry, dict):
        raise _fail(
            path, where, "", f"{entry!r} is not a mapping", "write source:, schema:, table:, primary_key:"
        )
    for gone in _RETIRED:
        if gone in entry:
            raise _fail(
                path,
                where,
                gone,
                "is no longer a setting: the CDC tables are Iceberg tables kept with MERGE INTO, and the "
                "iceberg_maintenance job compacts them",
                "remove it",
            )
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise _fail(path, where, unknown[0], "unknown field", f"use only {', '.join(_FIELDS)}")
    if "primary_key" not in entry:
        raise _fail(
            path,
            where,
            "primary_key",
            "missing",
            "name the table's primary key (or a unique key you declare)",
        )
    key = _columns(path, where, entry, "primary_key")
    columns = _columns(path, where, entry, "columns") if entry.get("columns") is not None else None
    if columns is not None and not set(key) <= set(columns):
        raise _fail(
            path, where, "columns", f"lacks key columns {sorted(set(key) - set(columns))}", "add them"
        )
    partitioning = entry.get("partitioning", "day")
    if partitioning not in PARTITIONINGS:
        raise _fail(path, where, "partitioning", f"{partitioning!r} is not supported", "use 'day'")
    buckets = entry.get("buckets", 16)
    if not isinstance(buckets, int) or isinstance(buckets, bool) or not 1 <= buckets <= 4096:
        raise _fail(path, where, "buckets", f"{buckets!r} is not a whole number 1..4096", "use e.g. 16")
    timestamp_column = entry.get("timestamp_column", DEFAULT_TIMESTAMP_COLUMN)
    if "timestamp_column" in entry and timestamp_column is not None:
        timestamp_column = _name(path, where, entry, "timestamp_column")
    url = entry.get("url")
    if url is not None and not (isinstance(url, str) and url.startswith(_URL_SCHEMES)):
        raise _fail(
            path,
            where,
            "url",
            f"{url!r} is not a postgresql:// or mysql:// (mariadb://) URL",
            "give the source's URL or omit it",
        )
    return CdcTableSpec(
        source=_name(path, where, entry, "source"),
        schema=_name(path, where, entry, "schema"),
        table=_name(path, where, entry, "table"),
        primary_key=key,
        partitioning=partitioning,
        buckets=buckets,
        columns=columns,
        timestamp_column=timestamp_column,
        url=url,
    )


def load_specs(path: Path | str = DEFAULT_SPECS_FILE) -> list[CdcTableSpec]:
    """Every table of ``path``; refuses a malformed entry or two entries for the same lake table."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CdcSpecError(f"{path}: cannot be read as YAML ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("tables"), list):
        raise CdcSpecError(
            f"{path}: expected a top-level 'tables:' list; see the comment in {DEFAULT_SPECS_FILE}"
        )
    return check_unique(path, [parse_spec(path, f"tables[{i}]", e) for i, e in enumerate(document["tables"])])


def check_unique(path: Path, specs: Sequence[CdcTableSpec]) -> list[CdcTableSpec]:
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        if spec.name in seen:
            raise _fail(
                path,
                f"tables[{i}]",
                "table",
                f"{spec.name} is already defined by tables[{seen[spec.name]}] (the lake names tables "
                "<source>/<table>, whatever the schema)",
                "remove the duplicate or use another source name",
            )
        seen[spec.name] = i
    return list(specs)
