"""Avro schema compatibility, following the "Schema Resolution" rules of the Avro 1.11 specification.

The registry has to refuse a new schema version before any data is written with it, so the question is asked
of the schemas, not of data: can every datum written with the writer's schema be resolved into the reader's
schema? ``reader_incompatibilities`` answers that with human-readable reasons; ``check_compatibility`` applies
it in the direction(s) a subject's compatibility mode asks for; ``check_registry`` checks every published
version of every subject, so a bad ``v<N>.avsc`` fails CI rather than a reader in production.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import fastavro

from lake_assets.registry.registry import COMPATIBILITY_MODES

if TYPE_CHECKING:
    from lake_assets.registry.registry import SchemaRegistry

Schema = dict[str, Any] | list[Any] | str

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})
# Writer type -> reader types it can be promoted to (spec, "Schema Resolution").
PROMOTIONS: dict[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}
_BACKWARD_MODES = frozenset({"BACKWARD", "BACKWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"})
_FORWARD_MODES = frozenset({"FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"})
_TRANSITIVE_MODES = frozenset({"BACKWARD_TRANSITIVE", "FORWARD_TRANSITIVE", "FULL_TRANSITIVE"})


def reader_incompatibilities(reader: Schema, writer: Schema) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader``; empty when it always can.

    A schema-level check: a writer union is only readable when every one of its branches is, because the
    schema alone does not say which branches real data uses.
    """
    reader_parsed, reader_names = _parse(reader, "reader")
    writer_parsed, writer_names = _parse(writer, "writer")
    return _Resolver(reader_names, writer_names).check(reader_parsed, writer_parsed, "")


def check_compatibility(new: Schema, previous: list[Schema], mode: str) -> list[str]:
    """Problems that stop ``new`` from following ``previous`` (versions 1..N-1, oldest first) under ``mode``.

    Non-transitive modes compare with the latest previous version only, as Confluent and Glue do; the
    transitive ones compare with all of them, since old files stay in the lake and are read again.
    """
    return [
        f"{_direction_text(direction, k, 'the new schema')} ({_normalise_mode(mode)}): {problem}"
        for k, direction, problem in _problems(new, previous, mode)
    ]


def check_registry(registry: SchemaRegistry) -> list[str]:
    """Every version N>1 of every subject checked against versions 1..N-1 with the subject's own mode.

    Published versions are never edited, so this catches a bad new ``v<N>.avsc`` (or a mode tightened
    after the fact) before anything is written with it.
    """
    problems: list[str] = []
    for name in registry.subjects():
        subject = registry.subject(name)
        schemas = [v.schema for v in subject.versions]
        for index in range(1, len(schemas)):
            n = subject.versions[index].version
            for k, direction, problem in _problems(schemas[index], schemas[:index], subject.compatibility):
                problems.append(
                    f"subject {name} v{n} is not {subject.compatibility} compatible with v{k}: "
                    f"{_direction_text(direction, k, f'v{n}')}: {problem}"
                )
    return problems


def _normalise_mode(mode: str) -> str:
    upper = str(mode).upper()
    if upper not in COMPATIBILITY_MODES:
        raise ValueError(f"compatibility mode {mode!r} is not one of {', '.join(COMPATIBILITY_MODES)}")
    return upper


def _problems(new: Schema, previous: list[Schema], mode: str) -> list[tuple[int, str, str]]:
    """(previous version number, direction, problem) triples; version numbers count from 1 in ``previous``."""
    mode = _normalise_mode(mode)
    if mode == "NONE" or not previous:
        return []
    numbered = list(enumerate(previous, start=1))
    if mode not in _TRANSITIVE_MODES:
        numbered = numbered[-1:]
    found: list[tuple[int, str, str]] = []
    for k, old in reversed(numbered):
        if mode in _BACKWARD_MODES:
            found += [(k, "backward", p) for p in reader_incompatibilities(new, old)]
        if mode in _FORWARD_MODES:
            found += [(k, "forward", p) for p in reader_incompatibilities(old, new)]
    return found


def _direction_text(direction: str, k: int, new_label: str) -> str:
    if direction == "backward":
        return f"{new_label} cannot read data written by v{k}"
    return f"v{k} cannot read data written by {new_label}"


def _parse(schema: Schema, role: str) -> tuple[Schema, dict[str, Any]]:
    """Validate and qualify names, so references can be looked up by full name.

    fastavro rewrites names to their full form and may add keys, so it works on a copy.
    """
    names: dict[str, Any] = {}
    try:
        parsed = fastavro.parse_schema(copy.deepcopy(schema), named_schemas=names, _write_hint=False)
    except Exception as exc:  # fastavro raises several types for a bad schema
        raise ValueError(f"{role} schema is not a valid Avro schema: {exc}") from None
    return parsed, names


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _join(path: str, part: str) -> str:
    if not path:
        return part
    return path + part if part.startswith("[") or part.startswith("{") else f"{path}.{part}"


