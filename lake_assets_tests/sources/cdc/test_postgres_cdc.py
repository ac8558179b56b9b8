"""Capture from the real PostgreSQL on this machine: full load, changes, restarts, re-delivery, schema change.

The strongest check is the same in every test: the landed files, parsed and merged by key in position order,
equal the table as PostgreSQL shows it.
"""

from __future__ import annotations

import secrets
import threading
import time

import psycopg2
import pytest

from lake_assets.sources.cdc.dms_format import (
    UNCHANGED,
    ChangeRow,
    DmsOptions,
    current_state,
    in_landing_order,
    parse_dms_file,
    parse_key,
    read_dms_file,
)
from lake_assets.sources.cdc.postgres import (
    CdcError,
    PgOutputDecoder,
    confirm,
    land_batch,
    read_batch,
    snapshot,
    stream,
)
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.sources.cdc.conftest import PgTest


def landed(store: LocalObjectStore, source: str = "pg") -> list[ChangeRow]:
    keys = in_landing_order(store.list_keys(f"landing/cdc/{source}/"))
    return [row for key in keys for row in read_dms_file(store, key)]


def slot_position(pg: PgTest) -> str:
    with pg.conn.cursor() as cur:
        cur.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (pg.name,)
        )
        return cur.fetchone()[0]


def make_table(pg: PgTest, rows: int = 3) -> str:
    table = f"{pg.name}_t"
    pg.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, name text, amount numeric(10,2), ok boolean)",
        f"INSERT INTO {table} SELECT g, 'n' || g, g * 1.5, g % 2 = 0 FROM generate_series(1, {rows}) g",
    )
    return table


def test_full_load_then_insert_update_delete(pg: PgTest, local_store: LocalObjectStore) -> None:
    table = make_table(pg)
    result = snapshot(pg.url, [table], local_store, "pg", slot=pg.name)
    assert result.tables == {f"public.{table}": 3}
    assert result.files == [f"landing/cdc/pg/public/{table}/LOAD00000001.csv"]
    pg.execute(
        f"INSERT INTO {table} VALUES (10, 'ten, with comma', NULL, true)",
        f"UPDATE {table} SET name = '' WHERE id = 1",
        f"DELETE FROM {table} WHERE id = 2",
    )
    out = stream(pg.url, pg.name, local_store, "pg")
    assert (out.changes, out.transactions) == (3, 3)
    assert len(out.files) == 1 and parse_key(out.files[0]).name.endswith(".csv")
    assert out.confirmed_lsn == slot_position(pg)
    rows = landed(local_store)
    assert [r.op for r in rows] == ["I", "I", "I", "I", "U", "D"]
    changes = rows[3:]
    assert changes[0].values == {"id": 10, "name": "ten, with comma", "amount": None, "ok": True}
    assert changes[1].values["name"] == ""  # an empty string stays distinct from NULL
    assert changes[2].values["id"] == 2
    assert all(c.commit_ts is not None for c in changes)
    positions = [r.position for r in rows]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert current_state(rows, ["id"]) == pg.rows(table, ["id"])
    # Drained: a second run lands nothing and keeps the position.
    again = stream(pg.url, pg.name, local_store, "pg")
    assert (again.changes, again.files) == (0, [])


def test_update_of_primary_key_lands_as_delete_then_insert(pg: PgTest, local_store: LocalObjectStore) -> None:
    table = make_table(pg)
    snapshot(pg.url, [table], local_store, "pg", slot=pg.name)
    pg.execute(f"UPDATE {table} SET id = 100, name = 'moved' WHERE id = 1")
    stream(pg.url, pg.name, local_store, "pg")
    rows = landed(local_store)
    assert [(r.op, r.values["id"]) for r in rows[3:]] == [("D", 1), ("I", 100)]
    state = current_state(rows, ["id"])
    assert (1,) not in state and state[(100,)]["name"] == "moved"
    assert state == pg.rows(table, ["id"])


