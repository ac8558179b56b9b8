"""The reconciliation check over typed values: real PostgreSQL and MariaDB capture (full load and changes),
the raw and merge assets via dagster.materialize on a temporary lake, then ``reconciles_with_source``.

Parquet landing types bool, integer, float, double and date columns, so the lake side prints them itself; the
check passes only when that text is, value for value, what the source prints (``1e+15``, ``100``, ``0.1``,
``5e-324``, ``t``); CSV landing keeps the text the capture wrote and is the control.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lake_assets.sources.cdc import mariadb, postgres
from lake_assets.sources.cdc.dms_format import DmsOptions
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.assets.cdc_helpers import checks_of, failure_text, reconcile_only, run, today
from lake_assets_tests.sources.cdc.conftest import MyTest, PgTest, mariadb_url, my  # noqa: F401

FORMATS = ["parquet", "csv"]


# ------------------------------------------------------------------------------------------ PostgreSQL

PG_ROWS = [
    "(1, true, 1, 100, 1, 100, 100, '2026-11-24', 'a')",
    "(2, false, -32768, 2147483647, 9223372036854775807, 1234567, 1e15, '0999-01-01', NULL)",
    "(3, NULL, NULL, NULL, NULL, 0.1, 0.1, NULL, 'c')",
    "(4, true, 7, 7, 7, 1e-5, 5e-324, '2000-02-29', '')",
    "(5, false, 0, 0, 0, 3.4e38, 1.7976931348623157e308, '1970-01-01', 'e')",
    "(6, true, 1, 1, 1, 'NaN', 'Infinity', '2026-01-01', 'f')",
    "(7, true, 1, 1, 1, 1.5e-45, 1.5e15, '2026-01-02', 'g')",
]
PG_CHANGES = [
    "(10, true, 2, 2, 2, 123456, 123456789012345, '2026-11-25', 'h')",
    "(11, false, 3, 3, 3, 0.0001, 1e-4, '1900-12-31', 'i')",
    "(12, true, 4, 4, 4, 16777217, 1e16, '2026-11-26', 'j')",
    "(13, NULL, 5, 5, 5, '-Infinity', -0.000123, '2026-11-27', NULL)",
]


@pytest.mark.parametrize("data_format", FORMATS)
def test_postgres_typed_values_reconcile(pg: PgTest, lake_root: Path, spark, data_format: str) -> None:
    t = f"{pg.name}_typed"
    pg.execute(
        f"CREATE TABLE {t} (id int PRIMARY KEY, b boolean, s smallint, i int, l bigint, r real, "
        "d double precision, dd date, note text)",
        f"INSERT INTO {t} VALUES {', '.join(PG_ROWS)}",
    )
    store, options = LocalObjectStore(lake_root), DmsOptions(data_format=data_format)
    spec = CdcTableSpec("shop", "public", t, ("id",), buckets=4, url=pg.url)
    postgres.snapshot(pg.url, [t], store, "shop", slot=pg.name, options=options)
    pg.execute(
        f"INSERT INTO {t} VALUES {', '.join(PG_CHANGES)}",
        f"UPDATE {t} SET r = 2.5e-7, d = 1e20, b = NOT b WHERE id = 1",
        f"DELETE FROM {t} WHERE id = 3",
    )
    postgres.stream(pg.url, pg.name, store, "shop", options=options)
    assert any(k.endswith(f".{data_format}") for k in store.list_keys("landing/cdc/shop/"))

    result = run(lake_root, spec, [today()], checks=True)
    assert result.success, failure_text(result)
    checks = checks_of(result)
    assert checks["primary_key_unique"][0]
    passed, metadata = checks["reconciles_with_source"]
    assert passed, f"{data_format}: {metadata}"
    assert metadata["lake_rows"].value == metadata["source_rows"].value == 10

    pg.execute(f"UPDATE {t} SET d = 1.0000000000000002e15 WHERE id = 2")  # one ulp, not landed
    passed, metadata = reconcile_only(lake_root, spec)
    assert not passed and metadata["lake_rows"].value == metadata["source_rows"].value


# -------------------------------------------------------------------------------------------------- MariaDB

MY_ROWS = [
    "(1, TRUE, 100, 100, 100, 100, '2026-11-24', b'1', b'000000000101', 'a')",
    "(2, FALSE, -2147483648, -9223372036854775808, 1234567, 1e15, '0999-01-01', b'0', b'111111111111', NULL)",
    "(3, NULL, NULL, NULL, 0.000012345, 0.1, NULL, NULL, NULL, 'c')",
    "(4, TRUE, 7, 7, -2.5, 5e-324, '2000-02-29', b'1', b'100000000000', '')",
    "(5, FALSE, 0, 0, 3.4e38, 1.7976931348623157e308, '1970-01-01', b'0', b'000000000000', 'e')",
    "(6, TRUE, 1, 1, 67108900, 1.5e15, '2026-01-01', b'1', b'1', 'f')",
]
MY_CHANGES = [
    "(10, TRUE, 2, 2, 123456, 123456789012345, '2026-11-25', b'1', b'010101010101', 'h')",
    "(11, FALSE, 3, 3, 0.0001, 1e-4, '1900-12-31', b'0', b'000000000001', 'i')",
    "(12, TRUE, 4, 4, 1e-5, 1e16, '2026-11-26', NULL, b'111111111110', 'j')",
]


@pytest.mark.parametrize("data_format", FORMATS)
def test_mariadb_typed_and_bit_values_reconcile(
    my: MyTest,  # noqa: F811 - the fixture imported above
    lake_root: Path,
    spark,
    data_format: str,
) -> None:
    t = f"{my.name}_typed"
    my.execute(
        f"CREATE TABLE {t} (id int PRIMARY KEY, flag boolean, i int, l bigint, f float, d double, dd date, "
        "b1 bit(1), b12 bit(12), note text) ENGINE=InnoDB",
        f"INSERT INTO {t} VALUES {', '.join(MY_ROWS)}",
    )
    store, options = LocalObjectStore(lake_root), DmsOptions(data_format=data_format)
    spec = CdcTableSpec("my", "test", t, ("id",), buckets=4, url=my.url)
    mariadb.snapshot(my.url, [t], store, "my", options=options)
    my.execute(
        f"INSERT INTO {t} VALUES {', '.join(MY_CHANGES)}",
        f"UPDATE {t} SET f = 2.5e-7, d = 1e20, b12 = b'001100110011', flag = NOT flag WHERE id = 1",
        f"DELETE FROM {t} WHERE id = 3",
    )
    assert mariadb.stream(my.url, store, "my", options=options).changes == 5

    result = run(lake_root, spec, [today()], checks=True)
    assert result.success, failure_text(result)
    checks = checks_of(result)
    assert checks["primary_key_unique"][0]
    passed, metadata = checks["reconciles_with_source"]
    assert passed, f"{data_format}: {metadata}"
    assert metadata["lake_rows"].value == metadata["source_rows"].value == 8

    my.execute(f"UPDATE {t} SET b12 = b'000000000100' WHERE id = 1")  # one bit, not landed
    passed, metadata = reconcile_only(lake_root, spec)
    assert not passed and metadata["lake_rows"].value == metadata["source_rows"].value
