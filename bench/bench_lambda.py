"""The events intake Lambda: throughput, cold-start import time and zip size, against the local intake.

Throughput runs ``IntakeProcessor.process`` over the sample stream (about 3% invalid, 1.5% duplicates) cut
into SQS batches of 10 and of 10,000 messages, shaped as the SQS event source mapping sends them. Firehose
and SQS are fake clients that accept everything at no cost, so the figure is this code's own cost (decode,
validate, dedupe, build requests and dead-letter records), not AWS's latency; on AWS each PutRecordBatch and
SendMessage adds a network round trip. The local intake (``EventIntake`` validating and landing into a
temporary folder) runs on the same lines for comparison. One core, as a small Lambda has.

Cold start: wall time of a fresh ``python -c "import ..."`` (best of 5, minus an empty interpreter's start),
the module's cumulative ``-X importtime``, and import plus ``build_processor`` (settings, boto3 clients,
bundled registry, compiled validator), i.e. everything a first invocation pays before its first event.

    .venv/bin/python bench/bench_lambda.py [--events 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import base64
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
from lake_assets.storage.object_store import LocalObjectStore

MODULE = "lake_assets.sources.events.lambda_intake"
SETTINGS = IntakeLambdaSettings(firehose_stream="bench", dlq_url="https://sqs/dlq", region="us-east-1")


class AcceptingFirehose:
    """Takes every record instantly (no AWS), so only the handler's own work is timed."""

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:  # noqa: N803
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "r"}] * len(Records)}


class AcceptingSqs:
    def send_message(self, **_: Any) -> dict[str, Any]:
        return {"MessageId": "m"}


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
        records.append(
            {
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
        )
    return records


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
