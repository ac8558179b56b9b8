"""The AWS DMS S3-target landing format: writer, parser and a position-ordered merge into current state.

Layout (as DMS writes it under its bucket folder): ``landing/cdc/<source>/<schema>/<table>/`` holds full-load
files ``LOAD00000001.csv`` (an 8-digit hexadecimal counter) and change files named by time
(``20261124-221530123.csv``, ``YYYYMMDD-HHMMSSsss``). Each record is ``[Op,] [timestamp,] data...`` where
``Op`` is I/U/D (on full-load files only with ``includeOpForFullLoad``), the timestamp column
(``timestampColumnName``) holds the commit time ``yyyy-MM-dd HH:mm:ss.SSSSSS`` (the transfer time on a full
load), and a header line is written only with ``addColumnName``. Our capture also adds the DMS header column
``AR_H_CHANGE_SEQ`` (DMS adds it with a transformation rule) as the last column: a 35-digit string that sorts
in commit order, so downstream can order changes and drop a change delivered twice.

CSV conventions: fields are quoted only when needed; NULL is an unquoted ``csvNullValue`` (empty by default),
so an empty string is written quoted (``""``) to stay distinct. Parquet: data columns typed, ``Op``, the
timestamp and the sequence as strings, as DMS writes them.

A value the log did not carry (PostgreSQL's unchanged TOASTed column) is marked out of band, so no source
value can be taken for the mark. DMS writes it in CSV as the ``csvNoSupValue`` text, which a real value with
that text cannot be told from: that ambiguity is DMS's own, and a CSV file without our sidecar (one DMS
wrote) is still read that way. Each CSV file our capture writes comes with a sidecar object
``_<file>.not-carried.json`` in its folder (``not_carried_key``), written before the file and always, even
when it lists nothing: ``{"csv_sha256": <of the CSV's bytes>, "not_carried": {column: [row numbers]},
"column_types": {column: type}}``. With a sidecar every CSV cell is data and only the cells it lists are not
carried (they still hold the ``csvNoSupValue`` text: what a reader without the sidecar sees). ``column_types``
carries the source column types the capture read from the database catalog (the same Arrow types its Parquet
files have: ``bool``, ``int16``, ``int32``, ``int64``, ``float``, ``double``, ``date32[day]``; other columns
are text), so a CSV-landed table gets the SQL types a Parquet-landed one gets. A sidecar written before
``column_types`` existed, and a CSV file DMS wrote (no sidecar), read as text.

The ``_`` prefix keeps the sidecar out of readers that take every file of a folder as data (Spark and
Athena skip ``_`` and ``.`` names, as does the landing sensor's listing); the checksum ties it to one version
of its file, so a sidecar left by an interrupted rewrite, or next to a file it was not written for, is an
error rather than a wrong answer.

Parquet has no ``csvNoSupValue`` in DMS, and a typed column cannot hold a marker, so our Parquet files list
those cells in the file's key-value metadata (``lake_cdc_not_carried``: column -> row numbers); the cells
themselves hold the ``csvNoSupValue`` text in string columns (visible to any reader) and NULL in typed ones.
The list, not the text, is what the parser trusts; DMS's own files have no list and parse as before. Metadata
rather than an extra column, because the raw layer takes every column but ``Op``, the timestamp and
``AR_H_CHANGE_SEQ`` as a table column.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lake_assets.storage.object_store import ObjectStore
from lake_assets.storage.zones import Zone, zone_prefix

OPS = frozenset({"I", "U", "D"})
OP_COLUMN = "Op"
POSITION_COLUMN = "AR_H_CHANGE_SEQ"
NOT_CARRIED_KEY = "lake_cdc_not_carried"  # Parquet key-value metadata: JSON {column: [row numbers, 0-based]}
NOT_CARRIED_SUFFIX = ".not-carried.json"  # CSV: the sidecar _<file>.not-carried.json (see the module doc)
# The typed columns a capture writes (Parquet column types; CSV sidecar ``column_types``), by Arrow's names.
COLUMN_TYPES: dict[str, pa.DataType] = {
    str(t): t
    for t in (pa.bool_(), pa.int16(), pa.int32(), pa.int64(), pa.float32(), pa.float64(), pa.date32())
}
DEFAULT_TIMESTAMP_COLUMN = "dms_commit_ts"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
FORMATS = ("csv", "parquet")
_LOAD_NAME = re.compile(r"^LOAD([0-9A-F]{8})\.(csv|parquet)$")
_CDC_NAME = re.compile(r"^(\d{8})-(\d{6})(\d{3,4})\.(csv|parquet)$")
DMS_FILE_NAMES = "LOADxxxxxxxx (8 hexadecimal digits) or YYYYMMDD-HHMMSSsss, with .csv or .parquet"


class DmsFormatError(ValueError):
    """A landing file does not have the DMS layout it claims; the message names the file and the reason."""


class _Unchanged:
    """A value the source did not send (an unchanged TOASTed column); merge keeps the previous value."""

    _instance: _Unchanged | None = None

    def __new__(cls) -> _Unchanged:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()


@dataclass(frozen=True)
class ChangeRow:
    """One landed change: ``values`` are the table's columns (text from CSV, typed from Parquet)."""

    op: str
    commit_ts: dt.datetime | None
    position: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DmsOptions:
    """The DMS endpoint settings the writer follows (names after the S3 target settings)."""

    data_format: Literal["csv", "parquet"] = "csv"
    add_column_name: bool = True  # header line; DMS's default is False, ours True (schemas change)
    include_op_for_full_load: bool = True
    timestamp_column_name: str | None = DEFAULT_TIMESTAMP_COLUMN
    position_column: str | None = POSITION_COLUMN
    csv_null_value: str = ""
    csv_nosup_value: str = "<unchanged>"  # csvNoSupValue: a value the log did not carry
    max_rows_per_load_file: int = 500_000

    def __post_init__(self) -> None:
        if self.data_format not in FORMATS:
            raise ValueError(f"data_format must be one of {FORMATS}, not {self.data_format!r}")


