"""One schedule per API source: nothing lands from an API on its own, so a schedule starts its pull.

The schedule requests one raw run tagged ``lake/pull_api`` over the days from the watermark's day to the
scheduled day: the run pulls, indexes the landed pages and lands raw in one go (``sources/api/kind.py``).
"""

import datetime as dt
from collections.abc import Sequence

import dagster as dg

from lake_assets.assets.keys import PULL_TAG, is_daily, raw_source_key
from lake_assets.assets.partitions import DAILY
from lake_assets.resources.lake import LakeResource
from lake_assets.sources.api.pull import load_watermark
from lake_assets.sources.specs import SourceSpec

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def api_specs(specs: Sequence[SourceSpec]) -> list[SourceSpec]:
    return [s for s in specs if s.kind == "http_api" and s.trigger.kind == "schedule" and s.trigger.cron]


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
