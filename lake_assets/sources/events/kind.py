"""Events as a source kind: JSON lines under ``landing/events/`` (Firehose layout), raw table per subject."""

from __future__ import annotations

from collections.abc import Sequence

from lake_assets.registry import SchemaRegistry
from lake_assets.sources.events.landing_index import (
    EVENTS_LANDING_PREFIX,
    arrival_time,
    index_object,
    write_index,
)
from lake_assets.sources.events.raw import build_raw_partitions
from lake_assets.sources.kind import LakeParts, LandingLayout, LandingPlan, RawAssetInfo, RawRun, StagedRaw
from lake_assets.storage import ObjectInfo

MAX_OBJECTS_PER_TICK = 500  # keeps a tick well inside Dagster's 60 s limit; the rest comes next tick


class EventSourceKind:
    """Targets are the registry's event subjects; the landing index counts events per (subject, day)."""

    name = "events"
    landing = LandingLayout(EVENTS_LANDING_PREFIX, key_time=arrival_time, max_objects=MAX_OBJECTS_PER_TICK)

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry

    def targets(self) -> Sequence[str]:
        return self.registry.subjects("events")

    def zone_folder(self, target: str) -> str:
        return f"events/{target}"

    def describe(self, target: str) -> RawAssetInfo:
        latest = self.registry.latest(target)
        return RawAssetInfo(
            description=f"Valid `{target}` events as Avro, one file per landing object, by event day. "
            f"Schema {latest.schema_id} (registry subject `{target}`).",
            metadata={"schema_id": latest.schema_id, "schema_fingerprint": latest.fingerprint},
            conforms="Every record conforms to its registered schema.",
            reconciles="Raw record count equals the landing index.",
        )

    def plan(self, lake: LakeParts, objects: Sequence[ObjectInfo]) -> LandingPlan[str]:
        """Each object is read once; its markers are written before the cursor moves, so a crash between the
        two re-indexes (idempotently) instead of forgetting an object."""
        plan: LandingPlan[str] = LandingPlan()
        subjects = lake.registry.subjects("events")
        for info in objects:
            index = index_object(lake.store.get_bytes(info.key), info.key, subjects)
            write_index(lake.store, index)
            for entry in index.entries:
                plan.add(entry.subject, entry.day, info)
        return plan

    def stage(self, run: RawRun, target: str) -> StagedRaw:
        lake = run.lake
        results = build_raw_partitions(lake.store, lake.registry, lake.decoder, target, run.days, run.stage)
        latest = lake.registry.latest(target)
        records = sum(r.records for r in results.values())
        landing = sorted({k for r in results.values() for k in r.landing_objects})
        return StagedRaw(
            zone_folder=self.zone_folder(target),
            stage=run.stage,
            days=run.days,
            allowed={v.schema_id: v for v in lake.registry.subject(target).versions},
            expected={day: r.expected for day, r in results.items()},
            expected_from="landing indexed",
            landing_objects=landing,
            records=records,
            schema=latest.schema,
            schema_id=latest.schema_id,
            metadata={"files": sum(len(r.files) for r in results.values())},
            reconciled={"records": records},
            notes=[
                f"raw/events/{target} dt={day}: {r.records} records in {len(r.files)} files "
                f"from {len(r.landing_objects)} landing objects"
                for day, r in results.items()
            ],
        )
