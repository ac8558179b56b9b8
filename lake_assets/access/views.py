"""A principal's view of one table (``TableAccess``: its columns and its rows) applied to data read outside
``lake query``: the reports read Arrow data through pyiceberg, the ML export reads a Spark frame.

One rule for every engine: the row filter is evaluated on the whole row (it may name a column the principal
does not see, as in Lake Formation's data cells filters), then only the wanted columns are kept. ``lake
query --as`` builds its hand-over with the same ``select_sql``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from lake_assets.access.policy import TableAccess

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def select_sql(access: TableAccess, source: str, columns: Sequence[str] | None = None) -> str:
    """``SELECT <columns> FROM <source> WHERE <row filter>`` (DuckDB): ``columns`` None means every column
    ``access`` leaves."""
    if columns is not None:
        projection = ", ".join(map(ident, columns))
    elif access.include is not None:
        projection = ", ".join(map(ident, access.include))
    else:
        projection = "*" + (f" EXCLUDE ({', '.join(map(ident, access.exclude))})" if access.exclude else "")
    where = f" WHERE ({access.row_filter})" if access.row_filter else ""
    return f"SELECT {projection} FROM {source}{where}"


def _require_visible(access: TableAccess, columns: Sequence[str]) -> None:
    """A last guard: ``Policy.view`` refuses hidden columns first, with the fix."""
    if hidden := access.hidden(columns):
        raise ValueError(f"{access.table}: {', '.join(hidden)} hidden by the policy")


def restricted_arrow(access: TableAccess, data: pa.Table, columns: Sequence[str]) -> pa.Table:
    """``columns`` of the rows of ``data`` (the whole table's columns) the principal may read."""
    _require_visible(access, columns)
    con = duckdb.connect()
    try:
        con.register("source_rows", data)
        return con.sql(select_sql(access, "source_rows", columns)).to_arrow_table()
    finally:
        con.close()


def restricted_frame(access: TableAccess, frame: DataFrame, columns: Sequence[str]) -> DataFrame:
    """The same view on a Spark frame (the filter as Spark SQL: the policy's filters are plain predicates
    that DuckDB, Spark and Lake Formation read alike, e.g. ``dt >= DATE '2026-11-01'``)."""
    from pyspark.sql import functions as F

    _require_visible(access, columns)
    if access.row_filter:
        frame = frame.where(F.expr(access.row_filter))
    return frame.select(*columns)
