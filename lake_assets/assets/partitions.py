"""Partitioning shared by every event-dated asset (raw, intermediate, final, the daily sources).

The first day is ``LAKE_PARTITIONS_START`` (``settings.load_partitions_start``; default 2026-10-01, before the
oldest day of the shipped samples and tests; the demo's days are the last few before today): a fixed day,
so each partition's run history in Dagster stays attached to its key, and the UI shows the lake's days
instead of a thousand empty ones since 2024. An object dated before it is never run into a partition; the
sensors say so and name the setting (``outside_partitions``).
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from lake_assets.settings import load_partitions_start

PARTITIONS_START_VARIABLE = "LAKE_PARTITIONS_START"


def daily_partitions(start: str) -> dg.DailyPartitionsDefinition:
    """Daily partitions from ``start``; end_offset=1: today's partition exists while the day is filling."""
    return dg.DailyPartitionsDefinition(start_date=start, end_offset=1)


DAILY = daily_partitions(load_partitions_start())
SINGLE_RUN = dg.BackfillPolicy.single_run()
# Eager, but for every day rather than only the latest window: late events update past days, and those
# days must flow on to final too.
EAGER = (
    dg.AutomationCondition.eager()
    .without(dg.AutomationCondition.in_latest_time_window())
    .with_label("eager (any day)")
)


def outside_partitions(
    days: Iterable[str], partitions: dg.DailyPartitionsDefinition = DAILY
) -> tuple[list[str], str | None]:
    """The days that are no partition key, and a sentence saying why and what to do (None: all fit).

    Before the start: the setting names the fix. After today (clock skew): the next runs pick them up.
    """
    outside = sorted({day for day in days if day and not partitions.has_partition_key(day)})
    if not outside:
        return [], None
    start = partitions.start.date().isoformat()
    early = [day for day in outside if day < start]
    parts = []
    if early:
        parts.append(
            f"{len(early)} day(s) before the first daily partition {start} ({', '.join(early[:5])}"
            f"{', ...' if len(early) > 5 else ''}): set {PARTITIONS_START_VARIABLE} to {early[0]} or "
            "earlier, reload the code location and backfill those days (this sensor has moved past them)"
        )
    late = [day for day in outside if day >= start]
    if late:
        parts.append(f"{len(late)} day(s) after today ({', '.join(late[:5])}): run once the day exists")
    return outside, "; ".join(parts) + "; the objects stay in landing and the index, nothing is dropped"
