"""Files and logs as a source kind: objects under ``landing/files/<source>/``, a raw table per spec."""

from __future__ import annotations

from collections.abc import Sequence

from lake_assets.sources.files.index import (
    FILES_LANDING_PREFIX,
    index_object,
    partition_objects,
    spec_for,
)
from lake_assets.sources.files.raw import CountMismatch, ObjectRawResult, land_object_to_raw, resolve_schema
from lake_assets.sources.kind import (
    LakeParts,
    LandingLayout,
    LandingPlan,
    RawAssetInfo,
    RawInputError,
    RawRun,
    StagedRaw,
)
from lake_assets.sources.schema_inference import InferenceError
from lake_assets.sources.specs import SourceSpec
from lake_assets.storage import ObjectInfo

MAX_FILES_PER_TICK = 200
MAX_BYTES_PER_TICK = 256 << 20  # the day scan reads each byte once; a bigger single file is still one tick


def is_daily(spec: SourceSpec) -> bool:
    """Daily in its spec, with an event time to date rows by: its raw table is partitioned by day."""
    return spec.partitioning == "daily" and spec.event_time is not None


class FileSourceKind:
    """Targets are the file and log source specs; the sensor watches those whose trigger is ``sensor``."""

    name = "files"

    def __init__(self, specs: Sequence[SourceSpec]) -> None:
        self.specs = [s for s in specs if s.kind != "http_api"]
        self.watched = [s for s in self.specs if s.trigger.kind == "sensor"]
        self.landing = (
            LandingLayout(
                FILES_LANDING_PREFIX,
                max_objects=MAX_FILES_PER_TICK,
                max_bytes=MAX_BYTES_PER_TICK,
                minimum_interval_seconds=min(s.trigger.minimum_interval_seconds for s in self.watched),
            )
            if self.watched
            else None
        )

    def targets(self) -> Sequence[SourceSpec]:
        return self.specs

    def zone_folder(self, target: SourceSpec) -> str:
        return target.zone_folder

    def describe(self, target: SourceSpec) -> RawAssetInfo:
        daily = is_daily(target)
        schema_note = (
            f"registry subject `{target.schema_subject}`"
            if target.schema_subject
            else f"inferred from the first object (`_system/schemas/{target.name}/v1.avsc`)"
        )
        return RawAssetInfo(
            description=f"{target.description or target.name} Raw Avro, one file per landing object"
            f"{' and event day' if daily else ''}; schema {schema_note}. Rows that do not fit go to "
            f"`quarantine/{target.zone_folder}/`.",
            daily=daily,
            metadata={"source": target.name, "kind": target.kind, "landing": target.landing_prefix},
            conforms="Every staged file carries the source schema.",
            reconciles="Rows read = written + quarantined per landing object; staged files hold them.",
        )

    def plan(self, lake: LakeParts, objects: Sequence[ObjectInfo]) -> LandingPlan[SourceSpec]:
        plan: LandingPlan[SourceSpec] = LandingPlan()
        for info in objects:
            spec = spec_for(self.watched, info.key)
            if spec is None:
                plan.warnings.append(f"{info.key}: no source spec has this landing prefix; left alone")
                continue
            for day in index_object(lake.store, spec, info):
                plan.add(spec, day, info)
        return plan

    def stage(self, run: RawRun, target: SourceSpec) -> StagedRaw:
        """Each landing object the index lists for the run's days, converted into ``run.stage``."""
        store, registry = run.lake.store, run.lake.registry
        name = f"raw/{target.zone_folder}"
        objects = sorted({key for day in run.days for key in partition_objects(store, target, day)})
        results: list[ObjectRawResult] = []
        problems: list[str] = []
        for object_key in objects:
            try:
                results.append(land_object_to_raw(store, target, object_key, run.stage, registry=registry))
            except CountMismatch as exc:
                problems.append(str(exc))
                break
            except InferenceError as exc:
                raise RawInputError(
                    f"{name}: {store.uri(object_key)}: {exc}; nothing published and no schema stored: fix "
                    "the file (or the spec) and re-run"
                ) from None
        version = resolve_schema(store, target, registry)
        written = {day: sum(r.rows_by_day.get(day, 0) for r in results) for day in run.days}
        read = sum(r.rows_read for r in results)
        quarantined = sum(r.rows_quarantined for r in results)
        reasons: dict[str, int] = {}
        for r in results:
            for reason, n in r.reasons.items():
                reasons[reason] = reasons.get(reason, 0) + n
        warnings = []
        if quarantined:
            why = ", ".join(f"{reason}: {n}" for reason, n in sorted(reasons.items()))
            warnings.append(
                f"{name}: {quarantined} of {read} rows quarantined under quarantine/{target.zone_folder}/ "
                f"({why})"
            )
        counts = {
            "rows_read": read,
            "rows_written": sum(r.rows_written for r in results),
            "rows_quarantined": quarantined,
        }
        rows = sum(written.values())
        return StagedRaw(
            zone_folder=target.zone_folder,
            stage=run.stage,
            days=run.days,
            allowed={version.schema_id: version} if version else {},
            expected=written,
            expected_from="the converter wrote",
            landing_objects=objects,
            records=rows,
            schema=version.schema if version else None,
            schema_id=version.schema_id if version else "",
            problems=problems,
            metadata={
                **counts,
                "rows_on_other_days": counts["rows_written"] - rows,
                "quarantine_reasons": reasons,
                "unreadable_objects": [r.object_key for r in results if r.file_error],
            },
            reconciled=counts,
            warnings=warnings,
        )
