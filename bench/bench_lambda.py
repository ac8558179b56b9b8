"""The events intake Lambda: throughput, cold-start import time and zip size, against the local intake.

Throughput runs ``IntakeProcessor.process`` over the sample stream (about 3% invalid, 1.5% duplicates) cut
into SQS batches of 10 and of 10,000 messages, shaped as the SQS event source mapping sends them. Firehose
and SQS are fake clients that accept everything at no cost, so the figure is this code's own cost (decode,
validate, dedupe, build requests and dead-letter records), not AWS's latency; on AWS each PutRecordBatch and
SendMessage adds a network round trip. The local intake (``EventIntake`` validating and landing into a
temporary folder) runs on the same lines for comparison. One core, as a small Lambda has.

Packing: the same sample events (``--packed-events``, 20,000) sent by ``EventSender`` one event per message
(``pack_bytes=0``, the behaviour before packing) and packed into messages of up to 64 KiB (the default),
through an in-memory queue that records every ``SendMessageBatch``. Counted for both: messages, calls, the
SQS requests billed (each 64 KiB of a call's payload is one request: the send, the event source mapping's
receive of 10 messages and one delete per batch), Lambda invocations (batches of 10 messages), and the
Firehose records the handler puts with the bytes Firehose bills (each record rounded up to 5 KB). Then the
handler's events/s on those packed batches against the one-event batches, in the same run.

Cold start: wall time of a fresh ``python -c "import ..."`` (best of 5, minus an empty interpreter's start),
the module's cumulative ``-X importtime``, and import plus ``build_processor`` (settings, boto3 clients,
bundled registry, compiled validator), i.e. everything a first invocation pays before its first event.

    .venv/bin/python bench/bench_lambda.py [--events 100000] [--packed-events 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lake_assets.deploy.lambda_package import build_lambda_zip
from lake_assets.registry import SchemaRegistry
from lake_assets.registry.validation import EventDecoder
from lake_assets.samples.events import generate_events
from lake_assets.settings import BatchLimits, IntakeLambdaSettings
from lake_assets.sources.events.intake import EventIntake
from lake_assets.sources.events.lambda_intake import IntakeProcessor
from lake_assets.sources.events.sqs import DEFAULT_PACK_BYTES, EventSender, encode_message, message_size
from lake_assets.storage.object_store import LocalObjectStore

MODULE = "lake_assets.sources.events.lambda_intake"
SETTINGS = IntakeLambdaSettings(firehose_stream="bench", dlq_url="https://sqs/dlq", region="us-east-1")
SQS_CHUNK = 64 * 1024  # SQS bills each 64 KiB of a request's payload as one request
FIREHOSE_UNIT = 5 * 1024  # Firehose bills each record rounded up to 5 KB
MAPPING_BATCH = 10  # the event source mapping's batch size (intake_batch_size)


class AcceptingFirehose:
    """Takes every record instantly (no AWS), so only the handler's own work is timed."""

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:  # noqa: N803
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "r"}] * len(Records)}


class AcceptingSqs:
    def send_message(self, **_: Any) -> dict[str, Any]:
        return {"MessageId": "m"}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


class CountingFirehose(AcceptingFirehose):
    """Accepts every record and counts records and the bytes Firehose bills (each rounded up to 5 KB)."""

    def __init__(self) -> None:
        self.records = 0
        self.billed_bytes = 0

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:  # noqa: N803
        self.records += len(Records)
        self.billed_bytes += sum(math.ceil(len(r["Data"]) / FIREHOSE_UNIT) * FIREHOSE_UNIT for r in Records)
        return super().put_record_batch(DeliveryStreamName=DeliveryStreamName, Records=Records)