# ---------------------------------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class DmsKey:
    source: str
    schema: str
    table: str
    name: str
    full_load: bool
    data_format: str


def table_prefix(source: str, schema: str, table: str) -> str:
    """``landing/cdc/<source>/<schema>/<table>/``."""
    return zone_prefix(Zone.LANDING, "cdc", source, schema, table)


def load_file_name(counter: int, data_format: str = "csv") -> str:
    if not 1 <= counter <= 0xFFFFFFFF:
        raise ValueError(f"full-load file counter {counter} out of range")
    return f"LOAD{counter:08X}.{data_format}"


def cdc_file_name(when: dt.datetime, data_format: str = "csv") -> str:
    """``YYYYMMDD-HHMMSSsss.<fmt>`` from a commit time (UTC), so names sort in time order like DMS's."""
    return f"{when:%Y%m%d-%H%M%S}{when.microsecond // 1000:03d}.{data_format}"


def is_dms_name(name: str) -> bool:
    """A file name DMS writes; anything else in a table's folder is not DMS output and is not read."""
    return bool(_LOAD_NAME.match(name) or _CDC_NAME.match(name))


def not_carried_key(key: str) -> str:
    """The sidecar of a CSV data file: ``<folder>/_<file>.not-carried.json``."""
    folder, _, name = key.rpartition("/")
    return f"{folder}/_{name}{NOT_CARRIED_SUFFIX}" if folder else f"_{name}{NOT_CARRIED_SUFFIX}"


def is_not_carried_name(name: str) -> bool:
    """A sidecar's name (``_`` + a DMS CSV file name + ``.not-carried.json``): part of its CSV file, neither a
    data file nor a stray one."""
    if not (name.startswith("_") and name.endswith(NOT_CARRIED_SUFFIX)):
        return False
    data_name = name[1 : -len(NOT_CARRIED_SUFFIX)]
    return is_dms_name(data_name) and data_name.endswith(".csv")


