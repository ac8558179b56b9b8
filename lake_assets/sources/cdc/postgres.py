"""Change data capture from PostgreSQL into the DMS landing layout, through a logical replication slot.

* ``snapshot`` creates the publication and the slot (pgoutput) over a replication connection with
  ``EXPORT_SNAPSHOT`` and reads every table inside that exported snapshot: the full load holds exactly the
  transactions committed before the slot's consistent point, and the slot yields exactly those after it.
* ``stream`` reads decoded transactions from the slot (``pg_logical_slot_peek_binary_changes``: reading does
  not consume), writes the change files, and only then advances the slot to the last landed commit
  (``pg_replication_slot_advance``). A crash between the two re-delivers that batch: its files get the same
  names and bytes, and its rows carry the same ``AR_H_CHANGE_SEQ``, so the merge applies them once.

Rolled-back transactions are never decoded, so they never land. An update that changes the primary key lands
as D (old key) then I (new row), so a current-state merge by key needs no before-image. Tables without a
primary key are refused unless a key is declared and the table's replica identity is FULL or an index.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import psycopg2.extras
import pyarrow as pa
from psycopg2 import sql

from lake_assets.sources.cdc.capture import CdcError, RowCounter, SnapshotResult, StreamResult
from lake_assets.sources.cdc.dms_format import (
    UNCHANGED,
    ChangeRow,
    DmsOptions,
    format_lsn_position,
    write_changes,
    write_full_load,
)
from lake_assets.storage.object_store import ObjectStore

PG_EPOCH = dt.datetime(2000, 1, 1)
DEFAULT_OPTIONS = DmsOptions()
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Type OIDs that map to typed Parquet columns; everything else stays text (numeric keeps its exact digits).
_ARROW_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    700: pa.float32(),
    701: pa.float64(),
    1082: pa.date32(),
}


def _arrow_types(columns: Sequence[str], type_oids: Sequence[int]) -> dict[str, pa.DataType]:
    return {c: _ARROW_TYPES[o] for c, o in zip(columns, type_oids, strict=True) if o in _ARROW_TYPES}


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    columns: tuple[str, ...]
    type_oids: tuple[int, ...]
    key: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def arrow_types(self) -> dict[str, pa.DataType]:
        return {
            c: _ARROW_TYPES[o] for c, o in zip(self.columns, self.type_oids, strict=True) if o in _ARROW_TYPES
        }


def lsn_to_int(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def lsn_to_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def _check_name(kind: str, name: str) -> str:
    if not _NAME.match(name) or len(name) > 63:
        raise CdcError(f"{kind} name {name!r} must be a plain identifier (letters, digits, _; at most 63)")
    return name


def _connect(conn_url: str) -> Any:
    conn = psycopg2.connect(conn_url)
    conn.autocommit = True
    return conn


# ------------------------------------------------------------------------------------------ table discovery


def resolve_tables(
    conn: Any, tables: Sequence[str] | str, keys: Mapping[str, Sequence[str]] | None = None
) -> list[TableInfo]:
    """Tables named ``schema.table`` (``public`` when omitted), or a ``LIKE`` pattern on ``schema.table``.

    Every table needs a key: its primary key, or one declared in ``keys`` (then its replica identity must be
    FULL or an index, else PostgreSQL could not log which row an update or delete touched).
    """
    keys = dict(keys or {})
    with conn.cursor() as cur:
        if isinstance(tables, str):
            cur.execute(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND n.nspname || '.' || c.relname LIKE %s ORDER BY 1, 2",
                (tables if "." in tables else f"public.{tables}",),
            )
            names = [f"{s}.{t}" for s, t in cur.fetchall()]
            if not names:
                raise CdcError(f"no table matches {tables!r}")
        else:
            names = [t if "." in t else f"public.{t}" for t in tables]
        infos = []
        for qualified in names:
            schema, name = qualified.split(".", 1)
            cur.execute(
                "SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s",
                (schema, name),
            )
            found = cur.fetchone()
            if found is None:
                raise CdcError(f"table {qualified} does not exist")
            oid, replident = found
            cur.execute(
                "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %s AND attnum > 0 "
                "AND NOT attisdropped ORDER BY attnum",
                (oid,),
            )
            cols = cur.fetchall()
            cur.execute(
                "SELECT a.attname FROM pg_index i "
                "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord) ON true "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                "WHERE i.indrelid = %s AND i.indisprimary ORDER BY k.ord",
                (oid,),
            )
            key = tuple(r[0] for r in cur.fetchall())
            declared = keys.get(qualified) or keys.get(name)
            if declared:
                missing = [c for c in declared if c not in {c for c, _ in cols}]
                if missing:
                    raise CdcError(f"table {qualified}: declared key columns {missing} do not exist")
                if not key and replident not in ("f", "i"):
                    raise CdcError(
                        f"table {qualified} has no primary key: with a declared key its updates and deletes "
                        f"can only be captured after ALTER TABLE {qualified} REPLICA IDENTITY FULL"
                    )
                key = tuple(declared)
            if not key:
                raise CdcError(
                    f"table {qualified} has no primary key: changes could not be merged by key; "
                    "add a primary key or declare one (keys={...}) with REPLICA IDENTITY FULL"
                )
            infos.append(
                TableInfo(schema, name, tuple(c for c, _ in cols), tuple(int(o) for _, o in cols), key)
            )
    return infos


# ------------------------------------------------------------------------------------------------ snapshot


def snapshot(
    conn_url: str,
    tables: Sequence[str] | str,
    store: ObjectStore,
    source_name: str,
    *,
    slot: str,
    publication: str | None = None,
    keys: Mapping[str, Sequence[str]] | None = None,
    options: DmsOptions = DEFAULT_OPTIONS,
) -> SnapshotResult[str]:
    """Full load of ``tables`` consistent with a new slot; ``stream`` continues exactly where it ends.

    Refuses an existing slot: it may already have changes that this load would precede, so the operator
    drops it (``drop_slot``) to re-snapshot on purpose.
    """
    _check_name("slot", slot)
    publication = _check_name("publication", publication or slot)
    conn = _connect(conn_url)
    try:
        infos = resolve_tables(conn, tables, keys)
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,))
            if cur.fetchone():
                raise CdcError(f"replication slot {slot} exists: drop it first to take a new full load")
            table_list = sql.SQL(", ").join(sql.Identifier(i.schema, i.name) for i in infos)
            cur.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,))
            verb = (
                "ALTER PUBLICATION {} SET TABLE {}"
                if cur.fetchone()
                else "CREATE PUBLICATION {} FOR TABLE {}"
            )
            cur.execute(sql.SQL(verb).format(sql.Identifier(publication), table_list))
    finally:
        conn.close()

    repl = psycopg2.connect(conn_url, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    try:
        with repl.cursor() as rcur:
            rcur.execute(f'CREATE_REPLICATION_SLOT "{slot}" LOGICAL pgoutput EXPORT_SNAPSHOT')
            _, consistent_point, snapshot_name, _ = rcur.fetchone()
        # The exported snapshot lives while the replication connection stays idle; read everything now.
        reader = psycopg2.connect(conn_url)
        try:
            reader.set_session(isolation_level="REPEATABLE READ", readonly=True)
            with reader.cursor() as cur:
                cur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot_name,))
                cur.execute("SELECT (now() AT TIME ZONE 'UTC')::timestamp")
                load_ts = cur.fetchone()[0]
            base = lsn_to_int(consistent_point) - 1  # load rows sort before every change after the slot
            files: list[str] = []
            counts: dict[str, int] = {}
            for info in infos:
                rows = _table_rows(reader, info, load_ts, base)
                counted = RowCounter(rows)
                files += write_full_load(
                    store,
                    source_name,
                    info.schema,
                    info.name,
                    info.columns,
                    counted,
                    options,
                    info.arrow_types,
                )
                counts[info.qualified] = counted.n
            reader.commit()
        finally:
            reader.close()
    finally:
        repl.close()
    return SnapshotResult(counts, files, consistent_point)


def _table_rows(conn: Any, info: TableInfo, load_ts: dt.datetime, base: int) -> Iterator[ChangeRow]:
    """Rows as text (the output functions pgoutput also uses), so full load and changes print alike."""
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(
            # bool's cast to text says true/false; its output function (what pgoutput sends) says t/f.
            sql.SQL("CASE WHEN {0} THEN 't' WHEN NOT {0} THEN 'f' END" if oid == 16 else "{0}::text").format(
                sql.Identifier(c)
            )
            for c, oid in zip(info.columns, info.type_oids, strict=True)
        ),
        sql.Identifier(info.schema, info.name),
    )
    with conn.cursor(name=f"load_{info.name}"[:60]) as cur:
        cur.itersize = 20_000
        cur.execute(query)
        for n, record in enumerate(cur, start=1):
            yield ChangeRow(
                "I", load_ts, format_lsn_position(base, n), dict(zip(info.columns, record, strict=True))
            )


# ------------------------------------------------------------------------------------------------ pgoutput


@dataclass
class Relation:
    schema: str
    name: str
    columns: tuple[str, ...]
    key_flags: tuple[bool, ...]
    type_oids: tuple[int, ...]

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(c for c, k in zip(self.columns, self.key_flags, strict=True) if k)

    @property
    def arrow_types(self) -> dict[str, pa.DataType]:
        return {
            c: _ARROW_TYPES[o] for c, o in zip(self.columns, self.type_oids, strict=True) if o in _ARROW_TYPES
        }


@dataclass
class Change:
    relation: Relation
    op: str
    values: dict[str, Any]


@dataclass
class Transaction:
    final_lsn: int
    commit_ts: dt.datetime
    end_lsn: int = 0
    changes: list[Change] = field(default_factory=list)


class PgOutputDecoder:
    """Decodes pgoutput protocol version 1 messages; keeps the relation cache across batches."""

    def __init__(self, keys: Mapping[str, Sequence[str]] | None = None) -> None:
        self.relations: dict[int, Relation] = {}
        self.keys = {k if "." in k else f"public.{k}": tuple(v) for k, v in (keys or {}).items()}
        self.current: Transaction | None = None

    def feed(self, data: bytes) -> Transaction | None:
        """One message; returns the transaction when its commit arrives."""
        kind = data[:1]
        if kind == b"B":
            final_lsn, ts, _xid = struct.unpack_from("!qqi", data, 1)
            self.current = Transaction(final_lsn, PG_EPOCH + dt.timedelta(microseconds=ts))
        elif kind == b"C":
            _flags, _commit_lsn, end_lsn, _ts = struct.unpack_from("!bqqq", data, 1)
            txn, self.current = self.current, None
            if txn is None:
                raise CdcError("pgoutput sent a commit without a begin")
            txn.end_lsn = end_lsn
            return txn
        elif kind == b"R":
            self._relation(data)
        elif kind in (b"I", b"U", b"D"):
            self._change(kind.decode(), data)
        elif kind == b"T":
            (nrels,) = struct.unpack_from("!i", data, 1)
            relids = struct.unpack_from(f"!{nrels}i", data, 6)
            names = [self._rel(r).schema + "." + self._rel(r).name for r in relids]
            raise CdcError(
                f"TRUNCATE of {names} cannot be expressed as DMS I/U/D rows; take a new full load of those "
                "tables (drop the slot, snapshot again)"
            )
        # 'O' origin, 'Y' type, 'M' logical message: nothing to land.
        return None

    def _rel(self, relid: int) -> Relation:
        try:
            return self.relations[relid]
        except KeyError:
            raise CdcError(f"pgoutput sent a change for relation {relid} before describing it") from None

    @staticmethod
    def _cstring(data: bytes, pos: int) -> tuple[str, int]:
        end = data.index(b"\0", pos)
        return data[pos:end].decode(), end + 1

    def _relation(self, data: bytes) -> None:
        (relid,) = struct.unpack_from("!I", data, 1)
        schema, pos = self._cstring(data, 5)
        name, pos = self._cstring(data, pos)
        pos += 1  # replica identity setting
        (ncols,) = struct.unpack_from("!h", data, pos)
        pos += 2
        columns, flags, oids = [], [], []
        for _ in range(ncols):
            flag = data[pos]
            col, pos = self._cstring(data, pos + 1)
            oid, _typmod = struct.unpack_from("!Ii", data, pos)
            pos += 8
            columns.append(col)
            flags.append(bool(flag & 1))
            oids.append(oid)
        self.relations[relid] = Relation(schema, name, tuple(columns), tuple(flags), tuple(oids))

    @staticmethod
    def _tuple(data: bytes, pos: int, columns: tuple[str, ...]) -> tuple[dict[str, Any], int]:
        (ncols,) = struct.unpack_from("!h", data, pos)
        pos += 2
        values: dict[str, Any] = {}
        for i in range(ncols):
            kind = data[pos : pos + 1]
            pos += 1
            if kind == b"n":
                value: Any = None
            elif kind == b"u":
                value = UNCHANGED
            elif kind == b"t":
                (length,) = struct.unpack_from("!i", data, pos)
                value = data[pos + 4 : pos + 4 + length].decode()
                pos += 4 + length
            else:
                raise CdcError(f"pgoutput tuple column kind {kind!r} is not supported (protocol version 1)")
            values[columns[i]] = value
        return values, pos

    def _change(self, op: str, data: bytes) -> None:
        if self.current is None:
            raise CdcError("pgoutput sent a change outside a transaction")
        (relid,) = struct.unpack_from("!I", data, 1)
        rel = self._rel(relid)
        pos = 5
        old: dict[str, Any] | None = None
        marker = data[pos : pos + 1]
        if marker in (b"K", b"O"):
            old, pos = self._tuple(data, pos + 1, rel.columns)
            marker = data[pos : pos + 1]
        if op == "D":
            self.current.changes.append(Change(rel, "D", old or {}))
            return
        if marker != b"N":
            raise CdcError(f"pgoutput {op} message for {rel.schema}.{rel.name} lacks the new tuple")
        new, _ = self._tuple(data, pos + 1, rel.columns)
        if op == "U" and old is not None:
            key = self.keys.get(f"{rel.schema}.{rel.name}") or rel.key
            if any(old.get(c) != new.get(c) for c in key):
                # The key changed: the old row is gone and a new one exists, which a merge by key understands.
                self.current.changes.append(Change(rel, "D", {c: old.get(c) for c in rel.columns}))
                self.current.changes.append(Change(rel, "I", new))
                return
        self.current.changes.append(Change(rel, op, new))


# -------------------------------------------------------------------------------------------------- stream


@dataclass
class Batch:
    transactions: list[Transaction]
    end_lsn: int | None  # the last commit's end; the slot may advance to it once the batch has landed

    @property
    def changes(self) -> int:
        return sum(len(t.changes) for t in self.transactions)


def read_batch(conn: Any, slot: str, publication: str, decoder: PgOutputDecoder, max_messages: int) -> Batch:
    """Peeks whole transactions (the server stops at a commit once ``max_messages`` is passed)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes(%s, NULL, %s, "
            "'proto_version', '1', 'publication_names', %s)",
            (slot, max_messages, publication),
        )
        transactions = []
        for _lsn, data in cur:
            txn = decoder.feed(bytes(data))
            if txn is not None:
                transactions.append(txn)
    if decoder.current is not None:
        raise CdcError(f"slot {slot}: the server returned a transaction without its commit")
    return Batch(transactions, transactions[-1].end_lsn if transactions else None)


