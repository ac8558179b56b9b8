"""The lake side of the CDC reconciliation check, in pure PySpark (source side: ``sources/cdc/reconcile``).

Both sides print every value in the text form the capture lands it in, so one md5 per row compares them.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def _as_text(df: DataFrame, column: str) -> Column:
    typ = dict(df.dtypes)[column]
    if typ == "boolean":  # PostgreSQL's output function prints t/f
        return F.when(F.col(column), "t").when(~F.col(column), "f")
    return F.col(column).cast("string")


def checksum(df: DataFrame, columns: Sequence[str]) -> tuple[int, int]:
    """(rows, sum of a 60-bit md5 prefix of each row's text) — the same figure the source computes.

    Row text: each column's text form (NULL as ``\\N``) joined by ``|``; the sum is order independent.
    """
    text = F.concat_ws("|", *[F.coalesce(_as_text(df, c), F.lit("\\N")) for c in columns])
    part = F.conv(F.substring(F.md5(text), 1, 15), 16, 10).cast("decimal(38,0)")
    row = df.select(F.count(F.lit(1)).alias("n"), F.sum(part).alias("s")).first()
    return int(row["n"]), int(row["s"] or 0)
