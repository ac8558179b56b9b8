"""Landing DMS files -> raw Avro by day of change, with the table's schema derived and registered as data.

Each landing file (full load or change file) becomes one Avro file per day its rows fall on, named after it:
re-running a day rewrites the same files. Records are ``Op, commit_ts, position, _unchanged`` and the
table's columns. Each file's columns and types (Parquet columns keep their types; CSV columns take the types
our capture's sidecar carries, and are text in CSV files DMS wrote) are resolved to a schema version of the
table by ``registry/cdc.py``, which keeps the versions in the lake: a known version, the next one for new
nullable columns, or a refusal saying what changed and what to do.

Which landing files hold which days is remembered in ``_system/index/cdc/<source>/<table>/<file>.json``
(written the first time a file is seen, rewritten when its size or modification time changes: a reload
rewrites ``LOAD`` files under the same name), so a day's run reads only the files with rows on that day.
A day's run rebuilds its whole folder from the files with rows on that day now. So that the days an earlier
version of a file fed are rebuilt too, a marker keeps them as ``stale`` until a run of that day is published,
and a file gone from landing (a reload that writes fewer ``LOAD`` files) keeps a marker with ``deleted`` until
its days are rebuilt; the sensor asks for those days (``days_to_rebuild``).

Files in a table's folder whose names DMS would not write (``notes.txt``, a ``.json`` file) are left alone
and reported (``CdcRawResult.unrecognised``), so they neither block the table nor vanish unseen. The sidecar
our capture writes next to each CSV file (``_<file>.not-carried.json``, see ``dms_format``) is part of that
file: read with it, neither a landing file of its own nor a stray one.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq

from lake_assets.registry.cdc import (
    CDC_SCHEMA_ROOT,
    COMMIT_TS,
    OP,
    POSITION,
    SYSTEM_NAMES,
    UNCHANGED_COLUMN,
    SchemaResolver,
    avro_type,
    columns_of,
    load_versions,
)
from lake_assets.sources.cdc.dms_format import (
    DEFAULT_TIMESTAMP_COLUMN,
    DMS_FILE_NAMES,
    OP_COLUMN,
    POSITION_COLUMN,
    UNCHANGED,
    ChangeRow,
    DmsFormatError,
    in_landing_order,
    is_dms_name,
    is_not_carried_name,
    parse_dms_file,
    parse_key,
    read_not_carried,
    read_sidecar,
    table_prefix,
)
from lake_assets.sources.cdc.dms_format import _first_record as first_csv_record
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.sources.raw_avro import (
    AVRO_CODEC,
    FINGERPRINT_KEY,
    SCHEMA_ID_KEY,
    SOURCE_OBJECT_KEY,
)
from lake_assets.storage import ObjectInfo, ObjectStore, Zone, zone_prefix


class CdcRawError(RuntimeError):
    """A landing file cannot become raw records; the message names the file and what to do."""


# ------------------------------------------------------------------------------------------------ landing


@dataclass
class LandingFile:
    key: str
    size: int
    last_modified: float
    rows: list[ChangeRow]
    columns: dict[str, Any]  # table column -> Avro type

    def day_of(self, row: ChangeRow) -> str:
        """The commit day; without a timestamp column: the change file's name, or the full load's arrival."""
        if row.commit_ts is not None:
            return row.commit_ts.date().isoformat()
        meta = parse_key(self.key)
        if meta.full_load:
            return dt.datetime.fromtimestamp(self.last_modified, dt.UTC).date().isoformat()
        return dt.datetime.strptime(meta.name[:8], "%Y%m%d").date().isoformat()


def read_landing_file(
    store: ObjectStore, spec: CdcTableSpec, key: str, size: int, mtime: float
) -> LandingFile:
    data = store.get_bytes(key)
    not_carried = read_not_carried(store, key)  # after the file: the writer puts the sidecar first
    try:
        # Read once: it checksums the whole file, and both the rows and the column types come from it.
        sidecar = None if not_carried is None else read_sidecar(key, data, not_carried)
        rows = parse_dms_file(
            key, data, spec.columns, timestamp_column=spec.timestamp_column, not_carried=sidecar
        )
    except (DmsFormatError, ValueError, pa.ArrowInvalid) as exc:
        raise CdcRawError(
            f"landing file {store.uri(key)} cannot be read as DMS output: {exc}. Nothing was published for "
            f"raw/cdc/{spec.name}; the file is left in place: fix or move it, then re-run."
        ) from None
    if parse_key(key).data_format == "parquet":
        arrow = pq.read_schema(io.BytesIO(data))
        columns = {n: avro_type(arrow.field(n).type) for n in arrow.names if n in _data_names(arrow.names)}
    else:
        names = list(rows[0].values) if rows else list(spec.columns or [])
        if not rows:
            names = _csv_header_columns(data) or names
        # Our capture's sidecar carries the source column types; DMS's own CSV files are text throughout.
        types = sidecar.column_types if sidecar is not None else {}
        columns = {n: avro_type(types.get(n, pa.string())) for n in names}
    clash = sorted(SYSTEM_NAMES & set(columns))
    if clash:
        raise CdcRawError(f"{store.uri(key)}: table columns {clash} clash with raw's own columns")
    missing = sorted(set(spec.primary_key) - set(columns))
    if missing:
        raise CdcRawError(
            f"{store.uri(key)}: no key column(s) {missing}; fix primary_key of {spec.name} in tables.yaml"
        )
    return LandingFile(key, size, mtime, rows, columns)


_DMS_COLUMNS = (OP_COLUMN, DEFAULT_TIMESTAMP_COLUMN, POSITION_COLUMN)  # header names DMS adds


def _data_names(names: Sequence[str]) -> list[str]:
    return [n for n in names if n not in _DMS_COLUMNS]


def _csv_header_columns(data: bytes) -> list[str]:
    first = first_csv_record(data)
    return _data_names(first) if first and first[0] == OP_COLUMN else []


def index_prefix(spec: CdcTableSpec) -> str:
    return zone_prefix(Zone.SYSTEM, "index", "cdc", spec.source, spec.table)


def marker_key(spec: CdcTableSpec, name: str) -> str:
    return f"{index_prefix(spec)}{name}.json"


@dataclass(frozen=True)
class TableLanding:
    files: dict[str, ObjectInfo]  # DMS files by key
    unrecognised: list[str]  # keys in the table's folder whose names DMS would not write


def list_landing(store: ObjectStore, spec: CdcTableSpec, name_prefix: str = "") -> TableLanding:
    """The table's landing files, split into DMS files and the rest (which raw leaves alone).

    Sidecars of CSV files (``_<file>.not-carried.json``) are in neither: they are read with their file.
    """
    prefix = table_prefix(spec.source, spec.schema, spec.table)
    files: dict[str, ObjectInfo] = {}
    unrecognised: list[str] = []
    for info in store.list(prefix + name_prefix):
        name = info.key[len(prefix) :]
        if not name or name.endswith("/"):
            continue  # an S3 "folder" placeholder, not a file
        if is_not_carried_name(name):
            continue
        if "/" not in name and is_dms_name(name):
            files[info.key] = info
        else:
            unrecognised.append(info.key)
    return TableLanding(files, unrecognised)


def unrecognised_message(spec: CdcTableSpec, keys: Sequence[str], shown: int = 20) -> str:
    """What the raw check and the sensor say about files raw skips: which, the names expected, what to do."""
    listed = ", ".join(keys[:shown]) + (f" and {len(keys) - shown} more" if len(keys) > shown else "")
    return (
        f"{len(keys)} file(s) in landing/cdc/{spec.source}/{spec.schema}/{spec.table}/ do not have DMS file "
        f"names ({DMS_FILE_NAMES}), so raw/cdc/{spec.name} does not read them: {listed}. They are "
        "left in landing untouched and the table's other files go on. If one is DMS output under another "
        "name, rename it to its DMS name; otherwise move it out of the table's landing folder. This check "
        "passes at the table's next raw run after that."
    )


def _stale(marker: dict[str, Any]) -> set[str]:
    """Days raw may still hold rows of earlier versions of the marker's file (or of a deleted file)."""
    return set(marker.get("stale", []))


