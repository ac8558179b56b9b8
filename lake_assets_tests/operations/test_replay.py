"""``replay_quarantine`` on a temporary lake: what passes now lands once, what fails stays (with its new
reason), an interrupted replay run again loses and duplicates nothing, a second replay changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest

from lake_assets.operations.replay import MARKER_PREFIX, ReplayReport, replay_quarantine
from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import EventDecoder
from lake_assets.sources.events.intake import LANDING_PREFIX, QUARANTINE_PREFIX, EventIntake
from lake_assets.sources.events.landing_index import arrival_time
from lake_assets.storage import ObjectStore
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.lake_helpers import event, index_landing, ingest_lines, lake_resource
from lake_assets_tests.operations.conftest import FIXED, NEW_REASON, STILL_FAILING, VALID, event_ids

LATER = dt.datetime(2026, 11, 30, 9, 15, tzinfo=dt.UTC).timestamp()


def _lines(store: ObjectStore, prefix: str) -> list[bytes]:
    return [line for key in store.list_keys(prefix) for line in store.get_bytes(key).splitlines() if line]


def _records(store: ObjectStore) -> dict[str, dict]:
    """Quarantine records by their payload's event id (or the payload text when it is not JSON)."""
    out = {}
    for line in _lines(store, QUARANTINE_PREFIX):
        record = orjson.loads(line)
        try:
            out[orjson.loads(record["payload"])["event_id"]] = record
        except orjson.JSONDecodeError:
            out[record["payload"]] = record
    return out


def _snapshot(store: ObjectStore) -> dict[str, bytes]:
    return {key: store.get_bytes(key) for key in store.list_keys("")}


def _ingested(lake_root: Path) -> LocalObjectStore:
    store = LocalObjectStore(lake_root)
    report = ingest_lines(store, [*VALID, *FIXED, *NEW_REASON, *STILL_FAILING], max_events=3)
    assert report.landed == len(VALID) and report.quarantined == 9
    return store


def _replay(store: ObjectStore, registry: Path, **kw: object) -> ReplayReport:
    decoder = EventDecoder(SchemaRegistry.from_directory(registry))
    return replay_quarantine(store, decoder, clock=lambda: LATER, **kw)  # type: ignore[arg-type]


def test_replay_lands_what_passes_keeps_what_fails_and_is_a_no_op_the_second_time(
    lake_root: Path, fixed_registry: Path
) -> None:
    store = _ingested(lake_root)
    before = _snapshot(store)
    dry = _replay(store, fixed_registry, dry_run=True)
    assert _snapshot(store) == before  # a dry run changes nothing
    assert dict(dry.outcomes) == {"replayed": 4, "new_reason": 2, "still_failing": 3}

    report = _replay(store, fixed_registry)
    assert dict(report.outcomes) == dict(dry.outcomes) and report.records == 9
    landed = _lines(store, LANDING_PREFIX)
    assert sorted(event_ids(landed)) == sorted(event_ids([*VALID, *FIXED]))  # each once
    assert set(landed) >= set(FIXED)  # byte for byte as they arrived
    keys = report.landing_keys  # one landing object per quarantine object that had events to land
    assert keys and {arrival_time(k) for k in keys} == {dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)}

    records = _records(store)
    assert sorted(records) == sorted(["e20", "e21", "e30", "e31", STILL_FAILING[2].decode()])
    assert records["e20"]["kind"] == "wrong_type" and records["e20"]["previous_kind"] == "unknown_field"
    assert records["e20"]["source"] == "test" and records["e20"]["line_number"] is not None
    assert records["e30"]["kind"] == "invalid_value" and "previous_kind" not in records["e30"]

    after = _snapshot(store)
    again = _replay(store, fixed_registry)
    assert again.outcomes["replayed"] == again.outcomes["new_reason"] == 0 and again.retired_objects == 0
    assert _snapshot(store) == after  # nothing written, nothing removed

    # The landing sensor's planning sees the replayed object like any intake batch.
    planned = index_landing(lake_resource(lake_root))
    assert set(keys) <= set(planned[("page_view", "2026-11-24")])


class _Crashing(LocalObjectStore):
    """Fails once, on the first write or delete under ``prefix`` (the replay stopped at that point)."""

    def __init__(self, root: Path, prefix: str) -> None:
        super().__init__(root)
        self.prefix, self.armed = prefix, True

    def _maybe_crash(self, key: str) -> None:
        if self.armed and key.startswith(self.prefix):
            self.armed = False
            raise KeyboardInterrupt(f"stopped before {key}")

    def put_bytes(self, key: str, data: bytes) -> None:
        self._maybe_crash(key)
        super().put_bytes(key, data)

    def delete(self, key: str) -> None:
        self._maybe_crash(key)
        super().delete(key)


@pytest.mark.parametrize("stop_at", [LANDING_PREFIX, QUARANTINE_PREFIX, MARKER_PREFIX])
def test_an_interrupted_replay_run_again_loses_and_duplicates_nothing(
    lake_root: Path, fixed_registry: Path, stop_at: str
) -> None:
    _ingested(lake_root)
    crashing = _Crashing(lake_root, stop_at)
    with pytest.raises(KeyboardInterrupt):
        _replay(crashing, fixed_registry)
    store = LocalObjectStore(lake_root)
    later = dt.datetime(2026, 11, 30, 11, tzinfo=dt.UTC).timestamp()  # the re-run is hours later
    replay_quarantine(store, EventDecoder(SchemaRegistry.from_directory(fixed_registry)), clock=lambda: later)
    landed = event_ids(_lines(store, LANDING_PREFIX))
    assert sorted(landed) == sorted(event_ids([*VALID, *FIXED]))
    assert sorted(_records(store)) == sorted(["e20", "e21", "e30", "e31", STILL_FAILING[2].decode()])


def test_what_replay_leaves_alone(lake_root: Path, fixed_registry: Path) -> None:
    """A UTF-16 file's records are not retried (no schema fixes an encoding); a file that is not
    quarantine records (moved aside by hand) is reported and left as it is."""
    store = LocalObjectStore(lake_root)
    decoder = EventDecoder(SchemaRegistry.from_directory())
    EventIntake(store, decoder).ingest(iter([event(40).decode().encode("utf-16")]), "utf16.jsonl")
    store.put_bytes("quarantine/events/manual/object.jsonl", VALID[0] + b"\n")
    before = _snapshot(store)
    report = _replay(store, fixed_registry)
    assert report.outcomes["not_retried"] == 1 and report.outcomes["replayed"] == 0
    assert report.unreadable == ["quarantine/events/manual/object.jsonl"]
    assert _snapshot(store) == before
    assert "not quarantine records" in report.summary()
