"""One landing sensor factory for every source kind: new objects -> the kind's index -> one run per partition.

Each tick lists the kind's landing prefix with the one landing cursor (``sources/landing_cursor.py``), asks
the kind which (raw table, day) partitions the new objects feed (``SourceKind.plan``, which writes its index
before the cursor moves), and requests one raw run per partition, keyed by the objects' versions so a
re-listed object asks for nothing new. Days outside the daily partitions stay in landing and are logged.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from lake_assets.assets.keys import raw_key
from lake_assets.assets.partitions import outside_partitions
from lake_assets.registry import SchemaRegistry
from lake_assets.resources.lake import LakeResource
from lake_assets.sources.events.kind import EventSourceKind
from lake_assets.sources.kind import LandingPlan, SourceKind, run_key
from lake_assets.sources.landing_cursor import LandingCursor, NewObjects, find_new


def find_landed(
    lake: LakeResource, kind: SourceKind[Any], cursor: LandingCursor, bounded: bool = True
) -> NewObjects:
    """The kind's new landing objects for one tick (bounded as its layout says, unless catching up)."""
    layout = kind.landing
    assert layout is not None, f"{kind.name} has no landing prefix"
    return find_new(
        lake.store,
        cursor,
        layout.prefix,
        lookback_seconds=lake.sensor_lookback_seconds,
        key_time=layout.key_time,
        max_objects=layout.max_objects if bounded else None,
        max_bytes=layout.max_bytes if bounded else None,
    )


def plan_new_objects(
    lake: LakeResource, kind: SourceKind[Any], cursor: LandingCursor, bounded: bool = True
) -> tuple[LandingPlan[Any], NewObjects]:
    """One tick without Dagster's context: what the sensor and ``lake index`` (unbounded) both do."""
    found = find_landed(lake, kind, cursor, bounded)
    return kind.plan(lake, found.objects), found


def landing_run_requests(
    context: dg.SensorEvaluationContext, lake: LakeResource, kind: SourceKind[Any]
) -> dg.SensorResult:
    plan, found = plan_new_objects(lake, kind, LandingCursor.from_json(context.cursor))
    for line in plan.warnings:
        context.log.warning(line)
    for line in plan.notes:
        context.log.info(line)
    # Not dropped: the objects stay in landing and in the index; the note names LAKE_PARTITIONS_START.
    outside, note = outside_partitions(day for (_, day) in plan.partitions)
    if note:
        context.log.warning(f"{kind.name} landing objects: {note}")
    requests = sorted(
        (
            dg.RunRequest(
                run_key=run_key(kind.zone_folder(target), day, objects),
                asset_selection=[raw_key(kind.zone_folder(target))],
                partition_key=day or None,
                tags={"lake/landing_objects": str(len(objects))},
            )
            for (target, day), objects in plan.partitions.items()
            if day not in outside
        ),
        key=lambda r: str(r.run_key),
    )
    context.log.info(
        f"{len(found.objects)} new {kind.name} landing objects, {len(requests)} partitions to run; "
        f"{found.list_calls} list calls" + (" (more next tick)" if found.truncated else "")
    )
    if not requests:
        return dg.SensorResult(
            skip_reason=note or f"no new {kind.name} landing objects", cursor=found.cursor.to_json()
        )
    return dg.SensorResult(run_requests=requests, cursor=found.cursor.to_json())


def build_landing_sensor(kind: SourceKind[Any]) -> dg.SensorDefinition | None:
    """``landing_<kind>_sensor`` over the kind's landing prefix (None when nothing of it lands)."""
    layout = kind.landing
    if layout is None or not kind.targets():
        return None

    @dg.sensor(
        name=f"landing_{kind.name}_sensor",
        minimum_interval_seconds=layout.minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        asset_selection=[raw_key(kind.zone_folder(t)) for t in kind.targets()],
        description=f"Indexes new objects under {layout.prefix} and requests raw runs per (table, day).",
    )
    def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        return landing_run_requests(context, lake, kind)

    return landing_sensor


landing_events_sensor = build_landing_sensor(EventSourceKind(SchemaRegistry.from_directory()))
