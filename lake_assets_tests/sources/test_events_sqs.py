"""Sending event lines to SQS and draining the dead-letter queue into the lake, against moto's SQS.

moto stands in for Amazon SQS, which cannot run here. Failures SQS reports per entry (throttling) cannot be
provoked in moto, so ``FlakySqs`` wraps the real moto client: it withholds chosen entries from a real call and
reports them as failed, as SQS does; everything else goes to moto for real. It also records every entry sent,
in order, which a queue does not keep (a standard queue returns messages in any order).
"""

from __future__ import annotations

import base64
import re
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import EventDecoder
from lake_assets.sources.events.sqs import (
    CONTENT_ENCODING,
    CONTENT_TYPE,
    DEFAULT_PACK_BYTES,
    NDJSON,
    PACKED_ATTRIBUTE_BYTES,
    UNDELIVERED,
    DlqDrainer,
    EventSender,
    encode_message,
    message_size,
    too_large_reason,
)
from lake_assets.sources.quarantine import quarantine_record
from lake_assets.storage.object_store import LocalObjectStore, StorageError
from lake_assets_tests.fixtures.moto import moto_client


@pytest.fixture
def sqs(moto_server: str):
    return moto_client("sqs", moto_server)


def _queue(sqs: Any, **attributes: str) -> str:
    return sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:12]}", Attributes=attributes)["QueueUrl"]


def _receive_all(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        )
        if not answer.get("Messages"):
            return messages
        messages += answer["Messages"]


def _payload(message: dict[str, Any]) -> bytes:
    attribute = (message.get("MessageAttributes") or {}).get(CONTENT_ENCODING)
    if attribute and attribute["StringValue"] == "base64":
        return base64.b64decode(message["Body"])
    return message["Body"].encode("utf-8")


def _events(message: dict[str, Any]) -> list[bytes]:
    """The events a received message carries: one, or the non-blank lines of a packed one."""
    attribute = (message.get("MessageAttributes") or {}).get(CONTENT_TYPE)
    if attribute is None:
        return [_payload(message)]
    assert attribute == {"StringValue": NDJSON, "DataType": "String"}
    return [line for line in _payload(message).split(b"\n") if line]


def _size(entry: dict[str, Any]) -> int:
    """An entry's size as SQS counts it (body and attributes), computed here from what was sent."""
    return message_size(entry["MessageBody"], entry.get("MessageAttributes") or {})


