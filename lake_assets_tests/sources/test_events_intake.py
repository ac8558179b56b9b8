"""The intake lands valid events unchanged, quarantines the rest with a reason, and batches like Firehose."""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import EventDecoder
from lake_assets.samples.events import write_sample_file
from lake_assets.settings import BatchLimits
from lake_assets.sources.events.intake import EventIntake, IntakeReport
from lake_assets.storage.object_store import LocalObjectStore, StorageError
from lake_assets_tests.lake_helpers import event

T0 = dt.datetime(2026, 11, 24, 22, 59, 58, tzinfo=dt.UTC).timestamp()
KEY = re.compile(
    r"^(landing|quarantine)/events/(\d{4})/(\d\d)/(\d\d)/(\d\d)/shop-1-(\d{4})-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.jsonl$"
)


class FakeClock:
    """Returns the given times one per call (a line arrival or a final flush), then repeats the last one."""

    def __init__(self, times: list[float]) -> None:
        self.times = list(times)
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def steady(step: float = 0.001, start: float = T0) -> Callable[[], float]:
    counter = iter(range(10**9))
    return lambda: start + step * next(counter)


@pytest.fixture(scope="module")
def decoder(registry: SchemaRegistry) -> EventDecoder:
    return EventDecoder(registry, max_event_bytes=2048)


def intake(store: LocalObjectStore, decoder: EventDecoder, clock: Callable[[], float] | None = None,
           **limits: float) -> EventIntake:  # fmt: skip
    return EventIntake(store, decoder, BatchLimits(**limits), stream_name="shop", clock=clock or steady())  # type: ignore[arg-type]


def objects(store: LocalObjectStore, keys: list[str]) -> list[list[bytes]]:
    out = []
    for key in keys:
        data = store.get_bytes(key)
        assert data.endswith(b"\n")
        out.append(data[:-1].split(b"\n"))
    return out


def test_each_bad_kind_is_quarantined_and_the_run_carries_on(
    local_store: LocalObjectStore, decoder: EventDecoder
) -> None:
    bad = {
        "malformed_json": event(2)[:40],
        "unknown_event_type": event(3, event_type="wishlist_add"),
        "missing_field": orjson.dumps({k: v for k, v in orjson.loads(event(4)).items() if k != "session_id"}),
        "wrong_type": event(5, session_id=17),
        "out_of_range": orjson.dumps(
            {
                "event_id": "e6",
                "event_type": "cart_update",
                "event_time": "2026-11-24T10:00:00Z",
                "session_id": "s",
                "product_id": "p",
                "action": "add",
                "quantity": 2**31,
                "unit_price_cents": 1,
            }
        ),  # fmt: skip
        "invalid_utf8": event(7, page_url="/search?q=cr\u00e8me").replace("è".encode(), b"\xe8"),
        "naive_timestamp": event(8, event_time="2026-11-24T10:00:00"),
        "too_large": event(9, page_url="/" + "x" * 3000),
        "unknown_field": event(10, campaign="winter"),
        "invalid_value": event(11, device="smart_tv"),
        "not_an_object": b"[1, 2, 3]",
    }
    lines = [event(1), *bad.values(), b"", b"   ", event(12)]
    clock = steady(step=1.0)
    report = intake(local_store, decoder, clock).ingest(
        [line + b"\n" for line in lines], source_name="upload.jsonl"
    )

    assert (report.read, report.landed, report.quarantined, report.skipped_blank) == (13, 2, 11, 2)
    assert report.reasons == {kind: 1 for kind in bad}
    assert objects(local_store, report.landing_keys) == [[event(1), event(12)]]
    (records,) = objects(local_store, report.quarantine_keys)
    assert len(records) == len(bad)
    for number, (kind, line, raw) in enumerate(zip(bad, bad.values(), records, strict=True), start=2):
        record = orjson.loads(raw)
        assert record["kind"] == kind
        assert record["reason"] == decoder.validate(line)
        assert record["source"] == "upload.jsonl"
        assert record["line_number"] == number
        received = dt.datetime.fromisoformat(record["received_at"])
        assert received == dt.datetime.fromtimestamp(T0 + number - 1, dt.UTC)  # one clock tick per line
        if kind == "invalid_utf8":
            assert "payload" not in record
            assert base64.b64decode(record["payload_base64"]) == line
        else:
            assert record["payload"].encode("utf-8") == line
    assert "read 13 events" in report.summary() and "malformed_json 1" in report.summary()
    assert "skipped 2 blank lines" in report.summary()


