"""One cursor for every landing prefix: which objects are new since the last tick, with one look-back window.

Objects are listed in key order. Each is placed on a clock: the arrival time its key carries (Firehose names
events ``YYYY/MM/DD/HH/...``) or, for names people choose (files, DMS output), its modification time. The
cursor remembers the newest clock value processed and every processed object (key and modification time)
within the look-back window behind it, so a writer that finished late is still picked up, an overwritten
object (new modification time) is processed again, and a re-listed one never is. When keys carry the clock,
the listing itself starts at the window (``StartAfter``), so a tick costs O(new + window) instead of
O(everything ever landed).

A tick may be bounded by objects and bytes (at least one object); the clock then does not move, so what is
left over is still inside the window next tick.

A file *moved* into a local landing folder keeps its old modification time and is missed once it is older
than the window: write or copy files in (S3 always stamps the upload time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from lake_assets.storage import ObjectInfo, ObjectStore

KeyTime = Callable[[str], dt.datetime | None]
_ANY_VERSION = -1.0  # a key recorded by the earlier events cursor, which kept no modification times


@dataclass
class LandingCursor:
    """``newest``: the newest clock value processed (epoch seconds); ``seen``: key -> modification time of
    every processed object inside the window; ``start_after``: where listing starts (time-named keys only)."""

    newest: float | None = None
    seen: dict[str, float] = field(default_factory=dict)
    start_after: str | None = None

    def to_json(self) -> str:
        return orjson.dumps(
            {"newest": self.newest, "seen": self.seen, "start_after": self.start_after}
        ).decode()

    @classmethod
    def from_json(cls, text: str | None) -> LandingCursor:
        """Reads this cursor and both earlier ones (the events key cursor and the files mtime cursor), so an
        upgrade neither re-runs nor skips what landed."""
        if not text:
            return cls()
        body = orjson.loads(text)
        seen = body.get("seen") or {}
        if isinstance(seen, list):  # the earlier events cursor: keys only, newest was a key
            return cls(None, dict.fromkeys(seen, _ANY_VERSION), body.get("start_after"))
        newest = body.get("newest")
        return cls(
            float(newest) if isinstance(newest, int | float) else None,
            {k: float(v) for k, v in seen.items()},
            body.get("start_after"),
        )

    def processed(self, info: ObjectInfo) -> bool:
        version = self.seen.get(info.key)
        return version is not None and version in (_ANY_VERSION, info.last_modified)


@dataclass
class NewObjects:
    objects: list[ObjectInfo]
    list_calls: int
    cursor: LandingCursor
    truncated: bool

    @property
    def keys(self) -> list[str]:
        return [o.key for o in self.objects]


def _hidden(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith((".", "_"))


def find_new(
    store: ObjectStore,
    cursor: LandingCursor,
    prefix: str,
    *,
    lookback_seconds: int = 600,
    key_time: KeyTime | None = None,
    max_objects: int | None = None,
    max_bytes: int | None = None,
) -> NewObjects:
    """Objects under ``prefix`` not processed yet, and the cursor after them (see the module doc).

    ``key_time`` gives the arrival time a key carries; without it the clock is the modification time.
    """

    def clock(key: str, modified: float) -> float:
        stamp = key_time(key) if key_time else None
        return stamp.timestamp() if stamp is not None else modified

    before = store.list_calls
    floor = None if cursor.newest is None else cursor.newest - lookback_seconds
    new: list[ObjectInfo] = []
    newest, size, truncated = cursor.newest, 0, False
    for info in store.list(prefix, start_after=cursor.start_after if key_time else None):
        if _hidden(info.key):
            continue
        when = clock(info.key, info.last_modified)
        if floor is not None and key_time is None and when < floor:
            continue  # older than the window: processed before (time-named keys: the listing starts there)
        if cursor.processed(info):
            newest = max(newest or when, when)
            continue
        if (max_objects is not None and len(new) >= max_objects) or (
            max_bytes is not None and new and size + info.size > max_bytes
        ):
            truncated = True
            break
        new.append(info)
        size += info.size
        newest = max(newest or when, when)
    if truncated:
        newest = cursor.newest
    seen = {**cursor.seen, **{o.key: o.last_modified for o in new}}
    start_after = cursor.start_after
    if newest is not None:
        window = newest - lookback_seconds
        if key_time is None:
            seen = {k: t for k, t in seen.items() if t >= window}
        else:  # the window starts at its hour folder; what sorts before it is never listed again
            point = f"{prefix}{dt.datetime.fromtimestamp(window, dt.UTC):%Y/%m/%d/%H}/"
            start_after = max(point, start_after or point)  # never back
            seen = {k: t for k, t in seen.items() if k > start_after}
    cursor = LandingCursor(newest, dict(sorted(seen.items())), start_after)
    return NewObjects(new, store.list_calls - before, cursor, truncated)