class FlakySqs:
    """The real moto client, but the first ``times`` calls withhold the entries whose body is in ``fail``."""

    def __init__(self, real: Any, fail: set[str], times: int, sender_fault: bool = False) -> None:
        self.real, self.fail, self.times, self.sender_fault = real, fail, times, sender_fault
        self.calls: list[list[str]] = []
        self.entries: list[list[dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append([e["MessageBody"] for e in Entries])
        self.entries.append(Entries)
        withheld = (
            [e for e in Entries if e["MessageBody"] in self.fail] if len(self.calls) <= self.times else []
        )
        rest = [e for e in Entries if e not in withheld]
        answer = self.real.send_message_batch(QueueUrl=QueueUrl, Entries=rest) if rest else {"Successful": []}
        answer["Failed"] = list(answer.get("Failed") or []) + [
            {
                "Id": e["Id"],
                "SenderFault": self.sender_fault,
                "Code": "ThrottlingException",
                "Message": "slow",
            }
            for e in withheld
        ]
        return answer


def _lines(n: int) -> list[bytes]:
    return [orjson.dumps({"event_type": "page_view", "n": i}) for i in range(n)]


def test_without_packing_lines_go_one_per_message_in_batches_of_ten_byte_for_byte(
    sqs, tmp_path: Path
) -> None:
    """moto stands in for SQS: 23 events (one not UTF-8, one with a control character SQS refuses), sent with
    pack_bytes=0, the behaviour before packing: one event per message, no content-type attribute."""
    queue = _queue(sqs)
    lines = _lines(21) + [b'{"event_type": "page_view", "bad": "\xff\xfe"}', b'{"x": "a\x01b"}']
    source = [line + b"\n" for line in lines] + [b"\n", b"   \n"]  # blank lines are not events
    sender = EventSender(
        sqs, queue, rejects_path=tmp_path / "rejects.jsonl", failed_path=tmp_path / "f.jsonl", pack_bytes=0
    )
    report = sender.send(iter(source), "test")
    assert (report.read, report.sent, report.rejected, report.failed) == (23, 23, 0, 0)
    assert (report.messages, report.packed) == (23, 0)
    assert report.skipped_blank == 2 and report.base64_encoded == 2
    assert report.calls == 3  # 10 + 10 + 3
    received = _receive_all(sqs, queue)
    assert not [m for m in received if CONTENT_TYPE in (m.get("MessageAttributes") or {})]
    assert sorted(_payload(m) for m in received) == sorted(lines)
    encoded = [m for m in received if CONTENT_ENCODING in (m.get("MessageAttributes") or {})]
    assert sorted(base64.b64decode(m["Body"]) for m in encoded) == sorted(lines[-2:])
    assert not (tmp_path / "rejects.jsonl").exists() and not (tmp_path / "f.jsonl").exists()


def test_a_batch_stays_under_256_kib(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS: five 100 KB events need three calls (2 + 2 + 1), not one. Each is larger
    than pack_bytes (64 KiB) but within the queue's limit: it goes alone, with no content-type."""
    queue = _queue(sqs)
    lines = [orjson.dumps({"event_type": "page_view", "pad": str(i) * 100_000}) for i in range(5)]
    client = FlakySqs(sqs, fail=set(), times=0)
    report = EventSender(client, queue, rejects_path=tmp_path / "r", failed_path=tmp_path / "f").send(
        lines, "t"
    )
    assert report.sent == 5 and (report.messages, report.packed) == (5, 0)
    assert [len(call) for call in client.calls] == [2, 2, 1]
    assert not [e for call in client.entries for e in call if "MessageAttributes" in e]
    assert sorted(_payload(m) for m in _receive_all(sqs, queue)) == sorted(lines)


def test_only_refused_entries_are_retried_with_backoff(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS; two entries (one event each) are reported throttled twice, then accepted."""
    queue = _queue(sqs)
    lines = _lines(10)
    flaky = {lines[3].decode(), lines[7].decode()}
    client = FlakySqs(sqs, fail=flaky, times=2)
    delays: list[float] = []
    sender = EventSender(
        client, queue, rejects_path=tmp_path / "r", failed_path=tmp_path / "f", sleep=delays.append,
        pack_bytes=0,
    )  # fmt: skip
    report = sender.send(lines, "t")
    assert (report.sent, report.failed, report.retried_entries) == (10, 0, 4)
    assert [len(c) for c in client.calls] == [10, 2, 2]
    assert set(client.calls[1]) == flaky
    assert delays == [0.2, 0.4]
    received = _receive_all(sqs, queue)
    assert sorted(_payload(m) for m in received) == sorted(lines)  # each exactly once


def test_entries_that_keep_failing_are_reported_and_kept(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS; one entry is always throttled, one refused as the sender's fault."""
    queue = _queue(sqs)
    lines = _lines(5)
    client = FlakySqs(sqs, fail={lines[1].decode()}, times=99)
    sender = EventSender(
        client, queue, rejects_path=tmp_path / "r", failed_path=tmp_path / "failed.jsonl", max_attempts=3,
        sleep=lambda _: None, pack_bytes=0,
    )  # fmt: skip
    report = sender.send(lines, "t")
    assert (report.read, report.sent, report.failed) == (5, 4, 1)
    assert len(client.calls) == 3
    assert (tmp_path / "failed.jsonl").read_bytes() == lines[1] + b"\n"  # ready to be sent again
    assert "failed 1" in report.summary()

    refused = FlakySqs(sqs, fail={lines[2].decode()}, times=99, sender_fault=True)
    report = EventSender(
        refused, queue, rejects_path=tmp_path / "r", failed_path=tmp_path / "f2", sleep=lambda _: None,
        pack_bytes=0,
    ).send(lines, "t")  # fmt: skip
    assert (report.sent, report.failed, len(refused.calls)) == (4, 1, 1)  # a sender fault is not retried


def test_a_line_sqs_cannot_take_is_rejected_with_the_validators_reason(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS; the queue takes at most 2048 bytes per message, the lake 1024 per event. The
    three small lines are packed into one message (the pack is capped at the queue's 2048 bytes)."""
    queue = _queue(sqs, MaximumMessageSize="2048")
    big = orjson.dumps({"event_type": "page_view", "pad": "x" * 3000})
    big_binary = b"\xff" * 1600  # 1600 bytes, 2136 once base64-encoded: too large as a message
    lines = _lines(3) + [big, big_binary]
    rejects = tmp_path / "rejects.jsonl"
    sender = EventSender(sqs, queue, rejects_path=rejects, failed_path=tmp_path / "f", max_event_bytes=1024)
    assert sender.max_message_bytes == sender.pack_bytes == 2048  # read from the queue
    report = sender.send(lines, "big.jsonl")
    assert (report.read, report.sent, report.rejected, report.failed) == (5, 3, 2, 0)
    assert (report.messages, report.packed) == (1, 1)
    records = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    decoder = EventDecoder(SchemaRegistry.from_directory(), max_event_bytes=1024)
    assert [r["kind"] for r in records] == ["too_large", "too_large"]
    assert records[0]["reason"] == decoder.check(big).reason == too_large_reason(len(big), 1024)
    assert records[1]["reason"] == decoder.check(big_binary).reason
    assert records[0]["payload"].encode() == big and records[0]["line_number"] == 4
    assert base64.b64decode(records[1]["payload_base64"]) == big_binary
    assert records[0]["source"] == "big.jsonl"
    assert [event for m in _receive_all(sqs, queue) for event in _events(m)] == lines[:3]


def _sized_lines(n: int, size: int, start: int = 0) -> list[bytes]:
    """``n`` distinct JSON lines of exactly ``size`` bytes each."""
    lines = []
    for i in range(start, start + n):
        head = orjson.dumps({"event_type": "page_view", "n": i, "pad": ""})
        lines.append(head[:-2] + b"x" * (size - len(head)) + b'"}')
    assert {len(line) for line in lines} == {size}
    return lines


def _sent_events(client: FlakySqs) -> list[list[bytes]]:
    """The events of every entry sent, in sending order, one list per message."""
    return [
        _events({"Body": e["MessageBody"], "MessageAttributes": e.get("MessageAttributes")})
        for call in client.entries
        for e in call
    ]


def test_consecutive_lines_are_packed_greedily_up_to_pack_bytes(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS (FlakySqs only records the entries, in order). 120 events of 300 bytes with
    pack_bytes=4000: every message is at most 4000 bytes with its attribute, and none could have taken the
    next line; in order, nothing lost, each multi-line message marked application/x-ndjson."""
    queue = _queue(sqs)
    lines = _sized_lines(120, 300)
    client = FlakySqs(sqs, fail=set(), times=0)
    report = EventSender(
        client, queue, rejects_path=tmp_path / "r", failed_path=tmp_path / "f", pack_bytes=4000
    ).send([line + b"\n" for line in lines], "t")

    entries = [e for call in client.entries for e in call]
    assert all(_size(e) <= 4000 for e in entries)
    messages = _sent_events(client)
    assert [line for events in messages for line in events] == lines  # in order, each once
    for events, following in zip(messages, messages[1:], strict=False):
        assert (
            sum(len(line) + 1 for line in events) - 1 + PACKED_ATTRIBUTE_BYTES + 1 + len(following[0]) > 4000
        )
    assert all(("MessageAttributes" in e) == (len(m) > 1) for e, m in zip(entries, messages, strict=True))
    assert (report.read, report.sent) == (120, 120) and report.messages == report.packed == len(entries)
    assert report.messages < report.sent / 10  # packing happened: 13 lines of 300 bytes fit in 4000
    assert sorted(e for m in _receive_all(sqs, queue) for e in _events(m)) == sorted(lines)


def test_packed_messages_keep_to_the_queue_maximum_and_the_batch_limits(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS. The default pack_bytes (64 KiB) is capped at a queue's 16 KiB maximum; with
    the default on a queue that takes 1 MiB, 150 events of 2000 bytes make 64 KiB messages of which a
    SendMessageBatch call carries only 4 (256 KiB), not 10."""
    small_queue = _queue(sqs, MaximumMessageSize="16384")
    lines = _sized_lines(40, 2000)
    client = FlakySqs(sqs, fail=set(), times=0)
    sender = EventSender(client, small_queue, rejects_path=tmp_path / "r", failed_path=tmp_path / "f")
    assert (sender.max_message_bytes, sender.pack_bytes) == (16384, 16384)
    report = sender.send(lines, "t")
    assert report.sent == 40 and all(_size(e) <= 16384 for call in client.entries for e in call)
    assert [line for events in _sent_events(client) for line in events] == lines

    queue = _queue(sqs, MaximumMessageSize=str(1024 * 1024))
    lines = _sized_lines(150, 2000, start=40)
    client = FlakySqs(sqs, fail=set(), times=0)
    sender = EventSender(client, queue, rejects_path=tmp_path / "r", failed_path=tmp_path / "f")
    assert sender.pack_bytes == DEFAULT_PACK_BYTES == 64 * 1024
    report = sender.send(lines, "t")
    sizes = [[_size(e) for e in call] for call in client.entries]
    assert all(len(call) <= 10 and sum(call) <= 256 * 1024 for call in sizes)
    assert all(size <= 64 * 1024 for call in sizes for size in call)
    for call, following in zip(sizes, sizes[1:], strict=False):  # a call closes only when the next is full
        assert len(call) == 10 or sum(call) + following[0] > 256 * 1024
    assert [len(call) for call in sizes][0] == 4 and report.calls == len(sizes)
    assert [line for events in _sent_events(client) for line in events] == lines
    assert sorted(e for m in _receive_all(sqs, queue) for e in _events(m)) == sorted(lines)


def test_base64_lines_go_alone_and_too_large_ones_are_rejected_between_packs(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS (FlakySqs records the order). A line that is not SQS text goes alone, base64,
    exactly as without packing, and the pack goes on around it (a queue keeps no order, so nothing is gained
    by closing it); a line too large for the queue is rejected and the pack goes on around it too; the
    report reconciles and counts messages."""
    queue = _queue(sqs, MaximumMessageSize="4096")
    text = _lines(6)
    binary, control = b'{"event_type": "page_view", "bad": "\xff"}', b'{"x": "a\x01b"}'
    big = orjson.dumps({"event_type": "page_view", "pad": "x" * 5000})
    source = [text[0], text[1], binary, text[2], b"", text[3], big, text[4], control, text[5]]
    client = FlakySqs(sqs, fail=set(), times=0)
    rejects = tmp_path / "rejects.jsonl"
    report = EventSender(client, queue, rejects_path=rejects, failed_path=tmp_path / "f").send(source, "t")

    entries = [e for call in client.entries for e in call]
    assert _sent_events(client) == [[binary], [control], text]
    assert [sorted(e.get("MessageAttributes") or {}) for e in entries] == [
        [CONTENT_ENCODING],
        [CONTENT_ENCODING],
        [CONTENT_TYPE],
    ]
    assert encode_message(binary) == (entries[0]["MessageBody"], entries[0]["MessageAttributes"])
    assert (report.read, report.sent, report.rejected, report.failed, report.skipped_blank) == (9, 8, 1, 0, 1)
    assert (report.messages, report.packed, report.base64_encoded) == (3, 1, 2)
    assert report.reconciles and "sent 8 in 3 messages (1 packed, 2 base64)" in report.summary()
    (record,) = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert (record["kind"], record["line_number"], record["payload"].encode()) == ("too_large", 7, big)
    assert sorted(e for m in _receive_all(sqs, queue) for e in _events(m)) == sorted(text + [binary, control])


def test_a_packed_message_that_keeps_failing_fails_every_line_it_holds(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS; FlakySqs reports one packed entry throttled on every call, and another as
    the sender's fault. Every line of both goes to the failed file, as sent; the report still reconciles."""
    queue = _queue(sqs)
    lines = _sized_lines(12, 300)
    bodies = ["\n".join(line.decode() for line in lines[i : i + 4]) for i in (0, 4, 8)]  # pack_bytes: 4 lines
    client = FlakySqs(sqs, fail={bodies[1]}, times=99)
    failed = tmp_path / "failed.jsonl"
    sender = EventSender(
        client, queue, rejects_path=tmp_path / "r", failed_path=failed, pack_bytes=4 * 301 + 40,
        max_attempts=3, sleep=lambda _: None,
    )  # fmt: skip
    report = sender.send(lines, "t")
    assert client.calls == [bodies, [bodies[1]], [bodies[1]]]
    assert (report.read, report.sent, report.failed, report.messages) == (12, 8, 4, 2)
    assert report.retried_entries == 2
    assert failed.read_bytes() == b"".join(line + b"\n" for line in lines[4:8])  # ready to be sent again
    assert "failed 4" in report.summary() and report.reconciles
    assert report.errors[-1] == "lines 5-8 (4 events): still failing after 3 attempts"

    refused = FlakySqs(sqs, fail={bodies[2]}, times=99, sender_fault=True)
    report = EventSender(
        refused, queue, rejects_path=tmp_path / "r", failed_path=tmp_path / "f2", pack_bytes=4 * 301 + 40,
        sleep=lambda _: None,
    ).send(lines, "t")  # fmt: skip
    assert (report.sent, report.failed, len(refused.calls)) == (8, 4, 1)  # a sender fault is not retried
    assert (tmp_path / "f2").read_bytes() == b"".join(line + b"\n" for line in lines[8:])


def test_a_byte_order_mark_after_the_first_line_never_opens_a_packed_message(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS (FlakySqs records the order). The input's first line keeps its mark at the
    start of the first message (the Lambda drops it there, as the local intake drops a file's); a later line
    with a mark that would open a message gets a blank line before it, so the Lambda keeps its mark as the
    local intake does, wherever the message boundaries fall. Without packing it goes alone, as before."""
    queue = _queue(sqs)
    bom = b"\xef\xbb\xbf"
    lines = _sized_lines(6, 300)
    source = [bom + lines[0], lines[1], lines[2], bom + lines[3], lines[4], bom + lines[5]]

    def sent(pack_bytes: int) -> list[tuple[bytes, str | None]]:
        client = FlakySqs(sqs, fail=set(), times=0)
        sender = EventSender(
            client, queue, rejects_path=tmp_path / "r", failed_path=tmp_path / "f", pack_bytes=pack_bytes
        )
        assert sender.send(source, "t").sent == 6
        entries = [e for call in client.entries for e in call]
        return [
            (
                e["MessageBody"].encode(),
                (e.get("MessageAttributes") or {}).get(CONTENT_TYPE, {}).get("StringValue"),
            )
            for e in entries
        ]

    # Three lines a message: the second opens with a marked line, so a blank line goes first.
    assert sent(3 * 304 + 40) == [(b"\n".join(source[:3]), NDJSON), (b"\n" + b"\n".join(source[3:]), NDJSON)]
    # One line a message (each is over half of 400 bytes): a later marked line is still packed, after a blank.
    assert sent(400) == [
        (source[0], None), (source[1], None), (source[2], None),
        (b"\n" + source[3], NDJSON), (source[4], None), (b"\n" + source[5], NDJSON),
    ]  # fmt: skip
    assert sent(0) == [(line, None) for line in source]  # without packing: alone, as before


def test_pack_bytes_must_not_be_negative(sqs) -> None:
    """moto stands in for SQS (the sender reads the queue's maximum message size first)."""
    with pytest.raises(ValueError, match="pack_bytes"):
        EventSender(sqs, _queue(sqs), pack_bytes=-1)


def test_encoding_keeps_text_and_base64s_what_sqs_refuses() -> None:
    assert encode_message(b'{"a": "\xc3\xa9"}') == ('{"a": "\u00e9"}', {})
    body, attributes = encode_message(b"\x00{}")
    assert base64.b64decode(body) == b"\x00{}"
    assert attributes == {CONTENT_ENCODING: {"DataType": "String", "StringValue": "base64"}}


class BrokenStore(LocalObjectStore):
    def put_bytes(self, key: str, data: bytes) -> None:
        raise StorageError("disk on fire")


def _dlq_records(n: int) -> list[bytes]:
    return [
        quarantine_record(b'{"event_type": "nope"}', f"reason {i}", "unknown_event_type", "lambda", 1.7e9)
        for i in range(n)
    ]


def test_drain_writes_then_deletes_and_loses_nothing_when_the_write_fails(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS: 23 dead-letter records and one redriven raw event drained into the lake."""
    dlq = _queue(sqs)
    records = _dlq_records(23)
    for record in records:
        sqs.send_message(QueueUrl=dlq, MessageBody=record.decode())
    sqs.send_message(
        QueueUrl=dlq,
        MessageBody=base64.b64encode(b"\xff raw").decode(),
        MessageAttributes={CONTENT_ENCODING: {"DataType": "String", "StringValue": "base64"}},
    )

    broken = DlqDrainer(sqs, dlq, BrokenStore(tmp_path / "broken"), wait_seconds=0, visibility_timeout=1)
    with pytest.raises(StorageError):
        broken.drain()
    time.sleep(1.5)  # past the visibility timeout: every message is back
    attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "24"

    store = LocalObjectStore(tmp_path / "lake")
    report = DlqDrainer(sqs, dlq, store, stream_name="shop", wait_seconds=0, max_per_object=10).drain()
    assert (report.received, report.written, report.deleted, report.not_deleted) == (24, 24, 24, 0)
    assert report.wrapped == 1 and len(report.objects) == 3
    keys = store.list_keys("quarantine/events/")
    assert keys == sorted(report.objects)
    for key in keys:
        assert re.fullmatch(
            r"quarantine/events/\d{4}/\d\d/\d\d/\d\d/shop-dlq-[-0-9]{19}-[-0-9a-f]{36}\.jsonl", key
        )
    written = [line for key in keys for line in store.get_bytes(key).splitlines()]
    assert sorted(r for r in written if b"payload_base64" not in r) == sorted(records)
    (wrapped,) = [orjson.loads(r) for r in written if b"payload_base64" in r]
    assert wrapped["kind"] == UNDELIVERED and base64.b64decode(wrapped["payload_base64"]) == b"\xff raw"
    assert _receive_all(sqs, dlq) == []


def test_drain_stops_at_max_messages(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS."""
    dlq = _queue(sqs)
    for record in _dlq_records(15):
        sqs.send_message(QueueUrl=dlq, MessageBody=record.decode())
    store = LocalObjectStore(tmp_path / "lake")
    report = DlqDrainer(sqs, dlq, store, wait_seconds=0).drain(max_messages=12)
    assert (report.received, report.deleted) == (12, 12)
    assert len(DlqDrainer(sqs, dlq, store, wait_seconds=0).drain().objects) == 1
    assert sum(len(store.get_bytes(k).splitlines()) for k in store.list_keys("quarantine/events/")) == 15


def test_drain_unpacks_a_redriven_packed_message_into_one_record_per_line(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS: a packed message the intake queue's redrive policy moved to the dead-letter
    queue (attributes kept, as SQS keeps them) is written as one undelivered record per non-blank line, each
    replayable alone; a one-event message is still one record."""
    dlq = _queue(sqs)
    lines = _lines(3)
    packed_attribute = {CONTENT_TYPE: {"DataType": "String", "StringValue": NDJSON}}
    body = "\ufeff" + "\n".join([lines[0].decode(), "  ", lines[1].decode(), lines[2].decode()])
    packed_id = sqs.send_message(QueueUrl=dlq, MessageBody=body, MessageAttributes=packed_attribute)[
        "MessageId"
    ]
    sqs.send_message(QueueUrl=dlq, MessageBody=lines[0].decode())

    store = LocalObjectStore(tmp_path / "lake")
    report = DlqDrainer(sqs, dlq, store, wait_seconds=0).drain()
    assert (report.received, report.written, report.wrapped, report.deleted) == (2, 4, 2, 2)
    (key,) = report.objects
    records = [orjson.loads(line) for line in store.get_bytes(key).splitlines()]
    assert {r["kind"] for r in records} == {UNDELIVERED}
    unpacked = sorted((r["line_number"], r["payload"]) for r in records if r["message_id"] == packed_id)
    assert unpacked == [(1, lines[0].decode()), (3, lines[1].decode()), (4, lines[2].decode())]
    (alone,) = [r for r in records if r["message_id"] != packed_id]
    assert (alone["line_number"], alone["payload"]) == (None, lines[0].decode())
