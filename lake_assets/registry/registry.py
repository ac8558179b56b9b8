"""Schema registry kept in the repo as data: ``schemas/<group>/<subject>/v<N>.avsc``.

A subject is a stream of records of one kind (an event type); its versions are numbered from 1 and never
edited once published, only added. The schema id stored with data is ``<subject>:v<N>`` plus the Avro
CRC-64 fingerprint of the parsing canonical form, so a reader can tell exactly which schema wrote a file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

DEFAULT_SCHEMAS_DIR = Path(__file__).parent / "schemas"
COMPATIBILITY_MODES = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)
_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.avsc$")
EVENT_ENVELOPE = {"event_id": "string", "event_type": None, "event_time": "long"}


class RegistryError(ValueError):
    """The registry's files are malformed or a lookup names something that does not exist."""


@dataclass(frozen=True)
class SchemaVersion:
    subject: str
    version: int
    schema: dict[str, Any] = field(repr=False)
    path: Path | None = field(default=None, repr=False, compare=False)

    @property
    def schema_id(self) -> str:
        return f"{self.subject}:v{self.version}"

    @cached_property
    def parsed(self) -> dict[str, Any]:
        return fastavro.parse_schema(self.schema, _write_hint=False)

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint(to_parsing_canonical_form(self.schema), "CRC-64-AVRO")

    @property
    def field_names(self) -> list[str]:
        return [f["name"] for f in self.schema.get("fields", [])]


@dataclass(frozen=True)
class Subject:
    name: str
    group: str
    compatibility: str
    versions: tuple[SchemaVersion, ...]

    @property
    def latest(self) -> SchemaVersion:
        return self.versions[-1]


class SchemaRegistry:
    def __init__(self, subjects: dict[str, Subject], root: Path | None = None) -> None:
        self._subjects = subjects
        self.root = root
        self._by_id = {v.schema_id: v for s in subjects.values() for v in s.versions}

    @classmethod
    def from_directory(cls, root: Path | str = DEFAULT_SCHEMAS_DIR) -> SchemaRegistry:
        root = Path(root)
        if not root.is_dir():
            raise RegistryError(f"schema registry folder {root} does not exist")
        subjects: dict[str, Subject] = {}
        for group_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            defaults = (
                _read_json(group_dir / "subject_defaults.json")
                if (group_dir / "subject_defaults.json").exists()
                else {}
            )
            for subject_dir in sorted(p for p in group_dir.iterdir() if p.is_dir()):
                subject = _load_subject(group_dir.name, subject_dir, defaults)
                if subject.name in subjects:
                    raise RegistryError(f"subject {subject.name!r} is defined twice (in {subject_dir})")
                subjects[subject.name] = subject
        return cls(subjects, root)

    def subjects(self, group: str | None = None) -> list[str]:
        return sorted(n for n, s in self._subjects.items() if group is None or s.group == group)

    def subject(self, name: str) -> Subject:
        try:
            return self._subjects[name]
        except KeyError:
            known = ", ".join(sorted(self._subjects)) or "none"
            raise RegistryError(f"unknown subject {name!r} (known: {known})") from None

    def latest(self, subject: str) -> SchemaVersion:
        return self.subject(subject).latest

    def version(self, subject: str, version: int) -> SchemaVersion:
        for v in self.subject(subject).versions:
            if v.version == version:
                return v
        raise RegistryError(f"subject {subject!r} has no version {version}")

    def by_id(self, schema_id: str) -> SchemaVersion:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise RegistryError(f"no schema with id {schema_id!r}") from None

    def compatibility(self, subject: str) -> str:
        return self.subject(subject).compatibility

    def validate(self, subject: str, record: dict[str, Any], version: int | None = None) -> list[str]:
        """Reasons the record does not conform (empty when it does); the reference, not the fast path."""
        sv = self.latest(subject) if version is None else self.version(subject, version)
        from fastavro.validation import ValidationError, validate

        try:
            validate(record, sv.parsed, raise_errors=True, strict=True)
        except ValidationError as exc:
            return [str(e) for e in exc.errors] or [str(exc)]
        return []


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{path}: not valid JSON ({exc})") from None


def _load_subject(group: str, subject_dir: Path, defaults: dict[str, Any]) -> Subject:
    config = dict(defaults)
    if (subject_dir / "subject.json").exists():
        config.update(_read_json(subject_dir / "subject.json"))
    mode = str(config.get("compatibility", "BACKWARD")).upper()
    if mode not in COMPATIBILITY_MODES:
        raise RegistryError(
            f"{subject_dir}: compatibility {mode!r} is not one of {', '.join(COMPATIBILITY_MODES)}"
        )
    numbered: dict[int, Path] = {}
    for path in subject_dir.glob("*.avsc"):
        match = _VERSION_FILE.match(path.name)
        if not match:
            raise RegistryError(f"{path}: schema files must be named v1.avsc, v2.avsc, ...")
        numbered[int(match.group(1))] = path
    if not numbered:
        raise RegistryError(f"{subject_dir}: a subject needs at least v1.avsc")
    expected = list(range(1, len(numbered) + 1))
    if sorted(numbered) != expected:
        raise RegistryError(
            f"{subject_dir}: versions must be numbered 1..N without gaps, found {sorted(numbered)}"
        )
    versions = []
    for number in expected:
        schema = _read_json(numbered[number])
        try:
            fastavro.parse_schema(schema, _write_hint=False)
        except Exception as exc:  # fastavro raises several types for a bad schema
            raise RegistryError(f"{numbered[number]}: not a valid Avro schema: {exc}") from None
        if schema.get("type") != "record":
            raise RegistryError(f"{numbered[number]}: a subject's schema must be a record")
        if group == "events":
            _check_event_envelope(numbered[number], schema)
        versions.append(SchemaVersion(subject_dir.name, number, schema, numbered[number]))
    return Subject(subject_dir.name, group, mode, tuple(versions))


def _check_event_envelope(path: Path, schema: dict[str, Any]) -> None:
    """Every event carries the fields the lake keys on: id, type and time."""
    fields = {f["name"]: f["type"] for f in schema.get("fields", [])}
    for name in EVENT_ENVELOPE:
        if name not in fields:
            raise RegistryError(f"{path}: an event schema needs a field {name!r}")
    time_type = fields["event_time"]
    if not (isinstance(time_type, dict) and time_type.get("logicalType") == "timestamp-millis"):
        raise RegistryError(
            f"{path}: event_time must be {{'type': 'long', 'logicalType': 'timestamp-millis'}}"
        )
