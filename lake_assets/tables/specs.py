"""Table specs as data (``tables.yaml``): each Iceberg table's partitioning and sort order, declared.

No Dagster or Spark import: a Glue job reads the same specs when it commits through ``tables.iceberg``.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SPECS_FILE = Path(__file__).with_name("tables.yaml")
DATABASES = ("intermediate", "final")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # Glue / Athena: lower case letters, digits, underscores
_TRANSFORM = re.compile(
    r"^(?:(?P<col>[a-z_][a-z0-9_]*)"
    r"|(?P<fn>year|month|day|hour)\((?P<fcol>[a-z_][a-z0-9_]*)\)"
    r"|(?P<nfn>bucket|truncate)\((?P<n>[1-9][0-9]*),\s*(?P<ncol>[a-z_][a-z0-9_]*)\))$"
)
_SORT = re.compile(r"^(?P<col>[a-z_][a-z0-9_]*)(?:\s+(?P<dir>ASC|DESC))?$", re.IGNORECASE)


class TableSpecError(ValueError):
    """A table spec is malformed; the message names the file, the table, the field and the fix."""


@dataclass(frozen=True)
class TableSpec:
    database: str
    name: str
    partition_by: tuple[str, ...] = ()
    sort_by: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def identifier(self) -> str:
        """``<database>.<table>``: the name in the catalog, in ``lake query`` and on Athena."""
        return f"{self.database}.{self.name}"

    def partition_columns(self) -> list[str]:
        """The source column of every partition field (``day(ts)`` -> ``ts``)."""
        out = []
        for transform in self.partition_by:
            m = _TRANSFORM.match(transform)
            assert m is not None  # checked when the spec was loaded
            out.append(m.group("col") or m.group("fcol") or m.group("ncol"))
        return out


@dataclass(frozen=True)
class _Pattern:
    pattern: str
    partition_by: tuple[str, ...]
    sort_by: tuple[str, ...]
    properties: dict[str, str]


def _fail(path: Path, where: str, message: str) -> TableSpecError:
    return TableSpecError(f"{path}: {where}: {message}")


def _strings(path: Path, where: str, value: object, check: re.Pattern[str], example: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, where, f"must be a list of strings, for example [{example}]")
    for v in value:
        if v.count("(") != v.count(")"):
            raise _fail(
                path,
                where,
                f"{v!r} is cut at a comma: quote a transform with arguments, e.g. ['bucket(16, id)']",
            )
        if not check.match(v.strip()):
            raise _fail(path, where, f"{v!r} is not valid here; for example [{example}]")
    return tuple(v.strip() for v in value)


def _load(path: Path) -> tuple[_Pattern, ...]:
    try:
        stat = path.stat()
    except OSError as exc:
        raise TableSpecError(f"{path}: cannot read the table specs: {exc}") from None
    return _parse(path, stat.st_mtime_ns, stat.st_size)  # an edited file is read again


@functools.cache
def _parse(path: Path, _mtime_ns: int, _size: int) -> tuple[_Pattern, ...]:
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TableSpecError(f"{path}: cannot read the table specs: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tables"), dict):
        raise TableSpecError(f"{path}: needs a `tables:` mapping of `<database>.<table>` to its spec")
    patterns = []
    for name, body in doc["tables"].items():
        database, _, table = str(name).partition(".")
        if database not in DATABASES or not _NAME.match(table.replace("*", "x")):
            raise _fail(
                path,
                str(name),
                f"a table is named <database>.<table> with database one of {DATABASES} "
                "and a lower-case table name (letters, digits, _; * as a wildcard)",
            )
        body = body or {}
        if not isinstance(body, dict):
            raise _fail(path, str(name), "the spec must be a mapping (partition_by, sort_by, properties)")
        unknown = set(body) - {"partition_by", "sort_by", "properties"}
        if unknown:
            raise _fail(
                path, str(name), f"unknown field(s) {sorted(unknown)}; use partition_by, sort_by, properties"
            )
        properties = body.get("properties") or {}
        if not isinstance(properties, dict):
            raise _fail(path, f"{name}.properties", "must be a mapping of Iceberg table properties")
        patterns.append(
            _Pattern(
                pattern=str(name),
                partition_by=_strings(
                    path,
                    f"{name}.partition_by",
                    body.get("partition_by"),
                    _TRANSFORM,
                    "dt, 'bucket(16, customer_id)'",
                ),
                sort_by=_strings(path, f"{name}.sort_by", body.get("sort_by"), _SORT, "dt, product_id DESC"),
                properties={str(k): str(v) for k, v in properties.items()},
            )
        )
    return tuple(patterns)


def table_spec(
    database: str, name: str, path: Path = SPECS_FILE, *, partition_by: tuple[str, ...] = ()
) -> TableSpec:
    """The spec of one table: the exact entry, else the longest matching wildcard, else ``partition_by``.

    ``partition_by``: what the table's source spec declares when tables.yaml has no entry for it (a file
    source with ``partitioning: daily`` is partitioned by ``dt``).
    """
    identifier = f"{database}.{name}"
    if database not in DATABASES or not _NAME.match(name):
        raise TableSpecError(f"{identifier!r} is not a valid table name (<database>.<lower_case_name>)")
    matches = [p for p in _load(path) if fnmatch.fnmatchcase(identifier, p.pattern)]
    if not matches:
        return TableSpec(database, name, partition_by)
    best = max(matches, key=lambda p: ("*" not in p.pattern, len(p.pattern)))
    return TableSpec(database, name, best.partition_by or partition_by, best.sort_by, dict(best.properties))
