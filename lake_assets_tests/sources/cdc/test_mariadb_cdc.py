"""Capture from the real MariaDB on this machine through its binlog: full load, changes, restarts, redelivery.

The strongest check is the same in every test: the landed files, parsed and merged by key in position order,
equal the table as MariaDB shows it (``SELECT CAST(col AS CHAR)``).
"""

from __future__ import annotations

import datetime as dt
import json

import pymysql
import pytest

from lake_assets.sources.cdc import mariadb
from lake_assets.sources.cdc.dms_format import (
    UNCHANGED,
    ChangeRow,
    DmsOptions,
    current_state,
    in_landing_order,
    not_carried_key,
    read_dms_file,
)
from lake_assets.sources.cdc.mariadb import (
    CdcError,
    Position,
    _land,
    _read_batch,
    connect_args,
    reset,
    snapshot,
    state_key,
    stored_position,
    stream,
)
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.sources.cdc.conftest import MyTest

SRC = "my"


def landed(store: LocalObjectStore, source: str = SRC) -> list[ChangeRow]:
    keys = in_landing_order(store.list_keys(f"landing/cdc/{source}/"))
    return [row for key in keys for row in read_dms_file(store, key)]


def make_table(my: MyTest, rows: int = 3) -> str:
    table = f"{my.name}_t"
    my.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, name varchar(100), amount decimal(10,2), "
        "at datetime, ok tinyint) ENGINE=InnoDB"
    )
    if rows:
        my.execute(
            f"INSERT INTO {table} SELECT seq, CONCAT('n', seq), seq * 1.5, '2026-11-24 10:00:00', seq % 2 "
            f"FROM seq_1_to_{rows}"
        )
    return table


def saved(store: LocalObjectStore) -> Position:
    state = stored_position(store, SRC)
    assert state is not None
    return Position(state["log_file"], state["log_pos"])


def test_full_load_then_insert_update_delete(my: MyTest, local_store: LocalObjectStore) -> None:
    table = make_table(my)
    result = snapshot(my.url, [table], local_store, SRC)
    assert result.tables == {f"test.{table}": 3}
    assert result.files == [f"landing/cdc/{SRC}/test/{table}/LOAD00000001.csv"]
    assert local_store.exists(state_key(SRC)) and saved(local_store) == result.position
    my.execute(
        f"INSERT INTO {table} VALUES (10, 'ten, with comma', NULL, '2026-01-02 03:04:05', 1)",
        f"UPDATE {table} SET name = '' WHERE id = 1",
        f"DELETE FROM {table} WHERE id = 2",
    )
    out = stream(my.url, local_store, SRC)
    assert (out.changes, out.transactions) == (3, 3)
    assert len(out.files) == 1 and out.files[0].endswith(".csv")
    assert out.position == saved(local_store) and out.position != result.position
    rows = landed(local_store)
    assert [r.op for r in rows] == ["I", "I", "I", "I", "U", "D"]
    changes = rows[3:]
    assert changes[0].values == {
        "id": 10,
        "name": "ten, with comma",
        "amount": None,
        "at": "2026-01-02 03:04:05",
        "ok": 1,
    }
    assert changes[1].values["name"] == ""  # an empty string stays distinct from NULL
    assert changes[2].values["id"] == 2
    assert all(c.commit_ts is not None for c in changes)
    positions = [r.position for r in rows]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert all(len(p) == 35 for p in positions)
    assert current_state(rows, ["id"]) == my.rows(table, ["id"])
    # Drained: a second run lands nothing (the position may only move past other sessions' transactions).
    again = stream(my.url, local_store, SRC)
    assert (again.changes, again.files) == (0, []) and saved(local_store) >= out.position


def test_update_of_primary_key_lands_as_delete_then_insert(my: MyTest, local_store: LocalObjectStore) -> None:
    table = make_table(my)
    snapshot(my.url, [table], local_store, SRC)
    my.execute(f"UPDATE {table} SET id = 100, name = 'moved' WHERE id = 1")
    stream(my.url, local_store, SRC)
    rows = landed(local_store)
    assert [(r.op, r.values["id"]) for r in rows[3:]] == [("D", 1), ("I", 100)]
    state = current_state(rows, ["id"])
    assert (1,) not in state and state[(100,)]["name"] == "moved"
    assert state == my.rows(table, ["id"])