def test_transaction_with_many_rows(pg: PgTest, local_store: LocalObjectStore) -> None:
    table = make_table(pg, rows=0)
    snapshot(pg.url, [table], local_store, "pg", slot=pg.name)
    pg.transaction(
        f"INSERT INTO {table} SELECT g, 'n' || g, g, true FROM generate_series(1, 5000) g",
        f"UPDATE {table} SET ok = false WHERE id <= 1000",
        f"DELETE FROM {table} WHERE id > 4500",
    )
    out = stream(pg.url, pg.name, local_store, "pg", batch_messages=1000)
    assert (out.changes, out.transactions) == (6500, 1)  # the whole transaction in one batch
    changes = [r for r in landed(local_store) if r.commit_ts and r.position > "0" * 20]
    assert len({r.commit_ts for r in changes}) == 1
    assert len({r.position for r in changes}) == 6500
    assert current_state(landed(local_store), ["id"]) == pg.rows(table, ["id"])
    assert len(pg.rows(table, ["id"])) == 4500


def test_rolled_back_transaction_lands_nothing(pg: PgTest, local_store: LocalObjectStore) -> None:
    table = make_table(pg)
    snapshot(pg.url, [table], local_store, "pg", slot=pg.name)
    before = local_store.list_keys("landing/")
    pg.transaction(f"INSERT INTO {table} VALUES (50, 'x', 1, true)", f"DELETE FROM {table}", rollback=True)
    out = stream(pg.url, pg.name, local_store, "pg")
    assert (out.changes, out.files) == (0, [])
    assert local_store.list_keys("landing/") == before
    pg.execute(f"INSERT INTO {table} VALUES (51, 'kept', 1, true)")
    assert stream(pg.url, pg.name, local_store, "pg").changes == 1
    assert current_state(landed(local_store), ["id"]) == pg.rows(table, ["id"])


def test_restart_mid_stream_resumes_from_confirmed_position(
    pg: PgTest, local_store: LocalObjectStore
) -> None:
    table = make_table(pg, rows=0)
    snapshot(pg.url, [table], local_store, "pg", slot=pg.name)
    for i in range(6):
        pg.execute(f"INSERT INTO {table} VALUES ({i}, 'v{i}', {i}, true)")
    first = stream(pg.url, pg.name, local_store, "pg", max_changes=2, batch_messages=1)
    assert first.changes == 2
    held = slot_position(pg)
    assert held == first.confirmed_lsn
    pg.execute(f"UPDATE {table} SET name = 'changed' WHERE id IN (0, 5)")  # while "down"
    second = stream(pg.url, pg.name, local_store, "pg")  # a new process: only the slot remembers
    assert second.changes == 6
    rows = landed(local_store)
    assert len(rows) == 8 and len({r.position for r in rows}) == 8  # nothing lost, nothing twice
    assert current_state(rows, ["id"]) == pg.rows(table, ["id"])


def test_crash_after_landing_before_confirm_redelivers_harmlessly(
    pg: PgTest, local_store: LocalObjectStore
) -> None:
    table = make_table(pg)
    snapshot(pg.url, [table], local_store, "pg", slot=pg.name)
    for i in range(4):
        pg.execute(f"UPDATE {table} SET amount = amount + 1 WHERE id = {i % 3 + 1}")
    conn = psycopg2.connect(pg.url)
    conn.autocommit = True
    try:
        batch = read_batch(conn, pg.name, pg.name, PgOutputDecoder(), 100)
        crashed = land_batch(local_store, "pg", batch, DmsOptions())  # ... and the process dies here
    finally:
        conn.close()
    assert batch.changes == 4 and len(crashed) == 1
    position_before = slot_position(pg)
    # The restarted capture re-reads the same changes, this time one transaction per batch (other files).
    redo = stream(pg.url, pg.name, local_store, "pg", batch_messages=1)
    assert redo.changes == 4 and slot_position(pg) != position_before
    rows = landed(local_store)
    assert len(rows) == 3 + 8  # every change landed twice ...
    assert len({r.position for r in rows}) == 3 + 4  # ... under the same positions
    assert current_state(rows, ["id"]) == pg.rows(table, ["id"])


