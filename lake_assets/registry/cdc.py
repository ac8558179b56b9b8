"""The schema versions of the CDC tables: derived from what lands, kept in the lake, checked like the events'.

Event schemas are reviewed files in the repository (``registry/schemas/``); a CDC table's schema comes from
its source table, so raw derives it from each landed file (column names and types, as DMS and our capture
write them) and keeps the versions in the lake under ``_system/schemas/cdc/<source>/<table>/v<N>.avsc``:
a file matching a registered version is written with it; new nullable columns register the next version;
a change that is not FULL compatible (a type change, a dropped column) is refused with what changed and what
to do. ``cdc_registry`` hands the versions to the Glue Schema Registry publisher as subjects
``cdc.<source>.<table>``. Records are ``Op, commit_ts, position, _unchanged`` and the table's columns.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from lake_assets.registry.compatibility import check_compatibility
from lake_assets.registry.registry import SchemaRegistry, SchemaVersion, Subject
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.storage import ObjectStore

CDC_SCHEMA_ROOT = "_system/schemas/cdc"
COMPATIBILITY = "FULL"  # new readers read old files AND old readers new files: a dropped column is a break
OP, COMMIT_TS, POSITION, UNCHANGED_COLUMN = "Op", "commit_ts", "position", "_unchanged"
SYSTEM_FIELDS: list[dict[str, Any]] = [
    {"name": OP, "type": "string"},
    {"name": COMMIT_TS, "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
    {"name": POSITION, "type": "string"},
    {"name": UNCHANGED_COLUMN, "type": ["null", {"type": "array", "items": "string"}], "default": None},
]
SYSTEM_NAMES = frozenset(f["name"] for f in SYSTEM_FIELDS)


class CdcSchemaError(RuntimeError):
    """A CDC table's registered versions cannot be used as they are; the message says where and why."""


class CdcSchemaChange(CdcSchemaError):
    """The source table changed in a way readers of the lake cannot follow (not FULL compatible)."""


def subject_name(spec: CdcTableSpec) -> str:
    return f"cdc/{spec.source}/{spec.table}"


def schema_prefix(spec: CdcTableSpec, root: str = CDC_SCHEMA_ROOT) -> str:
    return f"{root.strip('/')}/{spec.source}/{spec.table}/"


def load_versions(store: ObjectStore, spec: CdcTableSpec, root: str = CDC_SCHEMA_ROOT) -> list[SchemaVersion]:
    """Registered versions, oldest first; numbered 1..N without gaps (anything else is refused)."""
    found: dict[int, SchemaVersion] = {}
    for key in store.list_keys(schema_prefix(spec, root)):
        name = key.rsplit("/", 1)[-1]
        if not (name.startswith("v") and name.endswith(".avsc") and name[1:-5].isdigit()):
            continue
        number = int(name[1:-5])
        found[number] = SchemaVersion(subject_name(spec), number, json.loads(store.get_bytes(key)))
    if sorted(found) != list(range(1, len(found) + 1)):
        raise CdcSchemaError(f"{store.uri(schema_prefix(spec, root))}: versions {sorted(found)} are not 1..N")
    return [found[n] for n in sorted(found)]


def glue_subject_name(spec: CdcTableSpec) -> str:
    """``cdc.<source>.<table>``: Glue schema names allow letters, digits and ``-_$#.``, no ``/``."""
    return f"cdc.{spec.source}.{spec.table}"


def cdc_registry(
    store: ObjectStore, specs: Sequence[CdcTableSpec], root: str = CDC_SCHEMA_ROOT
) -> SchemaRegistry:
    """The versions the raw CDC runs registered in the lake, as a registry to publish (Glue on AWS).

    The lake is the source of truth for CDC schemas (they are derived from the source tables at run time,
    not reviewed files); publishing gives AWS-side readers (Glue jobs, Athena tables, other teams) the same
    versions under ``cdc.<source>.<table>``, FULL compatibility. Tables not captured yet are left out.
    """
    subjects: dict[str, Subject] = {}
    for spec in specs:
        versions = load_versions(store, spec, root)
        if versions:
            name = glue_subject_name(spec)
            renamed = tuple(SchemaVersion(name, v.version, v.schema) for v in versions)
            subjects[name] = Subject(name, "cdc", COMPATIBILITY, renamed)
    return SchemaRegistry(subjects)