def parse_key(key: str) -> DmsKey:
    """Splits ``landing/cdc/<source>/<schema>/<table>/<file>``; refuses names DMS would not write."""
    parts = key.split("/")
    if len(parts) != 6 or parts[0] != Zone.LANDING.value or parts[1] != "cdc":
        raise DmsFormatError(f"{key}: not a landing/cdc/<source>/<schema>/<table>/<file> key")
    name = parts[5]
    load = _LOAD_NAME.match(name)
    cdc = _CDC_NAME.match(name)
    if not (load or cdc):
        raise DmsFormatError(
            f"{key}: {name!r} is neither LOADxxxxxxxx nor YYYYMMDD-HHMMSSsss (.csv/.parquet)"
        )
    data_format = (load or cdc).groups()[-1]  # type: ignore[union-attr]
    return DmsKey(parts[2], parts[3], parts[4], name, load is not None, data_format)


def in_landing_order(keys: Iterable[str]) -> list[str]:
    """Full-load files first (by counter), then change files by time: the order DMS wrote them in.

    Sidecars (``not_carried_key``) in ``keys`` are left out: they belong to their CSV files.
    """
    data = [k for k in keys if not is_not_carried_name(k.rsplit("/", 1)[-1])]
    return sorted(data, key=lambda k: (not parse_key(k).full_load, parse_key(k).name))


def format_lsn_position(lsn: int, seq: int) -> str:
    """A 35-digit sortable sequence (the width of DMS's AR_H_CHANGE_SEQ): 20 digits LSN, 15 digits order."""
    return f"{lsn:020d}{seq:015d}"


def format_timestamp(when: dt.datetime | None) -> str | None:
    return None if when is None else when.strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str | None) -> dt.datetime | None:
    if text is None or text == "":
        return None
    return dt.datetime.strptime(text if "." in text else text + ".0", TIMESTAMP_FORMAT)


# ---------------------------------------------------------------------------------------------------- write


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _csv_field(value: Any, options: DmsOptions) -> str:
    if value is None:
        return options.csv_null_value
    if value is UNCHANGED:
        return options.csv_nosup_value
    text = _text(value)
    if (
        text == ""
        or text == options.csv_null_value
        or text == options.csv_nosup_value
        or any(c in text for c in ',"\r\n')
    ):
        return '"' + text.replace('"', '""') + '"'
    return text


def _layout(columns: Sequence[str], options: DmsOptions, with_op: bool) -> list[str]:
    names = [OP_COLUMN] if with_op else []
    if options.timestamp_column_name:
        names.append(options.timestamp_column_name)
    names.extend(columns)
    if options.position_column:
        names.append(options.position_column)
    return names


def _records(
    columns: Sequence[str], rows: Iterable[ChangeRow], options: DmsOptions, with_op: bool
) -> Iterator[list[Any]]:
    for row in rows:
        if row.op not in OPS:
            raise DmsFormatError(f"operation {row.op!r} is not one of I/U/D")
        record: list[Any] = [row.op] if with_op else []
        if options.timestamp_column_name:
            record.append(format_timestamp(row.commit_ts))
        values = row.values
        record.extend(values.get(c) for c in columns)
        if options.position_column:
            record.append(row.position)
        yield record


def _not_carried(names: Sequence[str], records: Sequence[list[Any]]) -> dict[str, list[int]]:
    """Column -> row numbers (0-based) of the cells the log did not carry, in column order."""
    out: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        missing = [n for n, r in enumerate(records) if r[i] is UNCHANGED]
        if missing:
            out[name] = missing
    return out


def _csv_bytes(names: Sequence[str], records: Sequence[list[Any]], options: DmsOptions) -> bytes:
    out: list[str] = []
    if options.add_column_name:
        out.append(",".join(_csv_field(n, options) for n in names))
    for record in records:
        out.append(",".join(_csv_field(v, options) for v in record))
    return ("\n".join(out) + "\n").encode() if out else b""