def test_same_file_twice_and_out_of_order_arrival(pg: PgTest, local_store: LocalObjectStore) -> None:
    table = make_table(pg)
    snapshot(pg.url, [table], local_store, "pg", slot=pg.name)
    files = []
    for step in range(3):
        pg.execute(f"UPDATE {table} SET name = 'step{step}' WHERE id = 1")
        if step == 1:
            pg.execute(f"DELETE FROM {table} WHERE id = 2")
        if step == 2:
            pg.execute(f"INSERT INTO {table} VALUES (2, 'back', 0, false)")
        files += stream(pg.url, pg.name, local_store, "pg").files
        time.sleep(0.005)
    assert len(files) == 3
    expected = pg.rows(table, ["id"])
    load = in_landing_order(local_store.list_keys("landing/cdc/pg/"))[0]
    per_file = {k: read_dms_file(local_store, k) for k in [load, *files]}
    newest_first = [r for k in [load, *reversed(files)] for r in per_file[k]]
    assert expected[(1,)]["name"] == "step2" and expected[(2,)]["name"] == "back"
    assert current_state(newest_first, ["id"]) == expected
    twice = [r for k in [load, *files, files[1], files[0]] for r in per_file[k]]
    assert current_state(twice, ["id"]) == expected


def test_column_added_mid_stream(pg: PgTest, local_store: LocalObjectStore) -> None:
    table = make_table(pg)
    snapshot(pg.url, [table], local_store, "pg", slot=pg.name)
    pg.execute(f"INSERT INTO {table} VALUES (4, 'before', 1, true)")
    pg.execute(f"ALTER TABLE {table} ADD COLUMN region text")
    pg.execute(
        f"INSERT INTO {table} VALUES (5, 'after', 1, true, 'eu')",
        f"UPDATE {table} SET region = 'us' WHERE id = 1",
    )
    out = stream(pg.url, pg.name, local_store, "pg")
    assert len(out.files) == 2  # one file per column set, the second named after the first
    assert out.files[0] < out.files[1]
    header = local_store.get_bytes(out.files[1]).decode().splitlines()[0]
    assert header == "Op,dms_commit_ts,id,name,amount,ok,region,AR_H_CHANGE_SEQ"
    state = current_state(landed(local_store), ["id"])
    expected = pg.rows(table, ["id"])
    assert state[(5,)] == expected[(5,)] and state[(1,)] == expected[(1,)]
    # Rows not touched since the column was added were landed without it; merged, they read as NULL.
    assert {k: {c: v.get(c) for c in expected[k]} for k, v in state.items()} == expected


def test_table_without_primary_key_is_refused_unless_a_key_is_declared(
    pg: PgTest, local_store: LocalObjectStore
) -> None:
    table = f"{pg.name}_nokey"
    pg.execute(f"CREATE TABLE {table} (code text, qty int)", f"INSERT INTO {table} VALUES ('a', 1)")
    with pytest.raises(CdcError, match="has no primary key"):
        snapshot(pg.url, [table], local_store, "pg", slot=pg.name)
    with pytest.raises(CdcError, match="REPLICA IDENTITY FULL"):
        snapshot(pg.url, [table], local_store, "pg", slot=pg.name, keys={table: ["code"]})
    pg.execute(f"ALTER TABLE {table} REPLICA IDENTITY FULL")
    snapshot(pg.url, [table], local_store, "pg", slot=pg.name, keys={table: ["code"]})
    pg.execute(
        f"UPDATE {table} SET qty = 2",
        f"INSERT INTO {table} VALUES ('b', 3)",
        f"DELETE FROM {table} WHERE code = 'b'",
    )
    out = stream(pg.url, pg.name, local_store, "pg", keys={table: ["code"]})
    assert out.changes == 3
    rows = landed(local_store)
    assert [r.op for r in rows] == ["I", "U", "I", "D"]
    assert current_state(rows, ["code"]) == pg.rows(table, ["code"])