def test_transaction_with_many_rows(my: MyTest, local_store: LocalObjectStore) -> None:
    table = make_table(my, rows=0)
    snapshot(my.url, [table], local_store, SRC)
    my.transaction(
        f"INSERT INTO {table} SELECT seq, CONCAT('n', seq), seq, NULL, 1 FROM seq_1_to_5000",
        f"UPDATE {table} SET ok = 0 WHERE id <= 1000",
        f"DELETE FROM {table} WHERE id > 4500",
    )
    out = stream(my.url, local_store, SRC, batch_changes=1000)
    assert (out.changes, out.transactions) == (6500, 1)  # the whole transaction in one batch
    changes = landed(local_store)
    assert len({r.commit_ts for r in changes}) == 1
    assert len({r.position for r in changes}) == 6500
    assert len({r.position[:20] for r in changes}) == 1  # one transaction, rows told apart by their index
    assert current_state(changes, ["id"]) == my.rows(table, ["id"])
    assert len(my.rows(table, ["id"])) == 4500


def test_rolled_back_transaction_lands_nothing(my: MyTest, local_store: LocalObjectStore) -> None:
    table = make_table(my)
    snapshot(my.url, [table], local_store, SRC)
    before = local_store.list_keys("landing/")
    my.transaction(f"INSERT INTO {table} VALUES (50, 'x', 1, NULL, 1)", f"DELETE FROM {table}", rollback=True)
    out = stream(my.url, local_store, SRC)
    assert (out.changes, out.files) == (0, [])
    assert local_store.list_keys("landing/") == before
    my.execute(f"INSERT INTO {table} VALUES (51, 'kept', 1, NULL, 1)")
    assert stream(my.url, local_store, SRC).changes == 1
    assert current_state(landed(local_store), ["id"]) == my.rows(table, ["id"])


def test_restart_mid_stream_resumes_from_stored_position(my: MyTest, local_store: LocalObjectStore) -> None:
    table = make_table(my, rows=0)
    snapshot(my.url, [table], local_store, SRC)
    for i in range(6):
        my.execute(f"INSERT INTO {table} VALUES ({i}, 'v{i}', {i}, NULL, 1)")
    first = stream(my.url, local_store, SRC, max_changes=2, batch_changes=1)
    assert first.changes == 2 and first.transactions == 2
    assert saved(local_store) == first.position
    my.execute(f"UPDATE {table} SET name = 'changed' WHERE id IN (0, 5)")  # while "down": one transaction
    second = stream(my.url, local_store, SRC)  # a new process: only the lake remembers the position
    assert (second.changes, second.transactions) == (6, 5)
    rows = landed(local_store)
    assert len(rows) == 8 and len({r.position for r in rows}) == 8  # nothing lost, nothing twice
    assert current_state(rows, ["id"]) == my.rows(table, ["id"])


def test_crash_after_landing_before_storing_position_redelivers_harmlessly(
    my: MyTest, local_store: LocalObjectStore
) -> None:
    table = make_table(my)
    snapshot(my.url, [table], local_store, SRC)
    for i in range(4):
        my.execute(f"UPDATE {table} SET amount = amount + 1 WHERE id = {i % 3 + 1}")
    args = connect_args(my.url)
    settings = {k: args[k] for k in ("host", "port", "user", "password")}
    start = saved(local_store)
    captured = {f"test.{table}": ("id",)}
    transactions, end = _read_batch(settings, start, captured, 100, 4_242_001)
    crashed = _land(local_store, SRC, transactions, DmsOptions())  # ... and the process dies here
    assert len(transactions) == 4 and len(crashed) == 1 and end != start
    assert saved(local_store) == start
    # The restarted capture re-reads the same changes, this time one transaction per batch (other files).
    redo = stream(my.url, local_store, SRC, batch_changes=1)
    assert redo.changes == 4 and len(redo.files) == 4 and saved(local_store) >= end
    rows = landed(local_store)
    assert len(rows) == 3 + 8  # every change landed twice ...
    assert len({r.position for r in rows}) == 3 + 4  # ... under the same positions
    assert current_state(rows, ["id"]) == my.rows(table, ["id"])


