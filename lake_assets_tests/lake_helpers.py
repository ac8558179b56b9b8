"""Helpers that fill a temporary lake the way production does: sample events -> intake -> landing index."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import orjson

from lake_assets.access.policy import Policy, load_policy
from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import EventDecoder
from lake_assets.resources.lake import LakeResource
from lake_assets.samples.events import generate_events
from lake_assets.settings import BatchLimits
from lake_assets.sources.events.intake import EventIntake, IntakeReport
from lake_assets.storage import ObjectStore

START = dt.date(2026, 11, 20)


def ingest_lines(store: ObjectStore, lines: list[bytes], max_events: int = 400) -> IntakeReport:
    decoder = EventDecoder(SchemaRegistry.from_directory())
    intake = EventIntake(store, decoder, BatchLimits(max_events=max_events), stream_name="shop")
    return intake.ingest(iter(lines), source_name="test")


def sample_lines(n: int, days: int = 2, seed: int = 11) -> list[bytes]:
    return list(generate_events(n, days=days, start=START, seed=seed))


def valid_events(lines: list[bytes]) -> list[dict]:
    """Valid events decoded independently of the lake (for expected results)."""
    decoder = EventDecoder(SchemaRegistry.from_directory())
    return [orjson.loads(line) for line in lines if decoder.validate(line) is None]


def expected_counts(events: list[dict]) -> Counter[tuple[str, str]]:
    """Distinct event ids per (event_type, UTC day)."""
    seen: dict[str, tuple[str, str]] = {}
    for event in events:
        stamp = dt.datetime.fromisoformat(event["event_time"]).astimezone(dt.UTC)
        seen[event["event_id"]] = (event["event_type"], stamp.date().isoformat())
    return Counter(seen.values())


def event(n: int | str, **extra: object) -> bytes:
    """A valid page view line; ``extra`` overrides or adds fields to make it invalid on purpose."""
    record = {
        "event_id": f"e{n}",
        "event_type": "page_view",
        "event_time": "2026-11-24T10:00:00Z",
        "session_id": "s1",
        "page_url": f"/p/{n}",
        "page_type": "product",
        "device": "mobile",
        **extra,
    }
    return orjson.dumps(record)


def lake_resource(root: Path | str) -> LakeResource:
    return LakeResource(lake_root=str(root))


def index_landing(lake: LakeResource) -> dict[tuple[str, str], list[str]]:
    """What the events landing sensor does, unbounded, from a fresh cursor: (subject, day) -> landing keys."""
    from lake_assets.sensors.landing import plan_new_objects
    from lake_assets.sources.events.kind import EventSourceKind
    from lake_assets.sources.landing_cursor import LandingCursor

    plan, _ = plan_new_objects(
        lake, EventSourceKind(SchemaRegistry.from_directory()), LandingCursor(), bounded=False
    )
    return {k: sorted(o.key for o in v) for k, v in sorted(plan.partitions.items())}


def policy_with(tmp_path: Path, *replacements: tuple[str, str]) -> Policy:
    """The lake's own access policy with each ``old`` text replaced by ``new`` (each must be there)."""
    text = load_policy().text
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return load_policy(path)
