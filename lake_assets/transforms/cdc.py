"""CDC merge as pure PySpark: raw changes (+ the touched part of the history) -> history and current state.

No Dagster and no storage here: the asset hands in the new raw changes and the stored history of the key
buckets those changes touch, and gets back the rewritten history of exactly those buckets. The current state
is the history's current rows, so both tables follow one ordering rule.

Ordering: per key, versions are ordered by log position, the rule ``dms_format.merge_changes`` states
(positions are assigned in commit order, so this is commit-time order with ties broken by position). Commit
time alone is not used: a full load carries the snapshot time, which can be later than a change committed
just after the slot's consistent point, and the load must not win over that change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

OP, COMMIT_TS, POSITION, UNCHANGED = "Op", "commit_ts", "position", "_unchanged"
BUCKET = "bucket"


def bucket_width(buckets: int) -> int:
    return max(2, len(str(buckets - 1)))


def bucket_of(key: Sequence[str], buckets: int) -> Column:
    """``"07"``: a stable hash of the key, so one key always lands in the same folder."""
    return F.lpad(
        F.pmod(F.xxhash64(*[F.col(k) for k in key]), F.lit(buckets)).cast("string"),
        bucket_width(buckets),
        "0",
    )


def with_bucket(df: DataFrame, key: Sequence[str], buckets: int) -> DataFrame:
    return df.withColumn(BUCKET, bucket_of(key, buckets))


def build_history(
    spark: SparkSession, inputs: dict[str, DataFrame | None], params: dict[str, Any]
) -> DataFrame:
    """SCD type 2 of the touched keys: one row per change with valid_from/valid_to/is_current/is_deleted.

    ``inputs["changes"]``: raw records with ``bucket``; ``inputs["history"]``: the stored history of those
    buckets (or None). ``params``: ``key`` (columns) and ``columns`` (all table columns, key included). A
    change seen again (same key and position) is kept once; a value the log did not carry (listed in
    ``_unchanged``) is taken from the key's previous version. ``_unchanged`` stays in the output, so the fill
    is redone whenever the key's versions are rebuilt: a version arriving late fills the ones after it.
    """
    key, columns = list(params["key"]), list(params["columns"])
    system = [OP, COMMIT_TS, POSITION]
    changes = inputs["changes"].select(
        *columns, *system, F.col(UNCHANGED).alias(UNCHANGED), BUCKET, F.lit(1).alias("_from_state")
    )
    versions = changes
    history = inputs.get("history")
    if history is not None:
        stored = history.select(
            *[c for c in history.columns if c in columns],
            *system,
            (F.col(UNCHANGED) if UNCHANGED in history.columns else F.lit(None).cast("array<string>")).alias(
                UNCHANGED
            ),
            BUCKET,
            F.lit(0).alias("_from_state"),
        )
        versions = stored.unionByName(changes, allowMissingColumns=True)
    # The stored (already filled) version wins over the same change arriving again.
    once = Window.partitionBy(*key, POSITION).orderBy(F.col("_from_state"))
    versions = versions.withColumn("_n", F.row_number().over(once)).where("_n = 1").drop("_n", "_from_state")
    order = Window.partitionBy(*key).orderBy(F.col(POSITION), F.col(COMMIT_TS))
    running = order.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    filled = []
    for column in columns:
        carried = F.col(UNCHANGED).isNull() | ~F.array_contains(F.col(UNCHANGED), column)
        if column in key:
            filled.append(F.col(column))
        else:
            # Wrapped in a struct so that a real NULL counts as a value and only "not carried" is skipped.
            previous = F.last(F.when(carried, F.struct(F.col(column).alias("v"))), ignorenulls=True).over(
                running
            )
            filled.append(F.when(carried, F.col(column)).otherwise(previous["v"]).alias(column))
    nxt = F.lead(F.col(POSITION)).over(order)
    return versions.select(
        *filled,
        OP,
        COMMIT_TS,
        POSITION,
        F.col(COMMIT_TS).alias("valid_from"),
        F.lead(F.col(COMMIT_TS)).over(order).alias("valid_to"),
        (nxt.isNull() & (F.col(OP) != "D")).alias("is_current"),
        (F.col(OP) == "D").alias("is_deleted"),
        UNCHANGED,
        BUCKET,
    )


def current_state(spark: SparkSession, inputs: dict[str, DataFrame], params: dict[str, Any]) -> DataFrame:
    """The table as of the newest change: each key's last version, deleted keys left out."""
    history = inputs["history"]
    columns = [c for c in params["columns"] if c in history.columns]
    return history.where(F.col("is_current")).select(*columns, COMMIT_TS, POSITION, BUCKET)


LOAD_FLAG = "_load"
_SEQUENCE = r"^[0-9]{35}$"  # positions our capture (and DMS's AR_H_CHANGE_SEQ) write: 20 log + 15 order


def reload_deletes(
    spark: SparkSession, inputs: dict[str, DataFrame | None], params: dict[str, Any]
) -> DataFrame | None:
    """Deletes a full load implies: keys live before the load's position that the load does not hold.

    A full load is the table at its position (the snapshot's log position, the first 20 digits of its rows'
    positions). A re-snapshot after a gap in the capture must also end the keys deleted in the gap, which no
    change file carries. ``inputs["changes"]``: the batch with ``_load`` (True for full-load rows);
    ``inputs["stored"]``: versions already merged (or None). Returns ``D`` versions at the load's position
    (before its rows, after every change committed before it), or None when there is nothing to end. Loads
    without numeric positions (DMS files without ``AR_H_CHANGE_SEQ``) cannot be placed and are skipped.
    """
    key = list(params["key"])
    changes, stored = inputs["changes"], inputs.get("stored")
    loads = changes.where(F.col(LOAD_FLAG) & F.col(POSITION).rlike(_SEQUENCE))
    starts = (
        loads.groupBy(F.substring(POSITION, 1, 20).alias("_id")).agg(F.min(COMMIT_TS).alias("_ts")).collect()
    )
    if not starts:
        return None
    earlier = changes.select(*key, OP, POSITION)
    if stored is not None:
        earlier = stored.select(*key, OP, POSITION).unionByName(earlier)
    out = None
    for start in starts:
        at = start["_id"] + "0" * 15
        # Keys in this load: its rows in the batch, and in what was merged before (a load whose files reached
        # the merge in parts).
        of_load = F.substring(POSITION, 1, 20) == start["_id"]
        holds = loads.where(of_load).select(*key)
        if stored is not None:
            holds = holds.unionByName(stored.where(of_load & (F.col(POSITION) > at)).select(*key))
        holds = holds.distinct()
        last = Window.partitionBy(*key).orderBy(F.col(POSITION).desc())
        live = (
            earlier.where(F.col(POSITION) < at)
            .withColumn("_n", F.row_number().over(last))
            .where((F.col("_n") == 1) & (F.col(OP) != "D"))
            .select(*key)
            .join(holds, key, "left_anti")
        )
        ended = live.select(
            *key,
            F.lit("D").alias(OP),
            F.lit(start["_ts"]).cast("timestamp").alias(COMMIT_TS),
            F.lit(at).alias(POSITION),
        )
        out = ended if out is None else out.unionByName(ended)
    return out
