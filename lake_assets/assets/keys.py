"""Every asset key of the lake, and the run tags assets and sensors share, in one module.

Sensors, schedules and the query layer name assets through here, so none of them imports an asset module
(and with it Spark or the asset factories).
"""

from __future__ import annotations

import dagster as dg

from lake_assets.sources.api.kind import PULL_TAG  # noqa: F401 - re-exported for sensors and assets
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.sources.files.kind import is_daily  # noqa: F401 - re-exported
from lake_assets.sources.specs import SourceSpec


def raw_key(zone_folder: str) -> dg.AssetKey:
    """``raw/<zone folder>``: the raw table of any source kind."""
    return dg.AssetKey(["raw", *zone_folder.split("/")])


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
