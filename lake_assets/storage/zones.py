"""Zones of the lake and Hive-style partition paths: pure string functions, no I/O."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum


class Zone(StrEnum):
    LANDING = "landing"
    QUARANTINE = "quarantine"
    RAW = "raw"
    INTERMEDIATE = "intermediate"
    FINAL = "final"
    SYSTEM = "_system"


def zone_prefix(zone: Zone, *parts: str) -> str:
    """``raw/events/page_view/`` style prefix (always ends in a slash)."""
    cleaned = [p.strip("/") for p in parts if p and p.strip("/")]
    return "/".join([zone.value, *cleaned]) + "/"


def partition_value(day: dt.date | str) -> str:
    """The canonical ``YYYY-MM-DD`` form; other spellings of a day are refused, so a day has one folder."""
    value = day.isoformat() if isinstance(day, dt.date) else day
    if dt.date.fromisoformat(value).isoformat() != value:  # raises ValueError on a bad day
        raise ValueError(f"partition day {value!r} must be written YYYY-MM-DD")
    return value


def partition_prefix(zone: Zone, source: str, table: str, day: dt.date | str) -> str:
    """Hive-style partition folder: ``raw/events/page_view/dt=2026-11-24/``."""
    return zone_prefix(zone, source, table, f"dt={partition_value(day)}")


def table_prefix(zone: Zone, source: str, table: str) -> str:
    return zone_prefix(zone, source, table)


def parse_partition(key: str) -> str | None:
    """The ``dt`` value in a key such as ``raw/events/x/dt=2026-11-24/f.avro``, or None."""
    for part in key.split("/"):
        if part.startswith("dt="):
            return part[3:]
    return None