class RecordingQueue:
    """An intake queue in memory: keeps every entry ``EventSender`` sends, in order, and every call's size."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.calls: list[int] = []  # payload bytes of each SendMessageBatch call

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.entries.extend(Entries)
        self.calls.append(sum(entry_size(e) for e in Entries))
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def sqs_records(lines: list[bytes]) -> list[dict[str, Any]]:
    """Lines as SQS records; a line that is not UTF-8 is sent base64-encoded, as ``lake events send`` does."""
    records = []
    for n, line in enumerate(lines):
        try:
            body, attributes = line.decode("utf-8"), {}
        except UnicodeDecodeError:
            body = base64.b64encode(line).decode("ascii")
            attributes = {"content-encoding": {"stringValue": "base64", "dataType": "String"}}
        records.append(sqs_record(n, body, attributes))
    return records


def sqs_record(n: int, body: str, attributes: dict[str, dict[str, str]]) -> dict[str, Any]:
    """One message as the event source mapping hands it to the Lambda (attributes in its spelling)."""
    return {
        "messageId": f"m-{n}",
        "receiptHandle": f"h-{n}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795561308497"},
        "messageAttributes": attributes,
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:lake-events-in",
        "awsRegion": "us-east-1",
    }


def entry_size(entry: dict[str, Any]) -> int:
    return message_size(entry["MessageBody"], entry.get("MessageAttributes") or {})


def records_from_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sent entries as the event source mapping hands them to the Lambda (attributes in its spelling)."""
    records: list[dict[str, Any]] = []
    for n, entry in enumerate(entries):
        attributes = {
            name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
            for name, value in (entry.get("MessageAttributes") or {}).items()
        }
        records.append(sqs_record(n, entry["MessageBody"], attributes))
    return records


def sqs_requests(queue: RecordingQueue) -> int:
    """Requests SQS bills for sending, receiving (batches of 10) and deleting (one call per batch)."""
    sizes = [entry_size(e) for e in queue.entries]
    sends = sum(max(1, math.ceil(call / SQS_CHUNK)) for call in queue.calls)
    batches = [sizes[i : i + MAPPING_BATCH] for i in range(0, len(sizes), MAPPING_BATCH)]
    receives = sum(max(1, math.ceil(sum(batch) / SQS_CHUNK)) for batch in batches)
    return sends + receives + len(batches)


def send_through(lines: list[bytes], pack_bytes: int) -> tuple[RecordingQueue, int]:
    """The queue after sending ``lines``, and how many events it holds (lines over 256 KiB are rejected)."""
    queue = RecordingQueue()
    sender = EventSender(
        queue,
        "bench",
        max_message_bytes=256 * 1024,  # the intake queue's limit as deployed (LAKE_MAX_EVENT_BYTES)
        pack_bytes=pack_bytes,
        rejects_path=os.devnull,
        failed_path=os.devnull,
    )
    report = sender.send(lines, "bench")
    assert report.sent + report.rejected == len(lines) and report.messages == len(queue.entries)
    return queue, report.sent


def firehose_counts(decoder: EventDecoder, records: list[dict[str, Any]]) -> CountingFirehose:
    firehose = CountingFirehose()
    processor = IntakeProcessor(decoder, firehose, AcceptingSqs(), SETTINGS)
    for start in range(0, len(records), MAPPING_BATCH):
        assert not processor.process({"Records": records[start : start + MAPPING_BATCH]})["batchItemFailures"]
    return firehose


def compare_packing(decoder: EventDecoder, events: int, repeat: int) -> None:
    """Messages, calls, requests, invocations, Firehose records, handler speed: packed vs one per message."""
    lines = list(generate_events(events))
    rows: dict[str, list[float]] = {}
    for pack_bytes in (0, DEFAULT_PACK_BYTES):
        queue, sent = send_through(lines, pack_bytes)
        records = records_from_entries(queue.entries)
        invocations = math.ceil(len(records) / MAPPING_BATCH)
        firehose = firehose_counts(decoder, records)
        seconds = best_of(repeat, lambda r=records: run_handler(decoder, r, MAPPING_BATCH))
        for name, value in (
            ("SQS messages", len(queue.entries)),
            ("SendMessageBatch calls", len(queue.calls)),
            ("SQS requests billed (send + receive + delete)", sqs_requests(queue)),
            ("Lambda invocations (10 messages each)", invocations),
            ("Firehose records", firehose.records),
            ("Firehose MB billed (5 KB a record)", firehose.billed_bytes / 1e6),
            ("events per message", sent / len(queue.entries)),
            ("bytes per message", sum(entry_size(e) for e in queue.entries) / len(queue.entries)),
            ("messages per SendMessageBatch call", len(queue.entries) / len(queue.calls)),
            ("handler ms per invocation (one core)", seconds / invocations * 1000),
            ("handler events/s (one core)", sent / seconds),
        ):
            rows.setdefault(name, []).append(value)
    data_mb = sum(len(line) + 1 for line in lines) / 1e6
    print(
        f"Packing: {len(lines):,} sample events ({data_mb:.2f} MB of JSON lines; {len(lines) - sent} over "
        "256 KiB rejected by the sender), batches of 10 messages"
    )
    print(f"{'':46} {'one/message':>12} {'packed 64 KiB':>14}  ratio")
    for name, (off, on) in rows.items():
        ratio = f"{off / on:,.1f}x fewer" if off > on else f"{on / off:,.2f}x more"
        print(f"{name:46} {off:>12,.2f} {on:>14,.2f}  {ratio}")
    text = [line for line in lines if not encode_message(line)[1]]
    queue, sent = send_through(text, DEFAULT_PACK_BYTES)
    print(
        f"packed, without the {len(lines) - len(text)} lines sent alone base64: "
        f"{sent / len(queue.entries):.1f} events, "
        f"{sum(entry_size(e) for e in queue.entries) / len(queue.entries):,.0f} bytes per message"
    )


