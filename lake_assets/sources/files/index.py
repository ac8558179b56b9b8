"""Which raw partitions each file or API landing object feeds (the files and API kinds' index).

Files are dropped under ``landing/files/<source>/`` by people and exports with names of their choosing, so
the landing cursor (``sources/landing_cursor.py``) places them by modification time, not by key.

The raw layer is partitioned by event day, not arrival, so each new object is scanned once for the days of
its event times (the reader plus one timestamp parse per row, no conversion) and an index marker is written
per (source, day): ``_system/index/<files|api>/<source>/dt=<day>/<object>.json``
(``.../all/<object>.json`` for an unpartitioned source). A raw run lists its markers instead of scanning
landing. Rows whose event time does not parse are not counted (raw quarantines them); an object with no
usable row at all is attributed to its arrival day, so a raw run still lands it and writes its quarantine.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter
from collections.abc import Sequence

import orjson

from lake_assets.sources.files import UnreadableFile, open_reader
from lake_assets.sources.files.convert import timestamp_parser
from lake_assets.sources.files.raw import relative_name
from lake_assets.sources.kind import UNPARTITIONED, arrival_day
from lake_assets.sources.specs import SourceSpec
from lake_assets.storage import ObjectInfo, ObjectStore, Zone, zone_prefix

FILES_LANDING_PREFIX = zone_prefix(Zone.LANDING, "files")


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