def test_pattern_selects_tables_and_existing_slot_is_refused(
    pg: PgTest, local_store: LocalObjectStore
) -> None:
    make_table(pg)
    pg.execute(f"CREATE TABLE {pg.name}_u (k int PRIMARY KEY)", f"INSERT INTO {pg.name}_u VALUES (1)")
    result = snapshot(pg.url, f"public.{pg.name}%", local_store, "pg", slot=pg.name)
    assert sorted(result.tables) == [f"public.{pg.name}_t", f"public.{pg.name}_u"]
    with pytest.raises(CdcError, match="exists"):
        snapshot(pg.url, f"public.{pg.name}%", local_store, "pg", slot=pg.name)


def test_transaction_open_during_snapshot_lands_exactly_once(
    pg: PgTest, local_store: LocalObjectStore
) -> None:
    """The slot waits for running transactions; the exported snapshot and the slot agree on the cut."""
    table = make_table(pg)
    writer = psycopg2.connect(pg.url)
    writer.autocommit = False
    with writer.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (77, 'racing', 1, true)")
    done: dict = {}
    thread = threading.Thread(
        target=lambda: done.setdefault("r", snapshot(pg.url, [table], local_store, "pg", slot=pg.name))
    )
    thread.start()
    time.sleep(0.5)
    assert "r" not in done  # the slot is waiting for the open transaction
    writer.commit()
    writer.close()
    thread.join(timeout=30)
    assert "r" in done
    stream(pg.url, pg.name, local_store, "pg")
    rows = landed(local_store)
    assert [r.values["id"] for r in rows].count(77) == 1
    assert current_state(rows, ["id"]) == pg.rows(table, ["id"])


def test_parquet_landing_end_to_end(pg: PgTest, local_store: LocalObjectStore) -> None:
    table = make_table(pg)
    options = DmsOptions(data_format="parquet")
    result = snapshot(pg.url, [table], local_store, "pg", slot=pg.name, options=options)
    assert result.files[0].endswith("/LOAD00000001.parquet")
    pg.execute(f"UPDATE {table} SET ok = NOT ok WHERE id = 1", f"DELETE FROM {table} WHERE id = 3")
    out = stream(pg.url, pg.name, local_store, "pg", options=options)
    assert out.files[0].endswith(".parquet")
    rows = landed(local_store)
    assert rows[0].values["id"] == 1 and isinstance(rows[0].values["ok"], bool)
    state = current_state(rows, ["id"])
    expected = pg.rows(table, ["id"])
    assert state == expected


def make_toasted_table(pg: PgTest) -> tuple[str, dict[int, str]]:
    """Two rows whose ``doc`` is 10 kB of random text: incompressible and too big: out of line."""
    table = f"{pg.name}_docs"
    docs = {1: secrets.token_urlsafe(7500), 2: secrets.token_urlsafe(7500)}
    pg.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, doc text, qty int)")
    with pg.conn.cursor() as cur:
        for id_, doc in docs.items():
            cur.execute(f"INSERT INTO {table} VALUES (%s, %s, %s)", (id_, doc, 10 * id_))
        cur.execute("SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = %s::regclass", (table,))
        toast = cur.fetchone()[0]
        cur.execute(f"SELECT count(DISTINCT chunk_id) FROM {toast}")
        assert cur.fetchone()[0] == 2, "both doc values should live in the TOAST table"
    return table, docs