def encode_csv(
    columns: Sequence[str], rows: Iterable[ChangeRow], options: DmsOptions, with_op: bool
) -> bytes:
    """The CSV file alone: a cell not carried is the ``csvNoSupValue`` text (``encode_files`` adds the
    sidecar that tells it from data)."""
    records = list(_records(columns, rows, options, with_op))
    return _csv_bytes(_layout(columns, options, with_op), records, options)


def encode_not_carried(
    data: bytes,
    not_carried: Mapping[str, Sequence[int]],
    column_types: Mapping[str, pa.DataType] | None = None,
) -> bytes:
    """A CSV file's sidecar: its checksum, the cells the log did not carry (maybe none) and the types of its
    typed columns (text columns are not listed)."""
    types = {c: str(t) for c, t in (column_types or {}).items() if t != pa.string()}
    unknown = sorted(set(types.values()) - set(COLUMN_TYPES))
    if unknown:
        raise DmsFormatError(f"column types {unknown} are not among {sorted(COLUMN_TYPES)}")
    body = {
        "csv_sha256": hashlib.sha256(data).hexdigest(),
        "not_carried": dict(not_carried),
        "column_types": types,
    }
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def _arrow_column(values: list[Any], typ: pa.DataType) -> pa.Array:
    if typ == pa.string():
        return pa.array([None if v is None else _text(v) for v in values], pa.string())
    if pa.types.is_boolean(typ):
        truth = {"t": True, "true": True, "1": True, "f": False, "false": False, "0": False}
        return pa.array(
            [v if v is None or isinstance(v, bool) else truth[str(v).lower()] for v in values], pa.bool_()
        )
    if all(v is None or isinstance(v, str) for v in values):
        return pa.array(values, pa.string()).cast(typ)
    return pa.array(values, typ)


def encode_parquet(
    columns: Sequence[str],
    rows: Iterable[ChangeRow],
    options: DmsOptions,
    with_op: bool,
    column_types: Mapping[str, pa.DataType] | None = None,
) -> bytes:
    """A Parquet file in DMS's layout; cells the log did not carry are listed under ``NOT_CARRIED_KEY``.

    The list is written only when there is something in it, so other files stay exactly as DMS would write
    them (and a re-delivered batch still gives the same bytes: the JSON is in a fixed order).
    """
    names = _layout(columns, options, with_op)
    records = list(_records(columns, rows, options, with_op))
    types = dict(column_types or {})
    arrays = []
    not_carried = _not_carried(names, records)
    for i, name in enumerate(names):
        is_data = name in columns and not (i == 0 and with_op)
        typ = types.get(name, pa.string()) if is_data else pa.string()
        values = [r[i] for r in records]
        if name in not_carried:
            # The marker text shows a reader of the file what CSV would show; typed columns can only say NULL.
            shown = options.csv_nosup_value if typ == pa.string() else None
            values = [shown if v is UNCHANGED else v for v in values]
        arrays.append(_arrow_column(values, typ))
    table = pa.Table.from_arrays(arrays, names=names)
    if not_carried:
        table = table.replace_schema_metadata(
            {NOT_CARRIED_KEY: json.dumps(not_carried, separators=(",", ":"))}
        )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


def encode(
    columns: Sequence[str],
    rows: Iterable[ChangeRow],
    options: DmsOptions,
    with_op: bool,
    column_types: Mapping[str, pa.DataType] | None = None,
) -> bytes:
    return encode_files(columns, rows, options, with_op, column_types)[0]


def encode_files(
    columns: Sequence[str],
    rows: Iterable[ChangeRow],
    options: DmsOptions,
    with_op: bool,
    column_types: Mapping[str, pa.DataType] | None = None,
) -> tuple[bytes, bytes | None]:
    """The data file and, for CSV, its sidecar (``encode_not_carried``); Parquet keeps the list inside."""
    if options.data_format == "parquet":
        return encode_parquet(columns, rows, options, with_op, column_types), None
    names = _layout(columns, options, with_op)
    records = list(_records(columns, rows, options, with_op))
    data = _csv_bytes(names, records, options)
    types = {c: t for c, t in (column_types or {}).items() if c in columns}
    return data, encode_not_carried(data, _not_carried(names, records), types)


