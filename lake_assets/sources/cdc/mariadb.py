"""Change data capture from MariaDB into the DMS landing layout, through the binary log (ROW format).

* ``snapshot`` reads every table inside ``START TRANSACTION WITH CONSISTENT SNAPSHOT``. With the binary log
  on, MariaDB makes that snapshot consistent with a binlog position (status ``binlog_snapshot_file`` /
  ``binlog_snapshot_position``, for InnoDB and other transactional engines) without any table lock: the full
  load holds exactly the transactions written to the binlog before that position. The position and the
  tables (with their keys) are stored in the lake, ``_system/cdc/<source>/mariadb_position.json``, after the
  load files exist.
* ``stream`` reads ROW events from the stored position (python-mysql-replication), writes the change files,
  and only then stores the new position (always a transaction boundary). A crash between the two re-delivers
  that batch: its rows carry the same ``AR_H_CHANGE_SEQ`` (binlog file number, offset of the transaction,
  row index), so the merge applies them once.

MariaDB writes a transaction to the binlog only when it commits, so a rollback never lands. An update that
changes the key lands as D (old row) then I (new row). Tables without a primary key are refused unless a key
is declared; with ``binlog_row_image=FULL`` the before-image carries every column, so any declared key works.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import random
import re
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pymysql
import pymysql.cursors
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import MariadbGtidEvent, QueryEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from lake_assets.sources.cdc.capture import CdcError, RowCounter, SnapshotResult, StreamResult
from lake_assets.sources.cdc.dms_format import ChangeRow, DmsOptions, write_changes, write_full_load
from lake_assets.storage.object_store import ObjectStore
from lake_assets.storage.zones import Zone, zone_prefix

__all__ = ["CdcError", "SnapshotResult", "StreamResult", "reset", "snapshot", "stream", "stored_position"]

DEFAULT_OPTIONS = DmsOptions()
POSITION_FILE = "mariadb_position.json"
# MySQL protocol field types (PyMySQL's cursor description and the binlog's table map use the same codes;
# the binlog has the *2 variants of the temporal types).
_INTS = {1, 2, 3, 8, 9}  # TINY, SHORT, LONG, LONGLONG, INT24
_FLOAT, _DOUBLE, _DATE, _NEWDATE, _BIT = 4, 5, 10, 14, 16
_REQUIRED = {
    "log_bin": "1",
    "binlog_format": "ROW",
    "binlog_row_image": "FULL",
    "binlog_row_metadata": "FULL",
}
_TRUNCATE = re.compile(r"^\s*TRUNCATE\s+(?:TABLE\s+)?(`?[\w$]+`?(?:\s*\.\s*`?[\w$]+`?)?)", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class Position:
    """A binlog coordinate; orders like the binlog (file names carry a zero-padded number)."""

    log_file: str
    log_pos: int

    @property
    def file_number(self) -> int:
        """``mysql-bin.000042`` -> 42: the files of one server sort by it."""
        return int(self.log_file.rsplit(".", 1)[1])


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def format_position(pos: Position, row: int) -> str:
    """35 sortable digits: binlog file number (6), offset in it (14), row index in the transaction (15)."""
    return f"{pos.file_number:06d}{pos.log_pos:014d}{row:015d}"


def state_key(source_name: str) -> str:
    return zone_prefix(Zone.SYSTEM, "cdc", source_name) + POSITION_FILE


def connect_args(conn_url: str) -> dict[str, Any]:
    """``mysql://user[:password]@host[:port]/database`` as PyMySQL keyword arguments."""
    parts = urlsplit(conn_url)
    if parts.scheme not in ("mysql", "mariadb", "mysql+pymysql"):
        raise CdcError(f"{conn_url!r} is not a mysql:// or mariadb:// URL")
    database = parts.path.lstrip("/")
    if not database:
        raise CdcError(f"{conn_url!r} names no database (mysql://user@host:3306/<database>)")
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "database": database,
    }


def _connect(conn_url: str, **extra: Any) -> pymysql.Connection:
    return pymysql.connect(**connect_args(conn_url), charset="utf8mb4", autocommit=True, **extra)


def check_server(conn: pymysql.Connection) -> None:
    """The binlog settings the capture relies on; the message says how to get them."""
    with conn.cursor() as cur:
        cur.execute("SELECT " + ", ".join(f"@@GLOBAL.{v}" for v in _REQUIRED))
        found = dict(zip(_REQUIRED, (str(v) for v in cur.fetchone()), strict=True))
    wrong = {k: v for k, v in found.items() if v.upper() != _REQUIRED[k]}
    if wrong:
        raise CdcError(
            f"MariaDB is not set up for binlog capture ({wrong}; needed {_REQUIRED}): start it with "
            "log_bin, binlog_format=ROW, binlog_row_image=FULL and binlog_row_metadata=FULL (docs/CDC.md, "
            "'Configuring the databases')"
        )


