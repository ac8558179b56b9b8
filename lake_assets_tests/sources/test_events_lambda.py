"""The intake Lambda: SQS batches in, Firehose and the dead-letter queue out, with the local intake's reasons.

Most tests run against moto in-process (``mock_aws``): real boto3 clients, real request validation, Firehose
delivering to an S3 bucket and real SQS queues. Fake clients appear only where a failure has to be provoked
on demand (a throttled Firehose record, a dead-letter queue that refuses a message), which AWS and moto
cannot be made to do, and in one unit test where an in-memory queue hands ``EventSender``'s packed messages
to the Lambda.
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
from lake_assets.sources.events import sqs as events_sqs
from lake_assets.sources.events.intake import EventIntake
from lake_assets.sources.events.lambda_intake import CONTENT_TYPE, NDJSON, IntakeProcessor
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


def packed_record(
    lines: list[bytes],
    *,
    content_type: str = NDJSON,
    base64_body: bool = False,
    message_id: str | None = None,
) -> dict[str, Any]:
    """A message packed as ``lake events send`` packs one: lines joined by \\n, content-type ndjson."""
    record = sqs_record(b"\n".join(lines), base64_body=base64_body, message_id=message_id)
    record["messageAttributes"][CONTENT_TYPE] = {
        "stringValue": content_type,
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
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
        "packed": 0,
        "events": 3,
        "forwarded": 2,
        "dead_lettered": 1,
        "duplicates": 0,
        "already_dead_lettered": 0,
        "failed_events": 0,
        "blank_lines": 0,
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


# Packed messages (``lake events send`` packs JSON lines into one message of up to 64 KiB)


def _dead_letters(aws: Aws) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """The dead-letter queue's messages: (record, attributes)."""
    return [
        (orjson.loads(m["Body"]), {k: v["StringValue"] for k, v in m["MessageAttributes"].items()})
        for m in aws.drain(aws.dlq_url)
    ]


def test_a_packed_message_is_read_line_by_line_as_the_local_intake_reads_a_file(
    aws: Aws, registry: SchemaRegistry, local_store: LocalObjectStore
) -> None:
    """moto stands in for Firehose, S3 and SQS. The same bytes as a file through the local intake and as
    one packed message through the Lambda: the same lines land (in order, a \\r kept), the same lines are
    quarantined with the same reason, kind, payload and line number; blank lines are skipped; the mark
    opening the message is dropped, one opening a later line is not; a line over max_event_bytes (2,000
    here) is too large."""
    small = EventDecoder(registry, max_event_bytes=2000)
    bom = "\ufeff".encode()
    lines = [
        bom + event(1),
        event(2)[:40],
        b"",
        b"  \r",
        event(3),
        bom + event(4),
        event(5, page_url="/" + "x" * 3000),
        event(6, device="smart_tv"),
        event(7) + b"\r",
    ]
    local = EventIntake(local_store, small).ingest([line + b"\n" for line in lines], "upload.jsonl")
    quarantined = [
        orjson.loads(r) for key in local.quarantine_keys for r in local_store.get_bytes(key).splitlines()
    ]
    landed_locally = [
        line for key in local.landing_keys for line in local_store.get_bytes(key)[:-1].split(b"\n")
    ]
    assert sorted(q["kind"] for q in quarantined) == [
        "invalid_value",
        "malformed_json",
        "malformed_json",
        "too_large",
    ]

    record = packed_record(lines)
    intake = IntakeProcessor(small, aws.firehose, aws.sqs, aws.settings)
    assert failures(intake.process(sqs_event(record))) == []

    assert aws.landed() == landed_locally == [event(1), event(3), event(7) + b"\r"]
    dead = _dead_letters(aws)
    fields = ("line_number", "reason", "kind", "payload")
    assert sorted(tuple(r[f] for f in fields) for r, _ in dead) == sorted(
        tuple(q[f] for f in fields) for q in quarantined
    )
    for body, attributes in dead:
        assert body["message_id"] == record["messageId"] and body["source"] == "lambda"
        assert attributes["line_number"] == str(body["line_number"]) and attributes["kind"] == body["kind"]
    assert intake.last_stats.__dict__ == {
        "received": 1,
        "packed": 1,
        "events": 7,
        "forwarded": 3,
        "dead_lettered": 4,
        "duplicates": 0,
        "already_dead_lettered": 0,
        "failed_events": 0,
        "blank_lines": 2,
        "failed": 0,
    }