def _put(store: ObjectStore, key: str, data: bytes, sidecar: bytes | None) -> None:
    """The sidecar first, so a reader that finds the CSV finds its sidecar too."""
    if sidecar is not None:
        store.put_bytes(not_carried_key(key), sidecar)
    store.put_bytes(key, data)


def _stored_sidecar(store: ObjectStore, key: str) -> bytes | None:
    sidecar = not_carried_key(key)
    return store.get_bytes(sidecar) if store.exists(sidecar) else None


def write_full_load(
    store: ObjectStore,
    source: str,
    schema: str,
    table: str,
    columns: Sequence[str],
    rows: Iterable[ChangeRow],
    options: DmsOptions = DmsOptions(),
    column_types: Mapping[str, pa.DataType] | None = None,
) -> list[str]:
    """Writes ``LOAD00000001...`` files of at most ``max_rows_per_load_file`` rows; returns their keys.

    Rewriting a table's full load replaces its LOAD files: ones numbered past the new count are deleted, so a
    reload that shrank leaves no stale rows behind.
    """
    prefix = table_prefix(source, schema, table)
    keys: list[str] = []
    chunk: list[ChangeRow] = []

    def flush() -> None:
        key = prefix + load_file_name(len(keys) + 1, options.data_format)
        data, sidecar = encode_files(columns, chunk, options, options.include_op_for_full_load, column_types)
        _put(store, key, data, sidecar)
        keys.append(key)
        chunk.clear()

    for row in rows:
        chunk.append(row)
        if len(chunk) >= options.max_rows_per_load_file:
            flush()
    if chunk or not keys:
        flush()
    # Old files before their sidecars, so no reader finds a CSV of ours without its sidecar.
    for old in store.list_keys(prefix + "LOAD"):
        if old not in keys:
            store.delete(old)
    kept = {not_carried_key(k) for k in keys}
    for old in store.list_keys(prefix + "_LOAD"):
        if old not in kept and is_not_carried_name(old[len(prefix) :]):
            store.delete(old)
    return keys


def write_changes(
    store: ObjectStore,
    source: str,
    schema: str,
    table: str,
    columns: Sequence[str],
    rows: Sequence[ChangeRow],
    options: DmsOptions = DmsOptions(),
    column_types: Mapping[str, pa.DataType] | None = None,
) -> str:
    """Writes one change file named by the first row's commit time; returns its key.

    The name comes from the data, so re-delivering the same batch rewrites the same object with the same
    bytes. When another file already holds that name with different content (or a different sidecar), the
    name moves on by one millisecond until it is free: two batches never overwrite each other.
    """
    if not rows:
        raise ValueError("write_changes needs at least one row")
    data, sidecar = encode_files(columns, rows, options, True, column_types)
    prefix = table_prefix(source, schema, table)
    when = rows[0].commit_ts or dt.datetime(1970, 1, 1)
    while True:
        key = prefix + cdc_file_name(when, options.data_format)
        if not store.exists(key) or (
            store.get_bytes(key) == data and _stored_sidecar(store, key) in (None, sidecar)
        ):
            _put(store, key, data, sidecar)
            return key
        when += dt.timedelta(milliseconds=1)


# ---------------------------------------------------------------------------------------------------- parse


def _sort_stem(key: DmsKey) -> str:
    # Full-load rows sort before every change file of the same table ("0" < any year's first digit).
    stem = key.name.rsplit(".", 1)[0]
    return f"0-{stem}" if key.full_load else stem


def _first_record(data: bytes) -> list[str]:
    text = data.decode("utf-8", errors="replace")
    return next(csv.reader(io.StringIO(text)), [])


