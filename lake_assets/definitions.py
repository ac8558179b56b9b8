"""The only place that wires assets, checks, sensors and resources together.

Every source kind (``sources/kind.py``) gets its raw tables from the one raw asset factory and, when things
land on their own, its sensor from the one landing sensor factory; the layers above are built per kind.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from lake_assets.access.descriptions import asset_words
from lake_assets.access.policy import load_policy
from lake_assets.assets.cdc import build_cdc_checks, build_cdc_merge_assets
from lake_assets.assets.final import build_final_assets
from lake_assets.assets.intermediate import build_intermediate_event_assets
from lake_assets.assets.keys import current_key
from lake_assets.assets.maintenance import iceberg_maintenance, iceberg_maintenance_schedule
from lake_assets.assets.ml import build_ml_assets
from lake_assets.assets.raw import build_raw_assets
from lake_assets.assets.reports import build_report_assets
from lake_assets.assets.sources import build_intermediate_source_assets
from lake_assets.checks.freshness import DAILY_LAG, freshness_checks
from lake_assets.registry import SchemaRegistry
from lake_assets.registry.cdc import CDC_SCHEMA_ROOT
from lake_assets.resources.glue import GlueResource
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.sensors.alerts import build_alert_sensors
from lake_assets.sensors.api import build_api_schedules
from lake_assets.sensors.landing import build_landing_sensor
from lake_assets.settings import LakeSettings, lake_environment, load_settings
from lake_assets.sources.api.kind import ApiSourceKind
from lake_assets.sources.cdc.kind import CdcSourceKind
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.sources.cdc.specs import load_specs as load_cdc_specs
from lake_assets.sources.events.kind import EventSourceKind
from lake_assets.sources.files.kind import FileSourceKind
from lake_assets.sources.specs import SourceSpec, load_specs


def build_assets(registry: SchemaRegistry) -> list[dg.AssetsDefinition]:
    """The event stream's assets: raw and intermediate generated per registry subject, then final tables."""
    return [
        *build_raw_assets(EventSourceKind(registry)),
        *build_intermediate_event_assets(registry),
        *build_final_assets(),
    ]


def build_source_assets(specs: Sequence[SourceSpec]) -> list[dg.AssetsDefinition]:
    """raw and intermediate assets for every file, log and API source spec."""
    return [
        *build_raw_assets(FileSourceKind(specs)),
        *build_raw_assets(ApiSourceKind(specs)),
        *build_intermediate_source_assets(specs),
    ]


def build_cdc_assets(
    specs: Sequence[CdcTableSpec], registry_root: str = CDC_SCHEMA_ROOT
) -> list[dg.AssetsDefinition]:
    """raw and intermediate (current + history) assets for every CDC table spec."""
    return [
        *build_raw_assets(CdcSourceKind(specs, registry_root)),
        *build_cdc_merge_assets(specs, registry_root),
    ]


def build_definitions(settings: LakeSettings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    registry = SchemaRegistry.from_directory()
    specs = load_specs(registry=registry)  # file, log and API sources: one YAML spec each
    cdc_specs = load_cdc_specs(settings.cdc_tables)  # CDC tables: one entry each in LAKE_CDC_TABLES
    kinds = [EventSourceKind(registry), FileSourceKind(specs), CdcSourceKind(cdc_specs)]
    landing_sensors = [s for s in map(build_landing_sensor, kinds) if s is not None]
    assets = [*build_assets(registry), *build_source_assets(specs), *build_cdc_assets(cdc_specs)]
    # Owners and descriptions from the access policy: the UI says what the catalog and Athena say.
    policy = load_policy(settings.access_policy)
    assets = list(asset_words(assets, policy))
    # What readers see last: the final tables and the CDC tables' current state.
    finals = [key for a in assets for key in a.keys if key.path[0] == "final"]
    fresh = [*finals, *(current_key(s) for s in cdc_specs)]
    freshness, freshness_sensor = freshness_checks(dict.fromkeys(fresh, DAILY_LAG))
    # Dashboards: added after the freshness list (a chart is re-rendered, not a table that goes stale).
    assets += build_report_assets(
        cdc_specs, [k for a in assets for k in a.keys if k.path[0] == "raw"], policy
    )
    # ML data sets: rebuilt on demand (a day's label needs the week after it), so no freshness check.
    assets += build_ml_assets(cdc_specs, policy)
    return dg.Definitions(
        assets=assets,
        asset_checks=[*build_cdc_checks(cdc_specs), *freshness],
        jobs=[iceberg_maintenance],
        schedules=[
            *build_api_schedules(specs),
            iceberg_maintenance_schedule,
        ],
        sensors=[
            *landing_sensors,
            *([freshness_sensor] if freshness_sensor else []),
            *build_alert_sensors(settings),  # none unless LAKE_ALERT_WEBHOOK_URL is set
            dg.AutomationConditionSensorDefinition(
                "automation_condition_sensor",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=30,
            ),
        ],
        resources={
            "lake": LakeResource.from_settings(settings),
            "spark": SparkResource.from_settings(
                settings.spark, GlueResource.from_settings(settings, lake_environment())
            ),
        },
        # One process per run: Spark steps share one session (the multiprocess default starts a JVM per step).
        executor=dg.in_process_executor,
    )


defs = build_definitions()
