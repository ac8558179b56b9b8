"""One landing object flows to final with no human: the sensor, then declarative automation per layer."""

from __future__ import annotations

import dagster as dg

from lake_assets.definitions import build_assets
from lake_assets.registry import SchemaRegistry
from lake_assets.resources.spark import SparkResource
from lake_assets.sensors.landing import landing_events_sensor
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.iceberg_readers import pyiceberg_table
from lake_assets_tests.lake_helpers import START, ingest_lines, lake_resource, sample_lines


def test_one_landing_object_reaches_final(local_store: LocalObjectStore, spark) -> None:
    # One small batch holding all three event types of one day, as the intake or Firehose delivers it.
    lines = sample_lines(400, days=1, seed=17)
    report = ingest_lines(local_store, lines, max_events=10_000)
    assert len(report.landing_keys) == 1
    lake = lake_resource(local_store.root)
    resources = {"lake": lake, "spark": SparkResource()}
    assets = build_assets(SchemaRegistry.from_directory())
    instance = dg.DagsterInstance.ephemeral()
    defs = dg.Definitions(assets=assets, resources=resources)

    def run(selection: list[dg.AssetKey], partition: str) -> None:
        result = dg.materialize(
            assets, selection=selection, partition_key=partition, resources=resources, instance=instance
        )
        assert result.success

    # The automation sensor is already ticking when the object lands (as the daemon would be).
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
    sensor = landing_events_sensor(dg.build_sensor_context(instance=instance, resources={"lake": lake}))
    assert sensor.run_requests
    for request in sensor.run_requests:
        run(list(request.asset_selection), request.partition_key)

    layers = []
    for _ in range(2):  # one tick requests intermediate and final together (one run per day), then nothing
        evaluation = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        cursor = evaluation.cursor
        by_day: dict[str, list[dg.AssetKey]] = {}
        for key in (a.key for a in assets):
            for partition in evaluation.get_requested_partitions(key):
                by_day.setdefault(partition, []).append(key)
        layers.append({key.path[0] for keys in by_day.values() for key in keys})
        for partition, keys in sorted(by_day.items()):
            run(keys, partition)
    assert layers == [{"intermediate", "final"}, set()]
    day = START.isoformat()
    for table in ("daily_product_sales", "daily_funnel"):
        rows = pyiceberg_table(local_store.base, f"final.shop_{table}")
        assert {str(d) for d in rows.column("dt").to_pylist()} == {day}