def _read_csv(data: bytes, width: int, null_value: str) -> list[list[Any]]:
    names = [f"f{i}" for i in range(width)]
    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            null_values=[null_value],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    columns = [table.column(n).to_pylist() for n in names]
    return [list(r) for r in zip(*columns, strict=True)]


def _listed_cells(
    where: str, listed: Any, names: Sequence[str], num_rows: int, system_columns: Sequence[str | None]
) -> Iterator[tuple[str, int]]:
    """(column, row) of each cell in a list of values not carried (``where`` names the list in errors)."""
    if not isinstance(listed, dict):
        raise DmsFormatError(f"{where} must map column names to row numbers")
    for column, rows in listed.items():
        if column not in names or column in system_columns:
            raise DmsFormatError(f"{where} names {column!r}, which is not a data column of the file")
        if not isinstance(rows, list) or not all(
            isinstance(r, int) and not isinstance(r, bool) and 0 <= r < num_rows for r in rows
        ):
            raise DmsFormatError(
                f"{where} for {column!r} must list row numbers 0..{num_rows - 1} of the file"
            )
        for row in rows:
            yield column, row


def _not_carried_cells(
    key: str, table: pa.Table, system_columns: Sequence[str | None]
) -> Iterator[tuple[str, int]]:
    """(column, row) of each cell our capture listed as not carried; none in a file DMS wrote."""
    text = (table.schema.metadata or {}).get(NOT_CARRIED_KEY.encode())
    if text is None:
        return
    try:
        listed = json.loads(text)
    except ValueError as exc:
        raise DmsFormatError(f"{key}: metadata {NOT_CARRIED_KEY} is not JSON ({exc})") from None
    where = f"{key}: metadata {NOT_CARRIED_KEY}"
    yield from _listed_cells(where, listed, table.column_names, table.num_rows, system_columns)


@dataclass(frozen=True)
class Sidecar:
    """A CSV file's sidecar, checked against the file's bytes (``where`` names it in errors)."""

    where: str
    not_carried: Any  # column -> row numbers, checked against the file's columns and rows when read
    column_types: dict[str, pa.DataType]


def read_sidecar(key: str, data: bytes, sidecar: bytes) -> Sidecar:
    """Refuses a sidecar that is not JSON, was not written for these bytes, or names unknown types."""
    where = f"{key}: sidecar {not_carried_key(key)}"
    try:
        body = json.loads(sidecar)
    except ValueError as exc:
        raise DmsFormatError(f"{where} is not JSON ({exc})") from None
    required = {"csv_sha256", "not_carried"}
    if not isinstance(body, dict) or not required <= set(body) <= required | {"column_types"}:
        raise DmsFormatError(
            f'{where} must be {{"csv_sha256": ..., "not_carried": {{column: [rows]}}, '
            '"column_types": {column: type}}'
        )
    if body["csv_sha256"] != hashlib.sha256(data).hexdigest():
        raise DmsFormatError(
            f"{where} was written for other content of the file (its csv_sha256 differs): the file changed "
            "after its sidecar (being rewritten now, an interrupted rewrite, or edited by hand). Re-run once "
            "the writer is done; if it persists, land the file again, or delete the sidecar to read the file "
            "as DMS writes it (then the text <unchanged> means a value the log did not carry)"
        )
    named = body.get("column_types", {})  # sidecars written before column types: every column is text
    if not isinstance(named, dict) or not all(
        isinstance(c, str) and isinstance(t, str) and t in COLUMN_TYPES for c, t in named.items()
    ):
        raise DmsFormatError(
            f"{where} column_types must map column names to one of {sorted(COLUMN_TYPES)}, not {named!r}"
        )
    return Sidecar(where, body["not_carried"], {c: COLUMN_TYPES[t] for c, t in named.items()})


