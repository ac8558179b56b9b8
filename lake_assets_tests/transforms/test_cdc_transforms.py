"""The CDC merge as pure Spark functions: history intervals, re-delivery, order, unchanged values."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import types as ST

from lake_assets.transforms.cdc import (
    build_history,
    current_state,
    reload_deletes,
    with_bucket,
)
from lake_assets.transforms.cdc_checksum import checksum

PARAMS = {"key": ["id"], "columns": ["id", "name"]}
SCHEMA = ST.StructType(
    [
        ST.StructField("Op", ST.StringType()),
        ST.StructField("commit_ts", ST.TimestampType()),
        ST.StructField("position", ST.StringType()),
        ST.StructField("_unchanged", ST.ArrayType(ST.StringType())),
        ST.StructField("id", ST.StringType()),
        ST.StructField("name", ST.StringType()),
    ]
)


def t(minute: int) -> dt.datetime:
    return dt.datetime(2026, 11, 24, 10, minute)


def changes(spark, rows):
    return with_bucket(spark.createDataFrame(rows, SCHEMA), ["id"], 4)


def state(spark, rows, stored=None):
    history = build_history(spark, {"changes": changes(spark, rows), "history": stored}, PARAMS)
    current = current_state(spark, {"history": history}, PARAMS)
    return history, {r["id"]: r["name"] for r in current.collect()}


ROWS = [
    ("I", t(0), "p01", None, "1", "a"),
    ("I", t(0), "p02", None, "2", "b"),
    ("U", t(5), "p03", None, "1", "a2"),
    ("D", t(7), "p04", None, "2", None),
    ("I", t(9), "p05", None, "3", "c"),
    ("U", t(9), "p06", None, "3", "c2"),  # same commit time: the log position decides
]


def test_history_intervals_and_current_state(spark) -> None:
    history, current = state(spark, ROWS)
    assert current == {"1": "a2", "3": "c2"}
    got = sorted(
        (
            (
                r["id"],
                r["position"],
                r["name"],
                r["valid_from"],
                r["valid_to"],
                r["is_current"],
                r["is_deleted"],
            )
            for r in history.collect()
        ),
    )
    got = [g[:1] + g[2:] for g in got]
    assert got == [
        ("1", "a", t(0), t(5), False, False),
        ("1", "a2", t(5), None, True, False),
        ("2", "b", t(0), t(7), False, False),
        ("2", None, t(7), None, False, True),
        ("3", "c", t(9), t(9), False, False),
        ("3", "c2", t(9), None, True, False),
    ]


def test_changes_twice_and_in_any_order_give_the_same_state(spark) -> None:
    _, once = state(spark, ROWS)
    history_twice, twice = state(spark, ROWS + ROWS)
    _, reversed_ = state(spark, list(reversed(ROWS)))
    assert once == twice == reversed_
    assert history_twice.count() == len(ROWS)


def test_a_late_older_insert_does_not_bring_a_deleted_row_back(spark) -> None:
    history, _ = state(spark, [r for r in ROWS if r[2] != "p02"])
    stored = history.drop("valid_from", "valid_to", "is_current", "is_deleted")
    _, current = state(spark, [ROWS[1]], stored=history.select(*stored.columns))
    assert current == {"1": "a2", "3": "c2"}


def test_a_value_the_log_did_not_carry_comes_from_the_previous_version(spark) -> None:
    rows = [("I", t(0), "p1", None, "1", "long text"), ("U", t(1), "p2", ["name"], "1", None)]
    _, current = state(spark, rows)
    assert current == {"1": "long text"}
    history, _ = state(spark, rows[:1])
    _, later = state(spark, rows[1:], stored=history)
    assert later == {"1": "long text"}


def test_checksum_is_order_independent_and_sees_a_changed_value(spark) -> None:
    a = spark.createDataFrame([("1", "x", True), ("2", None, False)], "id string, v string, ok boolean")
    b = spark.createDataFrame([("2", None, False), ("1", "x", True)], "id string, v string, ok boolean")
    c = spark.createDataFrame([("2", None, False), ("1", "y", True)], "id string, v string, ok boolean")
    assert checksum(a, ["id", "v", "ok"]) == checksum(b, ["id", "v", "ok"])
    assert checksum(a, ["id", "v", "ok"])[0] == 2
    assert checksum(a, ["id", "v", "ok"]) != checksum(c, ["id", "v", "ok"])


def test_a_full_load_ends_the_keys_it_lacks_as_of_its_position(spark) -> None:
    """Old load (log position 1), a change, then a re-snapshot (position 5) without keys 2 and 3."""

    def pos(log: int, n: int) -> str:
        return f"{log:020d}{n:015d}"

    rows = [
        ("I", t(0), pos(1, 1), None, "1", "a", True),
        ("I", t(0), pos(1, 2), None, "2", "b", True),
        ("I", t(0), pos(1, 3), None, "3", "c", True),
        ("D", t(1), pos(2, 1), None, "3", None, False),  # captured before the gap
        ("I", t(2), pos(3, 1), None, "4", "d", False),  # captured before the gap
        ("I", t(5), pos(5, 1), None, "1", "a2", True),
        ("I", t(5), pos(5, 2), None, "4", "d", True),
        ("U", t(6), pos(6, 1), None, "4", "d2", False),  # after the new load
    ]
    schema = ST.StructType([*SCHEMA.fields, ST.StructField("_load", ST.BooleanType())])
    batch = with_bucket(spark.createDataFrame(rows, schema), ["id"], 4)
    ended = reload_deletes(spark, {"changes": batch, "stored": None}, PARAMS)
    assert [(r["id"], r["Op"], r["position"], r["commit_ts"]) for r in ended.collect()] == [
        ("2", "D", pos(5, 0), t(5))  # 3 was already deleted; 1 and 4 are in the load
    ]
    merged = with_bucket(ended, ["id"], 4).unionByName(batch, allowMissingColumns=True)
    history = build_history(spark, {"changes": merged, "history": None}, PARAMS)
    assert {r["id"]: r["name"] for r in current_state(spark, {"history": history}, PARAMS).collect()} == {
        "1": "a2",
        "4": "d2",
    }
    # the same load's second part merged later: key 1 (in the part merged before) is not ended; key 2's delete
    # comes again under the same (key, position), which the merge counts once
    part = with_bucket(spark.createDataFrame([rows[6]], schema), ["id"], 4)
    again = reload_deletes(spark, {"changes": part, "stored": history}, PARAMS)
    assert [(r["id"], r["position"]) for r in again.collect()] == [("2", pos(5, 0))]
    # a DMS load without AR_H_CHANGE_SEQ (positions from the file name) cannot be placed: nothing ended
    unplaced = with_bucket(
        spark.createDataFrame([("I", t(9), "0-LOAD00000001:0000000001", None, "1", "a", True)], schema),
        ["id"],
        4,
    )
    assert reload_deletes(spark, {"changes": unplaced, "stored": history}, PARAMS) is None
