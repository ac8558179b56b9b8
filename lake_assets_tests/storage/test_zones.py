"""Zones and Hive-style partition paths: pure functions, so plain asserts on strings."""

from __future__ import annotations

import datetime as dt

import pytest

from lake_assets.storage.zones import (
    Zone,
    parse_partition,
    partition_prefix,
    partition_value,
    table_prefix,
    zone_prefix,
)


def test_zone_prefix_always_ends_in_one_slash() -> None:
    assert zone_prefix(Zone.LANDING, "events", "/page_view/") == "landing/events/page_view/"
    assert zone_prefix(Zone.RAW) == "raw/"
    assert zone_prefix(Zone.SYSTEM, "", "cursors") == "_system/cursors/"


def test_partition_prefix_is_hive_style_for_date_and_string() -> None:
    expected = "raw/events/page_view/dt=2026-11-24/"
    assert partition_prefix(Zone.RAW, "events", "page_view", dt.date(2026, 11, 24)) == expected
    assert partition_prefix(Zone.RAW, "events", "page_view", "2026-11-24") == expected
    assert table_prefix(Zone.FINAL, "shop", "orders") == "final/shop/orders/"


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-02-30", "yesterday", "", "2026-11-24/x"])
def test_bad_day_raises(bad: str) -> None:
    with pytest.raises(ValueError):
        partition_prefix(Zone.RAW, "events", "page_view", bad)


def test_datetime_is_not_taken_for_a_day() -> None:
    """A datetime is a date subclass; its isoformat would make a ``dt=...T09:00:00`` folder."""
    with pytest.raises(ValueError):
        partition_value(dt.datetime(2026, 11, 24, 9))


@pytest.mark.parametrize("other_spelling", ["20261124", "2026-W48-2"])
def test_one_day_has_one_partition_folder(other_spelling: str) -> None:
    try:
        value = partition_value(other_spelling)
    except ValueError:
        return  # rejecting the spelling is also fine
    assert value == "2026-11-24"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("raw/events/page_view/dt=2026-11-24/part-0.avro", "2026-11-24"),
        ("raw/events/page_view/dt=2026-11-24/", "2026-11-24"),
        ("landing/events/2026/11/24/09/shop-1.jsonl", None),
        ("raw/events/page_view/", None),
    ],
)
def test_parse_partition(key: str, expected: str | None) -> None:
    assert parse_partition(key) == expected


def test_parse_partition_inverts_partition_prefix() -> None:
    day = dt.date(2026, 1, 5)
    assert parse_partition(partition_prefix(Zone.INTERMEDIATE, "cdc", "orders", day) + "x.parquet") == (
        day.isoformat()
    )