def _typed(key: str, sidecar: Sidecar, names: Sequence[str], records: list[list[Any]]) -> None:
    """Turns the text of the sidecar's typed columns into values of their types, in place (the same values
    the capture's Parquet files hold); a cell that is not a value of its type is an error naming it."""
    for column, typ in sidecar.column_types.items():
        if column not in names:
            raise DmsFormatError(f"{sidecar.where} types {column!r}, which is not a column of the file")
        i = names.index(column)
        texts = [None if r[i] is UNCHANGED else r[i] for r in records]
        try:
            values = _arrow_column(texts, typ).to_pylist()
        except (pa.ArrowInvalid, KeyError, ValueError):
            for n, text in enumerate(texts, start=1):
                try:
                    _arrow_column([text], typ)
                except (pa.ArrowInvalid, KeyError, ValueError):
                    raise DmsFormatError(
                        f"{key}: record {n} column {column} holds {text!r}, which is not a {typ} value "
                        f"(the type {sidecar.where} gives it)"
                    ) from None
            raise
        for record, value in zip(records, values, strict=True):
            if record[i] is not UNCHANGED:
                record[i] = value


def parse_dms_file(
    key: str,
    data: bytes,
    columns: Sequence[str] | None = None,
    header: bool | None = None,
    *,
    timestamp_column: str | None = DEFAULT_TIMESTAMP_COLUMN,
    position_column: str = POSITION_COLUMN,
    null_value: str = "",
    nosup_value: str = "<unchanged>",
    not_carried: bytes | Sidecar | None = None,
) -> list[ChangeRow]:
    """Reads a DMS landing file, CSV (with or without header) or Parquet, into ChangeRows.

    Without a header, ``columns`` names the data columns in file order (the sequence column among them when
    the file has one). ``Op`` is recognised by the header, or without one by the field count (full-load
    files and ``cdcInsertsOnly`` files may lack it; a missing Op means I). ``header=None`` detects a header
    line: the first record is a header when it names ``Op`` first or holds every name of ``columns``. Rows
    without a sequence column get one from the file name and row number, which still sorts full loads before
    changes and makes the same file delivered twice collapse in the merge. A value the log did not carry is
    ``UNCHANGED``: in Parquet a cell listed under ``NOT_CARRIED_KEY``; in CSV with ``not_carried`` (the
    sidecar's bytes, ``read_not_carried``, or the ``Sidecar`` already read) a cell the sidecar lists, every
    other cell being data; in CSV without one (as DMS writes it) the ``nosup_value`` text. CSV values are
    text, except in the columns the sidecar types: those hold the same values the capture's Parquet files
    would.
    """
    meta = parse_key(key)
    stem = _sort_stem(meta)
    if not_carried is not None and meta.data_format != "csv":
        raise DmsFormatError(f"{key}: a sidecar {not_carried_key(key)} belongs to CSV files only")
    if meta.data_format == "parquet":
        table = pq.read_table(io.BytesIO(data))
        names = table.column_names
        records = [list(r.values()) for r in table.to_pylist()]
        for column, row in _not_carried_cells(key, table, (OP_COLUMN, timestamp_column, position_column)):
            records[row][names.index(column)] = UNCHANGED
    else:
        sidecar = read_sidecar(key, data, not_carried) if isinstance(not_carried, bytes) else not_carried
        first = _first_record(data)
        if not first:
            if sidecar is not None:
                list(_listed_cells(sidecar.where, sidecar.not_carried, [], 0, ()))  # an empty file: none
            return []
        if header is None:
            header = first[0] == OP_COLUMN or columns is None or set(columns) <= set(first)
        records = _read_csv(data, len(first), null_value)
        if header:
            names = first
            records = records[1:]
        else:
            if columns is None:
                raise DmsFormatError(f"{key}: a file without a header needs the column names")
            extra = len(first) - len(columns)
            has_ts = timestamp_column is not None and extra >= 1
            has_op = extra - int(has_ts) == 1
            if extra - int(has_ts) - int(has_op) != 0:
                raise DmsFormatError(
                    f"{key}: {len(first)} fields per record do not fit {len(columns)} columns "
                    f"[+ Op] [+ {timestamp_column}]"
                )
            names = ([OP_COLUMN] if has_op else []) + ([timestamp_column] if has_ts else []) + list(columns)
        if sidecar is not None:
            system = (OP_COLUMN, timestamp_column, position_column)
            cells = _listed_cells(sidecar.where, sidecar.not_carried, names, len(records), system)
            for column, row in cells:
                records[row][names.index(column)] = UNCHANGED
            _typed(key, sidecar, [n if n not in system else "" for n in names], records)
        elif nosup_value:  # DMS's own convention: the text cannot be told from a value with that text
            records = [[UNCHANGED if v == nosup_value else v for v in r] for r in records]
    if len(set(names)) != len(names):
        raise DmsFormatError(f"{key}: duplicate column names {names}")
    op_i = 0 if names and names[0] == OP_COLUMN else None
    ts_i = names.index(timestamp_column) if timestamp_column and timestamp_column in names else None
    pos_i = names.index(position_column) if position_column in names else None
    data_idx = [i for i in range(len(names)) if i not in (op_i, ts_i, pos_i)]
    rows: list[ChangeRow] = []
    for n, record in enumerate(records, start=1):
        op = record[op_i] if op_i is not None else "I"
        if op not in OPS:
            raise DmsFormatError(f"{key}: record {n} has operation {op!r}, not I/U/D")
        ts_value = record[ts_i] if ts_i is not None else None
        commit_ts = ts_value if isinstance(ts_value, dt.datetime) or ts_value is None else None
        if isinstance(ts_value, str):
            try:
                commit_ts = parse_timestamp(ts_value)
            except ValueError:
                raise DmsFormatError(
                    f"{key}: record {n} timestamp {ts_value!r} is not {TIMESTAMP_FORMAT}"
                ) from None
        position = record[pos_i] if pos_i is not None else None
        if not position:
            position = f"{stem}:{n:010d}"
        rows.append(ChangeRow(op, commit_ts, str(position), {names[i]: record[i] for i in data_idx}))
    return rows


