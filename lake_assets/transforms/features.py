"""Intermediate events + the CDC customers' SCD2 history -> a point-in-time-correct feature table.

One row per (customer, feature day D): behaviour over trailing windows that end with D, the customer's
attributes as they were at the end of D, and the label "orders in the 7 days after D". Pure DataFrame/SQL
API (no Dagster, no storage paths), so a Glue job can run it as well as the local asset.

The point-in-time rule: a row for D is built only from what was known at the end of D (the instant
``D + 1 day 00:00 UTC``, exclusive): events with ``dt <= D`` and the history version valid at that instant
(``valid_from < D+1 <= valid_to``, i.e. ``valid_from <= t < valid_to`` for the last instant ``t`` of D).
Only the label looks ahead, at ``D+1 .. D+7``; it is null until those 7 days are all in the data
(``params["horizon"]``), so a row is never labelled from a partial week.

Customers and events: the shop's events carry ``user_id`` ``u-000123``; the CDC customers table is keyed
by the integer ``customer_id`` 123. ``customer_key`` is that mapping (the demo's convention); a user id of
another form maps to no customer and its events are left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lake_assets.transforms.events import PARTITION_COL, utc_day

WINDOWS = (7, 28)  # trailing windows in days, each ending with the feature day
LABEL_DAYS = 7  # the label looks at the days D+1 .. D+LABEL_DAYS
ACTIVITY = ("orders", "spend_cents", "sessions", "abandoned_carts")
ATTRIBUTES = ("tier", "active")
FEATURE_COLUMNS = (
    *(f"{a}_{w}d" for w in WINDOWS for a in ACTIVITY),
    "days_since_last_order",
    "customer_known",
    *ATTRIBUTES,
)
LABEL = "label"


def customer_key(user_id: Column) -> Column:
    """``u-000123`` -> 123 (int); null for any other form."""
    digits = F.regexp_extract(user_id, r"^u-0*([0-9]+)$", 1)
    return F.when(digits != "", digits.cast("int"))


def _day(df: DataFrame) -> DataFrame:
    return df if PARTITION_COL in df.columns else df.withColumn(PARTITION_COL, utc_day(F.col("event_time")))


def daily_activity(inputs: Mapping[str, DataFrame]) -> DataFrame:
    """Per (customer_id, dt): orders, spend_cents, sessions, abandoned_carts (a session of the day with a
    cart add and no order on that day). Sessions of anonymous visitors (no user id) belong to no customer."""
    no = F.lit(False)

    def steps(df: DataFrame, added: Column, ordered: Column) -> DataFrame:
        return _day(df).select(
            customer_key(F.col("user_id")).alias("customer_id"),
            PARTITION_COL,
            "session_id",
            added.alias("added"),
            ordered.alias("ordered"),
        )

    sessions = (
        steps(inputs["page_views"], no, no)
        .unionByName(steps(inputs["cart_updates"], F.col("action") == "add", no))
        .unionByName(steps(inputs["orders"], no, F.lit(True)))
        .where(F.col("customer_id").isNotNull() & F.col("session_id").isNotNull())
        .groupBy("customer_id", PARTITION_COL, "session_id")
        .agg(F.max("added").alias("added"), F.max("ordered").alias("ordered"))
        .groupBy("customer_id", PARTITION_COL)
        .agg(
            F.count(F.lit(1)).alias("sessions"),
            F.count_if(F.col("added") & ~F.col("ordered")).alias("abandoned_carts"),
        )
    )
    orders = (
        _day(inputs["orders"])
        .select(customer_key(F.col("user_id")).alias("customer_id"), PARTITION_COL, "order_id", "total_cents")
        .where(F.col("customer_id").isNotNull())
        .dropDuplicates(["order_id"])
        .groupBy("customer_id", PARTITION_COL)
        .agg(
            F.count(F.lit(1)).alias("orders"),
            F.sum(F.col("total_cents").cast("bigint")).alias("spend_cents"),
        )
    )
    return sessions.join(orders, ["customer_id", PARTITION_COL], "full").na.fill(
        0, ["orders", "spend_cents", "sessions", "abandoned_carts"]
    )


def attributes_as_of(history: DataFrame, days: DataFrame) -> DataFrame:
    """Per (customer_id, dt): the history version valid at the end of ``dt``; deleted customers left out.

    ``valid_from < dt + 1 day <= valid_to`` (open-ended when ``valid_to`` is null). Several versions at the
    same instant (one transaction): the one with the highest log position wins.
    """
    # The first instant of the next UTC day, independent of spark.sql.session.timeZone (as ``utc_day``).
    cutoff = F.timestamp_seconds((F.unix_date(F.col(PARTITION_COL)) + 1).cast("bigint") * 86_400)
    valid = (
        history.crossJoin(F.broadcast(days))
        .where((F.col("valid_from") < cutoff) & (F.col("valid_to").isNull() | (F.col("valid_to") >= cutoff)))
        .withColumn(
            "_n",
            F.row_number().over(
                Window.partitionBy("customer_id", PARTITION_COL).orderBy(
                    F.col("position").desc(), F.col("valid_from").desc()
                )
            ),
        )
        .where("_n = 1")
    )
    return valid.where(~F.coalesce(F.col("is_deleted"), F.lit(False))).select(
        F.col("customer_id").cast("int").alias("customer_id"), PARTITION_COL, *ATTRIBUTES
    )


def customer_day_features(
    spark: SparkSession, inputs: dict[str, DataFrame], params: Mapping[str, Any]
) -> DataFrame:
    """The feature table for ``params["days"]`` (ISO dates).

    ``inputs``: ``orders``, ``page_views``, ``cart_updates`` (clean events of ``D-27 .. D+7``; more is
    harmless, the windows select) and ``customers_history`` (the SCD2 history). ``params["horizon"]``: the
    last day whose events are complete (ISO date); labels need ``D + 7 <= horizon``.

    Rows: the customers that exist at the end of D (history) and every customer active in the 28 days up to
    D. Activity features count 0 when there was none; attributes are null for a customer the history did
    not hold yet (``customer_known`` = false).
    """
    feature_days = sorted({dt.date.fromisoformat(d) for d in params["days"]})
    horizon = dt.date.fromisoformat(params["horizon"])
    days = spark.createDataFrame([(d,) for d in feature_days], f"{PARTITION_COL} date")
    longest = max(WINDOWS)
    # Each day of activity contributes to the feature days D it lies before (offset = D - day in 0 .. 27)
    # and to the labels of the days just before it (offset -7 .. -1): one explode over the feature days in
    # reach (at most 35 per row, however many days the run has), no self-join.
    first, last = (
        feature_days[0] - dt.timedelta(days=longest - 1),
        feature_days[-1] + dt.timedelta(days=LABEL_DAYS),
    )
    events = ("orders", "page_views", "cart_updates")
    daily = daily_activity(
        {k: _day(inputs[k]).where(F.col(PARTITION_COL).between(first, last)) for k in events}
    )
    in_reach = F.filter(
        F.array(*[F.lit(d) for d in feature_days]),
        lambda d: F.datediff(d, F.col(PARTITION_COL)).between(-LABEL_DAYS, longest - 1),
    )
    spread = daily.select(
        "customer_id",
        *ACTIVITY,
        F.col(PARTITION_COL).alias("_activity_day"),
        F.explode(in_reach).alias(PARTITION_COL),
    )
    offset = F.datediff(F.col(PARTITION_COL), F.col("_activity_day"))
    in_window = {w: (offset >= 0) & (offset < w) for w in WINDOWS}
    aggregates = [
        F.sum(F.when(in_window[w], F.col(a)).otherwise(0)).cast("bigint").alias(f"{a}_{w}d")
        for w in WINDOWS
        for a in ACTIVITY
    ]
    behaviour = spread.groupBy("customer_id", PARTITION_COL).agg(
        *aggregates,
        F.min(F.when((offset >= 0) & (F.col("orders") > 0), offset)).alias("days_since_last_order"),
        F.sum(F.when(offset < 0, F.col("orders")).otherwise(0)).alias("_future_orders"),
        F.max(F.when(offset >= 0, F.lit(True)).otherwise(F.lit(False))).alias("_active"),
    )
    known = attributes_as_of(inputs["customers_history"], days)
    # Customers who only order in the label window, and are unknown at D, are not rows of D (nothing about
    # them was known then); their future orders still label the rows of known customers.
    rows = behaviour.join(
        known.withColumn("customer_known", F.lit(True)), ["customer_id", PARTITION_COL], "full"
    )
    rows = rows.where(
        F.coalesce(F.col("_active"), F.lit(False)) | F.coalesce(F.col("customer_known"), F.lit(False))
    )
    label_known = F.date_add(F.col(PARTITION_COL), LABEL_DAYS) <= F.lit(horizon)
    counts = [
        F.coalesce(F.col(f"{a}_{w}d"), F.lit(0).cast("bigint")).alias(f"{a}_{w}d")
        for w in WINDOWS
        for a in ACTIVITY
    ]
    return (
        rows.select(
            PARTITION_COL,
            "customer_id",
            *counts,
            F.col("days_since_last_order").cast("int").alias("days_since_last_order"),
            F.coalesce(F.col("customer_known"), F.lit(False)).alias("customer_known"),
            *ATTRIBUTES,
            F.when(label_known, (F.coalesce(F.col("_future_orders"), F.lit(0)) > 0).cast("int")).alias(LABEL),
        )
        .repartition(PARTITION_COL)
        .sortWithinPartitions(PARTITION_COL, "customer_id")
    )


# -- splits by time ------------------------------------------------------------------------------------------

SPLITS = ("train", "validation", "test")


def split_days(
    first: dt.date,
    last: dt.date,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    gap: int = LABEL_DAYS,
) -> dict[str, tuple[dt.date, dt.date]]:
    """Contiguous day ranges per split over ``first .. last``, in time order, ``gap`` days dropped after train
    and after validation.

    A train day D is labelled from D+1 .. D+7; dropping the 7 days before validation starts keeps every
    train label inside train time (and likewise validation's before test). Raises ValueError naming what
    is missing when the range is too short for three non-empty splits.
    """
    total = (last - first).days + 1
    usable = total - 2 * gap
    if usable < 3:
        raise ValueError(
            f"{total} labelled day(s) ({first} .. {last}): splits by time need at least {2 * gap + 3} "
            f"(3 split days and the {gap}-day gap after train and after validation)"
        )
    n_train = max(1, int(usable * fractions[0]))
    n_val = max(1, int(usable * fractions[1]))
    if usable - n_train - n_val < 1:
        n_train -= 1
    n_test = usable - n_train - n_val
    train_end = first + dt.timedelta(days=n_train - 1)
    val_start = train_end + dt.timedelta(days=gap + 1)
    val_end = val_start + dt.timedelta(days=n_val - 1)
    test_start = val_end + dt.timedelta(days=gap + 1)
    assert test_start + dt.timedelta(days=n_test - 1) == last
    return {"train": (first, train_end), "validation": (val_start, val_end), "test": (test_start, last)}


def with_split(features: DataFrame, ranges: Mapping[str, tuple[dt.date, dt.date]]) -> DataFrame:
    """Labelled rows with a ``split`` column; rows in no split (the gaps) are dropped."""
    day = F.col(PARTITION_COL)
    split = F.lit(None).cast("string")
    for name, (start, end) in reversed(list(ranges.items())):
        split = F.when(day.between(F.lit(start), F.lit(end)), F.lit(name)).otherwise(split)
    return (
        features.where(F.col(LABEL).isNotNull()).withColumn("split", split).where(F.col("split").isNotNull())
    )


# The model matrix: the label first (SageMaker's built-in algorithms read it so), then numeric features.
TIERS = ("std", "silver", "gold")
MATRIX_COLUMNS = (
    LABEL,
    *(f"{a}_{w}d" for w in WINDOWS for a in ACTIVITY),
    "days_since_last_order",
    "ordered_in_28d",
    "customer_known",
    "active",
    *(f"tier_{t}" for t in TIERS),
)


# The feature table's columns the export reads: the day and customer (order), and the matrix's sources.
MATRIX_INPUTS = (
    PARTITION_COL,
    "customer_id",
    LABEL,
    *(f"{a}_{w}d" for w in WINDOWS for a in ACTIVITY),
    "days_since_last_order",
    "customer_known",
    "active",
    "tier",
)


def model_matrix(rows: DataFrame) -> DataFrame:
    """Numeric columns in ``MATRIX_COLUMNS`` order: booleans 0/1, tier one-hot, a null day count as 28 (no
    order in the window) with its own flag."""
    flag = lambda c: F.coalesce(c.cast("int"), F.lit(0))  # noqa: E731 - a one-line local helper
    return rows.select(
        F.col(LABEL).cast("int").alias(LABEL),
        *(F.col(f"{a}_{w}d").cast("double").alias(f"{a}_{w}d") for w in WINDOWS for a in ACTIVITY),
        F.coalesce(F.col("days_since_last_order"), F.lit(max(WINDOWS)))
        .cast("double")
        .alias("days_since_last_order"),
        flag(F.col("days_since_last_order").isNotNull()).alias("ordered_in_28d"),
        flag(F.col("customer_known")).alias("customer_known"),
        flag(F.col("active")).alias("active"),
        *(flag(F.col("tier") == t).alias(f"tier_{t}") for t in TIERS),
    )