# ------------------------------------------------------------------------------------------------- values


def _bit_text(value: bytes | str | int, bits: int) -> str:
    """``BIT(n)`` as its n binary digits, leading zeros kept (``b'101'`` in a ``BIT(4)`` is ``0101``).

    The load gives bytes and the binlog a bit string; both land as PostgreSQL prints ``bit(n)`` and as
    ``LPAD(BIN(col), n, '0')`` prints it at the source, so the reconciliation check can rebuild it.
    """
    if isinstance(value, bytes | bytearray):
        number = int.from_bytes(value, "big")
    elif isinstance(value, str):
        number = int(value, 2) if value else 0
    else:
        number = int(value)
    return format(number, f"0{bits}b")


def double_text(value: float) -> str:
    """A DOUBLE as PostgreSQL prints float8: the shortest digits that read back to the same double, fixed
    notation for decimal exponents -4 to 14 (no ``.0`` on whole numbers), else ``1.5e+15``.

    One text form for DOUBLE from both databases: the reconciliation check prints typed (Parquet) doubles so.
    """
    if value != value or value in (float("inf"), float("-inf")):
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(value)]
    sign, digits, exponent = decimal.Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0")
    prefix = "-" if sign else ""
    if not text:
        return prefix + "0"
    point = exponent + len(digits) - 1  # decimal exponent of the first digit
    if -4 <= point < 15:
        if point < 0:
            return f"{prefix}0.{'0' * (-point - 1)}{text}"
        whole, fraction = text[: point + 1].ljust(point + 1, "0"), text[point + 1 :]
        return prefix + whole + (f".{fraction}" if fraction else "")
    mantissa = text[0] + (f".{text[1:]}" if len(text) > 1 else "")
    return f"{prefix}{mantissa}e{'-' if point < 0 else '+'}{abs(point):02d}"


def _text(value: Any, type_code: int, bits: int = 1) -> str | None:
    """One text form for a value from the load (PyMySQL) and from the binlog, so both land alike.

    ``bits`` is the width of a ``BIT`` column.
    """
    if value is None:
        return None
    if type_code == _FLOAT:
        # FLOAT is single precision: the binlog has the exact binary value, SELECT the 6-digit rounding.
        return format(float(value), ".6g")
    if type_code == _BIT:
        return _bit_text(value, bits)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return double_text(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        total = abs(value)
        hours, rest = divmod(total.days * 86400 + total.seconds, 3600)
        text = f"{'-' if value < dt.timedelta(0) else ''}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        return text + (f".{total.microseconds:06d}" if total.microseconds else "")
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, set | frozenset):
        return ",".join(sorted(value))
    return str(value)


def _arrow_type(type_code: int, unsigned: bool) -> pa.DataType | None:
    if type_code in _INTS:
        return pa.string() if type_code == 8 and unsigned else pa.int64()
    if type_code == _FLOAT:
        return pa.float32()
    if type_code == _DOUBLE:
        return pa.float64()
    if type_code in (_DATE, _NEWDATE):
        return pa.date32()
    return None


# ------------------------------------------------------------------------------------------ table discovery