def read_not_carried(store: ObjectStore, key: str) -> bytes | None:
    """The sidecar of the CSV file at ``key``, or None (DMS's own files, Parquet files).

    Read after the file: the writer puts the sidecar first, so a file that is there has its sidecar.
    """
    if parse_key(key).data_format != "csv":
        return None
    sidecar = not_carried_key(key)
    return store.get_bytes(sidecar) if store.exists(sidecar) else None


def read_dms_file(store: ObjectStore, key: str, *args: Any, **kwargs: Any) -> list[ChangeRow]:
    """``parse_dms_file`` of the object at ``key`` with its sidecar, when it has one."""
    data = store.get_bytes(key)
    return parse_dms_file(key, data, *args, not_carried=read_not_carried(store, key), **kwargs)


# ---------------------------------------------------------------------------------------------------- merge


State = dict[tuple[Any, ...], tuple[str, str, dict[str, Any]]]


def merge_changes(state: State, rows: Iterable[ChangeRow], key_columns: Sequence[str]) -> State:
    """Folds changes into ``state`` (key -> (position, op, values)), keeping per key the highest position.

    The result does not depend on the order files arrive in, and a change seen twice (same position) changes
    nothing: this is the rule the intermediate current-state tables follow. A delete stays as a tombstone so
    a late, older insert cannot bring the row back.
    """
    for row in rows:
        key = tuple(row.values.get(c) for c in key_columns)
        if any(k is None or k is UNCHANGED for k in key):
            raise DmsFormatError(f"change at {row.position} has no value for key columns {list(key_columns)}")
        held = state.get(key)
        if held is not None and held[0] >= row.position:
            continue
        values = row.values
        if held is not None and any(v is UNCHANGED for v in values.values()):
            values = {c: held[2].get(c) if v is UNCHANGED else v for c, v in values.items()}
        state[key] = (row.position, row.op, values)
    return state


def current_state(
    rows: Iterable[ChangeRow], key_columns: Sequence[str]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The table as of the newest change: key -> values, deleted rows left out."""
    state = merge_changes({}, rows, key_columns)
    return {k: v for k, (_, op, v) in state.items() if op != "D"}
