"""Which raw partitions each landing object feeds, and a cursor that lists only what is new.

Landing objects are named by arrival time (Firehose layout ``YYYY/MM/DD/HH/<stream>-...``) but the raw
layer is partitioned by event day, so an object is read once when it first appears and an index marker is
written per (subject, day) it contains: ``_system/index/events/<subject>/dt=<day>/<object name>.json``. A raw
partition run lists its markers instead of scanning landing. No Dagster here: the sensor and the CLI share it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import Counter, defaultdict
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


@dataclass
class LandingCursor:
    """Sensor cursor: list after a look-back point, remember what was seen since that point.

    ``start_after`` is the hour folder of (newest arrival - look-back); ``seen`` holds every processed key
    that sorts after it, so a late-finishing parallel writer whose key sorts before the newest key is still
    picked up, and a re-listed key is never processed twice. Both are bounded by the look-back window.
    """

    start_after: str | None = None
    seen: list[str] = field(default_factory=list)
    newest: str | None = None

    def to_json(self) -> str:
        return orjson.dumps(
            {"start_after": self.start_after, "seen": self.seen, "newest": self.newest}
        ).decode()

    @classmethod
    def from_json(cls, text: str | None) -> LandingCursor:
        if not text:
            return cls()
        body = orjson.loads(text)
        return cls(body.get("start_after"), list(body.get("seen", [])), body.get("newest"))

    def advance(self, new_keys: Iterable[str], prefix: str, lookback_seconds: int) -> LandingCursor:
        keys = set(self.seen) | set(new_keys)
        times = [t for t in (arrival_time(k) for k in keys) if t is not None]
        newest_time = max(times) if times else None
        if newest_time is None:
            return LandingCursor(self.start_after, sorted(keys), self.newest)
        floor = newest_time - dt.timedelta(seconds=lookback_seconds)
        start_after = f"{prefix}{floor:%Y/%m/%d/%H}/"
        if self.start_after and self.start_after > start_after:
            start_after = self.start_after  # never move the look-back point backwards
        kept = sorted(k for k in keys if k > start_after)
        return LandingCursor(start_after, kept, max(kept) if kept else self.newest)


@dataclass
class NewObjects:
    keys: list[str]
    list_calls: int
    cursor: LandingCursor


def find_new_objects(
    store: ObjectStore,
    cursor: LandingCursor,
    prefix: str = EVENTS_LANDING_PREFIX,
    lookback_seconds: int = 600,
    limit: int | None = None,
) -> NewObjects:
    """New landing objects since the cursor: one listing from the look-back point (O(new + window))."""
    before = store.list_calls
    seen = set(cursor.seen)
    new: list[str] = []
    for info in store.list(prefix, start_after=cursor.start_after):
        if info.key in seen or object_name(info.key).startswith((".", "_")):
            continue
        new.append(info.key)
        if limit is not None and len(new) >= limit:
            break
    return NewObjects(new, store.list_calls - before, cursor.advance(new, prefix, lookback_seconds))


def group_by_partition(indexes: Iterable[ObjectIndex]) -> dict[tuple[str, str], list[str]]:
    """(subject, day) -> landing keys, for one run request per partition."""
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for index in indexes:
        for entry in index.entries:
            grouped[(entry.subject, entry.day)].append(entry.object_key)
    return {k: sorted(v) for k, v in sorted(grouped.items())}


def run_key(subject: str, day: str, keys: Iterable[str]) -> str:
    """Derived from the objects, so a re-delivered object set asks for nothing new."""
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:20]
    return f"raw-events-{subject}-{day}-{digest}"
