"""The events intake on AWS: a Lambda behind an SQS event source mapping.

Producers send one event per SQS message. For each batch of messages the Lambda validates every event with
the local intake's ``EventDecoder`` (same schemas, same reasons), forwards valid events to a Kinesis Data
Firehose stream (which delivers them to ``landing/events/`` in Firehose's key layout, the layout the local
intake imitates) and sends invalid ones to a dead-letter queue with the record ``quarantine_record`` builds
for ``quarantine/events/`` locally: an invalid event carries the same reason and record shape on both paths.

Delivery rules:

* Partial batch response (the event source mapping needs ``ReportBatchItemFailures``): only messages whose
  event could not be forwarded or dead-lettered are returned in ``batchItemFailures``; SQS retries those and
  deletes the rest. Nothing is acknowledged before it reached Firehose or the dead-letter queue; what keeps
  failing is moved by the source queue's own redrive policy after ``maxReceiveCount`` receives.
* Valid events are packed into Firehose records of up to ``firehose_record_bytes`` (64 KiB; newline-
  terminated lines, so the delivered objects hold the same JSON lines): Firehose bills every record rounded
  up to 5 KB, so one event per record would bill a 300-byte event as 5 KB.
* Firehose's ``PutRecordBatch`` can reject single records (throttling): only those are retried, with
  exponential backoff, up to ``firehose_max_attempts`` calls per chunk; the events of a record that keeps
  failing are returned to SQS together.
* Idempotent by ``event_id``: an id seen twice in one batch is forwarded once, and a bounded LRU of ids
  forwarded by this (warm) container stops an SQS redelivery from being forwarded again. A duplicate that
  still gets through (a cold container, another concurrent container, a retry after a partial failure) is
  harmless: the intermediate layer deduplicates by ``event_id`` (earliest delivery wins).
* A body is the event's JSON text. SQS bodies must be Unicode text, so a producer sends a line that is not
  valid UTF-8 base64-encoded with the message attribute ``content-encoding`` = ``base64``; it is decoded
  here so the validator sees the original bytes and says "not valid UTF-8" as the local intake does.
* Each payload is an input of its own, read as the local intake reads the start of a file: a leading UTF-8
  byte order mark is dropped, and one starting with a UTF-16/32 byte order mark is dead-lettered as
  ``wrong_encoding`` (the reason names the encoding and says to send UTF-8). A line nested too deeply is
  dead-lettered as ``too_deeply_nested`` like any other invalid event; no input can crash the batch.

Cold start: this module imports msgspec, fastavro (through the registry) and orjson, never Dagster or PySpark;
boto3 is imported inside ``build_processor``, once per container.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from lake_assets.registry.validation import (
    INVALID_VALUE,
    UTF8_BOM,
    EventDecoder,
    InvalidEvent,
    foreign_bom,
    wrong_encoding,
)
from lake_assets.settings import IntakeLambdaSettings, load_lambda_settings
from lake_assets.sources.quarantine import quarantine_record

SOURCE = "lambda"
CONTENT_ENCODING = "content-encoding"
FIREHOSE_MAX_RECORDS = 500  # PutRecordBatch limits
FIREHOSE_MAX_BYTES = 4 * 1024 * 1024
SQS_BATCH_MAX_ENTRIES = 10  # SendMessageBatch limits (256 KiB: the classic total, accepted everywhere)
SQS_BATCH_MAX_BYTES = 256 * 1024
SEEN_CAPACITY = 100_000  # event ids remembered per warm container (about 10 MB)
BACKOFF_SECONDS = 0.1  # first retry delay; doubles per attempt
BACKOFF_MAX_SECONDS = 2.0

logger = logging.getLogger(__name__)

# Characters an SQS message body or attribute may hold (anything else is rejected by SendMessage).
_SQS_UNSAFE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _EventId(msgspec.Struct):
    """Reads only ``event_id`` from an event already validated (unknown fields skipped in C)."""

    event_id: str


_decode_event_id = msgspec.json.Decoder(_EventId).decode


@dataclass(slots=True)
class _Valid:
    message_id: str
    event_id: str
    line: bytes


@dataclass
class InvocationStats:
    """What one invocation did; logged as one line so CloudWatch can count it."""

    received: int = 0
    forwarded: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    failed: int = 0


class IntakeProcessor:
    """Validates a batch of SQS messages and routes each event to Firehose or the dead-letter queue.

    ``firehose`` and ``sqs`` are boto3 clients (or anything with the same methods); ``sleep`` is injectable so
    backoff costs no time in tests. ``clock`` stamps ``received_at`` in dead-letter records.
    """

    def __init__(
        self,
        decoder: EventDecoder,
        firehose: Any,
        sqs: Any,
        settings: IntakeLambdaSettings,
        sleep: Callable[[float], None] = time.sleep,
        *,
        clock: Callable[[], float] = time.time,
        seen_capacity: int = SEEN_CAPACITY,
    ) -> None:
        if settings.firehose_max_attempts < 1:
            raise ValueError("firehose_max_attempts must be at least 1")
        self.decoder = decoder
        self.firehose = firehose
        self.sqs = sqs
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.seen_capacity = seen_capacity
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.last_stats = InvocationStats()

    def process(self, event: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
        """Handle one SQS batch; returns the partial batch response (the messages SQS must retry)."""
        records = event.get("Records") or []
        stats = InvocationStats(received=len(records))
        now = self.clock()
        check = self.decoder.check
        failed: set[str] = set()
        batch: dict[str, _Valid] = {}
        for record in records:
            message_id = record["messageId"]
            try:
                line = _payload(record)
                error = check(line)
                if error is not None and (bom := foreign_bom(line)):  # looked for only once rejected
                    error = wrong_encoding(bom, "event")
            except InvalidEvent as bad_body:
                line, error = record.get("body", "").encode("utf-8", "surrogatepass"), bad_body
            if error is not None:
                if self._dead_letter(record, line, error, now):
                    stats.dead_lettered += 1
                else:
                    failed.add(message_id)
                continue
            event_id = _decode_event_id(line).event_id
            if event_id in batch or event_id in self._seen:
                stats.duplicates += 1
                if event_id in self._seen:
                    self._seen.move_to_end(event_id)
                continue
            batch[event_id] = _Valid(message_id, event_id, line)

        valid = list(batch.values())
        ok = [True] * len(valid)
        for i in self._to_firehose(valid):
            ok[i] = False
        if self.settings.valid_queue_url:
            copied = [i for i in range(len(valid)) if ok[i]]
            for j in self._to_valid_queue([valid[i] for i in copied]):
                ok[copied[j]] = False
        delivered = [v for v, good in zip(valid, ok, strict=True) if good]
        for item in delivered:
            self._remember(item.event_id)
        failed.update(v.message_id for v, good in zip(valid, ok, strict=True) if not good)
        stats.forwarded = len(delivered)
        stats.failed = len(failed)
        self.last_stats = stats
        if logger.isEnabledFor(logging.INFO):
            logger.info("intake %s", orjson.dumps(stats.__dict__).decode())
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in records if r["messageId"] in failed
            ]
        }

    # -- dead-letter queue ------------------------------------------------------------------------------

    def _dead_letter(self, record: dict[str, Any], line: bytes, error: InvalidEvent, now: float) -> bool:
        """Send one invalid event to the dead-letter queue; False if SQS did not take it (retry later)."""
        message_id = record["messageId"]
        extra = {"message_id": message_id, "event_source_arn": record.get("eventSourceARN")}
        body = quarantine_record(line, error.reason, error.kind, SOURCE, now, extra=extra).decode("utf-8")
        if _SQS_UNSAFE.search(body):  # e.g. U+FFFF in a base64-sent payload: escape it as \\uffff
            body = _ascii_json(body)
        attributes = {
            "reason": _SQS_UNSAFE.sub("?", error.reason),
            "kind": error.kind,
            "source": SOURCE,
            "message_id": message_id,
        }
        try:
            self.sqs.send_message(
                QueueUrl=self.settings.dlq_url,
                MessageBody=body,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
                },
            )
        except Exception as exc:  # botocore raises many types; any failure means "retry this message"
            logger.warning("dead-letter queue refused message %s (%s): %s", message_id, error.kind, exc)
            return False
        return True

    # -- Firehose -------------------------------------------------------------------------------------

    def _to_firehose(self, valid: list[_Valid]) -> set[int]:
        """Put every event; the indexes (into ``valid``) of those still failed after all attempts.

        Events travel packed into records of up to ``firehose_record_bytes`` (each line newline-terminated,
        so the objects Firehose writes hold the same JSON lines); a record Firehose rejects is retried whole,
        and its events are returned to SQS together when it keeps failing."""
        failed: set[int] = set()
        records = _pack([len(v.line) + 1 for v in valid], self.settings.firehose_record_bytes)
        sizes = [sum(len(valid[i].line) + 1 for i in record) for record in records]
        for chunk in _chunks(range(len(records)), sizes, FIREHOSE_MAX_RECORDS, FIREHOSE_MAX_BYTES):
            remaining = list(chunk)
            for attempt in range(1, self.settings.firehose_max_attempts + 1):
                if attempt > 1:
                    self.sleep(_backoff(attempt - 1))
                remaining = self._put_firehose(valid, records, remaining, attempt)
                if not remaining:
                    break
            if remaining:
                logger.warning(
                    "firehose %s: %d records still failed after %d attempts",
                    self.settings.firehose_stream,
                    len(remaining),
                    self.settings.firehose_max_attempts,
                )
            failed.update(i for r in remaining for i in records[r])
        return failed

    def _put_firehose(
        self, valid: list[_Valid], records: list[list[int]], indexes: list[int], attempt: int
    ) -> list[int]:
        """One PutRecordBatch call of the records ``indexes``; returns those Firehose did not accept."""
        try:
            response = self.firehose.put_record_batch(
                DeliveryStreamName=self.settings.firehose_stream,
                Records=[{"Data": b"".join(valid[i].line + b"\n" for i in records[r])} for r in indexes],
            )
        except Exception as exc:  # the whole call failed (throttled, network): every record is retried
            logger.warning("firehose put_record_batch attempt %d failed: %s", attempt, exc)
            return indexes
        if not response.get("FailedPutCount"):
            return []
        answers = response.get("RequestResponses") or []
        if len(answers) != len(indexes):  # cannot tell which failed: retry all (duplicates are harmless)
            return indexes
        return [i for i, answer in zip(indexes, answers, strict=True) if answer.get("ErrorCode")]

    # -- optional copy of valid events to a queue ------------------------------------------------------

    def _to_valid_queue(self, delivered: list[_Valid]) -> set[int]:
        """Copy events to ``valid_queue_url`` in batches of 10; indexes (into ``delivered``) not copied."""
        failed: set[int] = set()
        sizes = [len(v.line) for v in delivered]
        for chunk in _chunks(range(len(delivered)), sizes, SQS_BATCH_MAX_ENTRIES, SQS_BATCH_MAX_BYTES):
            remaining = list(chunk)
            for attempt in range(1, self.settings.firehose_max_attempts + 1):
                if attempt > 1:
                    self.sleep(_backoff(attempt - 1))
                try:
                    response = self.sqs.send_message_batch(
                        QueueUrl=self.settings.valid_queue_url,
                        Entries=[
                            {"Id": str(i), "MessageBody": _sqs_text(delivered[i].line)} for i in remaining
                        ],
                    )
                except Exception as exc:
                    logger.warning("valid queue send_message_batch attempt %d failed: %s", attempt, exc)
                    continue
                refused = {entry["Id"] for entry in response.get("Failed") or []}
                remaining = [i for i in remaining if str(i) in refused]
                if not remaining:
                    break
            failed.update(remaining)
        return failed

    def _remember(self, event_id: str) -> None:
        seen = self._seen
        seen[event_id] = None
        if len(seen) > self.seen_capacity:
            seen.popitem(last=False)


def _payload(record: dict[str, Any]) -> bytes:
    """The event's original bytes: the body, base64-decoded when the producer said so (UTF-8 BOM dropped)."""
    body: str = record.get("body") or ""
    attribute = (record.get("messageAttributes") or {}).get(CONTENT_ENCODING)
    if attribute is None:
        # SQS only carries valid Unicode; surrogatepass keeps even a malformed test input as bytes to reject.
        return body.encode("utf-8", "surrogatepass").removeprefix(UTF8_BOM)
    encoding = str(attribute.get("stringValue", "")).lower()
    if encoding != "base64":
        raise InvalidEvent(f"unsupported {CONTENT_ENCODING} {encoding[:40]!r} (only base64)", INVALID_VALUE)
    try:
        return base64.b64decode(body, validate=True).removeprefix(UTF8_BOM)
    except (binascii.Error, ValueError):
        raise InvalidEvent(f"body is not valid base64 ({CONTENT_ENCODING}: base64)", INVALID_VALUE) from None


