"""Events intake throughput on one core: fastavro baseline vs the msgspec ``EventDecoder``.

Generates the sample stream once (not timed), then times, for each validator, (1) validation alone and
(2) validation plus landing through ``EventIntake`` into a local lake (batches of ``BatchLimits()``), which is
what ``lake events ingest`` does minus reading the file. The baseline is what one would write first:
``orjson.loads`` + ``datetime.fromisoformat`` for ``event_time`` + ``fastavro.validation.validate``.

    .venv/bin/python bench/bench_intake.py [--events 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import tempfile
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastavro.validation import validate

from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import (
    DEFAULT_MAX_EVENT_BYTES,
    INVALID_VALUE,
    MALFORMED_JSON,
    NOT_AN_OBJECT,
    TOO_LARGE,
    UNKNOWN_EVENT_TYPE,
    EventDecoder,
    InvalidEvent,
)
from lake_assets.samples.events import generate_events
from lake_assets.settings import BatchLimits
from lake_assets.sources.events.intake import EventIntake, LineChecker
from lake_assets.storage.object_store import LocalObjectStore


class FastavroChecker:
    """The baseline: orjson, then the timestamp converted, then fastavro (the registry's reference)."""

    def __init__(self, registry: SchemaRegistry, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self.schemas = {s: registry.latest(s).parsed for s in registry.subjects("events")}
        self.max_event_bytes = max_event_bytes

    def check(self, line: bytes) -> InvalidEvent | None:
        if len(line) > self.max_event_bytes:
            return InvalidEvent("too large", TOO_LARGE)
        try:
            record: Any = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            return InvalidEvent(f"malformed JSON: {exc}", MALFORMED_JSON)
        if not isinstance(record, dict):
            return InvalidEvent("not an object", NOT_AN_OBJECT)
        schema = self.schemas.get(record.get("event_type"))  # type: ignore[arg-type]
        if schema is None:
            return InvalidEvent("unknown event_type", UNKNOWN_EVENT_TYPE)
        stamp = record.get("event_time")
        if isinstance(stamp, str):
            try:
                record["event_time"] = dt.datetime.fromisoformat(stamp)
            except ValueError:
                return InvalidEvent("bad event_time", INVALID_VALUE)
        if not validate(record, schema, raise_errors=False, strict=True):
            return InvalidEvent("does not conform", INVALID_VALUE)
        return None


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def validate_all(checker: LineChecker, lines: list[bytes]) -> int:
    check = checker.check
    return sum(check(line) is None for line in lines)


def land_all(checker: LineChecker, lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as root:
        report = EventIntake(LocalObjectStore(root), checker, BatchLimits()).ingest(lines, "bench")
        assert report.read == len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as a Lambda would have

    lines = list(generate_events(args.events))
    size = sum(len(line) + 1 for line in lines)
    registry = SchemaRegistry.from_directory()
    checkers: dict[str, LineChecker] = {
        "orjson + fastavro.validate (baseline)": FastavroChecker(registry),
        "EventDecoder (msgspec)": EventDecoder(registry),
    }
    print(f"{len(lines):,} events, {size / 1e6:.1f} MB, Python {platform.python_version()}, one core")
    valid = {name: validate_all(checker, lines) for name, checker in checkers.items()}
    print(
        f"valid: baseline {valid['orjson + fastavro.validate (baseline)']:,}, "
        f"EventDecoder {valid['EventDecoder (msgspec)']:,} (the decoder also rejects unknown fields and "
        "naive timestamps)"
    )
    print(f"{'validator':40} {'validate only':>16} {'validate + land':>18}")
    for name, checker in checkers.items():
        validate_s = best_of(args.repeat, lambda c=checker: validate_all(c, lines))
        land_s = best_of(args.repeat, lambda c=checker: land_all(c, lines))
        print(f"{name:40} {len(lines) / validate_s:>12,.0f} ev/s {len(lines) / land_s:>14,.0f} ev/s")


if __name__ == "__main__":
    main()
