"""What only the MariaDB capture has: its stored binlog position, and how its types (BIT, unsigned BIGINT,
DOUBLE...) print the same from the load and the binlog. What both engines must do is in
``test_capture_contract.py``.
"""

from __future__ import annotations

import datetime as dt

import pytest

from lake_assets.sources.cdc import mariadb
from lake_assets.sources.cdc.dms_format import (
    ChangeRow,
    current_state,
    in_landing_order,
    read_dms_file,
)
from lake_assets.sources.cdc.mariadb import (
    CdcError,
    reset,
    snapshot,
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
