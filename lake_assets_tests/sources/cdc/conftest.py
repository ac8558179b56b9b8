"""PostgreSQL and MariaDB connections for CDC tests: the test session's own servers
(``lake_assets_tests.fixtures.databases``), started from the installed binaries with logical decoding and the
ROW binlog configured.

Each test gets its own name prefix; its tables (and slot and publication) are dropped afterwards, because one
server serves the whole session.
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg2
import pymysql
import pytest

from lake_assets.sources.cdc.mariadb import connect_args
from lake_assets.sources.cdc.postgres import drop_slot
from lake_assets_tests.fixtures.databases import DatabaseServer

PG_TYPED = {16, 20, 21, 23, 700, 701, 1082}  # bool, int8, int2, int4, float4, float8, date: typed in the lake
PG_REAL = 700


def float32(value: float) -> float:
    """A value as a 32-bit float holds it (REAL and FLOAT columns land as float32)."""
    return struct.unpack("f", struct.pack("f", value))[0]


def my_type(data_type: str, column_type: str) -> Any:
    """How the lake keeps a MariaDB column: a Python type for the typed ones, None for text."""
    if data_type in ("tinyint", "smallint", "mediumint", "int", "bigint"):
        return None if data_type == "bigint" and "unsigned" in column_type else int
    if data_type == "float":
        return lambda text: float32(float(text))
    if data_type == "double":
        return float
    if data_type == "date":
        return dt.date.fromisoformat
    return None


@dataclass
class PgTest:
    url: str
    conn: Any
    name: str  # unique per test: tables are f"{name}_x", the slot and publication are f"{name}"

    def execute(self, *statements: str) -> None:
        with self.conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def transaction(self, *statements: str, rollback: bool = False) -> None:
        """Runs the statements in one transaction."""
        self.conn.autocommit = False
        try:
            self.execute(*statements)
            self.conn.rollback() if rollback else self.conn.commit()
        finally:
            self.conn.autocommit = True

    def rows(self, table: str, key: list[str]) -> dict[tuple, dict]:
        """The table keyed like the CDC merge, to compare with the landed current state: boolean, integer,
        real and date columns as Python values (the SQL types the lake keeps), every other column as text."""
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {table} LIMIT 0")
            cols = [(d.name, d.type_code) for d in cur.description]
            # format('%s') uses each type's output function, as pgoutput does (bool: t/f, not true/false).
            texts = ", ".join(
                c if oid in PG_TYPED else f"CASE WHEN {c} IS NOT NULL THEN format('%s', {c}) END"
                for c, oid in cols
            )
            cur.execute(f"SELECT {texts} FROM {table}")
            out = {}
            for record in cur.fetchall():
                values = {
                    c: float32(v) if oid == PG_REAL and v is not None else v
                    for (c, oid), v in zip(cols, record, strict=True)
                }
                out[tuple(values[k] for k in key)] = values
            return out


@pytest.fixture(scope="session")
def pg_url(postgres_server: DatabaseServer) -> str:
    conn = psycopg2.connect(postgres_server.url, connect_timeout=5)
    with conn, conn.cursor() as cur:
        cur.execute("SHOW wal_level")
        level = cur.fetchone()[0]
    conn.close()
    if level != "logical":
        pytest.fail(f"the test PostgreSQL runs with wal_level={level}; CDC needs logical")
    return postgres_server.url


@pytest.fixture
def pg(pg_url: str) -> Iterator[PgTest]:
    conn = psycopg2.connect(pg_url)
    conn.autocommit = True
    test = PgTest(pg_url, conn, f"cdc_{uuid.uuid4().hex[:10]}")
    try:
        yield test
    finally:
        drop_slot(pg_url, test.name)
        with conn.cursor() as cur:
            cur.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE %s",
                (test.name + "%",),
            )
            for (table,) in cur.fetchall():
                cur.execute(f'DROP TABLE IF EXISTS public."{table}"')
        conn.close()


# ------------------------------------------------------------------------------------------------ MariaDB


@dataclass
class MyTest:
    url: str
    conn: Any
    name: str  # unique per test: tables are f"{name}_x", the lake source is "my"

    def execute(self, *statements: str) -> None:
        with self.conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def transaction(self, *statements: str, rollback: bool = False) -> None:
        """Runs the statements in one transaction."""
        self.conn.begin()
        try:
            self.execute(*statements)
        finally:
            self.conn.rollback() if rollback else self.conn.commit()

    def rows(self, table: str, key: list[str]) -> dict[tuple, dict]:
        """The table keyed like the CDC merge: integer (not BIGINT UNSIGNED), FLOAT, DOUBLE, DATE columns as
        Python values (the SQL types the lake keeps), every other column as MariaDB prints it (CAST AS CHAR,
        TIMESTAMP in UTC)."""
        with self.conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            cur.execute(
                "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                (table,),
            )
            cols = [(c, my_type(data_type, column_type)) for c, data_type, column_type in cur.fetchall()]
            cur.execute(f"SELECT {', '.join(f'CAST(`{c}` AS CHAR)' for c, _ in cols)} FROM {table}")
            out = {}
            for record in cur.fetchall():
                values = {
                    c: v if v is None or typ is None else typ(v)
                    for (c, typ), v in zip(cols, record, strict=True)
                }
                out[tuple(values[k] for k in key)] = values
            return out


@pytest.fixture(scope="session")
def mariadb_url(mariadb_server: DatabaseServer) -> str:
    conn = pymysql.connect(**connect_args(mariadb_server.url), connect_timeout=5)
    with conn.cursor() as cur:
        cur.execute("SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata")
        settings = cur.fetchone()
    conn.close()
    if tuple(str(s) for s in settings) != ("1", "ROW", "FULL", "FULL"):
        pytest.fail(
            f"MariaDB log_bin/binlog_format/binlog_row_image/binlog_row_metadata are {settings}, CDC needs "
            "(1, ROW, FULL, FULL)"
        )
    return mariadb_server.url


@pytest.fixture
def my(mariadb_url: str) -> Iterator[MyTest]:
    conn = pymysql.connect(**connect_args(mariadb_url), autocommit=True)
    test = MyTest(mariadb_url, conn, f"cdc_{uuid.uuid4().hex[:10]}")
    try:
        yield test
    finally:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'test' "
                "AND TABLE_NAME LIKE %s",
                (test.name + "%",),
            )
            for (table,) in cur.fetchall():
                cur.execute(f"DROP TABLE IF EXISTS test.`{table}`")
        conn.close()