def land_batch(store: ObjectStore, source_name: str, batch: Batch, options: DmsOptions) -> list[str]:
    """One change file per table (more when its columns changed inside the batch), in commit order."""
    groups: dict[tuple[str, str], list[tuple[Relation, list[ChangeRow]]]] = {}
    for txn in batch.transactions:
        for seq, change in enumerate(txn.changes, start=1):
            rel = change.relation
            segments = groups.setdefault((rel.schema, rel.name), [])
            if not segments or segments[-1][0].columns != rel.columns:
                segments.append((rel, []))
            position = format_lsn_position(txn.final_lsn, seq)
            segments[-1][1].append(ChangeRow(change.op, txn.commit_ts, position, change.values))
    keys = []
    for (schema, table), segments in groups.items():
        for rel, rows in segments:
            keys.append(
                write_changes(store, source_name, schema, table, rel.columns, rows, options, rel.arrow_types)
            )
    return keys


def confirm(conn: Any, slot: str, lsn: int) -> str:
    """Moves the slot past everything up to ``lsn``: the server may then recycle that WAL."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT end_lsn::text FROM pg_replication_slot_advance(%s, %s::pg_lsn)", (slot, lsn_to_text(lsn))
        )
        return cur.fetchone()[0]


def stream(
    conn_url: str,
    slot: str,
    store: ObjectStore,
    source_name: str,
    *,
    publication: str | None = None,
    max_changes: int | None = None,
    timeout: float = 0.0,
    batch_messages: int = 20_000,
    keys: Mapping[str, Sequence[str]] | None = None,
    options: DmsOptions = DEFAULT_OPTIONS,
) -> StreamResult[str]:
    """Lands the slot's pending changes batch by batch, confirming each batch only after its files exist.

    Stops when ``max_changes`` have landed (at a transaction boundary, so possibly a few more) or when no
    change has arrived for ``timeout`` seconds (0: stop as soon as the slot is drained).
    """
    publication = _check_name("publication", publication or slot)
    conn = _connect(conn_url)
    result: StreamResult[str] = StreamResult()
    decoder = PgOutputDecoder(keys)
    idle_since = time.monotonic()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT plugin FROM pg_replication_slots WHERE slot_name = %s", (slot,))
            found = cur.fetchone()
        if found is None:
            raise CdcError(f"replication slot {slot} does not exist: take a full load with snapshot() first")
        if found[0] != "pgoutput":
            raise CdcError(f"replication slot {slot} uses {found[0]}, not pgoutput")
        while max_changes is None or result.changes < max_changes:
            limit = (
                batch_messages if max_changes is None else min(batch_messages, max_changes - result.changes)
            )
            batch = read_batch(conn, slot, publication, decoder, max(limit, 1))
            if batch.end_lsn is None:
                if time.monotonic() - idle_since >= timeout:
                    break
                time.sleep(0.05)
                continue
            result.files += land_batch(store, source_name, batch, options)
            result.position = confirm(conn, slot, batch.end_lsn)
            if lsn_to_int(result.position) < batch.end_lsn:  # else the next peek repeats this batch
                raise CdcError(f"slot {slot} did not advance to {lsn_to_text(batch.end_lsn)}")
            result.changes += batch.changes
            result.transactions += len(batch.transactions)
            idle_since = time.monotonic()
    finally:
        conn.close()
    return result


def drop_slot(conn_url: str, slot: str, publication: str | None = None) -> None:
    """Drops the slot (and its publication); the next capture must start with a new full load."""
    conn = _connect(conn_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                (slot,),
            )
            cur.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(publication or slot)))
    finally:
        conn.close()
