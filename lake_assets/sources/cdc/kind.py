"""CDC tables as a source kind: AWS DMS output under ``landing/cdc/<source>/<schema>/<table>/``.

DMS names change files by time, but full-load files (``LOAD...``) sort after them and are rewritten by a
reload, so the cursor places them by modification time. Each new file is read once with the raw writer's
reader (``read_landing_file``, ``LandingFile.day_of``), so the sensor and the raw run agree on the days. The
raw run keeps its own index (``_system/index/cdc/...``, written on first read), so planning writes no
marker: a lost cursor costs a re-read and gives the same run keys, never a lost file.

A rewritten file (a reload rewrites the ``LOAD`` files) also asks for the days its earlier version fed, and a
reload that deleted ``LOAD`` files for theirs (``days_to_rebuild`` from the raw index), so each such day is
rebuilt from what landing holds now. Files whose names DMS would not write run nothing; the raw table's
``landing_files_named_as_dms`` check names them until they are moved. The sidecar of a CSV file
(``_<file>.not-carried.json``) is read with its file, which is written after it, so it needs no run.
"""

from __future__ import annotations

from collections.abc import Sequence

from lake_assets.registry.cdc import CDC_SCHEMA_ROOT, CdcSchemaError, register_version
from lake_assets.sources.cdc.dms_format import (
    DMS_FILE_NAMES,
    DmsFormatError,
    is_dms_name,
    is_not_carried_name,
    parse_key,
)
from lake_assets.sources.cdc.raw import (
    CdcRawError,
    build_cdc_raw,
    days_to_rebuild,
    forget_rebuilt,
    read_landing_file,
    unrecognised_message,
)
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.sources.kind import (
    CheckOutcome,
    LakeParts,
    LandingLayout,
    LandingPlan,
    RawAssetInfo,
    RawInputError,
    RawRun,
    StagedRaw,
    arrival_day,
)
from lake_assets.storage import ObjectInfo, ObjectStore, Zone, zone_prefix

CDC_LANDING_PREFIX = zone_prefix(Zone.LANDING, "cdc")
LANDING_NAMES = "landing_files_named_as_dms"
MAX_FILES_PER_TICK = 100
# Every row is parsed as the raw run does (32 MB of DMS CSV: about 3 s on 2 cores): keep a tick well inside
# Dagster's 60 s; a bigger single file (a full load) is still read whole in one tick.
MAX_BYTES_PER_TICK = 32 << 20
MINIMUM_INTERVAL_SECONDS = 60


def spec_for_key(specs: Sequence[CdcTableSpec], key: str) -> CdcTableSpec | None:
    """The spec of ``landing/cdc/<source>/<schema>/<table>/...`` (None for a table no spec names)."""
    parts = key.split("/")
    if len(parts) < 6:
        return None
    source, schema, table = parts[2:5]
    return next((s for s in specs if (s.source, s.schema, s.table) == (source, schema, table)), None)


def change_days(store: ObjectStore, spec: CdcTableSpec, info: ObjectInfo) -> set[str]:
    """The days of change the file holds, as the raw writer assigns rows to partitions.

    Raises ``CdcRawError`` / ``DmsFormatError`` when the file cannot be read as DMS output.
    """
    parse_key(info.key)  # a name DMS would not write: the raw run refuses it too
    landing = read_landing_file(store, spec, info.key, info.size, info.last_modified)
    return {landing.day_of(row) for row in landing.rows}


