"""The events landing index: which partitions an object feeds (the cursor: test_landing_cursor.py)."""

from __future__ import annotations

import orjson

from lake_assets.sources.events.landing_index import (
    arrival_day,
    event_day,
    index_object,
    partition_objects,
    write_index,
)
from lake_assets.storage.object_store import LocalObjectStore

SUBJECTS = ["cart_update", "order_placed", "page_view"]
PREFIX = "landing/events/"


def landing_key(day: str, hour: int, minute: int, tag: str) -> str:
    y, m, d = day.split("-")
    return f"{PREFIX}{y}/{m}/{d}/{hour:02d}/shop-1-{y}-{m}-{d}-{hour:02d}-{minute:02d}-00-{tag}.jsonl"


def line(event_type: str, time: str) -> bytes:
    return orjson.dumps({"event_type": event_type, "event_time": time, "event_id": "x"})


def test_event_day_is_the_utc_day_and_needs_an_offset() -> None:
    assert event_day("2026-11-24T23:30:00-05:00") == "2026-11-25"
    assert event_day("2026-11-24T23:30:00Z") == "2026-11-24"
    assert event_day("2026-11-24T23:30:00") is None
    assert event_day(12345) is None
    assert event_day("yesterday") is None


def test_index_counts_per_subject_and_event_day_including_late_events() -> None:
    key = landing_key("2026-11-24", 9, 0, "a")
    data = b"\n".join(
        [
            line("page_view", "2026-11-24T08:00:00Z"),
            line("page_view", "2026-11-22T08:00:00Z"),  # late: belongs to its own day
            line("order_placed", "2026-11-24T08:01:00+00:00"),
            b"",
        ]
    )
    index = index_object(data, key, SUBJECTS)
    assert [(e.subject, e.day, e.count) for e in index.entries] == [
        ("order_placed", "2026-11-24", 1),
        ("page_view", "2026-11-22", 1),
        ("page_view", "2026-11-24", 1),
    ]
    assert index.unreadable_lines == []


def test_unreadable_lines_send_the_object_to_its_arrival_day_so_the_raw_run_names_it() -> None:
    key = landing_key("2026-11-24", 9, 0, "bad")
    index = index_object(b"{not json\n" + line("page_view", "2026-11-20T00:00:00Z"), key, SUBJECTS)
    assert index.unreadable_lines == [1]
    assert ("page_view", "2026-11-24") in {(e.subject, e.day) for e in index.entries}
    assert arrival_day(key) == "2026-11-24"
    # An object with nothing readable at all is attributed to every subject.
    only_bad = index_object(b"\xff\xfe garbage", key, SUBJECTS)
    assert {e.subject for e in only_bad.entries} == set(SUBJECTS)


def test_markers_round_trip_to_partition_objects(local_store: LocalObjectStore) -> None:
    key = landing_key("2026-11-24", 9, 0, "a")
    write_index(local_store, index_object(line("page_view", "2026-11-24T01:00:00Z"), key, SUBJECTS))
    entries = partition_objects(local_store, "page_view", "2026-11-24")
    assert [(e.object_key, e.count) for e in entries] == [(key, 1)]
    assert partition_objects(local_store, "page_view", "2026-11-23") == []
