"""The local events intake: JSON lines in, valid events to ``landing/``, invalid ones to ``quarantine/``.

It plays the part Kinesis Firehose plays on AWS: events are buffered into batches closed by count, bytes or
age (``BatchLimits``) and written as one object per batch under Firehose's key layout,
``landing/events/YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid4>.jsonl`` (UTC batch close time), so keys
sort by time and the landing sensor can list them in order. Valid events are written byte for byte as they
arrived; raw re-parses them with the schema. Invalid events are never dropped: each goes to
``quarantine/events/...`` with its reason, and the report checks ``read == landed + quarantined``.

Input is raw bytes split on ``\\n`` so invalid UTF-8 is seen rather than replaced by a text decoder. Only
the ``\\n`` is removed; a ``\\r`` before it stays part of the line (JSON whitespace, harmless). Blank lines
are not events: they are skipped and counted. A batch's age is checked when a line arrives and at end of
input, so on a quiet stdin a batch stays open until the next line or EOF.

Encoding: a UTF-8 byte order mark at the start of the input is dropped (Windows editors add one; it is not
part of the first event, so that event lands without it). An input starting with a UTF-16 or UTF-32 byte
order mark (PowerShell's ``>`` writes UTF-16) is not UTF-8 at all: it is split on its own newlines and every
non-blank line is quarantined with kind ``wrong_encoding`` and a reason naming the encoding and the fix
(re-encode as UTF-8). Per line rather than one record per file, so ``read`` counts the file's real lines,
a huge file is still streamed, and each record keeps its line's bytes as in the file (line 1 with the mark).

No Dagster or Spark import: the same code runs in an AWS Lambda.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Protocol

from lake_assets.registry.validation import UTF8_BOM, InvalidEvent, foreign_bom, wrong_encoding
from lake_assets.settings import BatchLimits
from lake_assets.sources.quarantine import quarantine_record
from lake_assets.storage.object_store import ObjectStore
from lake_assets.storage.zones import Zone, zone_prefix

LANDING_PREFIX = zone_prefix(Zone.LANDING, "events")
QUARANTINE_PREFIX = zone_prefix(Zone.QUARANTINE, "events")


class LineChecker(Protocol):
    """What the intake needs from a validator (``EventDecoder`` or a benchmark's baseline)."""

    def check(self, line: bytes) -> InvalidEvent | None: ...


@dataclass
class IntakeReport:
    """What one intake run did; ``read`` counts events (non-blank lines), each landed or quarantined."""

    source: str
    read: int = 0
    landed: int = 0
    quarantined: int = 0
    skipped_blank: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    landing_keys: list[str] = field(default_factory=list)
    quarantine_keys: list[str] = field(default_factory=list)

    def summary(self) -> str:
        reasons = ", ".join(f"{kind} {count}" for kind, count in self.reasons.most_common())
        text = (
            f"{self.source}: read {self.read} events; "
            f"landed {self.landed} in {len(self.landing_keys)} objects; "
            f"quarantined {self.quarantined} in {len(self.quarantine_keys)} objects"
        )
        if reasons:
            text += f" ({reasons})"
        if self.skipped_blank:
            text += f"; skipped {self.skipped_blank} blank lines"
        return text


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def batch_key(prefix: str, stream: str, closed: dt.datetime, batch_id: uuid.UUID) -> str:
    """``<prefix>YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<id>.jsonl``: Firehose's layout, UTC."""
    return f"{prefix}{closed:%Y/%m/%d/%H}/{stream}-1-{closed:%Y-%m-%d-%H-%M-%S}-{batch_id}.jsonl"


class _Batch:
    """Lines waiting to be written as one object under ``prefix``."""

    __slots__ = ("prefix", "lines", "nbytes", "deadline", "written")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.lines: list[bytes] = []
        self.nbytes = 0
        self.written = 0  # lines in objects already put
        self.deadline = float("inf")  # clock time at which the batch is old enough to close


class EventIntake:
    """Validates event lines and writes them to landing or quarantine in Firehose-like batches."""

    def __init__(
        self,
        store: ObjectStore,
        decoder: LineChecker,
        limits: BatchLimits = BatchLimits(),  # noqa: B008 - frozen dataclass, safe as a default
        stream_name: str = "shop",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if "/" in stream_name or not stream_name:
            raise ValueError(f"stream name {stream_name!r} must be a non-empty name without '/'")
        self.store = store
        self.decoder = decoder
        self.limits = limits
        self.stream_name = stream_name
        self.clock = clock

    def ingest(self, lines: Iterable[bytes], source_name: str) -> IntakeReport:
        """Validate and write every line; returns the report once all batches are written."""
        report = IntakeReport(source_name)
        landing, quarantine = _Batch(LANDING_PREFIX), _Batch(QUARANTINE_PREFIX)
        max_events, max_bytes, max_seconds = (
            self.limits.max_events,
            self.limits.max_bytes,
            self.limits.max_seconds,
        )
        check, clock, flush = self.decoder.check, self.clock, self._flush
        lines, refused = _open_input(lines)
        if refused is not None:  # a UTF-16/32 input: no line of it can be an event
            check = lambda _line: refused  # noqa: E731
        read = blank = 0
        for number, raw in enumerate(lines, 1):
            line = raw[:-1] if raw[-1:] == b"\n" else raw
            now = clock()
            if now >= landing.deadline:
                flush(landing, now, report.landing_keys)
            if now >= quarantine.deadline:
                flush(quarantine, now, report.quarantine_keys)
            if not line or line.isspace():
                blank += 1
                continue
            read += 1
            error = check(line)
            if error is None:
                batch, keys, data = landing, report.landing_keys, line
            else:
                report.reasons[error.kind] += 1
                batch, keys = quarantine, report.quarantine_keys
                data = _quarantine_line(line, error, source_name, number, now)
            size = len(data) + 1
            if batch.nbytes + size > max_bytes and batch.lines:
                flush(batch, now, keys)
            if not batch.lines:
                batch.deadline = now + max_seconds
            batch.lines.append(data)
            batch.nbytes += size
            if len(batch.lines) >= max_events:
                flush(batch, now, keys)
        now = clock()
        flush(landing, now, report.landing_keys)
        flush(quarantine, now, report.quarantine_keys)
        report.read, report.skipped_blank = read, blank
        report.landed, report.quarantined = landing.written, quarantine.written
        if report.read != report.landed + report.quarantined:  # the "no event lost" rule; not an assert: -O
            raise AssertionError(
                f"intake of {source_name} lost events: read {report.read}, "
                f"landed {report.landed} + quarantined {report.quarantined}"
            )
        return report

    def ingest_file(self, path_or_dash: str | Path, source_name: str | None = None) -> IntakeReport:
        """Ingest a file (``-`` for stdin), streamed line by line so a large file never sits in memory."""
        if str(path_or_dash) == "-":
            return self.ingest(sys.stdin.buffer, source_name or "stdin")
        with open(path_or_dash, "rb") as stream:
            return self.ingest(stream, source_name or str(path_or_dash))

    def _flush(self, batch: _Batch, now: float, keys: list[str]) -> None:
        if not batch.lines:
            return
        key = batch_key(batch.prefix, self.stream_name, _utc(now), uuid.uuid4())
        self.store.put_bytes(key, b"\n".join(batch.lines) + b"\n")
        keys.append(key)
        batch.written += len(batch.lines)
        batch.lines = []
        batch.nbytes = 0
        batch.deadline = float("inf")


def _open_input(lines: Iterable[bytes]) -> tuple[Iterator[bytes], InvalidEvent | None]:
    """The lines to read, a UTF-8 byte order mark dropped; for UTF-16/32 input, the reason for every line."""
    stream = iter(lines)
    first = next(stream, b"").removeprefix(UTF8_BOM)
    bom = foreign_bom(first)
    if bom is None:
        return (chain((first,), stream) if first else stream), None
    return _foreign_lines(chain((first,), stream), bom), wrong_encoding(bom)


def _foreign_lines(chunks: Iterator[bytes], bom: tuple[str, str, bytes]) -> Iterator[bytes]:
    """A UTF-16/32 input split on its own newline: U+000A on a code-unit boundary, not any 0x0A byte.

    Each line is yielded with a ``\\n`` for the intake loop to take off again (its bytes unchanged, line 1
    with the mark); a blank one as a bare ``\\n``, so the loop skips and counts it as in UTF-8 input.
    """
    family, codec, mark = bom
    unit = 2 if family == "UTF-16" else 4
    newline = "\n".encode(codec)
    pending, searched, skip = b"", 0, len(mark)
    for chunk in chunks:
        pending += chunk
        while (end := pending.find(newline, searched)) >= 0:
            if end % unit:  # e.g. the 0A 00 inside U+0A0A
                searched = end + 1
                continue
            yield _foreign_line(pending[:end], codec, skip)
            pending, searched, skip = pending[end + unit :], 0, 0
        searched = max(0, len(pending) - unit + 1)
    if pending:
        yield _foreign_line(pending, codec, skip)


def _foreign_line(line: bytes, codec: str, skip: int) -> bytes:
    text = line[skip:].decode(codec, "replace")
    return b"\n" if not text.strip(" \t\n\r\x0b\x0c") else line + b"\n"


def _quarantine_line(line: bytes, error: InvalidEvent, source: str, number: int, now: float) -> bytes:
    """One dead-letter record, built by the builder the AWS intake Lambda shares (quarantine parity)."""
    return quarantine_record(line, error.reason, error.kind, source, now, line_number=number)