def test_csv_landing_keeps_the_text_unchanged_as_data(my: MyTest, local_store: LocalObjectStore) -> None:
    """MariaDB's binlog carries every column (binlog_row_image=FULL): nothing is ever not carried, so the text
    ``<unchanged>`` (DMS's csvNoSupValue) in a column, through the load and an update, is always data."""
    table = make_table(my)
    my.execute(f"UPDATE {table} SET name = '<unchanged>' WHERE id = 1")
    load = snapshot(my.url, [table], local_store, SRC).files
    my.execute(
        f"UPDATE {table} SET amount = 9 WHERE id = 1",
        f"UPDATE {table} SET name = '<unchanged>' WHERE id = 2",
        f"INSERT INTO {table} VALUES (4, '<unchanged>', NULL, NULL, 0)",
    )
    out = stream(my.url, local_store, SRC)
    assert out.changes == 3
    for key in [*load, *out.files]:
        assert json.loads(local_store.get_bytes(not_carried_key(key)))["not_carried"] == {}
    rows = landed(local_store)
    assert not any(v is UNCHANGED for r in rows for v in r.values.values())
    state = current_state(rows, ["id"])
    assert state == my.rows(table, ["id"])
    assert [state[(k,)]["name"] for k in (1, 2, 4)] == ["<unchanged>"] * 3


def test_same_file_twice_and_out_of_order_arrival(my: MyTest, local_store: LocalObjectStore) -> None:
    table = make_table(my)
    snapshot(my.url, [table], local_store, SRC)
    files = []
    for step in range(3):
        my.execute(f"UPDATE {table} SET name = 'step{step}' WHERE id = 1")
        if step == 1:
            my.execute(f"DELETE FROM {table} WHERE id = 2")
        if step == 2:
            my.execute(f"INSERT INTO {table} VALUES (2, 'back', 0, NULL, 0)")
        files += stream(my.url, local_store, SRC).files
    assert len(files) == 3 and len(set(files)) == 3
    expected = my.rows(table, ["id"])
    load = in_landing_order(local_store.list_keys(f"landing/cdc/{SRC}/"))[0]
    per_file = {k: read_dms_file(local_store, k) for k in [load, *files]}
    newest_first = [r for k in [load, *reversed(files)] for r in per_file[k]]
    assert expected[(1,)]["name"] == "step2" and expected[(2,)]["name"] == "back"
    assert current_state(newest_first, ["id"]) == expected
    twice = [r for k in [load, *files, files[1], files[0]] for r in per_file[k]]
    assert current_state(twice, ["id"]) == expected


def test_column_added_mid_stream(my: MyTest, local_store: LocalObjectStore) -> None:
    table = make_table(my)
    snapshot(my.url, [table], local_store, SRC)
    my.execute(f"INSERT INTO {table} VALUES (4, 'before', 1, NULL, 1)")
    my.execute(f"ALTER TABLE {table} ADD COLUMN region varchar(10)")
    my.execute(
        f"INSERT INTO {table} VALUES (5, 'after', 1, NULL, 1, 'eu')",
        f"UPDATE {table} SET region = 'us' WHERE id = 1",
    )
    # Read after the ALTER: the events before it still decode with their own columns (binlog_row_metadata).
    out = stream(my.url, local_store, SRC)
    assert len(out.files) == 2  # one file per column set, the second named after the first
    assert out.files[0] < out.files[1]
    first = local_store.get_bytes(out.files[0]).decode().splitlines()
    assert first[0] == "Op,dms_commit_ts,id,name,amount,at,ok,AR_H_CHANGE_SEQ"
    assert first[1].startswith("I,") and ",4,before," in first[1]
    header = local_store.get_bytes(out.files[1]).decode().splitlines()[0]
    assert header == "Op,dms_commit_ts,id,name,amount,at,ok,region,AR_H_CHANGE_SEQ"
    state = current_state(landed(local_store), ["id"])
    expected = my.rows(table, ["id"])
    assert state[(5,)] == expected[(5,)] and state[(1,)] == expected[(1,)]
    # Rows not touched since the column was added were landed without it; merged, they read as NULL.
    assert {k: {c: v.get(c) for c in expected[k]} for k, v in state.items()} == expected


