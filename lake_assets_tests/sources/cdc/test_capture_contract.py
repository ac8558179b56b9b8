"""What every CDC engine must do, run once per engine: the lake must not depend on the source database.

Each engine sits behind a small adapter below; where the engines differ (a PostgreSQL slot or a stored MariaDB
binlog position, REPLICA IDENTITY FULL, how a crash or a snapshot race is staged) the adapter holds it, so the
test bodies state only the shared behaviour. The strongest check is the same in every test: the landed files,
parsed and merged by key in position order, equal the source table.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg2
import pymysql
import pytest

from lake_assets.sources.cdc import mariadb, postgres
from lake_assets.sources.cdc.capture import CdcError
from lake_assets.sources.cdc.dms_format import (
    UNCHANGED,
    ChangeRow,
    DmsOptions,
    current_state,
    in_landing_order,
    not_carried_key,
    read_dms_file,
)
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.sources.cdc.conftest import MyTest, PgTest

CSV = DmsOptions()
PARQUET = DmsOptions(data_format="parquet")


@dataclass
class Loaded:
    tables: dict[str, int]
    files: list[str]
    position: Any  # comparable within one engine


@dataclass
class Streamed:
    changes: int
    transactions: int
    files: list[str]
    position: Any


@dataclass
class Crashed:
    transactions: int
    changes: int
    files: list[str]
    start: Any  # the durable position before the crashed batch
    end: Any  # the position after it, never made durable


class Capture:
    """One engine's capture of one test's tables into ``store`` (the engine test object does the SQL)."""

    schema: str  # where the test's tables live
    source: str  # the lake source name: landing/cdc/<source>/
    timestamp_type: str

    def __init__(self, db: PgTest | MyTest, store: LocalObjectStore) -> None:
        self.db, self.store, self.name = db, store, db.name

    def execute(self, *statements: str) -> None:
        self.db.execute(*statements)

    def transaction(self, *statements: str, rollback: bool = False) -> None:
        self.db.transaction(*statements, rollback=rollback)

    def rows(self, table: str, key: list[str]) -> dict[tuple, dict]:
        return self.db.rows(table, key)

    def landed(self) -> list[ChangeRow]:
        keys = in_landing_order(self.store.list_keys(f"landing/cdc/{self.source}/"))
        return [row for key in keys for row in read_dms_file(self.store, key)]

    def make_table(self, rows: int = 3) -> str:
        """``id, name, amount, at, ok`` with ``rows`` rows; ``ok`` is true for even ids."""
        table = f"{self.name}_t"
        self.execute(
            f"CREATE TABLE {table} (id int PRIMARY KEY, name varchar(100), amount decimal(10,2), "
            f"at {self.timestamp_type}, ok boolean)"
        )
        if rows:
            self.execute(
                f"INSERT INTO {table} SELECT n, CONCAT('n', n), n * 1.5, '2026-11-24 10:00:00', n % 2 = 0 "
                f"FROM {self.numbers(rows)}"
            )
        return table

    def numbers(self, n: int) -> str:
        """A FROM item with a column ``n`` holding 1..n."""
        raise NotImplementedError

    def snapshot(
        self,
        tables: Sequence[str],
        *,
        keys: Mapping[str, Sequence[str]] | None = None,
        options: DmsOptions = CSV,
    ) -> Loaded:
        raise NotImplementedError

    def stream(
        self, *, max_changes: int | None = None, batch: int | None = None, options: DmsOptions = CSV
    ) -> Streamed:
        raise NotImplementedError

    def position(self) -> Any:
        """The durable position the next stream starts from; None when there is none."""
        raise NotImplementedError

    def crash_after_landing(self, table: str) -> Crashed:
        """Lands the pending changes like ``stream``, then stops before making the position durable."""
        raise NotImplementedError

    def allow_declared_key(self, table: str) -> None:
        """What the engine needs before a table without a primary key is captured under a declared key."""

    def snapshot_racing(self, table: str, *statements: str) -> Loaded:
        """A snapshot of ``table`` while a transaction running ``statements`` commits during it."""
        raise NotImplementedError


class PostgresCapture(Capture):
    schema, source, timestamp_type = "public", "pg", "timestamp"

    def __init__(self, db: PgTest, store: LocalObjectStore) -> None:
        super().__init__(db, store)
        self.url = db.url
        self.keys: Mapping[str, Sequence[str]] | None = None

    def numbers(self, n: int) -> str:
        return f"generate_series(1, {n}) AS s(n)"

    def snapshot(
        self,
        tables: Sequence[str],
        *,
        keys: Mapping[str, Sequence[str]] | None = None,
        options: DmsOptions = CSV,
    ) -> Loaded:
        result = postgres.snapshot(
            self.url, tables, self.store, "pg", slot=self.name, keys=keys, options=options
        )
        self.keys = keys  # the slot does not keep them: each stream is told again
        return Loaded(result.tables, result.files, postgres.lsn_to_int(result.position))

    def stream(
        self, *, max_changes: int | None = None, batch: int | None = None, options: DmsOptions = CSV
    ) -> Streamed:
        extra = {} if batch is None else {"batch_messages": batch}
        out = postgres.stream(
            self.url,
            self.name,
            self.store,
            "pg",
            max_changes=max_changes,
            keys=self.keys,
            options=options,
            **extra,
        )
        lsn = None if out.position is None else postgres.lsn_to_int(out.position)
        return Streamed(out.changes, out.transactions, out.files, lsn)

    def position(self) -> int | None:
        with self.db.conn.cursor() as cur:
            cur.execute(
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
                (self.name,),
            )
            found = cur.fetchone()
        return None if found is None else postgres.lsn_to_int(found[0])

    def crash_after_landing(self, table: str) -> Crashed:
        start = self.position()
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        try:
            batch = postgres.read_batch(conn, self.name, self.name, postgres.PgOutputDecoder(), 100)
            files = postgres.land_batch(self.store, "pg", batch, CSV)  # no confirm: the slot stays
        finally:
            conn.close()
        return Crashed(len(batch.transactions), batch.changes, files, start, batch.end_lsn)

    def allow_declared_key(self, table: str) -> None:
        self.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")  # old values of UPDATE/DELETE need it

    def snapshot_racing(self, table: str, *statements: str) -> Loaded:
        """Creating the slot waits for running transactions: the commit lands in the load, the slot starts
        after it."""
        writer = psycopg2.connect(self.url)
        done: dict[str, Loaded] = {}
        try:
            with writer.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
            thread = threading.Thread(target=lambda: done.setdefault("r", self.snapshot([table])))
            thread.start()
            time.sleep(0.5)
            assert "r" not in done, "the slot should wait for the open transaction"
            writer.commit()
        finally:
            writer.close()
        thread.join(timeout=30)
        assert "r" in done
        return done["r"]


class MariaCapture(Capture):
    schema, source, timestamp_type = "test", "my", "datetime"

    def __init__(self, db: MyTest, store: LocalObjectStore) -> None:
        super().__init__(db, store)
        self.url = db.url

    def numbers(self, n: int) -> str:
        return f"(SELECT seq AS n FROM seq_1_to_{n}) AS s"

    def snapshot(
        self,
        tables: Sequence[str],
        *,
        keys: Mapping[str, Sequence[str]] | None = None,
        options: DmsOptions = CSV,
    ) -> Loaded:
        result = mariadb.snapshot(self.url, tables, self.store, "my", keys=keys, options=options)
        return Loaded(result.tables, result.files, result.position)

    def stream(
        self, *, max_changes: int | None = None, batch: int | None = None, options: DmsOptions = CSV
    ) -> Streamed:
        extra = {} if batch is None else {"batch_changes": batch}
        out = mariadb.stream(self.url, self.store, "my", max_changes=max_changes, options=options, **extra)
        return Streamed(out.changes, out.transactions, out.files, out.position)

    def position(self) -> mariadb.Position | None:
        state = mariadb.stored_position(self.store, "my")
        return None if state is None else mariadb.Position(state["log_file"], state["log_pos"])

    def crash_after_landing(self, table: str) -> Crashed:
        args = mariadb.connect_args(self.url)
        settings = {k: args[k] for k in ("host", "port", "user", "password")}
        start = self.position()
        captured = {f"test.{table}": ("id",)}
        transactions, end = mariadb._read_batch(settings, start, captured, 100, 4_242_001)
        files = mariadb._land(self.store, "my", transactions, CSV)  # the position is not stored
        changes = sum(len(t.changes) for t in transactions)
        return Crashed(len(transactions), changes, files, start, end)

    def snapshot_racing(self, table: str, *statements: str) -> Loaded:
        """The commit comes after the consistent snapshot began, before the table is read: it is not in the
        load and is after the recorded binlog position."""
        writer = pymysql.connect(**mariadb.connect_args(self.url))
        real_table_rows = mariadb._table_rows
        committed = []

        def commit_then_read(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            writer.commit()
            committed.append(True)
            return real_table_rows(*args, **kwargs)

        try:
            with writer.cursor() as cur:
                cur.execute("BEGIN")
                for statement in statements:
                    cur.execute(statement)
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(mariadb, "_table_rows", commit_then_read)
                loaded = self.snapshot([table])
        finally:
            writer.close()
        assert committed == [True], "the racing transaction should commit inside the snapshot"
        return loaded


@pytest.fixture(params=["postgresql", "mariadb"])
def capture(request: pytest.FixtureRequest, local_store: LocalObjectStore) -> Capture:
    if request.param == "postgresql":
        return PostgresCapture(request.getfixturevalue("pg"), local_store)
    return MariaCapture(request.getfixturevalue("my"), local_store)


def test_full_load_then_insert_update_delete(capture: Capture) -> None:
    table = capture.make_table()
    loaded = capture.snapshot([table])
    assert loaded.tables == {f"{capture.schema}.{table}": 3}
    assert loaded.files == [f"landing/cdc/{capture.source}/{capture.schema}/{table}/LOAD00000001.csv"]
    assert capture.position() == loaded.position
    capture.execute(
        f"INSERT INTO {table} VALUES (10, 'ten, with comma', NULL, '2026-01-02 03:04:05', true)",
        f"UPDATE {table} SET name = '' WHERE id = 1",
        f"DELETE FROM {table} WHERE id = 2",
    )
    out = capture.stream()
    assert (out.changes, out.transactions) == (3, 3)
    assert len(out.files) == 1 and out.files[0].endswith(".csv")
    assert out.position == capture.position() and out.position > loaded.position
    rows = capture.landed()
    assert [r.op for r in rows] == ["I", "I", "I", "I", "U", "D"]
    changes = rows[3:]
    assert changes[0].values == {
        "id": 10,
        "name": "ten, with comma",
        "amount": None,
        "at": "2026-01-02 03:04:05",
        "ok": True,
    }
    assert changes[1].values["name"] == ""  # an empty string stays distinct from NULL
    assert changes[2].values["id"] == 2
    assert all(c.commit_ts is not None for c in changes)
    positions = [r.position for r in rows]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert all(len(p) == 35 for p in positions)
    assert current_state(rows, ["id"]) == capture.rows(table, ["id"])
    # Drained: a second run lands nothing (the position may only move past other sessions' transactions).
    again = capture.stream()
    assert (again.changes, again.files) == (0, []) and capture.position() >= out.position


def test_update_of_primary_key_lands_as_delete_then_insert(capture: Capture) -> None:
    table = capture.make_table()
    capture.snapshot([table])
    capture.execute(f"UPDATE {table} SET id = 100, name = 'moved' WHERE id = 1")
    capture.stream()
    rows = capture.landed()
    assert [(r.op, r.values["id"]) for r in rows[3:]] == [("D", 1), ("I", 100)]
    state = current_state(rows, ["id"])
    assert (1,) not in state and state[(100,)]["name"] == "moved"
    assert state == capture.rows(table, ["id"])


def test_transaction_with_many_rows(capture: Capture) -> None:
    table = capture.make_table(rows=0)
    capture.snapshot([table])
    capture.transaction(
        f"INSERT INTO {table} SELECT n, CONCAT('n', n), n, NULL, true FROM {capture.numbers(5000)}",
        f"UPDATE {table} SET ok = false WHERE id <= 1000",
        f"DELETE FROM {table} WHERE id > 4500",
    )
    out = capture.stream(batch=1000)
    assert (out.changes, out.transactions) == (6500, 1)  # the whole transaction in one batch
    changes = capture.landed()
    assert len({r.commit_ts for r in changes}) == 1
    assert len({r.position for r in changes}) == 6500
    assert len({r.position[:20] for r in changes}) == 1  # one transaction, rows told apart by their index
    assert current_state(changes, ["id"]) == capture.rows(table, ["id"])
    assert len(capture.rows(table, ["id"])) == 4500


def test_rolled_back_transaction_lands_nothing(capture: Capture) -> None:
    table = capture.make_table()
    capture.snapshot([table])
    before = capture.store.list_keys("landing/")
    capture.transaction(
        f"INSERT INTO {table} VALUES (50, 'x', 1, NULL, true)", f"DELETE FROM {table}", rollback=True
    )
    out = capture.stream()
    assert (out.changes, out.files) == (0, [])
    assert capture.store.list_keys("landing/") == before
    capture.execute(f"INSERT INTO {table} VALUES (51, 'kept', 1, NULL, true)")
    assert capture.stream().changes == 1
    assert current_state(capture.landed(), ["id"]) == capture.rows(table, ["id"])


def test_restart_mid_stream_resumes_from_the_durable_position(capture: Capture) -> None:
    table = capture.make_table(rows=0)
    capture.snapshot([table])
    for i in range(6):
        capture.execute(f"INSERT INTO {table} VALUES ({i}, 'v{i}', {i}, NULL, true)")
    first = capture.stream(max_changes=2, batch=1)
    assert (first.changes, first.transactions) == (2, 2)
    assert capture.position() == first.position
    capture.execute(
        f"UPDATE {table} SET name = 'changed' WHERE id IN (0, 5)"
    )  # while "down": one transaction
    second = capture.stream()  # a new process: only the slot / the stored position remembers
    assert (second.changes, second.transactions) == (6, 5)
    rows = capture.landed()
    assert len(rows) == 8 and len({r.position for r in rows}) == 8  # nothing lost, nothing twice
    assert current_state(rows, ["id"]) == capture.rows(table, ["id"])


def test_crash_after_landing_before_the_position_is_durable_redelivers_harmlessly(capture: Capture) -> None:
    table = capture.make_table()
    capture.snapshot([table])
    for i in range(4):
        capture.execute(f"UPDATE {table} SET amount = amount + 1 WHERE id = {i % 3 + 1}")
    crashed = capture.crash_after_landing(table)  # ... and the process dies here
    assert (crashed.transactions, crashed.changes, len(crashed.files)) == (4, 4, 1)
    assert crashed.end > crashed.start and capture.position() == crashed.start
    # The restarted capture re-reads the same changes, this time one transaction per batch (other files).
    redo = capture.stream(batch=1)
    assert redo.changes == 4 and len(redo.files) == 4 and capture.position() >= crashed.end
    rows = capture.landed()
    assert len(rows) == 3 + 8  # every change landed twice ...
    assert len({r.position for r in rows}) == 3 + 4  # ... under the same positions
    assert current_state(rows, ["id"]) == capture.rows(table, ["id"])


def test_same_file_twice_and_out_of_order_arrival(capture: Capture) -> None:
    table = capture.make_table()
    capture.snapshot([table])
    files = []
    for step in range(3):
        capture.execute(f"UPDATE {table} SET name = 'step{step}' WHERE id = 1")
        if step == 1:
            capture.execute(f"DELETE FROM {table} WHERE id = 2")
        if step == 2:
            capture.execute(f"INSERT INTO {table} VALUES (2, 'back', 0, NULL, false)")
        files += capture.stream().files
        time.sleep(0.005)
    assert len(files) == 3 and len(set(files)) == 3
    expected = capture.rows(table, ["id"])
    load = in_landing_order(capture.store.list_keys(f"landing/cdc/{capture.source}/"))[0]
    per_file = {k: read_dms_file(capture.store, k) for k in [load, *files]}
    newest_first = [r for k in [load, *reversed(files)] for r in per_file[k]]
    assert expected[(1,)]["name"] == "step2" and expected[(2,)]["name"] == "back"
    assert current_state(newest_first, ["id"]) == expected
    twice = [r for k in [load, *files, files[1], files[0]] for r in per_file[k]]
    assert current_state(twice, ["id"]) == expected


def test_column_added_mid_stream(capture: Capture) -> None:
    table = capture.make_table()
    capture.snapshot([table])
    capture.execute(f"INSERT INTO {table} VALUES (4, 'before', 1, NULL, true)")
    capture.execute(f"ALTER TABLE {table} ADD COLUMN region varchar(10)")
    capture.execute(
        f"INSERT INTO {table} VALUES (5, 'after', 1, NULL, true, 'eu')",
        f"UPDATE {table} SET region = 'us' WHERE id = 1",
    )
    # Read after the ALTER: the change before it still lands with its own columns.
    out = capture.stream()
    assert len(out.files) == 2  # one file per column set, the second named after the first
    assert out.files[0] < out.files[1]
    first = capture.store.get_bytes(out.files[0]).decode().splitlines()
    assert first[0] == "Op,dms_commit_ts,id,name,amount,at,ok,AR_H_CHANGE_SEQ"
    assert first[1].startswith("I,") and ",4,before," in first[1]
    header = capture.store.get_bytes(out.files[1]).decode().splitlines()[0]
    assert header == "Op,dms_commit_ts,id,name,amount,at,ok,region,AR_H_CHANGE_SEQ"
    state = current_state(capture.landed(), ["id"])
    expected = capture.rows(table, ["id"])
    assert state[(5,)] == expected[(5,)] and state[(1,)] == expected[(1,)]
    # Rows not touched since the column was added were landed without it; merged, they read as NULL.
    assert {k: {c: v.get(c) for c in expected[k]} for k, v in state.items()} == expected


def test_table_without_primary_key_is_refused_unless_a_key_is_declared(capture: Capture) -> None:
    table = f"{capture.name}_nokey"
    capture.execute(
        f"CREATE TABLE {table} (code varchar(10), qty int)", f"INSERT INTO {table} VALUES ('a', 1)"
    )
    with pytest.raises(CdcError, match="has no primary key"):
        capture.snapshot([table])
    assert capture.position() is None  # refused before anything was made durable
    capture.allow_declared_key(table)
    capture.snapshot([table], keys={table: ["code"]})
    capture.execute(
        f"UPDATE {table} SET qty = 2",
        f"INSERT INTO {table} VALUES ('b', 3)",
        f"DELETE FROM {table} WHERE code = 'b'",
    )
    out = capture.stream()
    assert out.changes == 3
    rows = capture.landed()
    assert [r.op for r in rows] == ["I", "U", "I", "D"]
    assert current_state(rows, ["code"]) == capture.rows(table, ["code"])


def test_transaction_racing_the_snapshot_lands_exactly_once(capture: Capture) -> None:
    """The snapshot and the position it hands to the stream agree on the cut, whichever side it falls."""
    table = capture.make_table()
    loaded = capture.snapshot_racing(
        table,
        f"INSERT INTO {table} VALUES (77, 'racing', 1, NULL, true)",
        f"UPDATE {table} SET name = 'raced' WHERE id = 1",
    )
    in_load = loaded.tables[f"{capture.schema}.{table}"]
    out = capture.stream()
    # Either the load holds the transaction (4 rows, nothing to stream) or the stream does (2 changes).
    assert (in_load, out.changes, out.transactions) in [(4, 0, 0), (3, 2, 1)]
    rows = capture.landed()
    assert [r.values["id"] for r in rows].count(77) == 1
    state = current_state(rows, ["id"])
    assert state[(1,)]["name"] == "raced"
    assert state == capture.rows(table, ["id"])


def test_truncate_stops_the_stream_with_a_clear_message(capture: Capture) -> None:
    table = capture.make_table()
    capture.snapshot([table])
    position = capture.position()
    capture.execute(f"TRUNCATE TABLE {table}")
    with pytest.raises(CdcError, match="TRUNCATE"):
        capture.stream()
    assert capture.position() == position  # nothing made durable past it


def test_parquet_landing_end_to_end(capture: Capture) -> None:
    table = capture.make_table()
    loaded = capture.snapshot([table], options=PARQUET)
    assert loaded.files[0].endswith("/LOAD00000001.parquet")
    capture.execute(f"UPDATE {table} SET ok = NOT ok WHERE id = 1", f"DELETE FROM {table} WHERE id = 3")
    out = capture.stream(options=PARQUET)
    assert out.files[0].endswith(".parquet")
    rows = capture.landed()
    assert [(r.op, r.values["id"]) for r in rows] == [("I", 1), ("I", 2), ("I", 3), ("U", 1), ("D", 3)]
    state = current_state(rows, ["id"])
    expected = capture.rows(table, ["id"])
    assert state == expected and state[(1,)]["amount"] == "1.50"  # decimal keeps its digits, as text
    # Equal values are not enough (True == 1): the columns keep the Python types the lake gives them.
    for row in (rows[0], rows[3]):
        assert {c: type(v) for c, v in row.values.items()} == {c: type(v) for c, v in expected[(1,)].items()}


def test_csv_landing_keeps_the_text_unchanged_as_data(capture: Capture) -> None:
    """The text ``<unchanged>`` (DMS's csvNoSupValue) in a column, through the load, an update and an insert,
    is data: without a value the source leaves out, nothing is marked not carried."""
    table = capture.make_table()
    capture.execute(f"UPDATE {table} SET name = '<unchanged>' WHERE id = 1")
    load = capture.snapshot([table]).files
    capture.execute(
        f"UPDATE {table} SET amount = 9 WHERE id = 1",
        f"UPDATE {table} SET name = '<unchanged>' WHERE id = 2",
        f"INSERT INTO {table} VALUES (4, '<unchanged>', NULL, NULL, false)",
    )
    out = capture.stream()
    assert out.changes == 3
    for key in [*load, *out.files]:
        assert json.loads(capture.store.get_bytes(not_carried_key(key)))["not_carried"] == {}
    rows = capture.landed()
    assert not any(v is UNCHANGED for r in rows for v in r.values.values())
    state = current_state(rows, ["id"])
    assert state == capture.rows(table, ["id"])
    assert [state[(k,)]["name"] for k in (1, 2, 4)] == ["<unchanged>"] * 3
