"""Which raw partitions each file or API landing object feeds, and a sensor cursor for keys in no time order.

Files are dropped under ``landing/files/<source>/`` by people and exports with names of their choosing, so a
key cursor ("list after the last key") would miss a file whose name sorts before one already seen. The cursor
here is by modification time instead: each tick lists the whole ``landing/files/`` prefix once (key order),
reads only objects whose (key, last modified) it has not processed, and remembers the processed ones within a
look-back window behind the newest modification seen, so a writer that finished late is still picked up and
a re-listed object is never processed twice. The listing is O(files in landing), the reading O(new files);
file drops are few (a handful per source and day), unlike the event stream. An overwritten file has a new
modification time and is processed again. A file *moved* into landing keeps its old modification time on a
local disk and is missed once it is older than the look-back: write or copy files in (S3 always stamps the
upload time).

The raw layer is partitioned by event day, not arrival, so each new object is scanned once for the days of
its event times (the reader plus one timestamp parse per row, no conversion) and an index marker is written
per (source, day): ``_system/index/<files|api>/<source>/dt=<day>/<object>.json``
(``.../all/<object>.json`` for an unpartitioned source). A raw run lists its markers instead of scanning
landing. Rows whose event time does not parse are not counted (raw quarantines them); an object with no
usable row at all is attributed to its arrival day, so a raw run still lands it and writes its quarantine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from lake_assets.registry import SchemaVersion
from lake_assets.sources.files import UnreadableFile, open_reader
from lake_assets.sources.files.convert import timestamp_parser
from lake_assets.sources.files.raw import relative_name
from lake_assets.sources.raw_avro import RawVerification, verify_avro_files
from lake_assets.sources.specs import SourceSpec
from lake_assets.storage import ObjectInfo, ObjectStore, Zone, zone_prefix

FILES_LANDING_PREFIX = zone_prefix(Zone.LANDING, "files")
UNPARTITIONED = ""  # the "day" of every object of a source with partitioning: none


def index_prefix(spec: SourceSpec) -> str:
    return zone_prefix(Zone.SYSTEM, "index", spec.zone_folder)


def marker_folder(spec: SourceSpec, day: str) -> str:
    return f"{index_prefix(spec)}{'all' if day == UNPARTITIONED else f'dt={day}'}/"


def flat_name(spec: SourceSpec, object_key: str) -> str:
    """Unique per object (``2026__11__20__products.csv``): two folders may hold files of the same name."""
    return relative_name(spec, object_key).replace("/", "__")


def spec_for(specs: Sequence[SourceSpec], key: str) -> SourceSpec | None:
    """The spec whose landing prefix holds ``key`` (the longest, should prefixes nest)."""
    matches = [s for s in specs if key.startswith(s.landing_prefix)]
    return max(matches, key=lambda s: len(s.landing_prefix)) if matches else None


def scan_days(store: ObjectStore, spec: SourceSpec, object_key: str) -> Counter[str]:
    """Rows per UTC event day in one landing object: the reader and a timestamp parse, nothing else."""
    days: Counter[str] = Counter()
    if spec.partitioning != "daily" or spec.event_time is None:
        return days
    parse = timestamp_parser(zoneinfo.ZoneInfo(spec.timezone), spec.event_time_format)
    nulls = set(spec.format.null_values)
    column = spec.event_time
    try:
        with store.open_read(object_key) as stream:
            for row in open_reader(spec, stream):
                value = None if row.values is None else row.values.get(column)
                if value is None or (isinstance(value, str) and value in nulls):
                    continue
                try:
                    days[parse(value).astimezone(dt.UTC).date().isoformat()] += 1
                except (ValueError, TypeError, OverflowError):
                    continue  # raw quarantines the row, naming the value
    except UnreadableFile:
        days.clear()  # raw records the whole object in quarantine
    return days


def arrival_day(info: ObjectInfo) -> str:
    return dt.datetime.fromtimestamp(info.last_modified, dt.UTC).date().isoformat()


def index_object(store: ObjectStore, spec: SourceSpec, info: ObjectInfo) -> dict[str, int]:
    """Write the object's index markers and return rows per day it feeds (see the module doc)."""
    if spec.partitioning == "daily":
        days = dict(scan_days(store, spec, info.key)) or {arrival_day(info): 0}
    else:
        days = {UNPARTITIONED: 0}
    name = flat_name(spec, info.key)
    for day, rows in days.items():
        body = {"object": info.key, "rows": rows, "size": info.size, "last_modified": info.last_modified}
        store.put_bytes(f"{marker_folder(spec, day)}{name}.json", orjson.dumps(body))
    return days