def run_handler(decoder: EventDecoder, records: list[dict[str, Any]], batch_size: int) -> None:
    processor = IntakeProcessor(decoder, AcceptingFirehose(), AcceptingSqs(), SETTINGS)  # a fresh container
    for start in range(0, len(records), batch_size):
        response = processor.process({"Records": records[start : start + batch_size]})
        assert not response["batchItemFailures"]


def run_local(decoder: EventDecoder, lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as root:
        EventIntake(LocalObjectStore(root), decoder, BatchLimits()).ingest(lines, "bench")


def fresh_process_seconds(code: str, repeat: int = 5, env: dict[str, str] | None = None) -> float:
    return best_of(
        repeat, lambda: subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    )


def importtime_ms() -> float:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {MODULE}"],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in result.stderr.splitlines() if line.rstrip().endswith(f"| {MODULE}"))
    return int(line.split("|")[1]) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--packed-events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    # Cold start first, before this process pins itself to one core.
    empty = fresh_process_seconds("pass")
    imported = fresh_process_seconds(f"import {MODULE}")
    cold_env = {
        **os.environ,
        "LAKE_FIREHOSE_STREAM": "bench",
        "LAKE_DLQ_URL": "http://127.0.0.1:9/dlq",
        "LAKE_AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    built = fresh_process_seconds(f"import {MODULE} as m; m.build_processor()", env=cold_env)
    with tempfile.TemporaryDirectory() as folder:
        package = build_lambda_zip(Path(folder) / "events_lambda.zip")

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    lines = list(generate_events(args.events))
    records = sqs_records(lines)
    decoder = EventDecoder(SchemaRegistry.from_directory())

    print(f"{len(lines):,} sample events, Python {platform.python_version()}, one core, fake AWS clients")
    print(f"{'path':44} {'events/s':>12}")
    for batch_size in (10, 10_000):
        seconds = best_of(args.repeat, lambda b=batch_size: run_handler(decoder, records, b))
        print(f"{f'Lambda handler, batches of {batch_size:,}':44} {len(lines) / seconds:>12,.0f}")
    seconds = best_of(args.repeat, lambda: run_local(decoder, lines))
    print(f"{'local intake (validate + land to a folder)':44} {len(lines) / seconds:>12,.0f}")
    print()
    compare_packing(decoder, args.packed_events, args.repeat)
    print()
    extra_ms, empty_ms = (imported - empty) * 1000, empty * 1000
    print(f"import {MODULE}: {extra_ms:.0f} ms over an empty interpreter ({empty_ms:.0f} ms), "
          f"{importtime_ms():.0f} ms by -X importtime")  # fmt: skip
    print(f"import + build_processor (boto3 clients, registry, validator): {(built - empty) * 1000:.0f} ms")
    print(
        f"deployment zip: {package.size_bytes / 1e6:.2f} MB ({len(package.files)} files), "
        f"sha256 {package.sha256}"
    )


if __name__ == "__main__":
    main()