def test_batches_close_by_count(local_store: LocalObjectStore, decoder: EventDecoder) -> None:
    lines = [event(n) for n in range(10)]
    report = intake(local_store, decoder, max_events=3).ingest(lines, "s")
    assert [len(o) for o in objects(local_store, report.landing_keys)] == [3, 3, 3, 1]
    assert sum(objects(local_store, report.landing_keys), []) == lines


def test_batches_close_by_bytes(local_store: LocalObjectStore, decoder: EventDecoder) -> None:
    lines = [event(n, page_url="/" + "p" * 60) for n in range(20)]
    size = len(lines[0]) + 1
    huge = event(99, page_url="/" + "h" * 1500)  # bigger than a whole batch: an object of its own
    report = intake(local_store, decoder, max_bytes=1024).ingest([*lines, huge, event(100)], "s")
    batches = objects(local_store, report.landing_keys)
    per_batch = 1024 // size
    expected = [min(per_batch, 20 - start) for start in range(0, 20, per_batch)]
    assert per_batch < 20 and [len(b) for b in batches] == [*expected, 1, 1]
    assert batches[-2] == [huge]
    for batch in batches[:-2]:
        assert sum(len(line) + 1 for line in batch) <= 1024
    assert sum(batches, []) == [*lines, huge, event(100)]


def test_batches_close_by_age_on_the_injected_clock(
    local_store: LocalObjectStore, decoder: EventDecoder
) -> None:
    # Lines arrive at +0, +4, +8, +12 (12 >= 0 + 10: close [0, 4, 8]), +30 (close [12]), +31; EOF at +45.
    clock = FakeClock([T0 + s for s in (0, 4, 8, 12, 30, 31, 45)])
    report = intake(local_store, decoder, clock, max_seconds=10).ingest([event(n) for n in range(6)], "s")
    assert [len(o) for o in objects(local_store, report.landing_keys)] == [3, 1, 2]
    closed = [int(KEY.match(key).group(11)) for key in report.landing_keys]  # type: ignore[union-attr]
    start = dt.datetime.fromtimestamp(T0, dt.UTC).second
    assert closed == [(start + s) % 60 for s in (12, 30, 45)]
    assert clock.calls == 7


def test_keys_follow_firehose_layout_and_sort_by_time(
    local_store: LocalObjectStore, decoder: EventDecoder
) -> None:
    # One batch per line, closed 1h10m apart, so batches cross hours and midnight.
    clock = steady(step=4200.0, start=dt.datetime(2026, 11, 24, 21, 0, 5, tzinfo=dt.UTC).timestamp())
    lines = [event(n) if n % 3 else event(n, event_type="nope") for n in range(8)]
    report = intake(local_store, decoder, clock, max_events=1).ingest(lines, "s")
    assert len(report.landing_keys) == 5 and len(report.quarantine_keys) == 3
    for key in report.landing_keys + report.quarantine_keys:
        m = KEY.match(key)
        assert m, key
        assert m.group(2, 3, 4, 5) == m.group(6, 7, 8, 9)  # folder hour == close hour
    assert report.landing_keys == sorted(report.landing_keys)
    assert local_store.list_keys("landing/events/") == report.landing_keys
    assert report.landing_keys[0].startswith("landing/events/2026/11/24/22/shop-1-2026-11-24-22-10-05-")
    assert report.landing_keys[-1].startswith("landing/events/2026/11/25/05/shop-1-2026-11-25-05-10-05-")
    assert local_store.list_keys("quarantine/events/") == report.quarantine_keys
    # Concatenated in key order, landing holds the valid input, unchanged and in order.
    assert sum(objects(local_store, report.landing_keys), []) == [
        line for n, line in enumerate(lines) if n % 3
    ]


def test_sample_stream_reconciles_with_the_intake(
    tmp_path: Path, local_store: LocalObjectStore, registry: SchemaRegistry
) -> None:
    path = tmp_path / "events.jsonl"
    stats = write_sample_file(path, n_events=5000, days=2, seed=4)
    full_decoder = EventDecoder(registry)
    report = intake(local_store, full_decoder, max_events=700).ingest_file(path)
    assert report.read == stats.total == 5000
    assert report.landed == stats.valid and report.quarantined == stats.invalid_total
    assert report.reasons == stats.invalid
    assert report.source == str(path)
    landed = sum(objects(local_store, report.landing_keys), [])
    assert len(landed) == stats.valid
    assert len(set(landed)) == stats.distinct_valid
    source_lines = path.read_bytes().split(b"\n")[:-1]
    assert landed == [line for line in source_lines if full_decoder.check(line) is None]


