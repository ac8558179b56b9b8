"""CDC table specs as data (``tables.yaml``): which source tables the lake merges, by which key.

A table is added by adding an entry, not by writing an asset. ``CdcTableSpec`` is the typed model of an
entry; bad entries stop loading with one message naming the file, the entry, the field and the fix (all
of them at once), so a typo never becomes a half-built graph.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.dataclasses import dataclass

from lake_assets.sources.cdc.dms_format import DEFAULT_TIMESTAMP_COLUMN
from lake_assets.spec_model import Problems, checked, explain

DEFAULT_SPECS_FILE = Path(__file__).parent / "tables.yaml"
PARTITIONINGS = ("day",)
# The live sources the reconciliation check reads (sources/cdc/reconcile.py).
_URL_SCHEMES = ("postgresql://", "postgres://", "mysql://", "mariadb://", "mysql+pymysql://")
_RETIRED = ("compact_ratio", "max_pending_merges")  # settings of the pending-file format before Iceberg
_HINTS = {
    "primary_key": "name the table's primary key (or a unique key you declare)",
    "source": "name the capture's source (landing/cdc/<source>/...)",
    "schema": "name the source table's schema",
    "table": "name the source table",
}

_Name = checked(
    re.compile(r"[A-Za-z_][A-Za-z0-9_]*").fullmatch,
    "{v!r} is not a name",
    "use letters, digits and _ (not starting with a digit)",
)
_Url = checked(
    lambda v: v.startswith(_URL_SCHEMES),
    "{v!r} is not a postgresql:// or mysql:// (mariadb://) URL",
    "give the source's URL or omit it",
)
_Columns = Annotated[
    tuple[_Name, ...],
    BeforeValidator(lambda v: (v,) if isinstance(v, str) else v),
    Field(min_length=1),
]


class CdcSpecError(ValueError):
    """``tables.yaml`` is not valid; the message names the file, the field and the fix."""


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class CdcTableSpec:
    source: _Name
    schema: _Name
    table: _Name
    primary_key: _Columns
    partitioning: Literal["day"] = "day"
    buckets: Annotated[StrictInt, Field(ge=1, le=4096)] = 16  # the Iceberg tables: bucket(buckets, key[0])
    columns: _Columns | None = None  # for landing files without a header line
    timestamp_column: _Name | None = DEFAULT_TIMESTAMP_COLUMN  # DMS TimestampColumnName; None when not set
    url: _Url | None = None  # the live source, for the reconciliation check

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, entry: Any) -> Any:
        for gone in _RETIRED if isinstance(entry, dict) else ():
            if gone in entry:
                what = (
                    "is no longer a setting: the CDC tables are Iceberg tables kept with MERGE INTO, and the "
                    "iceberg_maintenance job compacts them"
                )
                raise Problems((gone, what, "remove it"))
        return entry

    @model_validator(mode="after")
    def _keys_listed(self) -> Self:
        for field in ("primary_key", "columns"):
            names = getattr(self, field) or ()
            if len(set(names)) != len(names):
                raise Problems((field, f"{list(names)} names a column twice", "list each column once"))
        if self.columns is not None and not set(self.primary_key) <= set(self.columns):
            missing = sorted(set(self.primary_key) - set(self.columns))
            raise Problems(("columns", f"lacks key columns {missing}", "add them"))
        return self

    @property
    def name(self) -> str:
        """``<source>/<table>``: how the lake names the table (raw/cdc/<source>/<table>)."""
        return f"{self.source}/{self.table}"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}"


class _TablesFile(BaseModel):
    tables: list[CdcTableSpec]


def _error(path: Path, where: str, problems: list[tuple[str, str, str]]) -> CdcSpecError:
    def line(at: str, what: str, fix: str) -> str:
        return f"{path}: {where}{'.' if where and at[:1] not in ('', '[') else ''}{at}: {what}; {fix}"

    return CdcSpecError("\n".join(line(*problem) for problem in problems))


def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``tables.yaml``, for editors."""
    return {**_TablesFile.model_json_schema(), "title": "Lake CDC tables"}


def parse_spec(path: Path, where: str, entry: Any) -> CdcTableSpec:
    try:
        return TypeAdapter(CdcTableSpec).validate_python(entry)
    except ValidationError as exc:
        raise _error(path, where, explain(exc, CdcTableSpec, _HINTS)) from None


def load_specs(path: Path | str = DEFAULT_SPECS_FILE) -> list[CdcTableSpec]:
    """Every table of ``path``; refuses malformed entries or two entries for the same lake table."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CdcSpecError(f"{path}: cannot be read as YAML ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("tables"), list):
        raise CdcSpecError(
            f"{path}: expected a top-level 'tables:' list; see the comment in {DEFAULT_SPECS_FILE}"
        )
    try:
        return check_unique(path, _TablesFile.model_validate(document).tables)
    except ValidationError as exc:
        hints = {f"tables.{field}": fix for field, fix in _HINTS.items()}
        raise _error(path, "", explain(exc, _TablesFile, hints)) from None


def check_unique(path: Path, specs: Sequence[CdcTableSpec]) -> list[CdcTableSpec]:
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        if spec.name in seen:
            what = (
                f"{spec.name} is already defined by tables[{seen[spec.name]}] (the lake names tables "
                "<source>/<table>, whatever the schema)"
            )
            raise _error(
                path, f"tables[{i}]", [("table", what, "remove the duplicate or use another source name")]
            )
        seen[spec.name] = i
    return list(specs)