def register_version(store: ObjectStore, spec: CdcTableSpec, version: SchemaVersion, root: str) -> str:
    key = f"{schema_prefix(spec, root)}v{version.version}.avsc"
    store.put_bytes(key, json.dumps(version.schema, indent=2).encode() + b"\n")
    return key


def avro_type(typ: pa.DataType) -> Any:
    """The Avro type a landed column is kept as (DMS CSV is text; Parquet keeps the source's types)."""
    if pa.types.is_boolean(typ):
        return "boolean"
    if pa.types.is_int8(typ) or pa.types.is_int16(typ) or pa.types.is_int32(typ):
        return "int"
    if pa.types.is_integer(typ):
        return "long"
    if pa.types.is_float32(typ):
        return "float"
    if pa.types.is_floating(typ):
        return "double"
    if pa.types.is_date(typ):
        return {"type": "int", "logicalType": "date"}
    if pa.types.is_timestamp(typ):
        return {"type": "long", "logicalType": "timestamp-micros"}
    return "string"  # text, numeric/decimal (exact digits), everything else


def columns_of(schema: dict[str, Any]) -> dict[str, Any]:
    """Table column -> Avro type (the nullable branch), in schema order."""
    return {f["name"]: f["type"][1] for f in schema["fields"] if f["name"] not in SYSTEM_NAMES}


def _record_schema(spec: CdcTableSpec, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "record",
        "name": f"cdc_{spec.source}_{spec.table}",
        "namespace": "lake.cdc",
        "fields": [*SYSTEM_FIELDS, *fields],
    }


def candidate_schema(
    spec: CdcTableSpec, columns: dict[str, Any], previous: dict[str, Any] | None
) -> dict[str, Any]:
    """The schema a file with ``columns`` needs, keeping the previous version's field order.

    Columns of the first version have no default, so dropping one later breaks FULL compatibility (a
    reader of the old version would have no value for it); columns added later default to null, so adding a
    nullable column is compatible both ways.
    """
    if previous is None:
        return _record_schema(spec, [{"name": c, "type": ["null", t]} for c, t in columns.items()])
    fields = []
    for f in previous["fields"]:
        if f["name"] in SYSTEM_NAMES or f["name"] not in columns:
            continue
        fields.append({**f, "type": ["null", columns[f["name"]]]})
    known = {f["name"] for f in fields} | set(columns_of(previous))
    fields += [
        {"name": c, "type": ["null", t], "default": None} for c, t in columns.items() if c not in known
    ]
    return _record_schema(spec, fields)


def describe_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    before, after = columns_of(old), columns_of(new)
    parts = [f"column {c} added ({json.dumps(after[c])})" for c in after if c not in before]
    parts += [f"column {c} dropped" for c in before if c not in after]
    parts += [
        f"column {c} changed type from {json.dumps(before[c])} to {json.dumps(after[c])}"
        for c in after
        if c in before and before[c] != after[c]
    ]
    return "; ".join(parts) or "no column change"


@dataclass
class SchemaResolver:
    """Finds the registered version a file's columns match, or derives (and checks) the next one."""

    spec: CdcTableSpec
    versions: list[SchemaVersion]
    new_versions: list[SchemaVersion] = field(default_factory=list)

    @property
    def all(self) -> list[SchemaVersion]:
        return self.versions + self.new_versions

    def version_for(self, key: str, columns: dict[str, Any]) -> SchemaVersion:
        for version in reversed(self.all):
            if columns_of(version.schema) == columns:  # same names and types, in any order
                return version
        latest = self.all[-1] if self.all else None
        schema = candidate_schema(self.spec, columns, latest.schema if latest else None)
        if latest is not None:
            problems = check_compatibility(schema, [v.schema for v in self.all], COMPATIBILITY)
            if problems:
                raise CdcSchemaChange(
                    f"raw/cdc/{self.spec.name}: landing file {key} changes the table "
                    f"{self.spec.source}.{self.spec.qualified}: {describe_change(latest.schema, schema)}. "
                    f"This is not {COMPATIBILITY} compatible with {latest.schema_id} "
                    f"({'; '.join(problems)}). Nothing was published. To go on: revert the change at the "
                    "source, or, if it is intended, migrate the downstream tables and start the table afresh "
                    "(drop the slot, take a new full load, and clear its raw, intermediate and "
                    f"_system/schemas/cdc/{self.spec.name}/ folders)."
                )
        version = SchemaVersion(subject_name(self.spec), len(self.all) + 1, schema)
        self.new_versions.append(version)
        return version
