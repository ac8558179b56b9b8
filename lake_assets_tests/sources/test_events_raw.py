"""Landing -> raw Avro for one subject over several days: routing, offsets, and bad lines."""

from __future__ import annotations

from pathlib import Path

import fastavro
import orjson
import pytest

from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import EventDecoder
from lake_assets.sources.events.landing_index import index_object, write_index
from lake_assets.sources.events.raw import CorruptLandingObject, build_raw_partitions, verify_raw_files
from lake_assets.storage.object_store import LocalObjectStore

KEY = "landing/events/2026/11/24/10/shop-1-2026-11-24-10-00-00-a.jsonl"


def page_view(event_id: str, time: str) -> dict:
    return {
        "event_id": event_id,
        "event_type": "page_view",
        "event_time": time,
        "session_id": "s1",
        "page_url": "/",
        "page_type": "home",
        "device": "mobile",
    }


def cart(event_id: str, quantity: object) -> dict:
    return {
        "event_id": event_id,
        "event_type": "cart_update",
        "event_time": "2026-11-23T10:00:00Z",
        "session_id": "s1",
        "product_id": "p1",
        "action": "add",
        "quantity": quantity,
        "unit_price_cents": 100,
    }


def land(store: LocalObjectStore, events: list[dict]) -> None:
    data = b"\n".join(orjson.dumps(e) for e in events)
    store.put_bytes(KEY, data)
    registry = SchemaRegistry.from_directory()
    write_index(store, index_object(data, KEY, registry.subjects("events")))


def build(store: LocalObjectStore, subject: str, days: list[str], out: Path):
    registry = SchemaRegistry.from_directory()
    return build_raw_partitions(store, registry, EventDecoder(registry), subject, days, out)


def test_one_pass_routes_each_event_to_its_utc_day(local_store: LocalObjectStore, tmp_path: Path) -> None:
    land(
        local_store,
        [
            page_view("a", "2026-11-23T23:30:00Z"),
            page_view("b", "2026-11-23T20:30:00-05:00"),  # 01:30 UTC on the 24th
            page_view("c", "2026-11-24T08:00:00+00:00"),
            cart("d", 2),
        ],
    )
    results = build(local_store, "page_view", ["2026-11-23", "2026-11-24"], tmp_path)
    assert {d: r.records for d, r in results.items()} == {"2026-11-23": 1, "2026-11-24": 2}
    registry = SchemaRegistry.from_directory()
    for day, result in results.items():
        assert verify_raw_files(tmp_path / f"dt={day}", registry, "page_view", result.expected).passed
    with open(next((tmp_path / "dt=2026-11-24").glob("*.avro")), "rb") as handle:
        assert sorted(r["event_id"] for r in fastavro.reader(handle)) == ["b", "c"]


def test_another_subjects_bad_line_fails_only_that_subjects_run(
    local_store: LocalObjectStore, tmp_path: Path
) -> None:
    land(local_store, [page_view("a", "2026-11-23T10:00:00Z"), cart("d", "two")])
    assert build(local_store, "page_view", ["2026-11-23"], tmp_path / "pv")["2026-11-23"].records == 1
    with pytest.raises(CorruptLandingObject, match=r"line 2: field \$\.quantity"):
        build(local_store, "cart_update", ["2026-11-23"], tmp_path / "cart")


def test_a_malformed_line_is_never_skipped(local_store: LocalObjectStore, tmp_path: Path) -> None:
    local_store.put_bytes(KEY, orjson.dumps(page_view("a", "2026-11-23T10:00:00Z")) + b'\n{"event_type": "pa')
    registry = SchemaRegistry.from_directory()
    write_index(local_store, index_object(local_store.get_bytes(KEY), KEY, registry.subjects("events")))
    with pytest.raises(CorruptLandingObject, match=KEY):
        build(local_store, "page_view", ["2026-11-23"], tmp_path)
