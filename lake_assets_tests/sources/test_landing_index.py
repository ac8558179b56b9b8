"""The landing index and cursor: which partitions an object feeds, and listing only what is new."""

from __future__ import annotations

import orjson

from lake_assets.sources.events.landing_index import (
    LandingCursor,
    arrival_day,
    event_day,
    find_new_objects,
    group_by_partition,
    index_object,
    partition_objects,
    run_key,
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


def test_cursor_lists_only_new_objects_and_survives_a_restart(local_store: LocalObjectStore) -> None:
    first = [landing_key("2026-11-24", 9, m, f"k{m}") for m in range(5)]
    for key in first:
        local_store.put_bytes(key, b"{}")
    found = find_new_objects(local_store, LandingCursor(), PREFIX, lookback_seconds=600)
    assert found.keys == first
    restored = LandingCursor.from_json(found.cursor.to_json())  # what Dagster stores between ticks
    assert find_new_objects(local_store, restored, PREFIX, 600).keys == []
    late = landing_key("2026-11-24", 9, 10, "late")
    local_store.put_bytes(late, b"{}")
    assert find_new_objects(local_store, restored, PREFIX, 600).keys == [late]


def test_a_key_that_sorts_before_the_newest_is_still_found_within_the_look_back(
    local_store: LocalObjectStore,
) -> None:
    """A parallel writer that closed its batch at 09:58 but finished writing after 10:05 was listed."""
    newer = landing_key("2026-11-24", 10, 5, "b")
    local_store.put_bytes(newer, b"{}")
    cursor = find_new_objects(local_store, LandingCursor(), PREFIX, lookback_seconds=600).cursor
    straggler = landing_key("2026-11-24", 9, 58, "a")
    local_store.put_bytes(straggler, b"{}")
    assert find_new_objects(local_store, cursor, PREFIX, 600).keys == [straggler]


def test_listing_cost_grows_with_new_objects_not_with_history(local_store: LocalObjectStore) -> None:
    """10 days of history, then 3 new objects: the look-back skips whole old folders and lists once."""
    for day in range(10, 20):
        for hour in range(0, 24, 4):
            local_store.put_bytes(landing_key(f"2026-11-{day}", hour, 0, "old"), b"{}")
    cursor = find_new_objects(local_store, LandingCursor(), PREFIX, 600).cursor
    assert len(cursor.seen) <= 2  # only the look-back window is remembered, not 60 keys
    new = [landing_key("2026-11-19", 23, m, "new") for m in (1, 2, 3)]
    for key in new:
        local_store.put_bytes(key, b"{}")
    found = find_new_objects(local_store, cursor, PREFIX, 600)
    assert found.keys == new
    assert found.list_calls == 1


def test_run_keys_depend_on_the_objects_only() -> None:
    keys = ["landing/events/a", "landing/events/b"]
    assert run_key("page_view", "2026-11-24", keys) == run_key(
        "page_view", "2026-11-24", list(reversed(keys))
    )
    assert run_key("page_view", "2026-11-24", keys) != run_key("page_view", "2026-11-24", keys[:1])
    k = landing_key("2026-11-24", 9, 0, "a")
    grouped = group_by_partition([index_object(line("page_view", "2026-11-24T01:00:00Z"), k, SUBJECTS)])
    assert grouped == {("page_view", "2026-11-24"): [k]}
