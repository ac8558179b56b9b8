"""What only the PostgreSQL capture has: its slot, REPLICA IDENTITY, and pgoutput leaving out unchanged
TOASTed values. What both engines must do is in ``test_capture_contract.py``.
"""

from __future__ import annotations

import secrets

import psycopg2
import pytest

from lake_assets.sources.cdc.dms_format import (
    UNCHANGED,
    ChangeRow,
    DmsOptions,
    current_state,
    in_landing_order,
    parse_dms_file,
    read_dms_file,
)
from lake_assets.sources.cdc.postgres import (
    CdcError,
    PgOutputDecoder,
    confirm,
    read_batch,
    snapshot,
    stream,
)
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.sources.cdc.conftest import PgTest


def landed(store: LocalObjectStore, source: str = "pg") -> list[ChangeRow]:
    keys = in_landing_order(store.list_keys(f"landing/cdc/{source}/"))
    return [row for key in keys for row in read_dms_file(store, key)]


def make_table(pg: PgTest, rows: int = 3) -> str:
    table = f"{pg.name}_t"
    pg.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, name text, amount numeric(10,2), ok boolean)",
        f"INSERT INTO {table} SELECT g, 'n' || g, g * 1.5, g % 2 = 0 FROM generate_series(1, {rows}) g",
    )
    return table


def test_pattern_selects_tables_and_existing_slot_is_refused(
    pg: PgTest, local_store: LocalObjectStore
) -> None:
    make_table(pg)
    pg.execute(f"CREATE TABLE {pg.name}_u (k int PRIMARY KEY)", f"INSERT INTO {pg.name}_u VALUES (1)")
    result = snapshot(pg.url, f"public.{pg.name}%", local_store, "pg", slot=pg.name)
    assert sorted(result.tables) == [f"public.{pg.name}_t", f"public.{pg.name}_u"]
    with pytest.raises(CdcError, match="exists"):
        snapshot(pg.url, f"public.{pg.name}%", local_store, "pg", slot=pg.name)


def test_declared_key_needs_replica_identity_full(pg: PgTest, local_store: LocalObjectStore) -> None:
    """Without a primary key, pgoutput sends the old row of an UPDATE or DELETE only under REPLICA IDENTITY
    FULL: a declared key alone could not tell which row changed."""
    table = f"{pg.name}_nokey"
    pg.execute(f"CREATE TABLE {table} (code text, qty int)", f"INSERT INTO {table} VALUES ('a', 1)")
    with pytest.raises(CdcError, match="REPLICA IDENTITY FULL"):
        snapshot(pg.url, [table], local_store, "pg", slot=pg.name, keys={table: ["code"]})
    with pg.conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (pg.name,))
        assert cur.fetchone()[0] == 0  # refused before the slot was made
    assert local_store.list_keys("landing/") == []


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