def test_table_without_primary_key_is_refused_unless_a_key_is_declared(
    my: MyTest, local_store: LocalObjectStore
) -> None:
    table = f"{my.name}_nokey"
    my.execute(f"CREATE TABLE {table} (code varchar(10), qty int)", f"INSERT INTO {table} VALUES ('a', 1)")
    with pytest.raises(CdcError, match="has no primary key"):
        snapshot(my.url, [table], local_store, SRC)
    assert stored_position(local_store, SRC) is None
    snapshot(my.url, [table], local_store, SRC, keys={table: ["code"]})
    my.execute(
        f"UPDATE {table} SET qty = 2",
        f"INSERT INTO {table} VALUES ('b', 3)",
        f"DELETE FROM {table} WHERE code = 'b'",
    )
    out = stream(my.url, local_store, SRC)  # the declared key is part of the stored capture state
    assert out.changes == 3
    rows = landed(local_store)
    assert [r.op for r in rows] == ["I", "U", "I", "D"]
    assert current_state(rows, ["code"]) == my.rows(table, ["code"])


def test_pattern_selects_tables_other_tables_are_ignored_and_second_snapshot_is_refused(
    my: MyTest, local_store: LocalObjectStore
) -> None:
    make_table(my)
    my.execute(f"CREATE TABLE {my.name}_u (k int PRIMARY KEY)", f"INSERT INTO {my.name}_u VALUES (1)")
    result = snapshot(my.url, f"test.{my.name}%", local_store, SRC)
    assert sorted(result.tables) == [f"test.{my.name}_t", f"test.{my.name}_u"]
    with pytest.raises(CdcError, match="already has a stored binlog position"):
        snapshot(my.url, f"test.{my.name}%", local_store, SRC)
    my.execute(
        f"CREATE TABLE {my.name}x_other (k int PRIMARY KEY)", f"INSERT INTO {my.name}x_other VALUES (7)"
    )
    my.execute(f"INSERT INTO {my.name}_u VALUES (2)")
    out = stream(my.url, local_store, SRC)
    assert out.changes == 1 and out.files[0].startswith(f"landing/cdc/{SRC}/test/{my.name}_u/")
    reset(local_store, SRC)
    assert stored_position(local_store, SRC) is None
    with pytest.raises(CdcError, match="no stored binlog position"):
        stream(my.url, local_store, SRC)


