"""The feature table's rules on hand-made inputs: point in time, windows, label, population, splits."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import DataFrame, SparkSession

from lake_assets.transforms.features import (
    FEATURE_COLUMNS,
    MATRIX_COLUMNS,
    customer_day_features,
    model_matrix,
    split_days,
    with_split,
)

D = dt.date.fromisoformat
EVENT = "event_time timestamp, dt date, session_id string, user_id string"


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _events(spark: SparkSession, rows: list[tuple], extra: str = "") -> DataFrame:
    full = [(ts(t), ts(t).date(), s, u, *rest) for t, s, u, *rest in rows]
    return spark.createDataFrame(full, f"{EVENT}, {extra}" if extra else EVENT)


def _history(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    """(customer_id, tier, active, valid_from, valid_to, is_deleted, position)."""
    full = [(c, t, a, ts(f), ts(to) if to else None, d, p) for c, t, a, f, to, d, p in rows]
    return spark.createDataFrame(
        full,
        "customer_id int, tier string, active boolean, valid_from timestamp, valid_to timestamp, "
        "is_deleted boolean, position string",
    )


@pytest.fixture(scope="module")
def features(spark) -> dict[tuple[str, int], dict]:
    orders = _events(
        spark,
        [
            (
                "2026-10-13T12:00:00",
                "s0",
                "u-000001",
                "o0",
                999,
            ),  # 28 days before 11-10: outside every window
            (
                "2026-10-15T12:00:00",
                "s9",
                "u-000001",
                "o1",
                500,
            ),  # 26 days before 11-10: in the 28-day window
            ("2026-11-10T09:00:00", "s1", "u-000001", "o2", 1200),
            ("2026-11-10T09:00:00", "s1", "u-000001", "o2", 1200),  # the same order twice: counted once
            ("2026-11-12T23:59:59", "s3", "u-000001", "o3", 3000),  # after 11-10: its label, not its features
            ("2026-11-18T08:00:00", "s4", "u-000002", "o4", 700),  # 8 days after 11-10, 7 after 11-11
            ("2026-11-16T08:00:00", "s5", "u-000099", "o5", 100),  # a user the history does not know yet
        ],
        "order_id string, total_cents bigint",
    )
    page_views = _events(
        spark,
        [
            ("2026-11-09T10:00:00", "s2", "u-000001"),
            ("2026-11-10T08:59:00", "s1", "u-000001"),
            ("2026-11-10T10:00:00", "sa", None),  # anonymous: no customer
            ("2026-11-11T10:00:00", "s6", "visitor-7"),  # not a customer id
        ],
    )
    cart_updates = _events(
        spark,
        [
            ("2026-11-09T10:01:00", "s2", "u-000001", "add"),  # session s2: add, no order -> abandoned
            ("2026-11-10T08:59:30", "s1", "u-000001", "add"),  # session s1: add, then order -> not abandoned
            ("2026-11-10T08:59:40", "s1", "u-000001", "remove"),
        ],
        "action string",
    )
    history = _history(
        spark,
        [
            # customer 1: std, then gold from the first instant of 11-11 (a change after the feature day)
            (1, "std", True, "2026-11-01T08:00:00", "2026-11-11T00:00:00", False, "001"),
            (1, "gold", True, "2026-11-11T00:00:00", None, False, "002"),
            (2, "silver", False, "2026-11-01T08:00:00", None, False, "001"),
            # customer 3 deleted on 11-05: not a customer on 11-10
            (3, "std", True, "2026-11-01T08:00:00", "2026-11-05T00:00:00", False, "001"),
            (3, "std", True, "2026-11-05T00:00:00", None, True, "002"),
            # customer 4 created during 11-15
            (4, "silver", True, "2026-11-15T13:00:00", None, False, "001"),
        ],
    )
    days = ["2026-11-10", "2026-11-11", "2026-11-15", "2026-11-18", "2026-11-19"]
    out = customer_day_features(
        spark,
        {
            "orders": orders,
            "page_views": page_views,
            "cart_updates": cart_updates,
            "customers_history": history,
        },
        {"days": days, "horizon": "2026-11-25"},
    )
    assert set(FEATURE_COLUMNS) <= set(out.columns)
    return {(r["dt"].isoformat(), r["customer_id"]): r.asDict() for r in out.collect()}


def test_attributes_are_those_of_the_feature_day_not_later(features) -> None:
    assert features[("2026-11-10", 1)]["tier"] == "std"  # the change to gold came after 11-10
    assert features[("2026-11-11", 1)]["tier"] == "gold"
    assert features[("2026-11-10", 2)]["active"] is False


def test_orders_after_the_feature_day_never_reach_its_features(features) -> None:
    row = features[("2026-11-10", 1)]
    assert row["orders_7d"] == 1 and row["spend_cents_7d"] == 1200  # o2 once; o3 (11-12) is in the future
    assert row["orders_28d"] == 2 and row["spend_cents_28d"] == 1700  # o1 (26 days back) in; o0 (28) out
    assert row["days_since_last_order"] == 0
    later = features[("2026-11-15", 1)]
    assert later["orders_7d"] == 2 and later["days_since_last_order"] == 3  # o2, o3; o3 three days back


def test_sessions_and_cart_abandonment(features) -> None:
    row = features[("2026-11-10", 1)]
    assert (
        row["sessions_7d"] == 2
    )  # s2 (11-09) and s1 (11-10); the anonymous and non-customer ones belong to none
    assert row["abandoned_carts_7d"] == 1  # s2 added and did not order; s1 ordered


def test_label_is_orders_in_the_next_seven_days(features) -> None:
    assert features[("2026-11-10", 1)]["label"] == 1  # o3 on 11-12
    assert features[("2026-11-10", 2)]["label"] == 0  # o4 on 11-18 is day 8
    assert features[("2026-11-11", 2)]["label"] == 1  # ... and day 7 of 11-11
    assert features[("2026-11-18", 1)]["label"] == 0
    assert features[("2026-11-18", 2)]["label"] == 0  # its own order day is not in its label window
    assert features[("2026-11-19", 1)]["label"] is None  # 11-26 is past the horizon (11-25): not known yet


def test_population_follows_the_history_and_activity(features) -> None:
    assert ("2026-11-10", 3) not in features  # deleted before the day
    assert ("2026-11-10", 4) not in features and ("2026-11-11", 4) not in features  # not created yet
    assert features[("2026-11-15", 4)]["customer_known"] is True  # created during 11-15
    assert ("2026-11-15", 99) not in features  # unknown and not active before 11-16
    unknown = features[("2026-11-18", 99)]  # active, but the history does not hold it: attributes null
    assert unknown["customer_known"] is False and unknown["tier"] is None and unknown["orders_7d"] == 1


def test_model_matrix_has_the_label_first_and_numbers_only(features, spark) -> None:
    rows = spark.createDataFrame([r for r in features.values() if r["label"] is not None])
    matrix = model_matrix(rows)
    assert tuple(matrix.columns) == MATRIX_COLUMNS and matrix.columns[0] == "label"
    assert all(t in ("int", "double") for _, t in matrix.dtypes)
    assert matrix.where("tier_std + tier_silver + tier_gold > 1").count() == 0


def test_splits_are_disjoint_ordered_and_gapped() -> None:
    ranges = split_days(D("2026-09-01"), D("2026-10-30"))
    (a, b), (c, d), (e, f) = ranges["train"], ranges["validation"], ranges["test"]
    assert a == D("2026-09-01") and f == D("2026-10-30")
    assert a <= b < c <= d < e <= f
    # A day's label looks 7 days ahead: the last train label day is before validation starts.
    assert b + dt.timedelta(days=7) < c and d + dt.timedelta(days=7) < e
    assert (c - b).days - 1 == 7 and (e - d).days - 1 == 7  # exactly the gap days dropped
    assert (b - a).days > (d - c).days  # train is the largest


def test_too_few_days_for_splits_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="need at least 17"):
        split_days(D("2026-11-01"), D("2026-11-16"))


def test_with_split_drops_unlabelled_and_gap_rows(spark) -> None:
    days = [D("2026-09-01") + dt.timedelta(days=n) for n in range(20)]
    frame = spark.createDataFrame(
        [(d, 1, 0) for d in days] + [(days[0], 2, None)], "dt date, customer_id int, label int"
    )
    ranges = split_days(days[0], days[-1])
    out = with_split(frame, ranges).collect()
    by_day = {r["dt"]: r["split"] for r in out}
    assert len(out) == 20 - 14 and all(r["label"] is not None for r in out)
    for name, (start, end) in ranges.items():
        assert {d for d, s in by_day.items() if s == name} == {
            start + dt.timedelta(days=n) for n in range((end - start).days + 1)
        }


def test_the_cutoff_does_not_depend_on_the_session_time_zone(spark) -> None:
    """A change at 03:00 UTC on 11-11 (19:00 on 11-10 in Los Angeles) is after the UTC day 11-10 ends."""
    history = _history(
        spark,
        [
            (1, "std", True, "2026-11-01T08:00:00", "2026-11-11T03:00:00", False, "001"),
            (1, "gold", True, "2026-11-11T03:00:00", None, False, "002"),
        ],
    )
    empty = _events(spark, [], "order_id string, total_cents bigint")
    inputs = {
        "orders": empty,
        "page_views": _events(spark, []),
        "cart_updates": _events(spark, [], "action string"),
        "customers_history": history,
    }
    params = {"days": ["2026-11-10"], "horizon": "2026-11-30"}
    zone = spark.conf.get("spark.sql.session.timeZone")
    try:
        spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")
        (row,) = customer_day_features(spark, inputs, params).collect()
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)
    assert row["tier"] == "std" and row["label"] == 0
