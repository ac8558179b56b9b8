"""Sending event lines to SQS and draining the dead-letter queue into the lake, against moto's SQS.

moto stands in for Amazon SQS, which cannot run here. Failures SQS reports per entry (throttling) cannot be
provoked in moto, so ``FlakySqs`` wraps the real moto client: it withholds chosen entries from a real call and
reports them as failed, as SQS does; everything else goes to moto for real.
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
    UNDELIVERED,
    DlqDrainer,
    EventSender,
    encode_message,
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


class FlakySqs:
    """The real moto client, but the first ``times`` calls withhold the entries whose body is in ``fail``."""

    def __init__(self, real: Any, fail: set[str], times: int, sender_fault: bool = False) -> None:
        self.real, self.fail, self.times, self.sender_fault = real, fail, times, sender_fault
        self.calls: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append([e["MessageBody"] for e in Entries])
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


def test_lines_go_in_batches_of_ten_and_arrive_byte_for_byte(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS: 23 events (one not UTF-8, one with a control character SQS refuses)."""
    queue = _queue(sqs)
    lines = _lines(21) + [b'{"event_type": "page_view", "bad": "\xff\xfe"}', b'{"x": "a\x01b"}']
    source = [line + b"\n" for line in lines] + [b"\n", b"   \n"]  # blank lines are not events
    sender = EventSender(
        sqs, queue, rejects_path=tmp_path / "rejects.jsonl", failed_path=tmp_path / "f.jsonl"
    )
    report = sender.send(iter(source), "test")
    assert (report.read, report.sent, report.rejected, report.failed) == (23, 23, 0, 0)
    assert report.skipped_blank == 2 and report.base64_encoded == 2
    assert report.calls == 3  # 10 + 10 + 3
    received = _receive_all(sqs, queue)
    assert sorted(_payload(m) for m in received) == sorted(lines)
    encoded = [m for m in received if CONTENT_ENCODING in (m.get("MessageAttributes") or {})]
    assert sorted(base64.b64decode(m["Body"]) for m in encoded) == sorted(lines[-2:])
    assert not (tmp_path / "rejects.jsonl").exists() and not (tmp_path / "f.jsonl").exists()


def test_a_batch_stays_under_256_kib(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS: five 100 KB events need three calls (2 + 2 + 1), not one."""
    queue = _queue(sqs)
    lines = [orjson.dumps({"event_type": "page_view", "pad": str(i) * 100_000}) for i in range(5)]
    client = FlakySqs(sqs, fail=set(), times=0)
    report = EventSender(client, queue, rejects_path=tmp_path / "r", failed_path=tmp_path / "f").send(
        lines, "t"
    )
    assert report.sent == 5
    assert [len(call) for call in client.calls] == [2, 2, 1]
    assert sorted(_payload(m) for m in _receive_all(sqs, queue)) == sorted(lines)


def test_only_refused_entries_are_retried_with_backoff(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS; two entries are reported throttled twice, then accepted."""
    queue = _queue(sqs)
    lines = _lines(10)
    flaky = {lines[3].decode(), lines[7].decode()}
    client = FlakySqs(sqs, fail=flaky, times=2)
    delays: list[float] = []
    sender = EventSender(
        client, queue, rejects_path=tmp_path / "r", failed_path=tmp_path / "f", sleep=delays.append
    )
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
        sleep=lambda _: None,
    )  # fmt: skip
    report = sender.send(lines, "t")
    assert (report.read, report.sent, report.failed) == (5, 4, 1)
    assert len(client.calls) == 3
    assert (tmp_path / "failed.jsonl").read_bytes() == lines[1] + b"\n"  # ready to be sent again
    assert "failed 1" in report.summary()

    refused = FlakySqs(sqs, fail={lines[2].decode()}, times=99, sender_fault=True)
    report = EventSender(
        refused, queue, rejects_path=tmp_path / "r", failed_path=tmp_path / "f2", sleep=lambda _: None
    ).send(lines, "t")
    assert (report.sent, report.failed, len(refused.calls)) == (4, 1, 1)  # a sender fault is not retried


def test_a_line_sqs_cannot_take_is_rejected_with_the_validators_reason(sqs, tmp_path: Path) -> None:
    """moto stands in for SQS; the queue takes at most 2048 bytes per message, the lake 1024 per event."""
    queue = _queue(sqs, MaximumMessageSize="2048")
    big = orjson.dumps({"event_type": "page_view", "pad": "x" * 3000})
    big_binary = b"\xff" * 1600  # 1600 bytes, 2136 once base64-encoded: too large as a message
    lines = _lines(3) + [big, big_binary]
    rejects = tmp_path / "rejects.jsonl"
    sender = EventSender(sqs, queue, rejects_path=rejects, failed_path=tmp_path / "f", max_event_bytes=1024)
    assert sender.max_message_bytes == 2048  # read from the queue
    report = sender.send(lines, "big.jsonl")
    assert (report.read, report.sent, report.rejected, report.failed) == (5, 3, 2, 0)
    records = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    decoder = EventDecoder(SchemaRegistry.from_directory(), max_event_bytes=1024)
    assert [r["kind"] for r in records] == ["too_large", "too_large"]
    assert records[0]["reason"] == decoder.check(big).reason == too_large_reason(len(big), 1024)
    assert records[1]["reason"] == decoder.check(big_binary).reason
    assert records[0]["payload"].encode() == big and records[0]["line_number"] == 4
    assert base64.b64decode(records[1]["payload_base64"]) == big_binary
    assert records[0]["source"] == "big.jsonl"
    assert len(_receive_all(sqs, queue)) == 3


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
