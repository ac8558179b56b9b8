"""The intake Lambda: SQS batches in, Firehose and the dead-letter queue out, with the local intake's reasons.

Most tests run against moto in-process (``mock_aws``): real boto3 clients, real request validation, Firehose
delivering to an S3 bucket and real SQS queues. Fake clients appear only where a failure has to be provoked
on demand (a throttled Firehose record, a dead-letter queue that refuses a message), which AWS and moto
cannot be made to do.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import EventDecoder
from lake_assets.settings import IntakeLambdaSettings
from lake_assets.sources.events import lambda_intake as events_lambda
from lake_assets.sources.events.intake import EventIntake
from lake_assets.sources.events.lambda_intake import IntakeProcessor
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.lake_helpers import event

REGION = "us-east-1"
BUCKET = "lake"
STREAM = "lake-events"
SOURCE_ARN = f"arn:aws:sqs:{REGION}:123456789012:lake-events-in"
_ids = itertools.count(1)


def sqs_record(line: bytes, *, base64_body: bool = False, message_id: str | None = None) -> dict[str, Any]:
    """One record exactly as the SQS event source mapping hands it to a Lambda."""
    body = base64.b64encode(line).decode("ascii") if base64_body else line.decode("utf-8")
    n = next(_ids)
    record: dict[str, Any] = {
        "messageId": message_id or f"059f36b4-87a3-44ab-83d2-{n:012d}",
        "receiptHandle": f"AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a{n}Q0r1i==",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795561308497",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1795561308501",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": SOURCE_ARN,
        "awsRegion": REGION,
    }
    if base64_body:
        record["messageAttributes"] = {
            "content-encoding": {
                "stringValue": "base64",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            }
        }
        record["md5OfMessageAttributes"] = "a0a7f7b4a8a8c3e0a0c5d4f0b4d2e6a1"
    return record


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


@dataclass
class Aws:
    s3: Any
    sqs: Any
    firehose: Any
    dlq_url: str
    valid_url: str
    settings: IntakeLambdaSettings

    def landed(self) -> list[bytes]:
        """Every line Firehose delivered (moto writes one object per put call; keys of one second sort
        by their random suffix, so compare across puts without order)."""
        return [line for key in self.landed_keys() for line in self.object(key)]

    def landed_keys(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET, Prefix="landing/events/")
        return [o["Key"] for o in listing.get("Contents", [])]

    def object(self, key: str) -> list[bytes]:
        data = self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert data.endswith(b"\n")
        return data[:-1].split(b"\n")

    def drain(self, url: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages"):
            messages.extend(batch)
            self.sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )
        return messages


@pytest.fixture(scope="module")
def decoder(registry: SchemaRegistry) -> EventDecoder:
    return EventDecoder(registry)  # the Lambda's default limit, 256 KiB


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        firehose = boto3.client("firehose", region_name=REGION)
        firehose.create_delivery_stream(
            DeliveryStreamName=STREAM,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose",
                "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "Prefix": "landing/events/",
            },
        )
        sqs = boto3.client("sqs", region_name=REGION)
        dlq_url = sqs.create_queue(QueueName="lake-events-dlq")["QueueUrl"]
        valid_url = sqs.create_queue(QueueName="lake-events-valid")["QueueUrl"]
        settings = IntakeLambdaSettings(firehose_stream=STREAM, dlq_url=dlq_url, region=REGION)
        yield Aws(s3, sqs, firehose, dlq_url, valid_url, settings)


def processor(aws: Aws, decoder: EventDecoder, **changes: Any) -> IntakeProcessor:
    sleeps: list[float] = []
    return IntakeProcessor(decoder, aws.firehose, aws.sqs, replace(aws.settings, **changes), sleeps.append)


def failures(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


# ---------------------------------------------------------------------------------------------------------
# Against moto


def test_valid_events_land_unchanged_and_invalid_ones_go_to_the_dead_letter_queue(
    aws: Aws, decoder: EventDecoder
) -> None:
    records = [sqs_record(event(1)), sqs_record(b'{"event_id": "x"'), sqs_record(event(2))]
    intake = processor(aws, decoder)
    response = intake.process(sqs_event(*records))

    assert response == {"batchItemFailures": []}
    assert aws.landed() == [event(1), event(2)]
    assert len(aws.landed_keys()) == 1  # one PutRecordBatch for the batch
    (dead,) = aws.drain(aws.dlq_url)
    body = orjson.loads(dead["Body"])
    assert body["payload"] == '{"event_id": "x"' and body["kind"] == "malformed_json"
    assert body["message_id"] == records[1]["messageId"] and body["event_source_arn"] == SOURCE_ARN
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attributes == {
        "reason": body["reason"],
        "kind": "malformed_json",
        "source": "lambda",
        "message_id": records[1]["messageId"],
    }
    assert intake.last_stats.__dict__ == {
        "received": 3,
        "forwarded": 2,
        "dead_lettered": 1,
        "duplicates": 0,
        "failed": 0,
    }


def test_dead_letter_records_match_what_the_local_intake_quarantines(
    aws: Aws, decoder: EventDecoder, local_store: LocalObjectStore
) -> None:
    """Quarantine parity: same reason, kind and payload fields for every bad input, whichever path it took."""
    bad = {
        "malformed_json": event(2)[:40],
        "unknown_event_type": event(3, event_type="wishlist_add"),
        "missing_field": orjson.dumps({k: v for k, v in orjson.loads(event(4)).items() if k != "session_id"}),
        "wrong_type": event(5, session_id=17),
        "too_large": event(6, page_url="/" + "x" * (300 * 1024)),
        "invalid_utf8": event(7, page_url="/search?q=cr\u00e8me").replace("è".encode(), b"\xe8"),
        "naive_timestamp": event(8, event_time="2026-11-24T10:00:00"),
        "unknown_field": event(9, campaign="winter"),
        "invalid_value": event(10, device="smart_tv"),
        "not_an_object": b"[1, 2, 3]",
        "too_deeply_nested": deeply_nested(11),
    }
    local = EventIntake(local_store, decoder).ingest(list(bad.values()), "upload.jsonl")
    (key,) = local.quarantine_keys
    quarantined = [orjson.loads(line) for line in local_store.get_bytes(key).splitlines()]
    assert [q["kind"] for q in quarantined] == list(bad)

    records = [sqs_record(line, base64_body=kind == "invalid_utf8") for kind, line in bad.items()]
    empty = sqs_record(b"")  # the local intake skips a blank line; a blank message is still dead-lettered
    response = processor(aws, decoder).process(sqs_event(*records, empty))

    assert failures(response) == []
    assert aws.landed_keys() == []
    dead = {m["MessageAttributes"]["message_id"]["StringValue"]: m for m in aws.drain(aws.dlq_url)}
    assert len(dead) == len(bad) + 1
    for record, expected in zip(records, quarantined, strict=True):
        message = dead[record["messageId"]]
        body = orjson.loads(message["Body"])
        assert set(expected) <= set(body)  # same record shape, plus the message's own fields
        for field in ("reason", "kind", "payload", "payload_base64"):
            assert body.get(field) == expected.get(field), (expected["kind"], field)
        assert body["source"] == "lambda" and body["line_number"] is None
        assert message["MessageAttributes"]["reason"]["StringValue"] == expected["reason"]
        assert message["MessageAttributes"]["kind"]["StringValue"] == expected["kind"]
    assert orjson.loads(dead[empty["messageId"]]["Body"])["reason"] == "empty line"
    utf8 = orjson.loads(dead[records[list(bad).index("invalid_utf8")]["messageId"]]["Body"])
    assert utf8["reason"].startswith("not valid UTF-8 at byte ")
    assert base64.b64decode(utf8["payload_base64"]) == bad["invalid_utf8"]


def test_a_body_that_cannot_be_decoded_is_dead_lettered_not_a_crash(aws: Aws, decoder: EventDecoder) -> None:
    not_base64 = sqs_record(event(1), base64_body=True)
    not_base64["body"] = "%%% not base64 %%%"
    gzip = sqs_record(event(2), base64_body=True)
    gzip["messageAttributes"]["content-encoding"]["stringValue"] = "gzip"
    response = processor(aws, decoder).process(sqs_event(not_base64, gzip, sqs_record(event(3))))

    assert failures(response) == [] and aws.landed() == [event(3)]
    reasons = {
        m["MessageAttributes"]["message_id"]["StringValue"]: orjson.loads(m["Body"])
        for m in aws.drain(aws.dlq_url)
    }
    assert reasons[not_base64["messageId"]]["reason"] == "body is not valid base64 (content-encoding: base64)"
    assert reasons[not_base64["messageId"]]["payload"] == "%%% not base64 %%%"
    assert reasons[gzip["messageId"]]["reason"] == "unsupported content-encoding 'gzip' (only base64)"


def deeply_nested(n: int) -> bytes:
    """A page view with 1,000 nested objects before its ``event_type`` (msgspec raises RecursionError)."""
    return b'{"a":' * 1000 + b"1" + b"}" * 999 + b"," + event(n)[1:]


def test_a_deeply_nested_event_is_dead_lettered_and_the_rest_go_on(aws: Aws, decoder: EventDecoder) -> None:
    records = [sqs_record(event(1)), sqs_record(deeply_nested(2)), sqs_record(event(3))]
    intake = processor(aws, decoder)
    response = intake.process(sqs_event(*records))

    assert failures(response) == []
    assert sorted(aws.landed()) == [event(1), event(3)]
    (dead,) = aws.drain(aws.dlq_url)
    body = orjson.loads(dead["Body"])
    assert (body["kind"], body["reason"]) == (
        "too_deeply_nested",
        "JSON nested 1000 levels deep, over the 64-level limit",
    )
    assert body["payload"].encode() == deeply_nested(2)
    assert body["message_id"] == records[1]["messageId"]
    assert dead["MessageAttributes"]["kind"]["StringValue"] == "too_deeply_nested"
    assert (intake.last_stats.forwarded, intake.last_stats.dead_lettered) == (2, 1)


def test_byte_order_marks_utf8_dropped_utf16_dead_lettered_with_the_fix(
    aws: Aws, decoder: EventDecoder
) -> None:
    utf8_text = sqs_record("\ufeff".encode() + event(1))
    utf8_base64 = sqs_record(b"\xef\xbb\xbf" + event(2), base64_body=True)
    utf16 = "\ufeff".encode("utf-16-le") + event(3).decode().encode("utf-16-le")
    response = processor(aws, decoder).process(
        sqs_event(utf8_text, utf8_base64, sqs_record(utf16, base64_body=True))
    )

    assert failures(response) == []
    assert sorted(aws.landed()) == [event(1), event(2)]  # landed without the mark
    (dead,) = aws.drain(aws.dlq_url)
    body = orjson.loads(dead["Body"])
    assert (body["kind"], body["reason"]) == (
        "wrong_encoding",
        "event is UTF-16LE (byte order mark FF FE), not UTF-8: re-encode it as UTF-8 "
        "(e.g. iconv -f UTF-16 -t UTF-8)",
    )
    assert base64.b64decode(body["payload_base64"]) == utf16


def test_characters_sqs_refuses_are_escaped_in_the_dead_letter_body(aws: Aws, decoder: EventDecoder) -> None:
    line = '{"event_id": "\uffff'.encode()  # valid UTF-8, malformed JSON, U+FFFF not allowed in SQS bodies
    processor(aws, decoder).process(sqs_event(sqs_record(line, base64_body=True)))
    (dead,) = aws.drain(aws.dlq_url)
    assert "\uffff" not in dead["Body"] and "\\uffff" in dead["Body"]
    assert json.loads(dead["Body"])["payload"] == line.decode()


def test_an_event_id_seen_twice_in_one_batch_is_forwarded_once(aws: Aws, decoder: EventDecoder) -> None:
    first, again, other = sqs_record(event(1)), sqs_record(event(1)), sqs_record(event(2))
    intake = processor(aws, decoder)
    assert failures(intake.process(sqs_event(first, again, other))) == []
    assert aws.landed() == [event(1), event(2)]
    assert intake.last_stats.duplicates == 1 and intake.last_stats.forwarded == 2


def test_a_redelivery_to_a_warm_container_is_not_forwarded_again(aws: Aws, decoder: EventDecoder) -> None:
    intake = IntakeProcessor(decoder, aws.firehose, aws.sqs, aws.settings, seen_capacity=2)
    intake.process(sqs_event(sqs_record(event(1)), sqs_record(event(2))))
    intake.process(sqs_event(sqs_record(event(2)), sqs_record(event(3))))  # e2 redelivered; e1 evicted
    assert sorted(aws.landed()) == [event(1), event(2), event(3)]
    assert intake.last_stats.duplicates == 1

    intake.process(sqs_event(sqs_record(event(3)), sqs_record(event(1))))  # the LRU holds 2 ids: e2, e3
    assert sorted(aws.landed()) == [event(1), event(1), event(2), event(3)]  # e1 forgotten: sent again


def test_batches_follow_firehose_limits_of_500_records_and_4_mib(aws: Aws, decoder: EventDecoder) -> None:
    small = [sqs_record(event(n)) for n in range(1200)]
    processor(aws, decoder, firehose_record_bytes=0).process(sqs_event(*small))  # one record per event
    assert sorted(len(aws.object(k)) for k in aws.landed_keys()) == [200, 500, 500]
    assert sorted(aws.landed()) == sorted(event(n) for n in range(1200))
    for key in aws.landed_keys():
        aws.s3.delete_object(Bucket=BUCKET, Key=key)
    again = [sqs_record(event(n)) for n in range(1200, 2400)]
    processor(aws, decoder).process(sqs_event(*again))  # packed into 64 KiB records: one call, one object
    assert [len(aws.object(k)) for k in aws.landed_keys()] == [1200]
    assert sorted(aws.landed()) == sorted(event(n) for n in range(1200, 2400))

    for key in aws.landed_keys():
        aws.s3.delete_object(Bucket=BUCKET, Key=key)
    big = [sqs_record(event(f"big{n}", page_url="/" + "p" * 250_000)) for n in range(20)]
    processor(aws, decoder).process(sqs_event(*big))
    sizes = [sum(len(line) + 1 for line in aws.object(k)) for k in aws.landed_keys()]
    assert len(sizes) == 2 and all(size <= 4 * 1024 * 1024 for size in sizes)
    assert sorted(aws.landed()) == sorted(event(f"big{n}", page_url="/" + "p" * 250_000) for n in range(20))


def test_valid_events_are_copied_to_the_valid_queue_in_batches(aws: Aws, decoder: EventDecoder) -> None:
    lines = [event(n) for n in range(23)]
    intake = processor(aws, decoder, valid_queue_url=aws.valid_url)
    assert failures(intake.process(sqs_event(*map(sqs_record, lines), sqs_record(b"nope")))) == []
    assert sorted(m["Body"].encode() for m in aws.drain(aws.valid_url)) == sorted(lines)
    assert aws.landed() == lines


def test_the_handler_builds_one_processor_per_container(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "LAKE_FIREHOSE_STREAM": STREAM,
        "LAKE_DLQ_URL": aws.dlq_url,
        "AWS_REGION": REGION,
        "LAKE_MAX_EVENT_BYTES": "1000",
    }.items():
        monkeypatch.setenv(name, value)
    built: list[IntakeProcessor] = []

    def build(settings: IntakeLambdaSettings | None = None) -> IntakeProcessor:
        built.append(real_build(settings))
        return built[-1]

    real_build = events_lambda.build_processor
    monkeypatch.setattr(events_lambda, "build_processor", build)
    monkeypatch.setattr(events_lambda, "_processor", None)

    big = event(3, page_url="/" + "x" * 1000)
    assert events_lambda.handler(sqs_event(sqs_record(event(1)), sqs_record(big)), None) == {
        "batchItemFailures": []
    }
    events_lambda.handler(sqs_event(sqs_record(event(1)), sqs_record(event(2))), None)

    assert len(built) == 1 and built[0].decoder.max_event_bytes == 1000
    assert built[0].settings.schema_source == "bundled"
    assert sorted(aws.landed()) == [event(1), event(2)]  # e1's redelivery was remembered across invocations
    (dead,) = aws.drain(aws.dlq_url)
    assert orjson.loads(dead["Body"])["kind"] == "too_large"


# ---------------------------------------------------------------------------------------------------------
# Failure injection: fake clients stand in for AWS because these failures cannot be provoked on demand.


class FlakyFirehose:
    """Stands in for Firehose: rejects chosen records (by content) for their first ``times`` puts, like
    ``ServiceUnavailableException`` per record under throttling; ``raise_calls`` makes whole calls fail."""

    def __init__(self, reject: dict[bytes, int] | None = None, raise_calls: int = 0) -> None:
        self.reject = dict(reject or {})
        self.raise_calls = raise_calls
        self.calls: list[list[bytes]] = []
        self.accepted: list[bytes] = []

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:  # noqa: N803
        data = [r["Data"] for r in Records]
        self.calls.append(data)
        if self.raise_calls:
            self.raise_calls -= 1
            raise ConnectionError("endpoint unreachable")
        answers: list[dict[str, str]] = []
        for line in data:
            if self.reject.get(line, 0) > 0:
                self.reject[line] -= 1
                answers.append({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."})
            else:
                self.accepted.append(line)
                answers.append({"RecordId": f"r{len(self.accepted)}"})
        failed = sum("ErrorCode" in a for a in answers)
        return {"FailedPutCount": failed, "Encrypted": False, "RequestResponses": answers}


class FlakySqs:
    """Stands in for SQS: refuses dead-letter sends and refuses chosen batch entries once."""

    def __init__(
        self, refuse_dead_letters: bool = False, refuse_entries_once: set[str] | None = None
    ) -> None:
        self.refuse_dead_letters = refuse_dead_letters
        self.refuse_entries_once = set(refuse_entries_once or ())
        self.dead_letters: list[str] = []
        self.batches: list[list[str]] = []

    def send_message(
        self, QueueUrl: str, MessageBody: str, MessageAttributes: dict[str, Any]
    ) -> dict[str, Any]:  # noqa: N803
        if self.refuse_dead_letters:
            raise ConnectionError("queue unreachable")
        self.dead_letters.append(MessageBody)
        return {"MessageId": "m"}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        self.batches.append([e["MessageBody"] for e in Entries])
        refused = [e for e in Entries if e["MessageBody"] in self.refuse_entries_once]
        self.refuse_entries_once -= {e["MessageBody"] for e in refused}
        return {
            "Successful": [{"Id": e["Id"]} for e in Entries if e not in refused],
            "Failed": [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in refused],
        }


# One event per Firehose record, so a stand-in can reject single events (packing: its own test below).
SETTINGS = IntakeLambdaSettings(
    firehose_stream=STREAM, dlq_url="https://sqs/dlq", region=REGION, firehose_record_bytes=0
)


def test_events_are_packed_into_records_and_a_rejected_record_returns_all_its_events(
    decoder: EventDecoder,
) -> None:
    """Records of up to firehose_record_bytes, newline-terminated lines (the delivered objects hold the same
    JSON lines); a record rejected on every attempt returns each of its events' messages to SQS, the other
    records' events are acknowledged."""
    lines = [event(n) for n in range(5)]
    limit = 2 * (len(lines[0]) + 1) + 2  # two events fit (their ids differ by at most a digit), not three
    packed = dataclasses.replace(SETTINGS, firehose_record_bytes=limit)
    middle = lines[2] + b"\n" + lines[3] + b"\n"
    firehose = FlakyFirehose(reject={middle: 99})
    records = [sqs_record(line) for line in lines]
    intake = IntakeProcessor(decoder, firehose, FlakySqs(), packed, lambda s: None)
    assert failures(intake.process(sqs_event(*records))) == [records[2]["messageId"], records[3]["messageId"]]
    assert firehose.calls[0] == [lines[0] + b"\n" + lines[1] + b"\n", middle, lines[4] + b"\n"]
    assert all(call == [middle] for call in firehose.calls[1:]) and len(firehose.calls) == 4
    assert b"".join(firehose.accepted) == b"".join(line + b"\n" for line in (lines[0], lines[1], lines[4]))
    assert intake.last_stats.forwarded == 3 and intake.last_stats.failed == 2


