"""The live source's side of the CDC reconciliation: row count and checksum of a table, computed in SQL.

The figure matches ``transforms.cdc.checksum`` over the lake's current state: each row's columns in the text
form the capture lands, NULL as ``\\N``, joined by ``|``; the sum of the first 60 bits of each row's md5
(of the UTF-8 text). Only the aggregate crosses the network, however big the table.

* PostgreSQL (``postgresql://``): each type's output function (``format('%s', col)``), as pgoutput prints.
* MariaDB (``mysql://`` / ``mariadb://``): the text ``sources.cdc.mariadb`` lands, rebuilt in SQL from
  ``CAST(col AS CHAR)`` where MariaDB prints otherwise: ``DOUBLE`` as PostgreSQL prints float8 (shortest
  digits, ``1e+15``), ``FLOAT`` as ``format(x, '.6g')`` of MariaDB's 6-digit rounding (PostgreSQL's layout of
  real), fractional seconds only when not zero and then 6 digits, binary values as ``0x`` + hex, ``BIT(n)``
  as its n binary digits, ``TIMESTAMP`` in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import psycopg2
from psycopg2 import sql

from lake_assets.sources.cdc.mariadb import _connect as mariadb_connect

POSTGRES_SCHEMES = ("postgresql", "postgres")
MARIADB_SCHEMES = ("mysql", "mariadb", "mysql+pymysql")


def source_checksum(url: str, schema: str, table: str, columns: Sequence[str]) -> tuple[int, int]:
    """(rows, checksum) of ``schema.table`` over ``columns``, in one read-only query."""
    scheme = urlsplit(url).scheme
    if scheme in POSTGRES_SCHEMES:
        return _postgres_checksum(url, schema, table, columns)
    if scheme in MARIADB_SCHEMES:
        return _mariadb_checksum(url, schema, table, columns)
    raise ValueError(f"{scheme}:// sources cannot be reconciled: use a postgresql:// or mysql:// URL")


# ----------------------------------------------------------------------------------------------- PostgreSQL


def _postgres_checksum(url: str, schema: str, table: str, columns: Sequence[str]) -> tuple[int, int]:
    row_text = sql.SQL("concat_ws('|', {})").format(
        sql.SQL(", ").join(
            # format('%s', NULL) is '', not NULL: test for NULL first.
            sql.SQL("CASE WHEN {0} IS NULL THEN '\\N' ELSE format('%s', {0}) END").format(sql.Identifier(c))
            for c in columns
        )
    )
    query = sql.SQL(
        "SELECT count(*), coalesce(sum(('x' || substr(md5({}), 1, 15))::bit(60)::bigint), 0) FROM {}"
    ).format(row_text, sql.Identifier(schema, table))
    conn = psycopg2.connect(url, connect_timeout=10)
    try:
        conn.set_session(readonly=True, autocommit=True)
        with conn.cursor() as cur:
            cur.execute(query)
            count, total = cur.fetchone()
    finally:
        conn.close()
    return int(count), int(total)


# -------------------------------------------------------------------------------------------------- MariaDB

_BINARY = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
_TEMPORAL = {"datetime", "timestamp", "time"}


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _number_text(col: str, fixed_below: int) -> str:
    """SQL printing a FLOAT or DOUBLE as PostgreSQL prints real / float8, from MariaDB's own text of ``col``.

    MariaDB prints the shortest digits (FLOAT: rounded to 6 significant digits) but places the point and
    writes the exponent its own way (``1e20``, ``0.0000001``, ``1e15``); only the layout is redone: fixed
    notation for decimal exponents from -4 to ``fixed_below - 1`` (no trailing ``.0``), else ``1.5e+15``.
    """
    text = f"CAST({col} AS CHAR)"
    unsigned = f"TRIM(LEADING '-' FROM {text})"
    mantissa = f"SUBSTRING_INDEX({unsigned}, 'e', 1)"
    power = f"IF(LOCATE('e', {unsigned}) > 0, CAST(SUBSTRING_INDEX({unsigned}, 'e', -1) AS SIGNED), 0)"
    whole = f"SUBSTRING_INDEX({mantissa}, '.', 1)"
    fraction = f"IF(LOCATE('.', {mantissa}) > 0, SUBSTRING_INDEX({mantissa}, '.', -1), '')"
    all_digits = f"CONCAT({whole}, {fraction})"
    leading_zeros = f"(LENGTH({all_digits}) - LENGTH(TRIM(LEADING '0' FROM {all_digits})))"
    digits = f"TRIM(TRAILING '0' FROM TRIM(LEADING '0' FROM {all_digits}))"
    exp = f"({power} + LENGTH({whole}) - 1 - {leading_zeros})"  # decimal exponent of the first digit
    sign = f"IF(LEFT({text}, 1) = '-', '-', '')"
    before_point = f"RPAD(LEFT({digits}, {exp} + 1), {exp} + 1, '0')"
    after_point = f"SUBSTRING({digits}, {exp} + 2)"
    fixed_int = f"CONCAT({before_point}, IF({after_point} = '', '', CONCAT('.', {after_point})))"
    fixed = f"IF({exp} >= 0, {fixed_int}, CONCAT('0.', REPEAT('0', -{exp} - 1), {digits}))"
    scientific = (
        f"CONCAT(LEFT({digits}, 1), IF(LENGTH({digits}) > 1, CONCAT('.', SUBSTRING({digits}, 2)), ''), "
        f"'e', IF({exp} < 0, '-', '+'), IF(ABS({exp}) < 10, '0', ''), ABS({exp}))"
    )
    return (
        f"CONCAT({sign}, CASE WHEN {digits} = '' THEN '0' "
        f"WHEN {exp} BETWEEN -4 AND {fixed_below - 1} THEN {fixed} ELSE {scientific} END)"
    )


def _mariadb_text(col: str, data_type: str, bits: int | None) -> str:
    """SQL giving the text ``sources.cdc.mariadb`` lands for a non-NULL value of ``col``."""
    if data_type == "double":
        return _number_text(col, fixed_below=15)
    if data_type == "float":  # MariaDB's 6-digit rounding, laid out as %g (the same as real in PostgreSQL)
        return _number_text(col, fixed_below=6)
    if data_type in _TEMPORAL:  # fractional seconds: none when zero, else all 6 digits (isoformat)
        return (
            f"CONCAT(SUBSTRING_INDEX(CAST({col} AS CHAR), '.', 1), "
            f"IF(MICROSECOND({col}) = 0, '', CONCAT('.', LPAD(MICROSECOND({col}), 6, '0'))))"
        )
    if data_type in _BINARY:
        return f"CONCAT('0x', LOWER(HEX({col})))"
    if data_type == "bit":  # its n binary digits, as both the load and the binlog land it
        return f"LPAD(BIN({col}), {bits or 1}, '0')"
    return f"CAST({col} AS CHAR)"


def mariadb_query(
    schema: str, table: str, columns: Sequence[str], types: dict[str, tuple[str, int | None]]
) -> tuple[str, list[str]]:
    """The checksum query and its parameters (the NULL marker), given each column's type and bit width."""
    parts = []
    for column in columns:
        col = _quote(column)
        data_type, bits = types[column]
        text = _mariadb_text(col, data_type, bits)
        parts.append(f"IF({col} IS NULL, %s, CONVERT({text} USING utf8mb4))")
    row_text = f"CONVERT(CONCAT_WS('|', {', '.join(parts)}) USING utf8mb4)"
    query = (
        f"SELECT COUNT(*), COALESCE(SUM(CAST(CONV(LEFT(MD5({row_text}), 15), 16, 10) AS UNSIGNED)), 0) "
        f"FROM {_quote(schema)}.{_quote(table)}"
    )
    return query, ["\\N"] * len(columns)


def _mariadb_checksum(url: str, schema: str, table: str, columns: Sequence[str]) -> tuple[int, int]:
    conn = mariadb_connect(url, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION time_zone = '+00:00'")  # TIMESTAMP in UTC, as it lands
            cur.execute("SET SESSION TRANSACTION READ ONLY")
            cur.execute(
                "SELECT COLUMN_NAME, DATA_TYPE, NUMERIC_PRECISION FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (schema, table),
            )
            types = {name: (str(typ).lower(), bits) for name, typ, bits in cur.fetchall()}
            missing = [c for c in columns if c not in types]
            if missing:
                raise ValueError(f"{schema}.{table} at the source has no column(s) {missing}")
            cur.execute(*mariadb_query(schema, table, columns, types))
            count, total = cur.fetchone()
    finally:
        conn.close()
    return int(count), int(total)