def resolve_tables(
    conn: pymysql.Connection,
    tables: Sequence[str] | str,
    keys: Mapping[str, Sequence[str]] | None = None,
) -> list[TableInfo]:
    """Tables named ``schema.table`` (the URL's database when omitted), or a ``LIKE`` pattern on them.

    Every table needs a key, its primary key or one declared in ``keys``, and a transactional engine
    (otherwise the consistent snapshot does not cover it).
    """
    keys = dict(keys or {})
    with conn.cursor() as cur:
        cur.execute("SELECT DATABASE()")
        default_schema = cur.fetchone()[0]
        if isinstance(tables, str):
            pattern = tables if "." in tables else f"{default_schema}.{tables}"
            cur.execute(
                "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
                "WHERE TABLE_TYPE = 'BASE TABLE' AND CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) LIKE %s "
                "ORDER BY 1, 2",
                (pattern,),
            )
            names = [f"{s}.{t}" for s, t in cur.fetchall()]
            if not names:
                raise CdcError(f"no table matches {tables!r}")
        else:
            names = [t if "." in t else f"{default_schema}.{t}" for t in tables]
        infos = []
        for qualified in names:
            schema, name = qualified.split(".", 1)
            cur.execute(
                "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (schema, name),
            )
            found = cur.fetchone()
            if found is None:
                raise CdcError(f"table {qualified} does not exist")
            if found[0] is None or found[0].upper() not in ("INNODB", "ROCKSDB"):
                raise CdcError(
                    f"table {qualified} uses the {found[0]} engine: a consistent snapshot only covers "
                    "transactional tables (ALTER TABLE ... ENGINE=InnoDB)"
                )
            cur.execute(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                (schema, name),
            )
            columns = tuple(r[0] for r in cur.fetchall())
            cur.execute(
                "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
                (schema, name),
            )
            key = tuple(r[0] for r in cur.fetchall())
            declared = keys.get(qualified) or keys.get(name)
            if declared:
                missing = [c for c in declared if c not in columns]
                if missing:
                    raise CdcError(f"table {qualified}: declared key columns {missing} do not exist")
                key = tuple(declared)
            if not key:
                raise CdcError(
                    f"table {qualified} has no primary key: changes could not be merged by key; "
                    "add a primary key or declare one (keys={...})"
                )
            infos.append(TableInfo(schema, name, columns, key))
    return infos


# ------------------------------------------------------------------------------------------------- state


def stored_position(store: ObjectStore, source_name: str) -> dict[str, Any] | None:
    """The capture state (position, tables and keys), or None before the first snapshot."""
    key = state_key(source_name)
    if not store.exists(key):
        return None
    return json.loads(store.get_bytes(key))


def _save_state(store: ObjectStore, source_name: str, state: dict[str, Any]) -> None:
    store.put_bytes(state_key(source_name), json.dumps(state, indent=2, sort_keys=True).encode() + b"\n")


def reset(store: ObjectStore, source_name: str) -> None:
    """Forgets the stored position; the next capture must start with a new full load."""
    key = state_key(source_name)
    if store.exists(key):
        store.delete(key)


# ------------------------------------------------------------------------------------------------ snapshot


def snapshot(
    conn_url: str,
    tables: Sequence[str] | str,
    store: ObjectStore,
    source_name: str,
    *,
    keys: Mapping[str, Sequence[str]] | None = None,
    options: DmsOptions = DEFAULT_OPTIONS,
) -> SnapshotResult[Position]:
    """Full load of ``tables`` consistent with a binlog position; ``stream`` continues exactly there.

    Refuses when a position is already stored: changes after it may not have landed yet, and a new load
    would hide them. ``reset`` first to re-snapshot on purpose.
    """
    if stored_position(store, source_name) is not None:
        raise CdcError(
            f"source {source_name} already has a stored binlog position ({state_key(source_name)}): "
            "reset it first to take a new full load"
        )
    conn = _connect(conn_url)
    reader = _connect(conn_url, cursorclass=pymysql.cursors.SSCursor)
    try:
        check_server(conn)
        infos = resolve_tables(conn, tables, keys)
        with reader.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")  # TIMESTAMP as UTC, as the binlog holds it
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            cur.execute("SHOW SESSION STATUS LIKE 'binlog_snapshot_%'")
            status = {k.lower(): v for k, v in cur.fetchall()}
            cur.execute("SELECT UTC_TIMESTAMP(6)")
            load_ts = cur.fetchone()[0]
        position = Position(status["binlog_snapshot_file"], int(status["binlog_snapshot_position"]))
        if not position.log_file:
            raise CdcError("MariaDB reported no binlog snapshot position: is log_bin on?")
        files: list[str] = []
        counts: dict[str, int] = {}
        # Load rows sort before every change after the position (changes start at an offset >= it).
        base = Position(position.log_file, position.log_pos - 1)
        for info in infos:
            types: dict[str, pa.DataType] = {}
            counter = RowCounter(_table_rows(reader, info, load_ts, base, types))
            files += write_full_load(
                store, source_name, info.schema, info.name, info.columns, counter, options, types
            )
            counts[info.qualified] = counter.n
        reader.commit()
    finally:
        reader.close()
        conn.close()
    _save_state(
        store,
        source_name,
        {
            "log_file": position.log_file,
            "log_pos": position.log_pos,
            "snapshot_at": load_ts.isoformat(sep=" "),
            "tables": {i.qualified: {"key": list(i.key)} for i in infos},
        },
    )
    return SnapshotResult(counts, files, position)


