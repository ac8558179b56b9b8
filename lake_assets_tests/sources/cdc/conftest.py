"""PostgreSQL and MariaDB connections for CDC tests: the test session's own servers
(``lake_assets_tests.fixtures.databases``), started from the installed binaries with logical decoding and the
ROW binlog configured.

Each test gets its own name prefix; its tables (and slot and publication) are dropped afterwards, because one
server serves the whole session.
"""

from __future__ import annotations

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
        """The table as text values keyed like the CDC merge, to compare with the landed current state."""
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {table} LIMIT 0")
            cols = [d.name for d in cur.description]
            # format('%s') uses each type's output function, as pgoutput does (bool: t/f, not true/false).
            texts = ", ".join(f"CASE WHEN {c} IS NOT NULL THEN format('%s', {c}) END" for c in cols)
            cur.execute(f"SELECT {texts} FROM {table}")
            out = {}
            for record in cur.fetchall():
                values = dict(zip(cols, record, strict=True))
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
        """The table as MariaDB prints it (CAST AS CHAR, TIMESTAMP in UTC), keyed like the CDC merge."""
        with self.conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")
            cur.execute(f"SELECT * FROM {table} LIMIT 0")
            cols = [d[0] for d in cur.description]
            cur.execute(f"SELECT {', '.join(f'CAST(`{c}` AS CHAR)' for c in cols)} FROM {table}")
            out = {}
            for record in cur.fetchall():
                values = dict(zip(cols, record, strict=True))
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
