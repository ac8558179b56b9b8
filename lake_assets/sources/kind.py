"""The one interface every source kind (events, files, API, CDC) implements, and what passes through it.

A kind answers five questions and nothing else: where it lands (``landing``), how its cursor lists that
prefix (``landing.key_time``, see ``landing_cursor.py``), which raw partitions a new landing object feeds
(``plan``, its index), how landing becomes staged raw Avro (``stage``), and which schema versions and counts
the staged files must hold (the ``StagedRaw`` it returns, judged by ``verify_staged``). The landing sensor
factory (``sensors/landing.py``) and the raw asset factory (``assets/raw.py``) are written once against it,
so a fifth kind is one new folder under ``sources/`` and one line in ``definitions.py``
(``docs/SOURCE_KINDS.md``). No Dagster here: a Glue job could stage raw through the same objects.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from lake_assets.registry import SchemaRegistry, SchemaVersion
from lake_assets.registry.validation import EventDecoder
from lake_assets.sources.landing_cursor import KeyTime
from lake_assets.sources.raw_avro import RawVerification, staged_avro_files, verify_avro_files
from lake_assets.storage import ObjectInfo, ObjectStore, Zone, zone_prefix

T = TypeVar("T")
UNPARTITIONED = ""  # the "day" of a raw table that is not partitioned by day


class RawInputError(RuntimeError):
    """Landing (or the API, or the schema) cannot become raw as it is; the message says what to do.

    Nothing is published; the run fails with this message.
    """


class LakeParts(Protocol):
    """What a kind needs of the lake (``LakeResource`` has these)."""

    @property
    def store(self) -> ObjectStore: ...

    @property
    def registry(self) -> SchemaRegistry: ...

    @property
    def decoder(self) -> EventDecoder: ...


@dataclass(frozen=True)
class LandingLayout:
    """Where a kind lands and how much one sensor tick reads (kept well inside Dagster's 60 s)."""

    prefix: str
    key_time: KeyTime | None = None  # keys carry their arrival time: list from the look-back point
    max_objects: int | None = None
    max_bytes: int | None = None
    minimum_interval_seconds: int = 30


@dataclass
class LandingPlan(Generic[T]):
    """What one tick's new objects ask for: (target, day) -> the objects feeding it, and what to tell."""

    partitions: dict[tuple[T, str], list[ObjectInfo]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, target: T, day: str, info: ObjectInfo) -> None:
        objects = self.partitions.setdefault((target, day), [])
        if info not in objects:
            objects.append(info)


@dataclass(frozen=True)
class RawAssetInfo:
    """How a raw table presents itself: the words and figures the asset shows before any run."""

    description: str
    daily: bool = True
    metadata: Mapping[str, Any] = field(default_factory=dict)
    conforms: str = "Every staged file carries a registered schema of the table."
    reconciles: str = "Staged records equal what landing holds for the run's days."
    warnings_check: tuple[str, str] | None = None  # (name, description) of a non-blocking check, if any


@dataclass(frozen=True)
class RawRun:
    """One raw run as a kind sees it (Dagster-free)."""

    lake: LakeParts
    days: list[str]
    stage: Path
    run_id: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    log: Callable[[str], None] = print
    warn: Callable[[str], None] = print


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class StagedRaw:
    """One run's staged raw Avro (``stage/dt=<day>/``, the stage itself when unpartitioned): what every
    kind's raw writer returns, before any check has judged it."""

    zone_folder: str  # raw/<zone_folder>/dt=<day>/
    stage: Path
    days: list[str]
    allowed: dict[str, SchemaVersion]  # schema ids the staged files may carry
    expected: dict[str, int]  # day -> records the index (or converter) counted
    expected_from: str  # who counted them, for the check's message
    landing_objects: list[str]
    records: int = 0
    schema: dict[str, Any] | None = None  # the table's newest Avro schema (registered in Glue)
    schema_id: str = ""
    problems: list[str] = field(default_factory=list)  # count problems found while staging
    metadata: dict[str, Any] = field(default_factory=dict)  # the kind's figures for the materialization
    reconciled: dict[str, Any] = field(default_factory=dict)  # what the count check compared
    notes: list[str] = field(default_factory=list)  # logged when published
    warnings: list[str] = field(default_factory=list)
    outcomes: list[CheckOutcome] = field(default_factory=list)  # the kind's non-blocking checks
    register: Callable[[], list[str]] | None = None  # once checks pass, before publishing (log lines)
    published: Callable[[], None] | None = None  # after every day is published

    def folder(self, day: str) -> Path:
        return self.stage if day == UNPARTITIONED else self.stage / f"dt={day}"

    def target_prefix(self, day: str) -> str:
        return zone_prefix(Zone.RAW, self.zone_folder, f"dt={day}" if day != UNPARTITIONED else "")

    @property
    def table_prefix(self) -> str:
        return zone_prefix(Zone.RAW, self.zone_folder)


def verify_staged(staged: StagedRaw) -> RawVerification:
    """Read every staged day back: registered schemas only, and exactly the counted records."""
    schema_problems: list[str] = []
    count_problems = list(staged.problems)
    records = 0
    for day in staged.days:
        label = f"dt={day}: " if day != UNPARTITIONED else ""
        check = verify_avro_files(
            staged_avro_files(staged.folder(day)),
            staged.allowed,
            staged.expected.get(day, 0),
            staged.expected_from,
        )
        records += check.records
        schema_problems += [label + p for p in check.schema_problems]
        count_problems += [label + p for p in check.count_problems]
    return RawVerification(records, schema_problems, count_problems)


def arrival_day(info: ObjectInfo) -> str:
    """The day an object arrived: where its rows go when none of them can be dated."""
    return dt.datetime.fromtimestamp(info.last_modified, dt.UTC).date().isoformat()


def object_version(info: ObjectInfo) -> str:
    return f"{info.key}@{info.size}@{info.last_modified:.6f}"


def run_key(zone_folder: str, day: str, objects: Iterable[ObjectInfo]) -> str:
    """From the objects and their versions: a re-listed object asks for nothing new, a changed one does."""
    digest = hashlib.sha256("\n".join(sorted(object_version(o) for o in objects)).encode()).hexdigest()[:20]
    return f"raw-{zone_folder.replace('/', '-')}-{day or 'all'}-{digest}"


class SourceKind(Protocol[T]):
    """A source kind; ``T`` is its target, one raw table (an event subject, a source spec, a CDC table)."""

    name: str
    landing: LandingLayout | None  # None: nothing lands on its own (an API is pulled by its schedule)

    def targets(self) -> Sequence[T]: ...

    def zone_folder(self, target: T) -> str:
        """``events/page_view``: the raw table's folder under ``raw/`` (and its asset key)."""
        ...

    def describe(self, target: T) -> RawAssetInfo: ...

    def plan(self, lake: LakeParts, objects: Sequence[ObjectInfo]) -> LandingPlan[T]:
        """Index new landing objects (markers written before the cursor moves) into raw partitions."""
        ...

    def stage(self, run: RawRun, target: T) -> StagedRaw:
        """Write the run's days of ``target`` as Avro under ``run.stage``; raises ``RawInputError``."""
        ...