def test_empty_and_blank_inputs_write_nothing(
    tmp_path: Path, local_store: LocalObjectStore, decoder: EventDecoder
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    report = intake(local_store, decoder).ingest_file(empty)
    assert (report.read, report.landed, report.quarantined, report.skipped_blank) == (0, 0, 0, 0)
    assert report.landing_keys == report.quarantine_keys == [] and not report.reasons
    blank = tmp_path / "blank.jsonl"
    blank.write_bytes(b"\n\n  \n\r\n")
    report = intake(local_store, decoder).ingest_file(blank)
    assert (report.read, report.skipped_blank) == (0, 4)
    assert local_store.list_keys("") == []


def test_lines_are_landed_byte_for_byte(local_store: LocalObjectStore, decoder: EventDecoder) -> None:
    odd = [b'{ "event_id" : "x",' + event(1)[1:], event(2) + b"\r", event(3, page_url="/caf\u00e9 \u2615")]
    report = intake(local_store, decoder).ingest(odd, "s")
    assert report.landed == 3
    assert objects(local_store, report.landing_keys) == [odd]


def test_stdin_is_read_as_bytes(
    monkeypatch: pytest.MonkeyPatch, local_store: LocalObjectStore, decoder: EventDecoder
) -> None:
    data = event(1) + b"\n" + event(2).replace(b"/p/2", b"/p/\xff") + b"\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    report = intake(local_store, decoder).ingest_file("-")
    assert (report.source, report.landed, report.reasons) == ("stdin", 1, {"invalid_utf8": 1})


def test_input_is_consumed_lazily(local_store: LocalObjectStore, decoder: EventDecoder) -> None:
    """A generator is read one line at a time (a large file never sits in memory as a whole)."""
    pulled: list[int] = []

    def lines() -> Iterator[bytes]:
        for n in range(5):
            pulled.append(n)
            yield event(n)

    seen = []
    clock = steady()

    def watching_clock() -> float:
        seen.append(len(pulled))
        return clock()

    intake(local_store, decoder, watching_clock).ingest(lines(), "s")
    assert seen == [1, 2, 3, 4, 5, 5]


def test_a_failing_store_stops_the_run_loudly(decoder: EventDecoder, tmp_path: Path) -> None:
    class BrokenStore(LocalObjectStore):
        def put_bytes(self, key: str, data: bytes) -> None:
            raise StorageError(f"cannot write {key}")

    with pytest.raises(StorageError, match="cannot write landing/events/"):
        intake(BrokenStore(tmp_path), decoder).ingest([event(1)], "s")


def test_report_and_arguments(local_store: LocalObjectStore, decoder: EventDecoder) -> None:
    assert (
        IntakeReport("x").summary() == "x: read 0 events; landed 0 in 0 objects; quarantined 0 in 0 objects"
    )
    with pytest.raises(ValueError, match="stream name"):
        EventIntake(local_store, decoder, stream_name="a/b")


# -- input that must not crash the run or be mis-reported ---------------------------------------------------


def deeply_nested(n: int) -> bytes:
    """A page view with 1,000 nested objects before its ``event_type`` (msgspec raises RecursionError)."""
    return b'{"a":' * 1000 + b"1" + b"}" * 999 + b"," + event(n)[1:]


NESTED_REASON = "JSON nested 1000 levels deep, over the 64-level limit"


def test_a_deeply_nested_line_is_quarantined_and_its_neighbours_land(
    local_store: LocalObjectStore, registry: SchemaRegistry
) -> None:
    lines = [event(1), deeply_nested(2), event(3)]
    full_decoder = EventDecoder(registry)  # the default size limit: the line is 6 KB
    report = intake(local_store, full_decoder).ingest([line + b"\n" for line in lines], "deep.jsonl")
    assert (report.read, report.landed, report.quarantined) == (3, 2, 1)
    assert report.reasons == {"too_deeply_nested": 1}
    assert objects(local_store, report.landing_keys) == [[event(1), event(3)]]
    ((raw,),) = objects(local_store, report.quarantine_keys)
    record = orjson.loads(raw)
    assert (record["kind"], record["reason"]) == ("too_deeply_nested", NESTED_REASON)
    assert record["line_number"] == 2
    assert record["payload"].encode() == lines[1]


def test_the_cli_quarantines_a_deeply_nested_line_and_lands_the_others(tmp_path: Path) -> None:
    source = tmp_path / "deep.jsonl"
    source.write_bytes(event(1) + b"\n" + deeply_nested(2) + b"\n" + event(3) + b"\n")
    root = tmp_path / "lake"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKE_", "AWS_"))}
    env["LAKE_ROOT"] = str(root)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lake"), "events", "ingest", str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.strip() == (
        f"{source}: read 3 events; landed 2 in 1 objects; quarantined 1 in 1 objects (too_deeply_nested 1)"
    )
    (landed,) = (root / "landing" / "events").rglob("*.jsonl")
    assert landed.read_bytes() == event(1) + b"\n" + event(3) + b"\n"
    (quarantined,) = (root / "quarantine" / "events").rglob("*.jsonl")
    (record,) = [orjson.loads(line) for line in quarantined.read_bytes().splitlines()]
    assert (record["kind"], record["reason"]) == ("too_deeply_nested", NESTED_REASON)
    assert (record["source"], record["line_number"]) == (str(source), 2)


