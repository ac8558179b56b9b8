"""Which raw partitions each events landing object feeds (the events kind's index).

Landing objects are named by arrival time (Firehose layout ``YYYY/MM/DD/HH/<stream>-...``) but the raw
layer is partitioned by event day, so an object is read once when it first appears and an index marker is
written per (subject, day) it contains: ``_system/index/events/<subject>/dt=<day>/<object name>.json``. A raw
partition run lists its markers instead of scanning landing. No Dagster here: the sensor and the CLI share it;
the cursor that finds new objects is ``sources/landing_cursor.py``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from lake_assets.storage import ObjectStore, Zone, zone_prefix
from lake_assets.storage.zones import parse_partition

EVENTS_LANDING_PREFIX = zone_prefix(Zone.LANDING, "events")
EVENTS_INDEX_PREFIX = zone_prefix(Zone.SYSTEM, "index", "events")
UNREADABLE = "_unreadable"
_HOUR_FOLDER = re.compile(r"(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$")


@dataclass(frozen=True)
class IndexEntry:
    """One landing object's share of one raw partition."""

    object_key: str
    subject: str
    day: str
    count: int

    @property
    def marker_key(self) -> str:
        return f"{EVENTS_INDEX_PREFIX}{self.subject}/dt={self.day}/{object_name(self.object_key)}.json"


@dataclass
class ObjectIndex:
    object_key: str
    entries: list[IndexEntry] = field(default_factory=list)
    unreadable_lines: list[int] = field(default_factory=list)


def object_name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def arrival_day(key: str) -> str | None:
    match = _HOUR_FOLDER.search(key)
    return f"{match.group(1)}-{match.group(2)}-{match.group(3)}" if match else None


def arrival_time(key: str) -> dt.datetime | None:
    match = _HOUR_FOLDER.search(key)
    if not match:
        return None
    y, m, d, h = (int(g) for g in match.groups())
    return dt.datetime(y, m, d, h, tzinfo=dt.UTC)


def event_day(value: object) -> str | None:
    """UTC day of an RFC 3339 timestamp with an offset; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        return None
    return stamp.astimezone(dt.UTC).date().isoformat()


def index_object(data: bytes, object_key: str, subjects: Iterable[str]) -> ObjectIndex:
    """Count events per (subject, event day) in one landing object.

    Lines that cannot be read are not dropped: the object is then attributed to its arrival day for every
    subject, so those raw runs fail and name it (landing data is never changed by processing).
    """
    known = set(subjects)
    counts: Counter[tuple[str, str]] = Counter()
    result = ObjectIndex(object_key)
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            event = orjson.loads(line)
            subject, day = event.get("event_type"), event_day(event.get("event_time"))
        except (orjson.JSONDecodeError, AttributeError):
            subject, day = None, None
        if subject in known and day is not None:
            counts[(subject, day)] += 1
        else:
            result.unreadable_lines.append(number)
    if result.unreadable_lines:
        day = arrival_day(object_key) or "1970-01-01"
        touched = {s for s, _ in counts} or known
        for subject in touched:
            counts.setdefault((subject, day), 0)
    result.entries = [IndexEntry(object_key, s, d, n) for (s, d), n in sorted(counts.items())]
    return result


def write_index(store: ObjectStore, index: ObjectIndex) -> None:
    for entry in index.entries:
        body = {"object": entry.object_key, "count": entry.count, "unreadable_lines": index.unreadable_lines}
        store.put_bytes(entry.marker_key, orjson.dumps(body))


def partition_objects(store: ObjectStore, subject: str, day: str) -> list[IndexEntry]:
    """Landing objects indexed for one raw partition, in key order (deterministic output files)."""
    entries = []
    for info in store.list(f"{EVENTS_INDEX_PREFIX}{subject}/dt={day}/"):
        body = orjson.loads(store.get_bytes(info.key))
        entries.append(IndexEntry(body["object"], subject, day, int(body["count"])))
    return sorted(entries, key=lambda e: e.object_key)


def indexed_partitions(store: ObjectStore, subject: str) -> list[str]:
    days = {parse_partition(key) for key in store.list_keys(f"{EVENTS_INDEX_PREFIX}{subject}/")}
    return sorted(d for d in days if d)
