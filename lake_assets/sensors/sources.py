"""Triggers for the declarative sources: one sensor over landing/files/, one schedule per API source.

The sensor indexes new files (``sources/files/index.py``: a modification-time cursor with look-back, as file
names are not time-ordered) and requests one raw run per (source, day). An API schedule requests one raw run
tagged ``lake/pull_api`` over the days from the watermark's day to the scheduled day: the run pulls, indexes
the landed pages and lands raw in one go (``assets/sources.py``).
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

import dagster as dg

from lake_assets.assets.keys import PULL_TAG, is_daily, raw_source_key
from lake_assets.assets.partitions import DAILY
from lake_assets.resources.lake import LakeResource
from lake_assets.sources.api.pull import load_watermark
from lake_assets.sources.files.index import (
    FILES_LANDING_PREFIX,
    FileCursor,
    find_new_files,
    index_object,
    run_key,
    spec_for,
)
from lake_assets.sources.specs import SourceSpec
from lake_assets.storage import ObjectInfo

MAX_FILES_PER_TICK = 200
MAX_BYTES_PER_TICK = 256 << 20  # the day scan reads each byte once; a bigger single file is still one tick
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def file_specs(specs: Sequence[SourceSpec]) -> list[SourceSpec]:
    return [s for s in specs if s.kind != "http_api" and s.trigger.kind == "sensor"]


def api_specs(specs: Sequence[SourceSpec]) -> list[SourceSpec]:
    return [s for s in specs if s.kind == "http_api" and s.trigger.kind == "schedule" and s.trigger.cron]


def source_run_requests(
    context: dg.SensorEvaluationContext, lake: LakeResource, specs: Sequence[SourceSpec]
) -> dg.SensorResult:
    """One tick: new files -> index markers (written before the cursor moves) -> runs per (source, day)."""
    found = find_new_files(
        lake.store,
        FileCursor.from_json(context.cursor),
        FILES_LANDING_PREFIX,
        lookback_seconds=lake.sensor_lookback_seconds,
        max_objects=MAX_FILES_PER_TICK,
        max_bytes=MAX_BYTES_PER_TICK,
    )
    partitions: dict[tuple[str, str], list[ObjectInfo]] = defaultdict(list)
    by_name = {s.name: s for s in specs}
    for info in found.objects:
        spec = spec_for(specs, info.key)
        if spec is None:
            context.log.warning(f"{info.key}: no source spec has this landing prefix; left alone")
            continue
        for day in index_object(lake.store, spec, info):
            partitions[(spec.name, day)].append(info)
    outside = sorted({day for (name, day) in partitions if day and not DAILY.has_partition_key(day)})
    if outside:
        context.log.warning(
            f"rows dated {', '.join(outside)} are outside the daily partitions ({DAILY.start.date()} .. "
            "today); they stay in landing and the index and are not run now"
        )
    requests = [
        dg.RunRequest(
            run_key=run_key(by_name[name], day, objects),
            asset_selection=[raw_source_key(by_name[name])],
            partition_key=day or None,
            tags={"lake/landing_objects": str(len(objects))},
        )
        for (name, day), objects in sorted(partitions.items())
        if day not in outside
    ]
    context.log.info(
        f"{len(found.objects)} new files, {len(requests)} partitions to run; {found.list_calls} list calls"
        + (" (more next tick)" if found.truncated else "")
    )
    if not requests:
        return dg.SensorResult(skip_reason="no new landing files", cursor=found.cursor.to_json())
    return dg.SensorResult(run_requests=requests, cursor=found.cursor.to_json())


def build_files_sensor(specs: Sequence[SourceSpec]) -> dg.SensorDefinition | None:
    """The sensor over ``landing/files/`` for every file source (None when there is none)."""
    watched = file_specs(specs)
    if not watched:
        return None

    @dg.sensor(
        name="landing_files_sensor",
        minimum_interval_seconds=min(s.trigger.minimum_interval_seconds for s in watched),
        default_status=dg.DefaultSensorStatus.RUNNING,
        asset_selection=[raw_source_key(s) for s in watched],
        description="Indexes new files under landing/files/ and requests raw runs per (source, event day).",
    )
    def landing_files_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        return source_run_requests(context, lake, watched)

    return landing_files_sensor


def pull_days(lake: LakeResource, spec: SourceSpec, until: dt.date) -> tuple[str, str]:
    """The run's day range: from the watermark's day (records after it are what the pull returns; an
    incremental API filters on it) to ``until``; just ``until`` when the API is not incremental."""
    end = until.isoformat()
    if not is_daily(spec):
        return "", ""
    watermark = load_watermark(lake.store, spec)
    start = end
    if watermark is not None:
        try:
            stamp = dt.datetime.fromisoformat(watermark)
            stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
            start = min(end, stamp.astimezone(dt.UTC).date().isoformat())
        except ValueError:
            pass  # a numeric or opaque watermark says nothing about days
    return max(start, DAILY.start.date().isoformat()), end


def build_api_schedule(spec: SourceSpec) -> dg.ScheduleDefinition:
    key = raw_source_key(spec)

    @dg.schedule(
        name=f"{spec.name}_pull_schedule",
        cron_schedule=str(spec.trigger.cron),
        execution_timezone="UTC",
        target=dg.AssetSelection.assets(key),
        # Off until switched on: the pull needs the API's token in the daemon's environment.
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Pulls {spec.name} ({spec.trigger.cron}) and lands raw; needs "
        f"{spec.api.auth.token_env if spec.api and spec.api.auth else 'no token'}.",
    )
    def api_schedule(context: dg.ScheduleEvaluationContext, lake: LakeResource) -> dg.RunRequest:
        when = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        start, end = pull_days(lake, spec, when.astimezone(dt.UTC).date())
        tags = {PULL_TAG: "true"}
        if start:
            tags |= {RANGE_START: start, RANGE_END: end}
        return dg.RunRequest(asset_selection=[key], tags=tags)

    return api_schedule


def build_api_schedules(specs: Sequence[SourceSpec]) -> list[dg.ScheduleDefinition]:
    return [build_api_schedule(s) for s in api_specs(specs)]
