"""Every asset key of the lake, and the run tags assets and sensors share, in one module.

Sensors, schedules and the query layer name assets through here, so none of them imports an asset module
(and with it Spark or the asset factories).
"""

from __future__ import annotations

import dagster as dg

from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.sources.specs import SourceSpec

PULL_TAG = "lake/pull_api"  # set by an API source's schedule: the run pulls the API before landing raw


def raw_event_key(subject: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", "events", subject])


def intermediate_event_key(subject: str) -> dg.AssetKey:
    return dg.AssetKey(["intermediate", "events", subject])


def final_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["final", "shop", table])


def raw_source_key(spec: SourceSpec) -> dg.AssetKey:
    return dg.AssetKey(["raw", *spec.zone_folder.split("/")])


def intermediate_source_key(spec: SourceSpec) -> dg.AssetKey:
    return dg.AssetKey(["intermediate", *spec.zone_folder.split("/")])


def raw_cdc_key(spec: CdcTableSpec) -> dg.AssetKey:
    return dg.AssetKey(["raw", "cdc", spec.source, spec.table])


def current_key(spec: CdcTableSpec) -> dg.AssetKey:
    """The CDC table's current state."""
    return dg.AssetKey(["intermediate", "cdc", spec.source, spec.table])


def history_key(spec: CdcTableSpec) -> dg.AssetKey:
    """The CDC table's SCD type 2 history."""
    return dg.AssetKey(["intermediate", "cdc", spec.source, f"{spec.table}_history"])


def is_daily(spec: SourceSpec) -> bool:
    """Daily in its spec, with an event time to date rows by: its assets are partitioned by day."""
    return spec.partitioning == "daily" and spec.event_time is not None
