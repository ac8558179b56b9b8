"""The reconciliation check's source side against the real MariaDB: ``source_checksum`` gives the figure the
lake side (``transforms.cdc.checksum``) computes over the landed and merged rows, and tells one change apart.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql.types import StringType, StructField, StructType

from lake_assets.sources.cdc.dms_format import current_state, in_landing_order, parse_dms_file
from lake_assets.sources.cdc.mariadb import snapshot, stream
from lake_assets.sources.cdc.reconcile import source_checksum
from lake_assets.sources.cdc.specs import CdcSpecError, parse_spec
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.transforms.cdc_checksum import checksum
from lake_assets_tests.sources.cdc.conftest import MyTest

SRC = "my"
COLUMNS = ["id", "name", "amount", "f", "d", "dt6", "ts", "tm", "bin", "big", "flag", "note"]


def lake_checksum(spark, store: LocalObjectStore, columns: list[str]) -> tuple[int, int]:
    """The lake side over the landed files: parsed, merged by key, as text (CSV lands text)."""
    keys = in_landing_order(store.list_keys(f"landing/cdc/{SRC}/"))
    rows = [row for key in keys for row in parse_dms_file(key, store.get_bytes(key))]
    state = current_state(rows, ["id"])
    schema = StructType([StructField(c, StringType()) for c in columns])
    records = [tuple(v.get(c) for c in columns) for v in state.values()]
    return checksum(spark.createDataFrame(records, schema), columns)


@pytest.fixture
def table(my: MyTest) -> str:
    name = f"{my.name}_r"
    my.execute(
        f"CREATE TABLE {name} (id int PRIMARY KEY, name varchar(100) CHARACTER SET latin1, "
        "amount decimal(12,3), f float, d double, dt6 datetime(6), ts timestamp(3) NULL, tm time(6), "
        "bin varbinary(8), big bigint unsigned, flag boolean, note text) ENGINE=InnoDB",
        f"INSERT INTO {name} VALUES "
        "(1, 'ünï', 1.5, 1234567, 1e20, '2026-11-24 10:00:00', '2026-11-24 10:00:00.5', '-00:00:01', "
        "'ab', 18446744073709551615, TRUE, 'a|b'), "
        "(2, NULL, NULL, 0.000012345, 0.1, '2026-11-24 10:11:12.000001', NULL, '838:59:59', '', 0, FALSE, "
        "'\\\\N'), "
        "(3, '', -0.001, -2.5, 1e15, '0999-01-01 00:00:00', '2000-01-01 00:00:00', '12:00:00.25', "
        "NULL, 7, NULL, 'é 中文')",
    )
    my.execute(
        f"INSERT INTO {name} SELECT seq, CONCAT('n', seq), seq / 7, seq / 3, seq * 1e-9, "
        "NOW(6), NULL, NULL, UNHEX(HEX(seq)), seq, seq % 2, NULL FROM seq_4_to_60"
    )
    return name


def test_source_checksum_equals_the_lake_after_snapshot_and_stream_and_sees_one_more_change(
    my: MyTest, table: str, local_store: LocalObjectStore, spark
) -> None:
    snapshot(my.url, [table], local_store, SRC)
    my.execute(
        f"UPDATE {table} SET d = 1.7976931348623157e308, f = 3.4e38, note = NULL WHERE id = 1",
        f"DELETE FROM {table} WHERE id = 5",
        f"INSERT INTO {table} (id, name, d, dt6) VALUES (100, 'new', 5e-324, '2026-11-25 00:00:00.100000')",
    )
    assert stream(my.url, local_store, SRC).changes == 3

    lake = lake_checksum(spark, local_store, COLUMNS)
    assert lake[0] == 60
    assert source_checksum(my.url, "test", table, COLUMNS) == lake
    assert source_checksum(my.url.replace("mysql://", "mariadb://"), "test", table, COLUMNS) == lake

    my.execute(f"UPDATE {table} SET amount = amount + 0.001 WHERE id = 4")  # one change, not landed yet
    changed = source_checksum(my.url, "test", table, COLUMNS)
    assert changed[0] == lake[0] and changed != lake

    stream(my.url, local_store, SRC)  # landed and merged: equal again
    assert source_checksum(my.url, "test", table, COLUMNS) == lake_checksum(spark, local_store, COLUMNS)

    my.execute(f"DELETE FROM {table} WHERE id = 3")
    assert source_checksum(my.url, "test", table, COLUMNS)[0] == lake[0] - 1


def test_bit_columns_reconcile_whether_loaded_or_streamed(
    my: MyTest, local_store: LocalObjectStore, spark
) -> None:
    table = f"{my.name}_bits"
    columns = ["id", "b1", "b12", "d"]
    my.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, b1 bit(1), b12 bit(12), d double) ENGINE=InnoDB",
        f"INSERT INTO {table} VALUES (1, b'1', b'000000000101', 100), (2, b'0', b'100000000001', 1e15), "
        "(3, NULL, NULL, NULL)",
    )
    snapshot(my.url, [table], local_store, SRC)
    my.execute(
        f"INSERT INTO {table} VALUES (4, b'1', b'000000000101', 100), (5, b'0', b'111111111111', 1.5e15)",
        f"UPDATE {table} SET b12 = b'000000000011' WHERE id = 1",
    )
    stream(my.url, local_store, SRC)
    lake = lake_checksum(spark, local_store, columns)
    assert lake[0] == 5
    assert source_checksum(my.url, "test", table, columns) == lake

    my.execute(f"UPDATE {table} SET b12 = b'000000000111' WHERE id = 4")  # one bit, not landed yet
    assert source_checksum(my.url, "test", table, columns) != lake


def test_an_unknown_column_is_named(my: MyTest, table: str) -> None:
    with pytest.raises(ValueError, match="no column"):
        source_checksum(my.url, "test", table, ["id", "nope"])


def test_specs_accept_mysql_and_mariadb_urls_only_besides_postgresql() -> None:
    entry = {"source": "my", "schema": "test", "table": "t", "primary_key": ["id"]}
    for url in ("mysql://root@127.0.0.1:3306/test", "mariadb://u:p@db/x", "postgresql://postgres@h/test"):
        assert parse_spec(Path("t.yaml"), "tables[0]", {**entry, "url": url}).url == url
    with pytest.raises(
        CdcSpecError, match=r"tables\[0\]\.url: 'oracle://h/x' is not a postgresql:// or mysql://"
    ):
        parse_spec(Path("t.yaml"), "tables[0]", {**entry, "url": "oracle://h/x"})
