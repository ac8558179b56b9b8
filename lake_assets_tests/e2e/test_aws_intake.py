"""Events on AWS end to end: SQS -> intake Lambda -> Firehose -> S3 landing -> sensor -> raw, and DLQ -> lake.

moto stands in for SQS, Kinesis Data Firehose and S3, which cannot run here; the Lambda runs in this process
(its ``handler``, configured from environment variables as deployed) and is fed the intake queue's messages
in the SQS event shape an event source mapping uses, 10 per invocation. Producers are ``lake events send``
(the function, packing lines into messages of up to 64 KiB, and once the real CLI with ``--pack-bytes 0``,
one event per message as before packing), so the Lambda reads packed and one-event messages from the same
queue; the DLQ is drained by the real ``lake events drain-dlq``.

Where moto differs from AWS (checked in moto 5.2.5's source, asserted below where it matters):

* Firehose writes one S3 object per PutRecordBatch call at once; AWS buffers (0-900 s, 1-128 MB) and writes
  one object per buffer, so an object then holds the records of many calls. Neither adds a delimiter: the
  records are concatenated, which is why the Lambda ends each record with ``\\n``. Both layouts are the same
  newline-delimited JSON to the lake; the test indexes a concatenation of two objects to show it.
* moto names objects as AWS does: ``<Prefix>YYYY/MM/DD/HH/<stream>-1-YYYY-MM-DD-HH-MM-SS-<uuid>`` (UTC, no
  extension), so the landing sensor's hour-folder cursor works unchanged.
* moto checks no IAM (the Firehose role ARN is never assumed), no buffering-hint ranges and accepts bodies
  with characters real SQS refuses (the sender base64-encodes those anyway).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import dagster as dg
import fastavro
import orjson
import pytest

from lake_assets.assets.raw import build_raw_assets
from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import EventDecoder
from lake_assets.resources.lake import LakeResource
from lake_assets.samples.events import generate_events
from lake_assets.sensors.landing import landing_events_sensor
from lake_assets.settings import BatchLimits
from lake_assets.sources.events import lambda_intake as events_lambda
from lake_assets.sources.events.intake import EventIntake
from lake_assets.sources.events.kind import EventSourceKind
from lake_assets.sources.events.landing_index import index_object
from lake_assets.sources.events.sqs import EventSender, encode_message
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.storage.s3 import S3ObjectStore
from lake_assets_tests.fixtures.moto import moto_client, moto_env
from lake_assets_tests.lake_helpers import START

BIN = Path(sys.executable).parent
LANDING = "lake/landing/events/"


def _lambda_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """Messages as the SQS event source mapping hands them to a Lambda."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value["DataType"],
                    }
                    for name, value in (m.get("MessageAttributes") or {}).items()
                },
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def _payload_key(record: dict[str, Any]) -> str:
    return record["payload"] if "payload" in record else "base64:" + record["payload_base64"]


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "lake"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.e2e
def test_events_flow_through_sqs_lambda_firehose_to_raw_and_invalid_ones_to_quarantine(
    moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto stands in for SQS, Firehose and S3 (AWS services that cannot run here); see the module doc."""
    for name, value in moto_env().items():
        monkeypatch.setenv(name, value)
    suffix = uuid.uuid4().hex[:10]
    s3, sqs, firehose = (moto_client(s, moto_server) for s in ("s3", "sqs", "firehose"))
    bucket = f"lake-{suffix}"
    s3.create_bucket(Bucket=bucket)
    dlq = sqs.create_queue(QueueName=f"lake-dlq-{suffix}")["QueueUrl"]
    intake = sqs.create_queue(QueueName=f"lake-intake-{suffix}")["QueueUrl"]
    intake_arn = sqs.get_queue_attributes(QueueUrl=intake, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    stream = f"lake-events-{suffix}"
    firehose.create_delivery_stream(
        DeliveryStreamName=stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/lake-firehose",
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": LANDING,
            "ErrorOutputPrefix": "lake/_system/firehose-errors/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},  # the smallest AWS allows
            "CompressionFormat": "UNCOMPRESSED",
        },
    )

    # A sample with every invalid kind the generator makes (incl. not UTF-8) and re-sent duplicates.
    lines = list(generate_events(400, days=2, start=START, seed=5, invalid_rate=0.12))
    decoder = EventDecoder(SchemaRegistry.from_directory())
    verdicts = [decoder.check(line) for line in lines]
    invalid_kinds = Counter(v.kind for v in verdicts if v is not None)
    assert invalid_kinds["invalid_utf8"] > 0 and len(invalid_kinds) >= 6, invalid_kinds

    # Producers: the sender function for the second half, packed (the default; the half holds every line
    # that is not UTF-8, each sent alone beside the packed ones); the real CLI for the first half, one event
    # per message.
    half = len(lines) // 2
    rest = len(lines) - half
    sent = EventSender(
        sqs, intake, rejects_path=tmp_path / "rejects.jsonl", failed_path=tmp_path / "failed.jsonl"
    ).send(lines[half:], "second-half")
    assert (sent.read, sent.sent, sent.rejected, sent.failed) == (rest, rest, 0, 0)
    assert sent.base64_encoded == sum(encode_message(line)[1] != {} for line in lines) > 0
    # Every text line went into a packed message; the base64 ones alone, without closing a pack.
    assert sent.messages == sent.packed + sent.base64_encoded and sent.messages < rest / 10
    first = tmp_path / "first-half.jsonl"
    first.write_bytes(b"".join(line + b"\n" for line in lines[:half]))
    cli_env = {k: v for k, v in os.environ.items() if not k.startswith("LAKE_")}
    send = ["events", "send", str(first), "--queue-url", intake, "--endpoint-url", moto_server]
    done = _cli([*send, "--pack-bytes", "0"], cli_env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"read {half} events; sent {half} in {half} messages (0 packed" in done.stdout
    assert "rejected 0" in done.stdout
    assert not (tmp_path / "send-rejects.jsonl").exists()

    # The event source mapping: batches of 10 to the Lambda, delete what it did not report as failed.
    monkeypatch.setenv("LAKE_FIREHOSE_STREAM", stream)
    monkeypatch.setenv("LAKE_DLQ_URL", dlq)
    monkeypatch.setenv("LAKE_AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("LAKE_SCHEMA_SOURCE", "bundled")
    monkeypatch.delenv("LAKE_VALID_QUEUE_URL", raising=False)
    monkeypatch.setattr(events_lambda, "_processor", None)  # a cold container
    invocations, duplicates, forwarded, dead_lettered = 0, 0, 0, 0
    received, packed, events = 0, 0, 0
    while True:
        answer = sqs.receive_message(
            QueueUrl=intake,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )
        messages = answer.get("Messages") or []
        if not messages:
            break
        response = events_lambda.handler(_lambda_event(messages, intake_arn), None)
        assert response == {"batchItemFailures": []}
        stats = events_lambda._processor.last_stats
        invocations += 1
        received, packed, events = received + stats.received, packed + stats.packed, events + stats.events
        duplicates += stats.duplicates
        forwarded += stats.forwarded
        dead_lettered += stats.dead_lettered
        sqs.delete_message_batch(
            QueueUrl=intake,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    assert (received, packed, events) == (sent.messages + half, sent.packed, len(lines))
    assert invocations >= received / 10
    assert forwarded + duplicates + dead_lettered == len(lines)

    # Firehose delivered under landing/events/YYYY/MM/DD/HH/ in its own layout, one object per put call.
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=LANDING)
            for o in page.get("Contents", [])]  # fmt: skip
    layout = re.compile(
        rf"{LANDING}(\d{{4}})/(\d\d)/(\d\d)/(\d\d)/{stream}-1-\1-\2-\3-\4-\d\d-\d\d-[0-9a-f-]{{36}}"
    )
    assert keys and all(layout.fullmatch(k) for k in keys), keys[:3]
    bodies = [s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys]
    assert all(body.endswith(b"\n") for body in bodies)  # the Lambda's delimiter, not Firehose's
    landed_lines = [line for body in bodies for line in body.splitlines()]
    assert len(landed_lines) == forwarded
    assert all(decoder.check(line) is None for line in landed_lines)
    # A buffered AWS object is several calls' records concatenated: it indexes as the sum of its parts.
    subjects = decoder.subjects
    joined = index_object(bodies[0] + bodies[1], "x/2026/11/20/00/joined", subjects)
    parts = Counter()
    for body in bodies[:2]:
        parts.update({(e.subject, e.day): e.count for e in index_object(body, "x", subjects).entries})
    assert {(e.subject, e.day): e.count for e in joined.entries} == dict(parts)
    assert not joined.unreadable_lines

    # The lake takes over unchanged: sensor tick, then the raw runs it requests.
    lake = LakeResource(env="s3", lake_root=f"s3://{bucket}/lake", s3_endpoint_url=moto_server)
    result = landing_events_sensor(dg.build_sensor_context(cursor=None, resources={"lake": lake}))
    assert result.run_requests
    assets = build_raw_assets(EventSourceKind(SchemaRegistry.from_directory()))
    instance = dg.DagsterInstance.ephemeral()
    for request in result.run_requests:
        run = dg.materialize(
            assets,
            selection=[request.asset_selection[0]],
            partition_key=request.partition_key,
            resources={"lake": lake},
            instance=instance,
        )
        assert run.success
    store = S3ObjectStore(f"s3://{bucket}/lake", endpoint_url=moto_server)
    raw_counts: Counter[str] = Counter()
    for key in store.list_keys("raw/events/"):
        raw_counts[key.split("/")[2]] += sum(1 for _ in fastavro.reader(io.BytesIO(store.get_bytes(key))))
    # The Lambda forwards each event_id once (re-sent duplicates are dropped by its warm-container memory).
    distinct: dict[str, str] = {}
    for line, verdict in zip(lines, verdicts, strict=True):
        if verdict is None:
            event = orjson.loads(line)
            distinct.setdefault(event["event_id"], event["event_type"])
    assert raw_counts == Counter(distinct.values())
    assert duplicates == sum(v is None for v in verdicts) - len(distinct)

    # drain-dlq (the real CLI) moves every invalid event into quarantine/events/ with the local reason.
    drain_env = {
        **cli_env,
        "LAKE_ENV": "s3",
        "LAKE_ROOT": f"s3://{bucket}/lake",
        "LAKE_S3_ENDPOINT_URL": moto_server,
    }
    done = _cli(
        ["events", "drain-dlq", "--queue-url", dlq, "--endpoint-url", moto_server, "--wait-seconds", "1"],
        drain_env,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert f"received {dead_lettered} messages" in done.stdout
    quarantine_keys = store.list_keys("quarantine/events/")
    assert quarantine_keys and all(re.search(r"/\d\d/shop-dlq-[^/]+\.jsonl$", k) for k in quarantine_keys)
    drained = [orjson.loads(r) for k in quarantine_keys for r in store.get_bytes(k).splitlines()]
    assert sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=0).get("Messages") is None

    local = LocalObjectStore(tmp_path / "local-lake")
    report = EventIntake(local, decoder, BatchLimits(max_events=1000)).ingest(iter(lines), "local")
    local_records = [
        orjson.loads(r)
        for k in local.list_keys("quarantine/events/")
        for r in local.get_bytes(k).splitlines()
    ]
    assert len(local_records) == report.quarantined == sum(invalid_kinds.values())

    def by_payload(records: list[dict[str, Any]]) -> Counter[tuple[str, str, str]]:
        return Counter((_payload_key(r), r["reason"], r["kind"]) for r in records)

    assert by_payload(drained) == by_payload(local_records)
    # Nothing lost: every event sent landed, was a dropped re-send, or is in quarantine.
    assert len(lines) == len(landed_lines) + duplicates + len(drained)
