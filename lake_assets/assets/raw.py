"""raw/events/<subject>: Avro per event type, built from the registry (one asset per subject, no copies)."""

import dagster as dg

from lake_assets.assets.keys import raw_event_key
from lake_assets.assets.partitions import DAILY, SINGLE_RUN
from lake_assets.checks.raw import CONFORMS, RECONCILES, raw_check_specs, staged_check_results
from lake_assets.registry import SchemaRegistry
from lake_assets.resources.lake import LakeResource
from lake_assets.sources.events.raw import CorruptLandingObject, build_raw_partitions, verify_raw_files
from lake_assets.storage import Zone, partition_prefix, zone_prefix


def build_raw_event_asset(registry: SchemaRegistry, subject: str) -> dg.AssetsDefinition:
    latest = registry.latest(subject)
    key = raw_event_key(subject)

    @dg.asset(
        key=key,
        group_name="raw",
        kinds={"avro"},
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        description=f"Valid `{subject}` events as Avro, one file per landing object, by event day. "
        f"Schema {latest.schema_id} (registry subject `{subject}`).",
        metadata={"schema_id": latest.schema_id, "schema_fingerprint": latest.fingerprint},
        check_specs=raw_check_specs(
            key,
            conforms="Every record conforms to its registered schema.",
            reconciles="Raw record count equals the landing index.",
        ),
    )
    def raw_events(context: dg.AssetExecutionContext, lake: LakeResource):  # noqa: ANN202 - a generator
        store = lake.store
        totals = {"records": 0, "files": 0, "landing_objects": 0}
        days = list(context.partition_keys)
        with store.staging_dir() as stage:
            try:
                results = build_raw_partitions(store, lake.registry, lake.decoder, subject, days, stage)
            except CorruptLandingObject as exc:
                raise dg.Failure(description=str(exc)) from None
            for day, result in results.items():
                verification = verify_raw_files(stage / f"dt={day}", lake.registry, subject, result.expected)
                if not verification.passed:
                    # Checked before publishing: a bad batch never becomes visible downstream.
                    yield from staged_check_results(
                        verification.schema_problems, verification.count_problems, day=day
                    )
                    raise dg.Failure(
                        description=f"raw/events/{subject} dt={day} failed its checks; nothing published: "
                        + "; ".join(verification.problems)
                    )
            for day, result in results.items():
                folder = stage / f"dt={day}"
                folder.mkdir(exist_ok=True)
                store.publish_dir(folder, partition_prefix(Zone.RAW, "events", subject, day))
                context.log.info(
                    f"raw/events/{subject} dt={day}: {result.records} records in {len(result.files)} files "
                    f"from {len(result.landing_objects)} landing objects"
                )
                totals["records"] += result.records
                totals["files"] += len(result.files)
                totals["landing_objects"] += len(result.landing_objects)
        # On Glue, raw is an Avro table too: the days just published become its partitions.
        prefix = zone_prefix(Zone.RAW, "events", subject)
        lake.register_raw(f"events_{subject}", prefix, latest.schema, sorted(results))
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": totals["records"],
                "files": totals["files"],
                "landing_objects": totals["landing_objects"],
                "partitions": len(context.partition_keys),
                "schema_id": latest.schema_id,
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=CONFORMS,
                    passed=True,
                    metadata={"records_checked": totals["records"], "schema_id": latest.schema_id},
                ),
                dg.AssetCheckResult(
                    check_name=RECONCILES, passed=True, metadata={"records": totals["records"]}
                ),
            ],
        )

    return raw_events


def build_raw_event_assets(registry: SchemaRegistry) -> list[dg.AssetsDefinition]:
    return [build_raw_event_asset(registry, subject) for subject in registry.subjects("events")]