def test_commit_between_snapshot_start_and_table_read_lands_exactly_once(
    my: MyTest, local_store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The consistent snapshot and its binlog position agree: a commit after the snapshot began is not in the
    load (the snapshot does not see it) and lands once as a change (it is after the recorded position)."""
    table = make_table(my)
    writer = pymysql.connect(**connect_args(my.url))
    with writer.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(f"INSERT INTO {table} VALUES (77, 'racing', 1, NULL, 1)")
        cur.execute(f"UPDATE {table} SET name = 'raced' WHERE id = 1")
    real_table_rows = mariadb._table_rows

    def commit_then_read(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        writer.commit()  # after START TRANSACTION WITH CONSISTENT SNAPSHOT, before the table is read
        return real_table_rows(*args, **kwargs)

    monkeypatch.setattr(mariadb, "_table_rows", commit_then_read)
    try:
        result = snapshot(my.url, [table], local_store, SRC)
    finally:
        writer.close()
    assert result.tables == {f"test.{table}": 3}  # the load does not hold the racing transaction
    load = landed(local_store)
    assert all(r.values["id"] != 77 and r.values["name"] != "raced" for r in load)
    out = stream(my.url, local_store, SRC)
    assert (out.changes, out.transactions) == (2, 1)
    rows = landed(local_store)
    assert [r.values["id"] for r in rows].count(77) == 1
    assert current_state(rows, ["id"]) == my.rows(table, ["id"])


def test_truncate_stops_the_stream_with_a_clear_message(my: MyTest, local_store: LocalObjectStore) -> None:
    table = make_table(my)
    snapshot(my.url, [table], local_store, SRC)
    position = saved(local_store)
    my.execute(f"TRUNCATE TABLE {table}")
    with pytest.raises(CdcError, match="TRUNCATE"):
        stream(my.url, local_store, SRC)
    assert saved(local_store) == position  # nothing stored past it


def test_parquet_landing_end_to_end(my: MyTest, local_store: LocalObjectStore) -> None:
    table = make_table(my)
    options = DmsOptions(data_format="parquet")
    result = snapshot(my.url, [table], local_store, SRC, options=options)
    assert result.files[0].endswith("/LOAD00000001.parquet")
    my.execute(f"UPDATE {table} SET ok = 1 - ok WHERE id = 1", f"DELETE FROM {table} WHERE id = 3")
    out = stream(my.url, local_store, SRC, options=options)
    assert out.files[0].endswith(".parquet")
    rows = landed(local_store)
    assert rows[0].values["id"] == 1 and isinstance(rows[0].values["ok"], int)
    assert rows[3].values["id"] == 1 and isinstance(rows[3].values["amount"], str)  # decimal keeps its digits
    state = current_state(rows, ["id"])
    expected = my.rows(table, ["id"])
    assert state == expected and state[(1,)]["amount"] == "1.50"


def test_types_print_alike_in_load_and_binlog(my: MyTest, local_store: LocalObjectStore) -> None:
    """The same values through the full load and through the binlog land as the same text."""
    table = f"{my.name}_types"
    my.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, big bigint unsigned, f float, d double, dt6 datetime(6), "
        "ts timestamp NULL, dd date, tm time, e enum('x','y'), js json, txt text)"
    )
    values = (
        "18446744073709551615, 1.1, 2.5, '2026-11-24 10:11:12.123456', '2026-11-24 10:00:00', "
        "'2026-02-28', '-01:02:03', 'y', '{\"a\": [1, 2]}', 'é ünicode'"
    )
    my.execute(f"INSERT INTO {table} VALUES (1, {values})")
    snapshot(my.url, [table], local_store, SRC)
    my.execute(f"INSERT INTO {table} VALUES (2, {values})")
    stream(my.url, local_store, SRC)
    rows = landed(local_store)
    assert len(rows) == 2
    loaded, streamed = ({k: v for k, v in r.values.items() if k != "id"} for r in rows)
    assert loaded == streamed
    expected = my.rows(table, ["id"])[(1,)]
    for column in ("big", "f", "d", "dt6", "ts", "dd", "tm", "e", "js", "txt"):
        assert loaded[column] == expected[column], column
    assert loaded["f"] == pytest.approx(1.1) and loaded["big"] == "18446744073709551615"  # beyond int64: text
    assert loaded["dd"] == dt.date(2026, 2, 28) and loaded["d"] == 2.5


def test_bit_lands_as_its_binary_digits_from_the_load_and_the_binlog(
    my: MyTest, local_store: LocalObjectStore
) -> None:
    """PyMySQL gives BIT as bytes, the binlog as a bit string: both land as the n digits of a BIT(n)."""
    table = f"{my.name}_bits"
    my.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, b1 bit(1), b12 bit(12), b64 bit(64)) ENGINE=InnoDB"
    )
    values = "b'1', b'000000000101', b'1000000000000000000000000000000000000000000000000000000000000001'"
    my.execute(f"INSERT INTO {table} VALUES (1, {values}), (3, b'0', b'0', b'0'), (5, NULL, NULL, NULL)")
    snapshot(my.url, [table], local_store, SRC)
    my.execute(f"INSERT INTO {table} VALUES (2, {values}), (4, b'0', b'0', b'0'), (6, NULL, NULL, NULL)")
    my.execute(f"UPDATE {table} SET b12 = b'111111111111' WHERE id = 3")
    stream(my.url, local_store, SRC)
    state = current_state(landed(local_store), ["id"])
    expected = {"b1": "1", "b12": "000000000101", "b64": "1" + "0" * 62 + "1"}
    assert state[(1,)] == {"id": 1, **expected}  # full load
    assert state[(2,)] == {"id": 2, **expected}  # binlog
    assert state[(4,)] == {"id": 4, "b1": "0", "b12": "0" * 12, "b64": "0" * 64}
    assert state[(3,)]["b12"] == "1" * 12 and state[(6,)]["b1"] is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (100.0, "100"),
        (0.1, "0.1"),
        (-2.5, "-2.5"),
        (1e-4, "0.0001"),
        (1e-5, "1e-05"),
        (123456789012345.0, "123456789012345"),
        (1e15, "1e+15"),
        (1.5e15, "1.5e+15"),
        (1e20, "1e+20"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.0, "0"),
        (-0.0, "-0"),
    ],
)
def test_double_lands_as_postgresql_prints_float8(value: float, text: str) -> None:
    assert mariadb.double_text(value) == text