# Gurmukhi A then A-macron: in UTF-16 LE the bytes 05 0A 00 01 hold "\n\0" at an odd offset, not a newline.
TRICKY = "/\u0a05\u0100"


@pytest.mark.parametrize(
    ("codec", "name", "family", "mark"),
    [
        ("utf-16-le", "UTF-16LE", "UTF-16", "FF FE"),
        ("utf-16-be", "UTF-16BE", "UTF-16", "FE FF"),
        ("utf-32-le", "UTF-32LE", "UTF-32", "FF FE 00 00"),
        ("utf-32-be", "UTF-32BE", "UTF-32", "00 00 FE FF"),
    ],
)
def test_a_utf16_or_utf32_file_is_quarantined_line_by_line_with_the_encoding_named(
    tmp_path: Path, local_store: LocalObjectStore, decoder: EventDecoder, codec: str, name: str, family: str,
    mark: str,
) -> None:  # fmt: skip
    texts = [event(1).decode(), event(2, page_url=TRICKY).decode(), "  ", event(3).decode()]
    path = tmp_path / "powershell.jsonl"
    data = "\ufeff".encode(codec) + "\r\n".join(texts).encode(codec) + "\r\n".encode(codec)
    path.write_bytes(data)
    report = intake(local_store, decoder).ingest_file(path)

    assert (report.read, report.landed, report.quarantined, report.skipped_blank) == (3, 0, 3, 1)
    assert report.reasons == {"wrong_encoding": 3}
    records = [orjson.loads(raw) for raw in sum(objects(local_store, report.quarantine_keys), [])]
    reason = (
        f"file is {name} (byte order mark {mark}), not UTF-8: re-encode it as UTF-8 "
        f"(e.g. iconv -f {family} -t UTF-8)"
    )
    assert [(r["kind"], r["reason"], r["line_number"]) for r in records] == [
        ("wrong_encoding", reason, n) for n in (1, 2, 4)
    ]
    # Each record keeps its line's bytes as in the file; with the blank line they rebuild the file.
    payloads = [
        base64.b64decode(r["payload_base64"]) if "payload_base64" in r else r["payload"].encode()
        for r in records
    ]
    newline = "\n".encode(codec)
    assert newline.join([*payloads[:2], "  \r".encode(codec), payloads[2], b""]) == data
    assert payloads[1].decode(codec) == texts[1] + "\r"


def test_a_utf8_byte_order_mark_at_the_start_is_dropped(
    tmp_path: Path, local_store: LocalObjectStore, decoder: EventDecoder
) -> None:
    path = tmp_path / "notepad.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + event(1) + b"\n" + event(2) + b"\n")
    report = intake(local_store, decoder).ingest_file(path)
    assert (report.read, report.landed, report.quarantined) == (2, 2, 0)
    assert objects(local_store, report.landing_keys) == [[event(1), event(2)]]
    only_mark = tmp_path / "only-mark.jsonl"
    only_mark.write_bytes(b"\xef\xbb\xbf")
    report = intake(local_store, decoder).ingest_file(only_mark)
    assert (report.read, report.skipped_blank) == (0, 0)


def test_a_byte_order_mark_after_the_first_line_is_just_a_bad_line(
    local_store: LocalObjectStore, decoder: EventDecoder
) -> None:
    lines = [event(1), b"\xff\xfe" + event(2), b"\xef\xbb\xbf" + event(3)]
    report = intake(local_store, decoder).ingest(lines, "s")
    assert report.landed == 1
    assert report.reasons == {"invalid_utf8": 1, "malformed_json": 1}