class CdcSourceKind:
    """Targets are the CDC table specs (``LAKE_CDC_TABLES``)."""

    name = "cdc"
    landing = LandingLayout(
        CDC_LANDING_PREFIX,
        max_objects=MAX_FILES_PER_TICK,
        max_bytes=MAX_BYTES_PER_TICK,
        minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
    )

    def __init__(self, specs: Sequence[CdcTableSpec], schema_root: str = CDC_SCHEMA_ROOT) -> None:
        self.specs = list(specs)
        self.schema_root = schema_root

    def targets(self) -> Sequence[CdcTableSpec]:
        return self.specs

    def zone_folder(self, target: CdcTableSpec) -> str:
        return f"cdc/{target.name}"

    def describe(self, target: CdcTableSpec) -> RawAssetInfo:
        return RawAssetInfo(
            description=f"Changes of `{target.source}.{target.qualified}` as Avro, one file per landing DMS "
            "file, by day of change (full load: the load day). Schema derived from the landed files, "
            f"registered under `{self.schema_root}/{target.name}/`.",
            metadata={
                "primary_key": list(target.primary_key),
                "landing": f"landing/cdc/{target.source}/{target.schema}/",
            },
            conforms="Files carry a registered schema.",
            reconciles="Raw records = landed rows of the days.",
            warnings_check=(
                LANDING_NAMES,
                "Every file in the table's landing folder has a DMS name; others are not read.",
            ),
        )

    def plan(self, lake: LakeParts, objects: Sequence[ObjectInfo]) -> LandingPlan[CdcTableSpec]:
        plan: LandingPlan[CdcTableSpec] = LandingPlan()
        changed: dict[CdcTableSpec, list[ObjectInfo]] = {}
        unrecognised: list[str] = []
        for info in objects:
            name = info.key.rsplit("/", 1)[-1]
            if info.key.endswith("/") or (info.key.count("/") == 5 and is_not_carried_name(name)):
                continue  # an S3 "folder" placeholder, or a CSV file's sidecar (read with its file)
            spec = spec_for_key(self.specs, info.key)
            if spec is None:
                plan.warnings.append(
                    f"{info.key}: no CDC table spec (sources/cdc/tables.yaml) names it; left alone"
                )
                continue
            if info.key.count("/") != 5 or not is_dms_name(name):
                unrecognised.append(info.key)
                continue
            changed.setdefault(spec, []).append(info)
            try:
                days = change_days(lake.store, spec, info)
            except (CdcRawError, DmsFormatError) as exc:
                # A run of its arrival day fails with the raw writer's message, so the bad file shows in
                # Dagster as a failed run rather than only in this log.
                days = {arrival_day(info)}
                plan.warnings.append(
                    f"{info.key}: {exc}; requesting raw/cdc/{spec.name} {days} to surface it"
                )
            for day in days:
                plan.add(spec, day, info)
        for spec, infos in changed.items():
            # Days raw still holds rows of these files' earlier versions (or of LOAD files a reload deleted):
            # rebuilt from landing as it is now. The run key follows the files that changed.
            loads = [o for o in infos if parse_key(o.key).full_load]
            for day, reasons in sorted(days_to_rebuild(lake.store, spec, infos).items()):
                for info in [o for o in infos if o.key in reasons] or loads:  # deleted: the reload's files
                    plan.add(spec, day, info)
                plan.notes.append(
                    f"raw/cdc/{spec.name} {day}: requested to drop rows landing no longer has on that day "
                    f"(earlier versions of, or deleted): {', '.join(sorted(reasons))}"
                )
        if unrecognised:
            plan.warnings.append(
                f"{len(unrecognised)} file(s) under landing/cdc/ are not DMS file names ({DMS_FILE_NAMES}); "
                "they are left in landing, no run is requested for them, and the raw asset's check names "
                "them: " + ", ".join(unrecognised)
            )
        return plan

    def stage(self, run: RawRun, target: CdcTableSpec) -> StagedRaw:
        store = run.lake.store
        try:
            result = build_cdc_raw(store, target, run.days, run.stage, self.schema_root)
        except (CdcRawError, CdcSchemaError) as exc:  # an unreadable file, a schema change: what to do
            raise RawInputError(str(exc)) from None
        versions = result.resolver.all
        records = sum(result.days.values())
        unrecognised = unrecognised_message(target, result.unrecognised) if result.unrecognised else ""

        def register() -> list[str]:
            new = result.resolver.new_versions
            keys = [register_version(store, target, v, self.schema_root) for v in new]
            return [f"raw/cdc/{target.name}: registered {key}" for key in keys]

        return StagedRaw(
            zone_folder=self.zone_folder(target),
            stage=run.stage,
            days=run.days,
            allowed={v.schema_id: v for v in versions},
            expected=result.expected,
            expected_from="landing has",
            landing_objects=result.landing_objects,
            records=records,
            schema=versions[-1].schema if versions else None,
            schema_id=versions[-1].schema_id if versions else "",
            metadata={
                "registered_versions": [v.schema_id for v in result.resolver.new_versions],
                "unrecognised_landing_objects": result.unrecognised,
            },
            reconciled={"records": records},
            warnings=[unrecognised] if unrecognised else [],
            outcomes=[
                CheckOutcome(
                    LANDING_NAMES,
                    passed=not result.unrecognised,
                    description=unrecognised or "Every file in the table's landing folder has a DMS name.",
                    metadata={"unrecognised_landing_objects": result.unrecognised},
                )
            ],
            register=register,
            published=lambda: forget_rebuilt(store, target, result, run.days),
        )
