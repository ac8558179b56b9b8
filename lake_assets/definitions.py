"""The only place that wires assets, checks, sensors and resources together."""

from __future__ import annotations

import dagster as dg

from lake_assets.assets.final import build_final_assets
from lake_assets.assets.intermediate import build_intermediate_event_assets
from lake_assets.assets.raw import build_raw_event_assets
from lake_assets.registry import SchemaRegistry
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.sensors.landing import landing_events_sensor
from lake_assets.settings import LakeSettings, load_settings


def build_assets(registry: SchemaRegistry) -> list[dg.AssetsDefinition]:
    """Every layer's assets: raw and intermediate generated per registry subject, then the final tables."""
    return [
        *build_raw_event_assets(registry),
        *build_intermediate_event_assets(registry),
        *build_final_assets(),
    ]


def build_definitions(settings: LakeSettings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    return dg.Definitions(
        assets=build_assets(SchemaRegistry.from_directory()),
        sensors=[
            landing_events_sensor,
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