def test_a_batch_of_packed_and_one_event_messages(aws: Aws, decoder: EventDecoder) -> None:
    """moto stands in for Firehose, S3 and SQS. Packed and one-event messages (text and base64) in one
    batch: one Firehose put for all valid events, an event id repeated across messages forwarded once, each
    invalid event dead-lettered alone (with a line number only when it came from a packed message)."""
    not_utf8 = event(15, page_url="/search?q=cr\u00e8me").replace("è".encode(), b"\xe8")
    records = [
        packed_record([event(10), event(11)]),
        sqs_record(event(12)),
        sqs_record(b"{}"),
        packed_record([event(13), b"nope", event(14), event(12)]),
        sqs_record(not_utf8, base64_body=True),
        packed_record([event(16)]),  # one line, marked packed anyway: read the same way
    ]
    intake = processor(aws, decoder)
    assert failures(intake.process(sqs_event(*records))) == []

    assert aws.landed() == [event(n) for n in (10, 11, 12, 13, 14, 16)] and len(aws.landed_keys()) == 1
    dead = {(body["message_id"], body["line_number"]): body["kind"] for body, _ in _dead_letters(aws)}
    assert dead == {
        (records[2]["messageId"], None): decoder.check(b"{}").kind,
        (records[3]["messageId"], 2): "malformed_json",
        (records[4]["messageId"], None): "invalid_utf8",
    }
    stats = intake.last_stats
    assert (stats.received, stats.packed, stats.events) == (6, 3, 10)
    assert (stats.forwarded, stats.dead_lettered, stats.duplicates, stats.failed) == (6, 3, 1, 0)


def test_an_unknown_content_type_dead_letters_the_whole_body(aws: Aws, decoder: EventDecoder) -> None:
    """moto stands in for Firehose, S3 and SQS. Only application/x-ndjson is read (case and surrounding
    spaces aside): any other value dead-letters the body as it is, with the reason, and is not guessed at."""
    unknown = packed_record([event(20), event(21)], content_type="application/json")
    charset = packed_record([event(22), event(23)], content_type="application/x-ndjson; charset=utf-16")
    spelled = packed_record([event(24), event(25)], content_type=" Application/X-NDJSON ")
    intake = processor(aws, decoder)
    assert failures(intake.process(sqs_event(unknown, charset, spelled))) == []

    assert aws.landed() == [event(24), event(25)]
    dead = {body["message_id"]: body for body, _ in _dead_letters(aws)}
    assert dead[unknown["messageId"]]["reason"] == (
        "unsupported content-type 'application/json' (only application/x-ndjson)"
    )
    assert dead[unknown["messageId"]]["payload"].encode() == event(20) + b"\n" + event(21)
    assert dead[unknown["messageId"]]["kind"] == "invalid_value"
    assert dead[charset["messageId"]]["reason"].startswith(
        "unsupported content-type 'application/x-ndjson; ch"
    )
    assert len(dead) == 2 and intake.last_stats.dead_lettered == 2