def _sqs_text(line: bytes) -> str:
    """A valid event as an SQS body: unchanged unless it holds characters SQS refuses (then escaped)."""
    text = line.decode("utf-8")
    return _ascii_json(text) if _SQS_UNSAFE.search(text) else text


def _ascii_json(body: str) -> str:
    import json  # rare path: only for characters SQS refuses

    return json.dumps(orjson.loads(body), ensure_ascii=True, separators=(",", ":"))


def _backoff(retry: int) -> float:
    return min(BACKOFF_MAX_SECONDS, BACKOFF_SECONDS * 2 ** (retry - 1))


def _pack(sizes: list[int], limit: int) -> list[list[int]]:
    """Consecutive items grouped into records of at most ``limit`` bytes (larger items alone; 0: one each)."""
    records: list[list[int]] = []
    total = 0
    for i, size in enumerate(sizes):
        if records and limit > 0 and total + size <= limit:
            records[-1].append(i)
            total += size
        else:
            records.append([i])
            total = size
    return records


def _chunks(indexes: Sequence[int], sizes: list[int], max_count: int, max_bytes: int) -> Iterator[list[int]]:
    """Consecutive runs of indexes holding at most ``max_count`` items and ``max_bytes`` bytes."""
    chunk: list[int] = []
    total = 0
    for i in indexes:
        if chunk and (len(chunk) == max_count or total + sizes[i] > max_bytes):
            yield chunk
            chunk, total = [], 0
        chunk.append(i)
        total += sizes[i]
    if chunk:
        yield chunk


def build_processor(settings: IntakeLambdaSettings | None = None) -> IntakeProcessor:
    """The processor for this container: settings from the environment, boto3 clients, the registry."""
    import boto3
    from botocore.config import Config

    from lake_assets.registry.registry import SchemaRegistry

    settings = settings or load_lambda_settings()
    session = boto3.session.Session(region_name=settings.region)
    options: dict[str, Any] = {
        "config": Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
    }
    if settings.endpoint_url:
        options["endpoint_url"] = settings.endpoint_url
    if settings.schema_source == "glue":
        from lake_assets.registry.glue import registry_from_glue

        registry = registry_from_glue(session.client("glue", **options), settings.glue_registry)
    else:
        registry = SchemaRegistry.from_directory()
    decoder = EventDecoder(registry, max_event_bytes=settings.max_event_bytes)
    return IntakeProcessor(
        decoder, session.client("firehose", **options), session.client("sqs", **options), settings
    )


_processor: IntakeProcessor | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """Lambda entry point (``lake_assets.sources.events.lambda_intake.handler``); one processor per
    container."""
    global _processor
    if _processor is None:
        _processor = build_processor()
    return _processor.process(event)
