"""Sensor on landing/cdc/: new DMS files -> the days of change they hold -> one raw run per (table, day).

DMS names change files by time, but full-load files (``LOAD...``) sort after them and are rewritten by a
reload, so a key cursor would miss them; the cursor is the modification-time cursor with look-back of
``sources/files/index.py``. Each new file is read once with the raw asset's reader (``read_landing_file``,
``LandingFile.day_of``), so the sensor and the raw run agree on the days. The raw run keeps its own index
(``_system/index/cdc/...``, written on first read), so the sensor writes no marker: a lost cursor costs a
re-read and gives the same run keys, never a lost file. The current-state merge follows by eager automation.

A rewritten file (a reload rewrites the ``LOAD`` files) also asks for the days its earlier version fed, and a
reload that deleted ``LOAD`` files for theirs (``days_to_rebuild`` from the raw index), so each such day is
rebuilt from what landing holds now. Files whose names DMS would not write are logged in the tick that finds
them and run nothing; the raw asset's ``landing_files_named_as_dms`` check names them until they are moved.
The sidecar of a CSV file (``_<file>.not-carried.json``) is neither: the reader takes it with its file, which
is written after it, so a new sidecar needs no run of its own.
"""

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence

import dagster as dg

from lake_assets.assets.keys import raw_cdc_key
from lake_assets.assets.partitions import DAILY
from lake_assets.resources.lake import LakeResource
from lake_assets.sources.cdc.dms_format import (
    DMS_FILE_NAMES,
    DmsFormatError,
    is_dms_name,
    is_not_carried_name,
    parse_key,
)
from lake_assets.sources.cdc.raw import CdcRawError, days_to_rebuild, read_landing_file
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.sources.files.index import FileCursor, arrival_day, find_new_files, object_version
from lake_assets.storage import ObjectInfo, ObjectStore, Zone, zone_prefix

CDC_LANDING_PREFIX = zone_prefix(Zone.LANDING, "cdc")
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
    """The days of change the file holds, as the raw asset assigns rows to partitions.

    Raises ``CdcRawError`` / ``DmsFormatError`` when the file cannot be read as DMS output.
    """
    parse_key(info.key)  # a name DMS would not write: the raw run refuses it too
    landing = read_landing_file(store, spec, info.key, info.size, info.last_modified)
    return {landing.day_of(row) for row in landing.rows}


def cdc_run_key(spec: CdcTableSpec, day: str, objects: Iterable[ObjectInfo]) -> str:
    """From the objects' key, size and modification time: a re-listed file asks for nothing new."""
    digest = hashlib.sha256("\n".join(sorted(object_version(o) for o in objects)).encode()).hexdigest()[:20]
    return f"raw-cdc-{spec.source}-{spec.table}-{day}-{digest}"


def cdc_run_requests(
    context: dg.SensorEvaluationContext, lake: LakeResource, specs: Sequence[CdcTableSpec]
) -> dg.SensorResult:
    """One tick: new landing files -> days of change -> one raw run per (table, day)."""
    store = lake.store
    found = find_new_files(
        store,
        FileCursor.from_json(context.cursor),
        CDC_LANDING_PREFIX,
        lookback_seconds=lake.sensor_lookback_seconds,
        max_objects=MAX_FILES_PER_TICK,
        max_bytes=MAX_BYTES_PER_TICK,
    )
    partitions: dict[tuple[CdcTableSpec, str], list[ObjectInfo]] = defaultdict(list)
    changed: dict[CdcTableSpec, list[ObjectInfo]] = defaultdict(list)
    unrecognised: list[str] = []
    for info in found.objects:
        if info.key.endswith("/"):
            continue  # an S3 "folder" placeholder, not a file
        if info.key.count("/") == 5 and is_not_carried_name(info.key.rsplit("/", 1)[-1]):
            continue  # a CSV file's sidecar (the listing skips "_" names already): read with its file
        spec = spec_for_key(specs, info.key)
        if spec is None:
            context.log.warning(
                f"{info.key}: no CDC table spec (sources/cdc/tables.yaml) names it; left alone"
            )
            continue
        if info.key.count("/") != 5 or not is_dms_name(info.key.rsplit("/", 1)[-1]):
            unrecognised.append(info.key)
            continue
        changed[spec].append(info)
        try:
            days = change_days(store, spec, info)
        except (CdcRawError, DmsFormatError) as exc:
            # A run of its arrival day fails with the raw asset's message, so the bad file shows in Dagster
            # as a failed run rather than only in this log.
            days = {arrival_day(info)}
            context.log.warning(f"{info.key}: {exc}; requesting raw/cdc/{spec.name} {days} to surface it")
        for day in days:
            partitions[(spec, day)].append(info)
    for spec, infos in changed.items():
        # Days raw still holds rows of these files' earlier versions (or of LOAD files a reload deleted):
        # rebuilt from landing as it is now. The run key follows the files that changed.
        loads = [o for o in infos if parse_key(o.key).full_load]
        for day, reasons in sorted(days_to_rebuild(store, spec, infos).items()):
            objects = [o for o in infos if o.key in reasons] or loads  # a deleted file: the reload's files
            partitions[(spec, day)] += [o for o in objects if o not in partitions[(spec, day)]]
            context.log.info(
                f"raw/cdc/{spec.name} {day}: requested to drop rows landing no longer has on that day "
                f"(earlier versions of, or deleted): {', '.join(sorted(reasons))}"
            )
    if unrecognised:
        context.log.warning(
            f"{len(unrecognised)} file(s) under landing/cdc/ are not DMS file names ({DMS_FILE_NAMES}); "
            f"they are left in landing, no run is requested for them, and the raw asset's check names them: "
            + ", ".join(unrecognised)
        )
    outside = sorted({day for (_, day) in partitions if not DAILY.has_partition_key(day)})
    if outside:
        context.log.warning(
            f"changes dated {', '.join(outside)} are outside the daily partitions ({DAILY.start.date()} .. "
            "today); they stay in landing and are not run now"
        )
    requests = [
        dg.RunRequest(
            run_key=cdc_run_key(spec, day, objects),
            asset_selection=[raw_cdc_key(spec)],
            partition_key=day,
            tags={"lake/landing_objects": str(len(objects))},
        )
        for (spec, day), objects in sorted(partitions.items(), key=lambda item: (item[0][0].name, item[0][1]))
        if day not in outside
    ]
    context.log.info(
        f"{len(found.objects)} new CDC files, {len(requests)} partitions to run; "
        f"{found.list_calls} list calls" + (" (more next tick)" if found.truncated else "")
    )
    if not requests:
        return dg.SensorResult(skip_reason="no new CDC landing files", cursor=found.cursor.to_json())
    return dg.SensorResult(run_requests=requests, cursor=found.cursor.to_json())


def build_cdc_sensor(specs: Sequence[CdcTableSpec]) -> dg.SensorDefinition | None:
    """The sensor over ``landing/cdc/`` for every CDC table (None when there is none)."""
    if not specs:
        return None
    watched = list(specs)

    @dg.sensor(
        name="landing_cdc_sensor",
        minimum_interval_seconds=MINIMUM_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        asset_selection=[raw_cdc_key(s) for s in watched],
        description="Requests raw CDC runs per (table, day of change) for new DMS files under landing/cdc/.",
    )
    def landing_cdc_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        return cdc_run_requests(context, lake, watched)

    return landing_cdc_sensor
