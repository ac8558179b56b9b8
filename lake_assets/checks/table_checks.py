"""Data checks as plain DataFrame functions (no Dagster), so assets and Glue jobs compute them alike."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def duplicate_keys(df: DataFrame, key: Sequence[str]) -> int:
    """How many key values occur more than once."""
    return df.groupBy(*key).count().where(F.col("count") > 1).count()


def null_counts(df: DataFrame, columns: Sequence[str]) -> dict[str, int]:
    """Nulls per column, in one pass."""
    if not columns:
        return {}
    row = df.select([F.sum(F.col(c).isNull().cast("long")).alias(c) for c in columns]).first()
    return {c: int(row[c] or 0) for c in columns} if row else dict.fromkeys(columns, 0)


def rows_violating(df: DataFrame, condition: str) -> int:
    """Rows for which a SQL condition is false or null (an invariant such as ``units >= 0``)."""
    return df.where(f"NOT coalesce({condition}, false)").count()
