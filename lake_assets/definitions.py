"""The only place that wires assets, checks, sensors and resources together."""

from __future__ import annotations

import dagster as dg

from lake_assets.assets.cdc import build_cdc_assets, build_cdc_checks
from lake_assets.assets.final import build_final_assets
from lake_assets.assets.intermediate import build_intermediate_event_assets
from lake_assets.assets.maintenance import iceberg_maintenance, iceberg_maintenance_schedule
from lake_assets.assets.raw import build_raw_event_assets
from lake_assets.assets.sources import build_source_assets
from lake_assets.registry import SchemaRegistry
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.sensors.cdc import build_cdc_sensor
from lake_assets.sensors.landing import landing_events_sensor
from lake_assets.sensors.sources import build_api_schedules, build_files_sensor
from lake_assets.settings import LakeSettings, load_settings
from lake_assets.sources.cdc.specs import load_specs as load_cdc_specs
from lake_assets.sources.specs import load_specs


def build_assets(registry: SchemaRegistry) -> list[dg.AssetsDefinition]:
    """The event stream's assets: raw and intermediate generated per registry subject, then final tables."""
    return [
        *build_raw_event_assets(registry),
        *build_intermediate_event_assets(registry),
        *build_final_assets(),
    ]


def build_definitions(settings: LakeSettings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    registry = SchemaRegistry.from_directory()
    specs = load_specs(registry=registry)  # file, log and API sources: one YAML spec each
    files_sensor = build_files_sensor(specs)
    cdc_specs = load_cdc_specs(settings.cdc_tables)  # CDC tables: one entry each in LAKE_CDC_TABLES
    cdc_sensor = build_cdc_sensor(cdc_specs)
    return dg.Definitions(
        assets=[*build_assets(registry), *build_source_assets(specs), *build_cdc_assets(cdc_specs)],
        asset_checks=build_cdc_checks(cdc_specs),
        jobs=[iceberg_maintenance],
        schedules=[
            *build_api_schedules(specs),
            iceberg_maintenance_schedule,
        ],
        sensors=[
            landing_events_sensor,
            *([files_sensor] if files_sensor else []),
            *([cdc_sensor] if cdc_sensor else []),
            dg.AutomationConditionSensorDefinition(
                "automation_condition_sensor",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=30,
            ),
        ],
        resources={
            "lake": LakeResource.from_settings(settings),
            "spark": SparkResource.from_settings(settings.spark),
        },
        # One process per run: Spark steps share one session (the multiprocess default starts a JVM per step).
        executor=dg.in_process_executor,
    )


defs = build_definitions()