def _stamp(marker: dict[str, Any]) -> tuple[Any, Any, bool]:
    return marker.get("size"), marker.get("last_modified"), bool(marker.get("deleted"))


def days_to_rebuild(
    store: ObjectStore, spec: CdcTableSpec, infos: Sequence[ObjectInfo]
) -> dict[str, set[str]]:
    """Day -> landing keys whose earlier versions (or deletion) left rows in that day's raw folder.

    ``infos`` are the table's new or rewritten DMS files. For each, the days its indexed version fed (when the
    index has not seen this version yet) and the stale days of its marker. When a ``LOAD`` file is among them
    (a reload), also the days of ``LOAD`` files the reload deleted: their markers stay until those days are
    rebuilt. Reads only these files' markers and the ``LOAD`` ones, so a tick of change files stays cheap.
    """
    out: dict[str, set[str]] = {}
    for info in infos:
        key = marker_key(spec, info.key.rsplit("/", 1)[-1])
        if not store.exists(key):
            continue
        marker = json.loads(store.get_bytes(key))
        days = _stale(marker)
        if _stamp(marker) != (info.size, info.last_modified, False):
            days |= set(marker.get("days", {}))
        for day in days:
            out.setdefault(day, set()).add(info.key)
    if any(parse_key(i.key).full_load for i in infos):
        present = {k.rsplit("/", 1)[-1] for k in list_landing(store, spec, "LOAD").files}
        for marker_info in store.list(index_prefix(spec) + "LOAD"):
            name = marker_info.key.rsplit("/", 1)[-1].removesuffix(".json")
            if name in present:
                continue
            marker = json.loads(store.get_bytes(marker_info.key))
            key = table_prefix(spec.source, spec.schema, spec.table) + name
            for day in _stale(marker) | set(marker.get("days", {})):
                out.setdefault(day, set()).add(key)
    return out