def test_parquet_landing_reports_unchanged_toasted_values(pg: PgTest, local_store: LocalObjectStore) -> None:
    """pgoutput leaves an unchanged TOASTed value out of an UPDATE; in Parquet that must not read as NULL."""
    table, docs = make_toasted_table(pg)
    options = DmsOptions(data_format="parquet")
    snapshot(pg.url, [table], local_store, "pg", slot=pg.name, options=options)
    pg.execute(
        f"UPDATE {table} SET qty = qty + 1 WHERE id = 1",  # doc is not sent
        f"UPDATE {table} SET doc = NULL, qty = NULL WHERE id = 2",  # real NULLs, in text and int
    )
    out = stream(pg.url, pg.name, local_store, "pg", options=options)
    assert len(out.files) == 1 and out.files[0].endswith(".parquet")
    changes = parse_dms_file(out.files[0], local_store.get_bytes(out.files[0]))
    assert [(r.op, r.values) for r in changes] == [
        ("U", {"id": 1, "doc": UNCHANGED, "qty": 11}),
        ("U", {"id": 2, "doc": None, "qty": None}),
    ]
    state = current_state(landed(local_store), ["id"])
    assert state == {(1,): {"id": 1, "doc": docs[1], "qty": 11}, (2,): {"id": 2, "doc": None, "qty": None}}
    assert state == pg.rows(table, ["id"])


def test_csv_landing_keeps_the_text_unchanged_as_data_and_a_toasted_value_not_carried(
    pg: PgTest, local_store: LocalObjectStore
) -> None:
    """The text ``<unchanged>`` (DMS's csvNoSupValue) in a column, through the load and an update, is data;
    an unchanged TOASTed value in the same CSV file is still not carried."""
    table, docs = make_toasted_table(pg)
    pg.execute(
        f"ALTER TABLE {table} ADD COLUMN note text", f"UPDATE {table} SET note = '<unchanged>' WHERE id = 1"
    )
    snapshot(pg.url, [table], local_store, "pg", slot=pg.name)
    pg.execute(
        f"UPDATE {table} SET qty = qty + 1 WHERE id = 1",  # doc not sent; note sent, as the text
        f"UPDATE {table} SET note = '<unchanged>' WHERE id = 2",  # doc not sent; note set to the text
    )
    out = stream(pg.url, pg.name, local_store, "pg")
    assert len(out.files) == 1 and out.files[0].endswith(".csv")
    assert [(r.op, r.values) for r in read_dms_file(local_store, out.files[0])] == [
        ("U", {"id": 1, "doc": UNCHANGED, "qty": 11, "note": "<unchanged>"}),
        ("U", {"id": 2, "doc": UNCHANGED, "qty": 20, "note": "<unchanged>"}),
    ]
    state = current_state(landed(local_store), ["id"])
    assert state == pg.rows(table, ["id"])
    assert state[(1,)]["doc"] == docs[1] and state[(1,)]["note"] == "<unchanged>"
    assert state[(2,)]["doc"] == docs[2] and state[(2,)]["note"] == "<unchanged>"


def test_truncate_stops_the_stream_with_a_clear_message(pg: PgTest, local_store: LocalObjectStore) -> None:
    table = make_table(pg)
    snapshot(pg.url, [table], local_store, "pg", slot=pg.name)
    pg.execute(f"TRUNCATE {table}")
    position = slot_position(pg)
    with pytest.raises(CdcError, match="TRUNCATE"):
        stream(pg.url, pg.name, local_store, "pg")
    assert slot_position(pg) == position  # nothing confirmed past it


def test_confirm_moves_the_slot(pg: PgTest, local_store: LocalObjectStore) -> None:
    table = make_table(pg)
    snapshot(pg.url, [table], local_store, "pg", slot=pg.name)
    pg.execute(f"INSERT INTO {table} VALUES (9, 'x', 1, true)")
    conn = psycopg2.connect(pg.url)
    conn.autocommit = True
    try:
        batch = read_batch(conn, pg.name, pg.name, PgOutputDecoder(), 100)
        assert batch.end_lsn is not None
        confirm(conn, pg.name, batch.end_lsn)
        assert read_batch(conn, pg.name, pg.name, PgOutputDecoder(), 100).transactions == []
    finally:
        conn.close()
