"""The one landing cursor: what is new since the last tick, for time-named keys and for any names."""

from __future__ import annotations

import os

import orjson

from lake_assets.sources.events.landing_index import arrival_time
from lake_assets.sources.kind import run_key
from lake_assets.sources.landing_cursor import LandingCursor, find_new
from lake_assets.storage import ObjectInfo
from lake_assets.storage.object_store import LocalObjectStore

PREFIX = "landing/events/"
FILES = "landing/files/"


def landing_key(day: str, hour: int, minute: int, tag: str) -> str:
    y, m, d = day.split("-")
    return f"{PREFIX}{y}/{m}/{d}/{hour:02d}/shop-1-{y}-{m}-{d}-{hour:02d}-{minute:02d}-00-{tag}.jsonl"


def new_events(
    store: LocalObjectStore, cursor: LandingCursor, **bounds: int
) -> tuple[list[str], LandingCursor]:
    found = find_new(store, cursor, PREFIX, lookback_seconds=600, key_time=arrival_time, **bounds)
    return found.keys, found.cursor


def new_files(
    store: LocalObjectStore, cursor: LandingCursor, **bounds: int
) -> tuple[list[str], LandingCursor]:
    found = find_new(store, cursor, FILES, lookback_seconds=600, **bounds)
    return found.keys, found.cursor


def put_at(store: LocalObjectStore, key: str, mtime: float, body: bytes = b"x") -> None:
    store.put_bytes(key, body)
    os.utime(store.base / key, (mtime, mtime))


def test_time_named_keys_list_only_new_objects_and_survive_a_restart(local_store: LocalObjectStore) -> None:
    first = [landing_key("2026-11-24", 9, m, f"k{m}") for m in range(5)]
    for key in first:
        local_store.put_bytes(key, b"{}")
    keys, cursor = new_events(local_store, LandingCursor())
    assert keys == first
    restored = LandingCursor.from_json(cursor.to_json())  # what Dagster stores between ticks
    assert new_events(local_store, restored)[0] == []
    late = landing_key("2026-11-24", 9, 10, "late")
    local_store.put_bytes(late, b"{}")
    assert new_events(local_store, restored)[0] == [late]


def test_a_key_that_sorts_before_the_newest_is_still_found_within_the_look_back(
    local_store: LocalObjectStore,
) -> None:
    """A parallel writer that closed its batch at 09:58 but finished writing after 10:05 was listed."""
    local_store.put_bytes(landing_key("2026-11-24", 10, 5, "b"), b"{}")
    _, cursor = new_events(local_store, LandingCursor())
    straggler = landing_key("2026-11-24", 9, 58, "a")
    local_store.put_bytes(straggler, b"{}")
    assert new_events(local_store, cursor)[0] == [straggler]


def test_listing_cost_grows_with_new_objects_not_with_history(local_store: LocalObjectStore) -> None:
    """10 days of history, then 3 new objects: the look-back skips whole old folders and lists once."""
    for day in range(10, 20):
        for hour in range(0, 24, 4):
            local_store.put_bytes(landing_key(f"2026-11-{day}", hour, 0, "old"), b"{}")
    _, cursor = new_events(local_store, LandingCursor())
    assert len(cursor.seen) <= 2  # only the look-back window is remembered, not 60 keys
    new = [landing_key("2026-11-19", 23, m, "new") for m in (1, 2, 3)]
    for key in new:
        local_store.put_bytes(key, b"{}")
    found = find_new(local_store, cursor, PREFIX, lookback_seconds=600, key_time=arrival_time)
    assert found.keys == new
    assert found.list_calls == 1


def test_any_names_are_placed_by_modification_time(local_store: LocalObjectStore) -> None:
    """A file named to sort first but written last is new; an untouched one is not; a rewrite is new again."""
    put_at(local_store, f"{FILES}shop/z.csv", 1_000_000)
    keys, cursor = new_files(local_store, LandingCursor())
    assert keys == [f"{FILES}shop/z.csv"]
    put_at(local_store, f"{FILES}shop/a.csv", 1_000_100)
    keys, cursor = new_files(local_store, cursor)
    assert keys == [f"{FILES}shop/a.csv"]
    assert new_files(local_store, cursor)[0] == []
    put_at(local_store, f"{FILES}shop/z.csv", 1_000_200, b"rewritten")
    assert new_files(local_store, cursor)[0] == [f"{FILES}shop/z.csv"]