# ------------------------------------------------------------------------------------------------ raw


@dataclass
class CdcRawResult:
    days: dict[str, int]  # day -> records written
    expected: dict[str, int]  # day -> records the index counted
    files: dict[str, list[str]]  # day -> Avro file names
    landing_objects: list[str]
    resolver: SchemaResolver
    unrecognised: list[str] = field(default_factory=list)  # landing keys raw does not read (not DMS names)
    markers: dict[str, dict[str, Any]] = field(default_factory=dict)  # index key -> marker as the run used it


def avro_file_name(landing_key: str) -> str:
    return landing_key.rsplit("/", 1)[-1].rsplit(".", 1)[0] + ".avro"


def _record(row: ChangeRow, columns: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {
        OP: row.op,
        COMMIT_TS: None if row.commit_ts is None else row.commit_ts.replace(tzinfo=dt.UTC),
        POSITION: row.position,
    }
    unchanged = []
    for column, typ in columns.items():
        value = row.values.get(column)
        if value is UNCHANGED:
            unchanged.append(column)
            value = None
        elif typ == "string" and value is not None and not isinstance(value, str):
            value = str(value) if not isinstance(value, Decimal) else format(value, "f")
        record[column] = value
    record[UNCHANGED_COLUMN] = unchanged or None
    return record


def build_cdc_raw(
    store: ObjectStore,
    spec: CdcTableSpec,
    days: Sequence[str],
    out_dir: Path,
    schema_root: str = CDC_SCHEMA_ROOT,
) -> CdcRawResult:
    """Writes ``out_dir/dt=<day>/<landing file>.avro`` for ``days`` (a staging folder); registers nothing.

    New schema versions are returned in ``result.resolver.new_versions``: the caller registers them once
    the files are verified, so a failed run leaves the registry as it was.
    """
    wanted = set(days)
    resolver = SchemaResolver(spec, load_versions(store, spec, schema_root))
    result = CdcRawResult({d: 0 for d in days}, {d: 0 for d in days}, {d: [] for d in days}, [], resolver)
    table = list_landing(store, spec)
    result.unrecognised = table.unrecognised
    index = {i.key: json.loads(store.get_bytes(i.key)) for i in store.list(index_prefix(spec))}
    for gone in sorted(set(index) - {marker_key(spec, k.rsplit("/", 1)[-1]) for k in table.files}):
        marker = index[gone]  # its file left landing: raw keeps its rows until those days are rebuilt
        if not marker.get("deleted"):
            marker = {"deleted": True, "days": {}, "stale": sorted(_stale(marker) | set(marker["days"]))}
            store.put_bytes(gone, json.dumps(marker, sort_keys=True).encode())
        if not marker["stale"]:
            store.delete(gone)  # it fed no day (an empty file): nothing to rebuild
            continue
        result.markers[gone] = marker
    for key in in_landing_order(table.files):
        info = table.files[key]
        index_key = marker_key(spec, key.rsplit("/", 1)[-1])
        marker = index.get(index_key)
        landing: LandingFile | None = None
        stamp = (info.size, info.last_modified, False)  # a reload rewrites LOAD files, maybe at the same size
        if marker is None or _stamp(marker) != stamp:
            landing = read_landing_file(store, spec, key, info.size, info.last_modified)
            counts: dict[str, int] = {}
            for row in landing.rows:
                day = landing.day_of(row)
                counts[day] = counts.get(day, 0) + 1
            # The days the earlier version fed keep its rows in raw until a run rebuilds them.
            stale = sorted(_stale(marker) | set(marker["days"])) if marker else []
            marker = {"size": info.size, "last_modified": info.last_modified, "days": counts, "stale": stale}
            store.put_bytes(index_key, json.dumps(marker, sort_keys=True).encode())
        result.markers[index_key] = marker
        if not wanted & set(marker["days"]):
            continue
        if landing is None:
            landing = read_landing_file(store, spec, key, info.size, info.last_modified)
        version = resolver.version_for(store.uri(key), landing.columns)
        columns = columns_of(version.schema)
        by_day: dict[str, list[dict[str, Any]]] = {}
        for row in landing.rows:
            day = landing.day_of(row)
            if day in wanted:
                by_day.setdefault(day, []).append(_record(row, columns))
        result.landing_objects.append(key)
        metadata = {
            SCHEMA_ID_KEY: version.schema_id,
            FINGERPRINT_KEY: version.fingerprint,
            SOURCE_OBJECT_KEY: key,
        }
        for day in wanted & set(marker["days"]):
            result.expected[day] += marker["days"][day]
        for day, records in by_day.items():
            folder = out_dir / f"dt={day}"
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / avro_file_name(key), "wb") as out:
                fastavro.writer(out, version.parsed, records, codec=AVRO_CODEC, metadata=metadata)
            result.days[day] += len(records)
            result.files[day].append(avro_file_name(key))
    return result


def forget_rebuilt(store: ObjectStore, spec: CdcTableSpec, result: CdcRawResult, days: Sequence[str]) -> None:
    """After ``days`` are published from today's landing: they are no longer stale for any file.

    A marker whose file changed since the run read it is left as it is (its stale days may come from that
    newer change); a deleted file's marker goes once none of its days is stale.
    """
    published = set(days)
    for key, seen in result.markers.items():
        if not _stale(seen) & published:
            continue
        if not store.exists(key):
            continue
        marker = json.loads(store.get_bytes(key))
        if _stamp(marker) != _stamp(seen):
            continue
        marker["stale"] = sorted(_stale(marker) - published)
        if marker.get("deleted") and not marker["stale"]:
            store.delete(key)
        else:
            store.put_bytes(key, json.dumps(marker, sort_keys=True).encode())