def _table_rows(
    conn: pymysql.Connection,
    info: TableInfo,
    load_ts: dt.datetime,
    base: Position,
    types: dict[str, pa.DataType],
) -> Iterator[ChangeRow]:
    """Rows in the same text form the binlog path gives; fills ``types`` (Parquet) before the first row."""
    columns = ", ".join(f"`{c.replace('`', '``')}`" for c in info.columns)
    with conn.cursor() as cur:
        cur.execute(f"SELECT {columns} FROM `{info.schema}`.`{info.name}`")
        codes = [f.type_code for f in cur._result.fields]
        widths = [f.length for f in cur._result.fields]  # a BIT(n) column's length is n
        for name, f in zip(info.columns, cur._result.fields, strict=True):
            typ = _arrow_type(f.type_code, bool(f.flags & 32))  # 32: UNSIGNED_FLAG
            if typ is not None:
                types[name] = typ
        for n, record in enumerate(cur, start=1):
            values = {
                c: _text(v, t, n) for c, v, t, n in zip(info.columns, record, codes, widths, strict=True)
            }
            yield ChangeRow("I", load_ts, format_position(base, n), values)


# -------------------------------------------------------------------------------------------------- stream


@dataclass
class _Change:
    schema: str
    table: str
    columns: tuple[str, ...]
    types: dict[str, pa.DataType]
    op: str
    values: dict[str, str | None]


@dataclass
class _Transaction:
    start: Position  # the GTID event's end: unique per transaction, increasing in binlog order
    changes: list[_Change] = field(default_factory=list)
    commit_ts: dt.datetime | None = None


def _land(
    store: ObjectStore, source_name: str, transactions: list[_Transaction], options: DmsOptions
) -> list[str]:
    """One change file per table (more when its columns changed inside the batch), in commit order."""
    groups: dict[tuple[str, str], list[tuple[tuple[str, ...], dict[str, pa.DataType], list[ChangeRow]]]] = {}
    for txn in transactions:
        for seq, change in enumerate(txn.changes, start=1):
            segments = groups.setdefault((change.schema, change.table), [])
            if not segments or segments[-1][0] != change.columns:
                segments.append((change.columns, change.types, []))
            row = ChangeRow(change.op, txn.commit_ts, format_position(txn.start, seq), change.values)
            segments[-1][2].append(row)
    keys = []
    for (schema, table), segments in groups.items():
        for columns, types, rows in segments:
            keys.append(write_changes(store, source_name, schema, table, columns, rows, options, types))
    return keys


def _row_changes(event: Any, captured: dict[str, tuple[str, ...]]) -> list[_Change]:
    qualified = f"{event.schema}.{event.table}"
    key = captured.get(qualified)
    if key is None:
        return []
    cols = event.columns
    names = tuple(c.name for c in cols)
    if any(n is None for n in names):
        raise CdcError(f"the binlog carries no column names for {qualified}: set binlog_row_metadata=FULL")
    codes = {c.name: c.type for c in cols}
    widths = {c.name: getattr(c, "bits", 1) for c in cols}  # BIT(n) columns carry n
    types = {c.name: t for c in cols if (t := _arrow_type(c.type, c.unsigned)) is not None}

    def text(values: dict[str, Any]) -> dict[str, str | None]:
        return {n: _text(values.get(n), codes[n], widths[n]) for n in names}

    out = []
    for row in event.rows:
        if isinstance(event, WriteRowsEvent):
            out.append(_Change(event.schema, event.table, names, types, "I", text(row["values"])))
        elif isinstance(event, DeleteRowsEvent):
            out.append(_Change(event.schema, event.table, names, types, "D", text(row["values"])))
        else:
            before, after = text(row["before_values"]), text(row["after_values"])
            if any(before[c] != after[c] for c in key):
                # The key changed: the old row is gone and a new one exists, which a merge by key understands.
                out.append(_Change(event.schema, event.table, names, types, "D", before))
                out.append(_Change(event.schema, event.table, names, types, "I", after))
            else:
                out.append(_Change(event.schema, event.table, names, types, "U", after))
    return out


def _truncated(query: str, schema: str | None, captured: dict[str, tuple[str, ...]]) -> str | None:
    match = _TRUNCATE.match(query)
    if not match:
        return None
    name = re.sub(r"[`\s]", "", match.group(1))
    qualified = name if "." in name else f"{schema}.{name}"
    return qualified if qualified in captured else None