def test_objects_older_than_the_window_are_not_new_and_are_forgotten(local_store: LocalObjectStore) -> None:
    put_at(local_store, f"{FILES}shop/old.csv", 1_000_000)
    put_at(local_store, f"{FILES}shop/new.csv", 1_005_000)
    keys, cursor = new_files(local_store, LandingCursor())
    assert keys == [f"{FILES}shop/new.csv", f"{FILES}shop/old.csv"]
    assert list(cursor.seen) == [f"{FILES}shop/new.csv"]  # old.csv is outside the 600 s window
    put_at(local_store, f"{FILES}shop/moved-in.csv", 1_000_500)  # an old time: the documented blind spot
    assert new_files(local_store, cursor)[0] == []


def test_a_bounded_tick_leaves_the_rest_for_the_next(local_store: LocalObjectStore) -> None:
    for n in range(5):
        put_at(local_store, f"{FILES}shop/{n}.csv", 1_000_000 + n, b"x" * 100)
    keys, cursor = new_files(local_store, LandingCursor(), max_objects=2)
    assert keys == [f"{FILES}shop/0.csv", f"{FILES}shop/1.csv"]
    keys, cursor = new_files(local_store, cursor, max_bytes=250)
    assert keys == [f"{FILES}shop/2.csv", f"{FILES}shop/3.csv"]
    keys, cursor = new_files(local_store, cursor, max_bytes=10)  # one object at least, even if too big
    assert keys == [f"{FILES}shop/4.csv"]
    assert new_files(local_store, cursor)[0] == []


def test_hidden_and_underscore_names_are_never_new(local_store: LocalObjectStore) -> None:
    put_at(local_store, f"{FILES}shop/.part", 1_000_000)
    put_at(local_store, f"{FILES}shop/_sidecar.json", 1_000_000)
    assert new_files(local_store, LandingCursor())[0] == []


def test_earlier_cursors_are_read_so_an_upgrade_neither_reruns_nor_skips(
    local_store: LocalObjectStore,
) -> None:
    """Cursors stored by the two earlier cursors (events: keys only; files: key -> mtime) keep working."""
    done = landing_key("2026-11-24", 9, 0, "done")
    local_store.put_bytes(done, b"{}")
    old_events = orjson.dumps({"start_after": f"{PREFIX}2026/11/24/08/", "seen": [done], "newest": done})
    cursor = LandingCursor.from_json(old_events.decode())
    fresh = landing_key("2026-11-24", 9, 5, "fresh")
    local_store.put_bytes(fresh, b"{}")
    assert new_events(local_store, cursor)[0] == [fresh]

    put_at(local_store, f"{FILES}shop/a.csv", 1_000_000)
    old_files = orjson.dumps({"newest": 1_000_000.0, "seen": {f"{FILES}shop/a.csv": 1_000_000.0}})
    assert new_files(local_store, LandingCursor.from_json(old_files.decode()))[0] == []


def test_run_keys_follow_the_objects_and_their_versions() -> None:
    a, b = ObjectInfo("landing/events/a", 10, 1.0), ObjectInfo("landing/events/b", 10, 2.0)
    assert run_key("events/page_view", "2026-11-24", [a, b]) == run_key(
        "events/page_view", "2026-11-24", [b, a]
    )
    assert run_key("events/page_view", "2026-11-24", [a, b]) != run_key("events/page_view", "2026-11-24", [a])
    rewritten = ObjectInfo("landing/events/a", 10, 3.0)
    assert run_key("events/page_view", "2026-11-24", [a]) != run_key(
        "events/page_view", "2026-11-24", [rewritten]
    )
    assert run_key("events/page_view", "2026-11-24", [a]).startswith("raw-events-page_view-2026-11-24-")