def partition_objects(store: ObjectStore, spec: SourceSpec, day: str) -> list[str]:
    """Landing objects indexed for one raw partition, in key order (deterministic output).

    A marker can outlive the rows it announced (the file was overwritten with other days): the raw run then
    takes nothing of that day from it, which is right, so stale markers need no cleaning.
    """
    keys = []
    for info in store.list(marker_folder(spec, day)):
        key = orjson.loads(store.get_bytes(info.key))["object"]
        if store.exists(key):
            keys.append(key)
    return sorted(keys)


def object_version(info: ObjectInfo) -> str:
    return f"{info.key}@{info.size}@{info.last_modified:.6f}"


def run_key(spec: SourceSpec, day: str, objects: Iterable[ObjectInfo]) -> str:
    """From the objects and their versions: a re-listed object asks for nothing new, a changed one does."""
    digest = hashlib.sha256("\n".join(sorted(object_version(o) for o in objects)).encode()).hexdigest()[:20]
    return f"raw-{spec.zone_folder.replace('/', '-')}-{day or 'all'}-{digest}"


@dataclass
class FileCursor:
    """``newest``: the newest modification time processed; ``seen``: key -> modification time of every
    processed object modified within the look-back before ``newest`` (older ones are not new anyway)."""

    newest: float | None = None
    seen: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return orjson.dumps({"newest": self.newest, "seen": self.seen}).decode()

    @classmethod
    def from_json(cls, text: str | None) -> FileCursor:
        if not text:
            return cls()
        body = orjson.loads(text)
        return cls(body.get("newest"), {k: float(v) for k, v in body.get("seen", {}).items()})


@dataclass
class NewFiles:
    objects: list[ObjectInfo]
    list_calls: int
    cursor: FileCursor
    truncated: bool


def find_new_files(
    store: ObjectStore,
    cursor: FileCursor,
    prefix: str = FILES_LANDING_PREFIX,
    lookback_seconds: int = 600,
    max_objects: int | None = None,
    max_bytes: int | None = None,
) -> NewFiles:
    """Objects under ``prefix`` not processed yet, bounded per tick by count and bytes (at least one).

    When bounded, ``newest`` does not move, so the objects left over are still inside the window next tick.
    """
    before = store.list_calls
    floor = None if cursor.newest is None else cursor.newest - lookback_seconds
    new: list[ObjectInfo] = []
    newest = cursor.newest
    size = 0
    truncated = False
    for info in store.list(prefix):
        if info.key.rsplit("/", 1)[-1].startswith((".", "_")):
            continue
        if floor is not None and info.last_modified < floor:
            continue  # older than the window: processed before (or moved in with an old time; see module doc)
        if cursor.seen.get(info.key) == info.last_modified:
            newest = max(newest or info.last_modified, info.last_modified)
            continue
        if (max_objects is not None and len(new) >= max_objects) or (
            max_bytes is not None and new and size + info.size > max_bytes
        ):
            truncated = True
            break
        new.append(info)
        size += info.size
        newest = max(newest or info.last_modified, info.last_modified)
    seen = {**cursor.seen, **{o.key: o.last_modified for o in new}}
    if truncated:
        newest = cursor.newest
    if newest is not None:
        seen = {k: t for k, t in seen.items() if t >= newest - lookback_seconds}
    return NewFiles(new, store.list_calls - before, FileCursor(newest, dict(sorted(seen.items()))), truncated)


def verify_staged(files: Sequence[Path], version: SchemaVersion, expected: int) -> RawVerification:
    """Staged files of one source: all of ``version``, holding exactly what the converter wrote."""
    return verify_avro_files(files, {version.schema_id: version}, expected, "the converter wrote")