def _read_batch(
    settings: dict[str, Any],
    start: Position,
    captured: dict[str, tuple[str, ...]],
    limit: int | None,
    server_id: int,
) -> tuple[list[_Transaction], Position]:
    """Whole committed transactions after ``start`` (up to ``limit`` changes, at a transaction boundary).

    Returns them and the position after the last complete transaction or DDL read, where the next read
    starts.
    """
    warnings.filterwarnings("ignore", "'db' is deprecated", DeprecationWarning, "pymysqlreplication")
    reader = BinLogStreamReader(
        connection_settings=settings,
        server_id=server_id,
        resume_stream=True,
        log_file=start.log_file,
        log_pos=start.log_pos,
        blocking=False,
        only_events=[
            MariadbGtidEvent,
            QueryEvent,
            XidEvent,
            WriteRowsEvent,
            UpdateRowsEvent,
            DeleteRowsEvent,
        ],
        only_schemas=sorted({q.split(".", 1)[0] for q in captured}),
        enable_logging=False,
    )
    done: list[_Transaction] = []
    end = start
    current: _Transaction | None = None
    changes = 0
    try:
        for event in reader:
            here = Position(reader.log_file, reader.log_pos)
            if isinstance(event, MariadbGtidEvent):
                current = _Transaction(here)
            elif isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
                if current is None:
                    raise CdcError(f"row event outside a transaction at {here}")
                current.changes += _row_changes(event, captured)
            elif isinstance(event, XidEvent) or (
                isinstance(event, QueryEvent) and event.query.strip().upper() == "COMMIT"
            ):
                if current is not None and current.changes:
                    current.commit_ts = dt.datetime.fromtimestamp(event.timestamp, dt.UTC).replace(
                        tzinfo=None
                    )
                    done.append(current)
                    changes += len(current.changes)
                current, end = None, here
                if limit is not None and changes >= limit:
                    break
            elif isinstance(event, QueryEvent):
                if event.query.strip().upper() in ("BEGIN", "XA START", "XA END"):
                    continue
                schema = event.schema.decode() if isinstance(event.schema, bytes) else event.schema
                table = _truncated(event.query, schema, captured)
                if table is not None:
                    raise CdcError(
                        f"TRUNCATE of {table} at {here} cannot be expressed as DMS I/U/D rows; take a "
                        "new full load (reset, snapshot again)"
                    )
                current, end = None, here  # DDL commits on its own; nothing to land
    finally:
        reader.close()
    return done, end


def stream(
    conn_url: str,
    store: ObjectStore,
    source_name: str,
    *,
    max_changes: int | None = None,
    timeout: float = 0.0,
    batch_changes: int = 20_000,
    server_id: int | None = None,
    options: DmsOptions = DEFAULT_OPTIONS,
) -> StreamResult[Position]:
    """Lands committed changes after the stored position batch by batch; stores the position after each batch.

    Stops when ``max_changes`` have landed (at a transaction boundary, so possibly a few more) or when no
    change has arrived for ``timeout`` seconds (0: stop as soon as the binlog is drained). ``server_id`` is
    the replica id this reader registers with (random by default; it must differ from the server's and from
    other readers').
    """
    state = stored_position(store, source_name)
    if state is None:
        raise CdcError(
            f"source {source_name} has no stored binlog position: take a full load with snapshot()"
        )
    captured = {q: tuple(t["key"]) for q, t in state["tables"].items()}
    args = connect_args(conn_url)
    settings = {k: args[k] for k in ("host", "port", "user", "password")}
    position = Position(state["log_file"], int(state["log_pos"]))
    conn = _connect(conn_url)
    try:
        check_server(conn)
        with conn.cursor() as cur:
            cur.execute("SHOW BINARY LOGS")
            logs = {r[0] for r in cur.fetchall()}
    finally:
        conn.close()
    if position.log_file not in logs:
        raise CdcError(
            f"binlog {position.log_file} (stored position of {source_name}) is no longer on the server: "
            "changes may be lost; reset and take a new full load (keep binlogs longer: "
            "binlog_expire_logs_seconds)"
        )
    server_id = server_id or random.randint(100_000, 2**31 - 1)
    result: StreamResult[Position] = StreamResult(position=position)
    idle_since = time.monotonic()
    while max_changes is None or result.changes < max_changes:
        limit = batch_changes if max_changes is None else min(batch_changes, max_changes - result.changes)
        transactions, end = _read_batch(settings, position, captured, max(limit, 1), server_id)
        if transactions:
            result.files += _land(store, source_name, transactions, options)
        if end != position:
            _save_state(store, source_name, state | {"log_file": end.log_file, "log_pos": end.log_pos})
            position = result.position = end
        if not transactions:
            if time.monotonic() - idle_since >= timeout:
                break
            time.sleep(0.05)
            continue
        result.changes += sum(len(t.changes) for t in transactions)
        result.transactions += len(transactions)
        idle_since = time.monotonic()
    return result