def test_only_records_firehose_rejected_are_retried_with_backoff(decoder: EventDecoder) -> None:
    lines = [event(n) for n in range(5)]
    firehose = FlakyFirehose(reject={lines[1] + b"\n": 2, lines[3] + b"\n": 1})
    sleeps: list[float] = []
    intake = IntakeProcessor(decoder, firehose, FlakySqs(), SETTINGS, sleeps.append)
    assert failures(intake.process(sqs_event(*map(sqs_record, lines)))) == []
    assert firehose.calls == [[line + b"\n" for line in lines], [lines[1] + b"\n", lines[3] + b"\n"],
                              [lines[1] + b"\n"]]  # fmt: skip
    assert sleeps == [0.1, 0.2]
    assert sorted(firehose.accepted) == sorted(line + b"\n" for line in lines)


def test_records_still_rejected_after_the_last_attempt_are_returned_for_retry(decoder: EventDecoder) -> None:
    records = [sqs_record(event(n)) for n in range(3)]
    firehose = FlakyFirehose(reject={event(1) + b"\n": 99})
    sleeps: list[float] = []
    intake = IntakeProcessor(decoder, firehose, FlakySqs(), SETTINGS, sleeps.append)
    assert failures(intake.process(sqs_event(*records))) == [records[1]["messageId"]]
    assert len(firehose.calls) == 4 and sleeps == [0.1, 0.2, 0.4]
    assert intake.last_stats.failed == 1 and intake.last_stats.forwarded == 2

    # SQS redelivers the failed message: it was not remembered as forwarded, so it goes through now.
    firehose.reject.clear()
    again = sqs_record(event(1))
    assert failures(intake.process(sqs_event(again, sqs_record(event(0))))) == []
    assert firehose.accepted.count(event(1) + b"\n") == 1 and firehose.accepted.count(event(0) + b"\n") == 1


