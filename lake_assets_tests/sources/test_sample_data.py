"""The sample stream is deterministic, realistic, and its stats say exactly what it holds."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import orjson
import pytest

from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import (
    INVALID_UTF8,
    MALFORMED_JSON,
    MISSING_FIELD,
    NAIVE_TIMESTAMP,
    OUT_OF_RANGE,
    TOO_LARGE,
    UNKNOWN_EVENT_TYPE,
    WRONG_TYPE,
    EventDecoder,
)
from lake_assets.samples.events import SampleStats, generate_events, write_sample_file

START = dt.date(2026, 11, 20)
N = 20_000


@pytest.fixture(scope="module")
def decoder(registry: SchemaRegistry) -> EventDecoder:
    return EventDecoder(registry)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[bytes], SampleStats, Path]:
    path = tmp_path_factory.mktemp("sample") / "events.jsonl"
    stats = write_sample_file(path, n_events=N, days=3, start=START, seed=7)
    return path.read_bytes().split(b"\n")[:-1], stats, path


def _time(event: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(event["event_time"])


def test_same_arguments_same_bytes(sample: tuple[list[bytes], SampleStats, Path]) -> None:
    lines, _, _ = sample
    assert list(generate_events(N, days=3, start=START, seed=7)) == lines
    assert list(generate_events(N, days=3, start=START, seed=8)) != lines
    assert len(lines) == N
    assert not any(line.endswith(b"\n") for line in lines)


def test_stats_reconcile_with_the_validator(
    sample: tuple[list[bytes], SampleStats, Path], decoder: EventDecoder
) -> None:
    lines, stats, _ = sample
    kinds: Counter[str] = Counter()
    types: Counter[str] = Counter()
    for line in lines:
        error = decoder.check(line)
        if error is None:
            types[orjson.loads(line)["event_type"]] += 1
        else:
            kinds[error.kind] += 1
    assert stats.total == N
    assert stats.valid == N - sum(kinds.values())
    assert stats.invalid == kinds
    assert stats.invalid_total == sum(kinds.values())
    assert stats.by_event_type == types
    # A few percent invalid, in many different ways.
    assert 0.02 < stats.invalid_total / N < 0.04
    expected = {MALFORMED_JSON, UNKNOWN_EVENT_TYPE, MISSING_FIELD, WRONG_TYPE, OUT_OF_RANGE, INVALID_UTF8}
    assert expected | {NAIVE_TIMESTAMP} <= set(kinds)


def test_duplicates_are_exact_resends(
    sample: tuple[list[bytes], SampleStats, Path], decoder: EventDecoder
) -> None:
    lines, stats, _ = sample
    valid = [line for line in lines if decoder.check(line) is None]
    by_id = Counter(orjson.loads(line)["event_id"] for line in valid)
    assert len(set(valid)) == len(by_id) == stats.distinct_valid  # same id <=> same bytes
    assert stats.duplicates == len(valid) - len(by_id)
    assert 0.01 < stats.duplicates / N < 0.02


def test_late_events_arrive_a_day_or_two_after_their_time(
    sample: tuple[list[bytes], SampleStats, Path], decoder: EventDecoder
) -> None:
    lines, stats, _ = sample
    newest: dt.datetime | None = None
    seen: set[str] = set()
    late = []
    for line in lines:
        if decoder.check(line) is not None:
            continue
        event = orjson.loads(line)
        if event["event_id"] in seen:
            continue  # a re-send, not a late event
        seen.add(event["event_id"])
        stamp = _time(event)
        if newest is not None and stamp < newest:
            late.append(newest - stamp)
        newest = stamp if newest is None else max(newest, stamp)
    assert len(late) == stats.late
    assert all(dt.timedelta(hours=23) <= lag <= dt.timedelta(days=2, hours=1) for lag in late)
    assert 0.01 < stats.late / N < 0.03


def test_the_shop_behaves_like_a_shop(
    sample: tuple[list[bytes], SampleStats, Path], decoder: EventDecoder
) -> None:
    lines, stats, _ = sample
    events = {}
    for line in lines:
        if decoder.check(line) is None:
            event = orjson.loads(line)
            events[event["event_id"]] = event
    orders = [e for e in events.values() if e["event_type"] == "order_placed"]
    carts = [e for e in events.values() if e["event_type"] == "cart_update"]
    views = [e for e in events.values() if e["event_type"] == "page_view"]
    assert len(views) > len(carts) > len(orders) > 0
    added = {(e["session_id"], e["product_id"]) for e in carts if e["action"] == "add"}
    for order in orders:
        assert order["items"] and order["user_id"]
        assert order["total_cents"] == sum(i["quantity"] * i["unit_price_cents"] for i in order["items"])
    # Orders follow cart updates of the same session (a few cart events are spoiled or held back).
    followed = sum(all((o["session_id"], i["product_id"]) in added for i in o["items"]) for o in orders)
    assert followed / len(orders) > 0.8
    assert all(e["quantity"] > 0 and e["unit_price_cents"] > 0 for e in carts)
    sessions = Counter(e["session_id"] for e in events.values())
    assert len(sessions) > N / 20
    times = sorted(_time(e) for e in events.values())
    start = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    assert start <= times[0] and times[-1] < start + dt.timedelta(days=3, hours=6)
    assert {t.date() for t in times} >= {START + dt.timedelta(days=d) for d in range(3)}
    assert stats.first_event_time == times[0].isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert stats.orders >= len(orders)


def test_a_rare_event_is_over_the_size_limit(decoder: EventDecoder) -> None:
    lines = list(generate_events(3000, days=1, start=START, seed=1, invalid_rate=0.5))
    large = [line for line in lines if len(line) > 256 * 1024]
    assert large
    assert all(decoder.check(line).kind == TOO_LARGE for line in large)  # type: ignore[union-attr]


def test_file_matches_the_stream_and_rates_can_be_zero(tmp_path: Path, decoder: EventDecoder) -> None:
    path = tmp_path / "clean.jsonl"
    stats = write_sample_file(
        path, n_events=500, days=1, seed=3, invalid_rate=0, duplicate_rate=0, late_rate=0
    )
    clean = list(generate_events(500, days=1, seed=3, invalid_rate=0, duplicate_rate=0, late_rate=0))
    assert path.read_bytes() == b"\n".join(clean) + b"\n"
    assert (stats.valid, stats.invalid_total, stats.duplicates, stats.late) == (500, 0, 0, 0)
    assert all(decoder.check(line) is None for line in clean)
    assert list(generate_events(0)) == []
    with pytest.raises(ValueError, match="must be in"):
        list(generate_events(10, invalid_rate=0.9, duplicate_rate=0.2))
    with pytest.raises(TypeError, match="unexpected arguments: colour"):
        write_sample_file(tmp_path / "x.jsonl", colour="red")
