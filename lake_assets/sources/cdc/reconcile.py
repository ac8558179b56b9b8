"""The live source's side of the CDC reconciliation: row count and checksum of a table, computed in SQL.

The figure matches ``transforms.cdc.checksum`` over the lake's current state: each row's columns in their
PostgreSQL text form (the form the capture lands), NULL as ``\\N``, joined by ``|``; the sum of the first 60
bits of each row's md5. Only the aggregate crosses the network, however big the table.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg2
from psycopg2 import sql


def source_checksum(url: str, schema: str, table: str, columns: Sequence[str]) -> tuple[int, int]:
    """(rows, checksum) of ``schema.table`` over ``columns``, in one read-only query."""
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
