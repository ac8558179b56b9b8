"""Sensor on landing/events/: new objects -> index markers -> one run per (subject, day) partition."""

import dagster as dg

from lake_assets.assets.keys import raw_event_key
from lake_assets.assets.partitions import DAILY
from lake_assets.resources.lake import LakeResource
from lake_assets.sources.events.landing_index import (
    EVENTS_LANDING_PREFIX,
    LandingCursor,
    find_new_objects,
    group_by_partition,
    index_object,
    run_key,
    write_index,
)

MAX_OBJECTS_PER_TICK = 500  # keeps a tick well inside Dagster's 60 s limit; the rest comes next tick


def index_new_landing_objects(
    lake: LakeResource, cursor: LandingCursor, limit: int | None = MAX_OBJECTS_PER_TICK
) -> tuple[dict[tuple[str, str], list[str]], LandingCursor, int]:
    """Read each new landing object once, write its index markers, return partitions to run.

    Markers are written before the cursor moves, so a crash between the two re-indexes (idempotently)
    instead of forgetting an object.
    """
    store = lake.store
    found = find_new_objects(
        store, cursor, EVENTS_LANDING_PREFIX, lookback_seconds=lake.sensor_lookback_seconds, limit=limit
    )
    subjects = lake.registry.subjects("events")
    indexes = []
    for key in found.keys:
        index = index_object(store.get_bytes(key), key, subjects)
        write_index(store, index)
        indexes.append(index)
    return group_by_partition(indexes), found.cursor, found.list_calls


@dg.sensor(
    name="landing_events_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=dg.AssetSelection.groups("raw"),
    description="Requests raw runs for the event days that new landing objects contain.",
)
def landing_events_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
    cursor = LandingCursor.from_json(context.cursor)
    partitions, new_cursor, list_calls = index_new_landing_objects(lake, cursor)
    outside = sorted({day for (_, day) in partitions if not DAILY.has_partition_key(day)})
    if outside:
        # Not dropped: the events stay in landing and in the index; a day that becomes valid (clock skew
        # into tomorrow) is picked up by the next run of that day.
        context.log.warning(
            f"events dated {', '.join(outside)} are outside the daily partitions "
            f"({DAILY.start.date()} .. today); they stay in landing and are not run now"
        )
    requests = [
        dg.RunRequest(
            run_key=run_key(subject, day, keys),
            asset_selection=[raw_event_key(subject)],
            partition_key=day,
            tags={"lake/landing_objects": str(len(keys))},
        )
        for (subject, day), keys in partitions.items()
        if day not in outside
    ]
    context.log.info(f"{len(requests)} partitions to run; {list_calls} list calls this tick")
    if not requests:
        return dg.SensorResult(skip_reason="no new landing objects", cursor=new_cursor.to_json())
    return dg.SensorResult(run_requests=requests, cursor=new_cursor.to_json())