def test_a_firehose_call_that_keeps_failing_returns_every_valid_message(decoder: EventDecoder) -> None:
    records = [sqs_record(event(1)), sqs_record(b"{}"), sqs_record(event(2))]
    firehose = FlakyFirehose(raise_calls=10)
    sqs = FlakySqs()
    response = IntakeProcessor(decoder, firehose, sqs, SETTINGS, lambda _: None).process(sqs_event(*records))
    assert failures(response) == [records[0]["messageId"], records[2]["messageId"]]
    assert len(firehose.calls) == SETTINGS.firehose_max_attempts and len(sqs.dead_letters) == 1


def test_a_dead_letter_queue_that_refuses_keeps_the_message_for_retry(decoder: EventDecoder) -> None:
    records = [sqs_record(b"not json"), sqs_record(event(1))]
    firehose = FlakyFirehose()
    response = IntakeProcessor(decoder, firehose, FlakySqs(refuse_dead_letters=True), SETTINGS).process(
        sqs_event(*records)
    )
    assert failures(response) == [records[0]["messageId"]]
    assert firehose.accepted == [event(1) + b"\n"]


def test_valid_queue_entries_it_refused_are_retried_alone(decoder: EventDecoder) -> None:
    lines = [event(n) for n in range(12)]
    sqs = FlakySqs(refuse_entries_once={lines[4].decode()})
    settings = replace(SETTINGS, valid_queue_url="https://sqs/valid")
    sleeps: list[float] = []
    intake = IntakeProcessor(decoder, FlakyFirehose(), sqs, settings, sleeps.append)
    assert failures(intake.process(sqs_event(*map(sqs_record, lines)))) == []
    assert [len(b) for b in sqs.batches] == [10, 1, 2]  # 10, the refused entry again, then the last 2
    assert sqs.batches[1] == [lines[4].decode()] and sleeps == [0.1]


def test_the_handler_module_imports_no_dagster_pyspark_or_boto3() -> None:
    import subprocess
    import sys

    code = (
        "import sys, lake_assets.sources.events.lambda_intake\n"
        "bad = [m for m in ('dagster', 'pyspark', 'boto3', 'botocore', 'pyarrow') if m in sys.modules]\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