def test_a_packed_base64_message_is_decoded_then_split(aws: Aws, decoder: EventDecoder) -> None:
    """moto stands in for Firehose, S3 and SQS. A producer may base64 a packed message: it is decoded first,
    so a line that is not UTF-8 gets the local reason on its own; a packed payload in UTF-16 is dead-lettered
    whole as wrong_encoding (one record, not one per line: see the module docstring)."""
    not_utf8 = event(31, page_url="/cr\u00e8me").replace("è".encode(), b"\xe8")
    mixed = packed_record([event(30), not_utf8, event(32)], base64_body=True)
    utf16 = "\ufeff".encode("utf-16-le") + (event(33) + b"\n" + event(34)).decode().encode("utf-16-le")
    wide = sqs_record(utf16, base64_body=True)
    wide["messageAttributes"][CONTENT_TYPE] = packed_record([b"x"])["messageAttributes"][CONTENT_TYPE]
    assert failures(processor(aws, decoder).process(sqs_event(mixed, wide))) == []

    assert aws.landed() == [event(30), event(32)]
    dead = {body["message_id"]: body for body, _ in _dead_letters(aws)}
    assert (dead[mixed["messageId"]]["line_number"], dead[mixed["messageId"]]["reason"]) == (
        2,
        decoder.check(not_utf8).reason,
    )
    assert base64.b64decode(dead[mixed["messageId"]]["payload_base64"]) == not_utf8
    assert (dead[wide["messageId"]]["kind"], dead[wide["messageId"]]["line_number"]) == (
        "wrong_encoding",
        None,
    )
    assert dead[wide["messageId"]]["reason"].startswith(
        "message is UTF-16LE (byte order mark FF FE), not UTF-8"
    )
    assert base64.b64decode(dead[wide["messageId"]]["payload_base64"]) == utf16


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
    """Stands in for SQS: refuses dead-letter sends (all calls, or the entries of chosen payloads a number of
    times) and refuses chosen valid-queue batch entries once; records every dead-letter call."""

    def __init__(
        self,
        refuse_dead_letters: bool = False,
        refuse_entries_once: set[str] | None = None,
        refuse_payloads: dict[str, int] | None = None,
    ) -> None:
        self.refuse_dead_letters = refuse_dead_letters
        self.refuse_entries_once = set(refuse_entries_once or ())
        self.refuse_payloads = dict(refuse_payloads or {})
        self.dead_letters: list[str] = []
        self.batches: list[list[str]] = []
        self.calls: list[tuple[str, int]] = []  # (operation, entries) of every dead-letter call

    def _take_dead_letter(self, body: str) -> bool:
        payload = orjson.loads(body).get("payload")
        if self.refuse_payloads.get(payload, 0) > 0:
            self.refuse_payloads[payload] -= 1
            return False
        self.dead_letters.append(body)
        return True

    def send_message(
        self, QueueUrl: str, MessageBody: str, MessageAttributes: dict[str, Any]
    ) -> dict[str, Any]:  # noqa: N803
        self.calls.append(("send_message", 1))
        if self.refuse_dead_letters or not self._take_dead_letter(MessageBody):
            raise ConnectionError("queue unreachable")
        return {"MessageId": "m"}

    def dead_lettered(self) -> list[tuple[str, int | None, str]]:
        """(message id, line number, payload) of every dead-letter accepted, in order."""
        records = [orjson.loads(body) for body in self.dead_letters]
        return [(r["message_id"], r["line_number"], r["payload"]) for r in records]

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        if QueueUrl == SETTINGS.dlq_url:  # dead letters: the same refusals as one by one, per entry
            self.calls.append(("send_message_batch", len(Entries)))
            if self.refuse_dead_letters:
                raise ConnectionError("queue unreachable")
            refused = [e["Id"] for e in Entries if not self._take_dead_letter(e["MessageBody"])]
            return {
                "Successful": [{"Id": e["Id"]} for e in Entries if e["Id"] not in refused],
                "Failed": [{"Id": i, "SenderFault": False, "Code": "InternalError"} for i in refused],
            }
        self.batches.append([e["MessageBody"] for e in Entries])
        refused_once = [e for e in Entries if e["MessageBody"] in self.refuse_entries_once]
        self.refuse_entries_once -= {e["MessageBody"] for e in refused_once}
        return {
            "Successful": [{"Id": e["Id"]} for e in Entries if e not in refused_once],
            "Failed": [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in refused_once],
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


def _accounted(stats: events_lambda.InvocationStats) -> int:
    """Events the stats account for; each event read is exactly one of these."""
    done = stats.forwarded + stats.dead_lettered + stats.duplicates + stats.already_dead_lettered
    return done + stats.failed_events


def test_a_firehose_failure_fails_only_that_packed_message_and_its_retry_doubles_nothing(
    decoder: EventDecoder,
) -> None:
    """Fakes stand in for Firehose (it rejects one event's record until told otherwise) and for the SQS
    dead-letter queue (it records what it is sent). One event per Firehose record, so exactly one packed
    message holds the rejected event: that message alone is returned. Its redelivery to the same container
    forwards only the event that failed and dead-letters nothing again; a second container, which shares no
    memory, forwards and dead-letters that message's lines once more (what the module docstring says)."""
    a = packed_record([event(40), b"bad 40", event(41)])
    b = packed_record([event(42), b"bad 42", event(43)])
    c = sqs_record(event(44))
    firehose = FlakyFirehose(reject={event(41) + b"\n": 99})
    sqs = FlakySqs()
    intake = IntakeProcessor(decoder, firehose, sqs, SETTINGS, lambda _: None)
    assert failures(intake.process(sqs_event(a, b, c))) == [a["messageId"]]
    assert sorted(firehose.accepted) == sorted(event(n) + b"\n" for n in (40, 42, 43, 44))
    assert sqs.dead_lettered() == [(a["messageId"], 2, "bad 40"), (b["messageId"], 2, "bad 42")]
    stats = intake.last_stats
    assert (stats.failed, stats.failed_events, stats.forwarded, stats.dead_lettered) == (1, 1, 4, 2)
    assert _accounted(stats) == stats.events == 7

    firehose.reject.clear()
    assert failures(intake.process(sqs_event(a))) == []  # SQS redelivers the whole message
    assert sorted(firehose.accepted) == sorted(event(n) + b"\n" for n in (40, 41, 42, 43, 44))  # e41 once
    assert len(sqs.dead_letters) == 2  # "bad 40" was not dead-lettered twice
    stats = intake.last_stats
    assert (stats.forwarded, stats.duplicates, stats.already_dead_lettered) == (1, 1, 1)
    assert stats.dead_lettered == 0
    assert _accounted(stats) == stats.events == 3

    other = IntakeProcessor(decoder, firehose, sqs, SETTINGS, lambda _: None)  # another container
    assert failures(other.process(sqs_event(a))) == []
    assert firehose.accepted.count(event(40) + b"\n") == 2  # removed in intermediate, by event_id
    assert sqs.dead_lettered().count((a["messageId"], 2, "bad 40")) == 2  # the copy the docstring names


def test_a_dead_letter_refused_for_one_line_fails_the_message_and_its_retry_sends_only_that_line(
    decoder: EventDecoder,
) -> None:
    """Fakes stand in for Firehose (accepts all) and the SQS dead-letter queue (refuses the record of one
    line in every attempt of one invocation). The message is returned; on its redelivery the line refused
    before is dead-lettered, the one sent before is not sent again and the valid event is not forwarded
    again: nothing lost, nothing doubled. A refusal that a retry within the invocation overcomes fails
    nothing. The memory of dead-letters is bounded: with room for one, an older one is forgotten and sent
    again."""
    a = packed_record([b"bad 1", event(50), b"bad 2"])
    attempts = SETTINGS.firehose_max_attempts  # dead letters are retried as often as Firehose records
    firehose, sqs = FlakyFirehose(), FlakySqs(refuse_payloads={"bad 2": attempts})
    sleeps: list[float] = []
    intake = IntakeProcessor(decoder, firehose, sqs, SETTINGS, sleeps.append)
    assert failures(intake.process(sqs_event(a))) == [a["messageId"]]
    assert sqs.dead_lettered() == [(a["messageId"], 1, "bad 1")] and firehose.accepted == [event(50) + b"\n"]
    assert (intake.last_stats.failed_events, intake.last_stats.dead_lettered) == (1, 1)
    assert len(sleeps) == attempts - 1  # backoff between the attempts

    assert failures(intake.process(sqs_event(a))) == []
    assert sqs.dead_lettered() == [(a["messageId"], 1, "bad 1"), (a["messageId"], 3, "bad 2")]
    assert firehose.accepted == [event(50) + b"\n"]
    stats = intake.last_stats
    assert (stats.dead_lettered, stats.already_dead_lettered, stats.duplicates) == (1, 1, 1)

    once = FlakySqs(refuse_payloads={"bad 5": 1})
    retried = IntakeProcessor(decoder, FlakyFirehose(), once, SETTINGS, lambda _: None)
    b = packed_record([b"bad 5", b"bad 6", event(53)])
    assert failures(retried.process(sqs_event(b))) == []
    assert sorted(p for _, _, p in once.dead_lettered()) == ["bad 5", "bad 6"]

    forgetful = IntakeProcessor(decoder, FlakyFirehose(), FlakySqs(), SETTINGS, dead_lettered_capacity=1)
    first, second = packed_record([b"bad 3", event(51)]), packed_record([b"bad 4", event(52)])
    for record in (first, first, second, first):  # the second message's line evicts the first's
        forgetful.process(sqs_event(record))
    assert [payload for _, _, payload in forgetful.sqs.dead_lettered()] == ["bad 3", "bad 4", "bad 3"]


def test_the_sender_and_the_lambda_agree_on_packing(
    decoder: EventDecoder, local_store: LocalObjectStore
) -> None:
    """An in-memory fake stands in for the SQS queue between them (it keeps each entry as the event source
    mapping would hand it over); fakes stand in for Firehose and the dead-letter queue. Lines of a file,
    some invalid, some not UTF-8, some opening with a byte order mark, packed 4 or 5 to a message: the
    Lambda forwards and dead-letters exactly what the local intake lands and quarantines for the same file
    (reasons and payloads; line numbers differ: the Lambda's count within a message)."""
    assert (events_sqs.CONTENT_TYPE, events_sqs.NDJSON) == (CONTENT_TYPE, NDJSON)
    bom = "\ufeff".encode()
    lines = [bom + event(60)] + [event(n) for n in range(61, 80)]
    lines[3] = bom + lines[3]
    lines[4] = bom + lines[4]  # opens the second message at this packing: still invalid, as in the file
    lines[7] = b'{"event_id": "x"'
    lines[9] = event(69, page_url="/cr\u00e8me").replace("è".encode(), b"\xe8")
    lines[12] = event(72, device="smart_tv")

    class Queue:
        def __init__(self) -> None:
            self.records: list[dict[str, Any]] = []

        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
            for entry in Entries:
                record = sqs_record(entry["MessageBody"].encode())
                record["messageAttributes"] = {
                    name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
                    for name, value in (entry.get("MessageAttributes") or {}).items()
                }
                self.records.append(record)
            return {"Successful": [{"Id": e["Id"]} for e in Entries]}

    queue = Queue()
    size = len(event(60)) + 1
    sender = events_sqs.EventSender(queue, "q", max_message_bytes=256 * 1024, pack_bytes=4 * size + 50)
    assert sender.send(lines, "file.jsonl").sent == 20 and len(queue.records) < 10
    assert any(r["body"].startswith("\n\ufeff") for r in queue.records)  # line 5 opened a message
    firehose, sqs = FlakyFirehose(), FlakySqs()
    intake = IntakeProcessor(decoder, firehose, sqs, SETTINGS, lambda _: None)
    for start in range(0, len(queue.records), 10):
        assert failures(intake.process(sqs_event(*queue.records[start : start + 10]))) == []

    local = EventIntake(local_store, decoder).ingest([line + b"\n" for line in lines], "file.jsonl")
    landed = [line for key in local.landing_keys for line in local_store.get_bytes(key).splitlines()]
    quarantined = [
        orjson.loads(r) for key in local.quarantine_keys for r in local_store.get_bytes(key).splitlines()
    ]
    assert [record.rstrip(b"\n") for record in firehose.accepted] == landed
    fields = ("reason", "kind", "payload", "payload_base64")
    dead = [orjson.loads(body) for body in sqs.dead_letters]
    assert sorted(tuple(d.get(f) for f in fields) for d in dead) == sorted(
        tuple(q.get(f) for f in fields) for q in quarantined
    )
    assert len(dead) == 5  # the two marked lines after the first, the malformed, not UTF-8, invalid value


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


def test_dead_letters_go_ten_to_a_call_and_a_record_over_the_batch_total_alone(decoder: EventDecoder) -> None:
    """A fake stands in for SQS (it records each dead-letter call). 25 invalid lines of one packed message
    take three SendMessageBatch calls (10, 10, 5), not 25 calls; an invalid event whose quarantine record is
    over a batch's 256 KiB total goes alone with SendMessage; every record arrives once."""
    sqs = FlakySqs()
    intake = IntakeProcessor(decoder, FlakyFirehose(), sqs, SETTINGS, lambda _: None)
    packed = packed_record([f"bad {n}".encode() for n in range(25)])
    huge = sqs_record(b'{"not": "an event", "pad": "' + b"x" * (300 * 1024) + b'"}')
    assert failures(intake.process(sqs_event(packed, huge))) == []
    assert sorted(sqs.calls) == sorted(
        [("send_message", 1), *(("send_message_batch", n) for n in (10, 10, 5))]
    )
    assert len(sqs.dead_letters) == 26 and intake.last_stats.dead_lettered == 26
    assert sorted(p for _, n, p in sqs.dead_lettered() if n) == sorted(f"bad {n}" for n in range(25))