@dataclass
class _Resolver:
    reader_names: dict[str, Any]
    writer_names: dict[str, Any]
    # Pairs of named types already being (or done being) resolved: recursive schemas would loop otherwise,
    # and a pair resolves the same way wherever it appears.
    seen: set[tuple[str, str]] = field(default_factory=set)

    def check(self, reader: Schema, writer: Schema, path: str) -> list[str]:
        reader = _deref(reader, self.reader_names)
        writer = _deref(writer, self.writer_names)
        if isinstance(writer, list):
            problems = []
            for branch in writer:
                problems += self.check(reader, branch, path)
            return problems
        if isinstance(reader, list):
            for branch in reader:
                if _matches(_deref(branch, self.reader_names), writer):
                    return self.check(branch, writer, path)
            return [
                f"{_where(path)}writer type {_describe(writer)!r} matches no branch of reader union "
                f"{_describe(reader)!r}"
            ]
        if not _matches(reader, writer):
            return [self._mismatch(reader, writer, path)]
        if isinstance(reader, str):
            return []
        kind = reader["type"]
        if kind == "array":
            return self.check(reader["items"], writer["items"], _join(path, "[]"))
        if kind == "map":
            return self.check(reader["values"], writer["values"], _join(path, "{}"))
        if kind == "fixed":
            if reader["size"] != writer["size"]:
                return [
                    f"{_where(path)}writer fixed {writer['name']!r} has size {writer['size']} but reader "
                    f"fixed {reader['name']!r} has size {reader['size']}"
                ]
            return []
        if kind == "enum":
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing and "default" not in reader:
                return [
                    f"{_where(path)}writer enum symbols {missing} are not in reader enum "
                    f"{_short(reader['name'])!r}, which has no default"
                ]
            return []
        return self._record(reader, writer, path)

    def _record(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[str]:
        key = (reader["name"], writer["name"])
        if key in self.seen:
            return []
        self.seen.add(key)
        writer_fields = {f["name"]: f for f in writer["fields"]}
        problems: list[str] = []
        for reader_field in reader["fields"]:
            name = reader_field["name"]
            candidates = [name, *reader_field.get("aliases", [])]
            writer_field = next((writer_fields[c] for c in candidates if c in writer_fields), None)
            if writer_field is None:
                if "default" not in reader_field:
                    problems.append(
                        f"reader field {_join(path, name)!r} has no default and is missing from the writer"
                    )
                continue
            problems += self.check(reader_field["type"], writer_field["type"], _join(path, name))
        return problems

    def _mismatch(self, reader: Schema, writer: Schema, path: str) -> str:
        if isinstance(reader, dict) and isinstance(writer, dict) and reader["type"] == writer["type"]:
            return (
                f"{_where(path)}writer {writer['type']} {_short(writer['name'])!r} does not match the name "
                f"of reader {reader['type']} {_short(reader['name'])!r} or its aliases"
            )
        return f"{_where(path)}writer type {_describe(writer)!r} cannot be read as {_describe(reader)!r}"


def _deref(schema: Schema, names: dict[str, Any]) -> Schema:
    """A named reference becomes its definition; a primitive or logical type becomes its underlying type."""
    while True:
        if isinstance(schema, str):
            return schema if schema in PRIMITIVES else names[schema]
        if isinstance(schema, dict) and schema.get("type") not in _NAMED | {"array", "map"}:
            schema = schema["type"]
            continue
        return schema


def _matches(reader: Schema, writer: Schema) -> bool:
    """The spec's top-level match (names, kinds, promotions); what lies inside is resolved separately."""
    if isinstance(reader, list) or isinstance(writer, list):
        return isinstance(reader, list) and isinstance(writer, list)
    if isinstance(reader, str) or isinstance(writer, str):
        return (
            isinstance(reader, str)
            and isinstance(writer, str)
            and (reader == writer or reader in PROMOTIONS.get(writer, ()))
        )
    kind = "record" if reader["type"] == "error" else reader["type"]
    if kind != ("record" if writer["type"] == "error" else writer["type"]):
        return False
    if kind in ("array", "map"):
        return True
    accepted = {_short(reader["name"]), *(_short(a) for a in reader.get("aliases", []))}
    return _short(writer["name"]) in accepted


def _where(path: str) -> str:
    return f"field {path!r}: " if path else ""


def _describe(schema: Schema) -> str:
    if isinstance(schema, str):
        return _short(schema) if schema not in PRIMITIVES else schema
    if isinstance(schema, list):
        return "[" + ", ".join(_describe(b) for b in schema) + "]"
    kind = schema["type"]
    if kind == "array":
        return f"array<{_describe(schema['items'])}>"
    if kind == "map":
        return f"map<{_describe(schema['values'])}>"
    if kind in _NAMED:
        return f"{kind} {_short(schema['name'])}"
    return _describe(kind)
