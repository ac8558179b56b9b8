"""The events intake on AWS: a Lambda behind an SQS event source mapping.

A message carries one event, or several packed by the producer (``lake events send`` packs up to 64 KiB):
JSON lines joined by ``\\n``, marked with the message attribute ``content-type: application/x-ndjson``. For
each batch of messages the Lambda validates every event with the local intake's ``EventDecoder`` (same
schemas, same reasons), forwards valid events to a Kinesis Data Firehose stream (which delivers them to
``landing/events/`` in Firehose's key layout, the layout the local intake imitates) and sends each invalid
one to a dead-letter queue with the record ``quarantine_record`` builds for ``quarantine/events/`` locally:
an invalid event carries the same reason and record shape on both paths.

Reading a message:

* No ``content-type``: the body is one event. SQS bodies must be Unicode text, so a producer sends a line
  that is not valid UTF-8 base64-encoded with the message attribute ``content-encoding`` = ``base64``; it is
  decoded here so the validator sees the original bytes and says "not valid UTF-8" as the local intake does.
  The payload is read as the local intake reads the start of a file: a leading UTF-8 byte order mark is
  dropped, and one starting with a UTF-16/32 byte order mark is dead-lettered as ``wrong_encoding`` (the
  reason names the encoding and says to send UTF-8).
* ``content-type: application/x-ndjson`` (base64-decoded first when also marked so): the payload is read as
  the local intake (``intake.py``) reads the lines of one file. It is split on ``\\n`` only (a ``\\r``
  before it stays, JSON whitespace); blank lines are not events; a UTF-8 byte order mark opening the payload
  is dropped, one opening a later line stays part of that line (which is then invalid JSON, as locally);
  every other line is validated on its own with the same decoder, and an invalid one is dead-lettered alone,
  its record naming the message id and its 1-based ``line_number``. One difference: a payload starting with
  a UTF-16/32 byte order mark (possible only base64-encoded) is dead-lettered whole, one ``wrong_encoding``
  record, where the local intake writes one per line (splitting a UTF-16/32 text into lines is the local
  intake's code, which is not in this Lambda's zip).
* Any other ``content-type`` value, another ``content-encoding`` or a body that is not valid base64: the
  whole body is dead-lettered with the reason. A line nested too deeply is dead-lettered as
  ``too_deeply_nested`` like any other invalid event; no input can crash the batch.

Delivery rules:

* Partial batch response (the event source mapping needs ``ReportBatchItemFailures``): a message is returned
  in ``batchItemFailures`` when any of its events could not be forwarded or dead-lettered; SQS redelivers
  that whole message and deletes the rest. Nothing is acknowledged before it reached Firehose or the
  dead-letter queue; what keeps failing is moved by the source queue's own redrive policy after
  ``maxReceiveCount`` receives (``lake events drain-dlq`` keeps each line of a packed one as its own record).
* Dead letters go to their queue in ``SendMessageBatch`` calls of up to 10 (a record over the batch total
  alone), what SQS refuses retried with backoff like Firehose's records; a message whose dead letter is still
  refused is returned for retry (one round trip per ten invalid events: a packed batch of 1,970 events with a
  few percent invalid would otherwise make dozens of sequential calls).
* Valid events are packed into Firehose records of up to ``firehose_record_bytes`` (64 KiB; newline-
  terminated lines, so the delivered objects hold the same JSON lines): Firehose bills every record rounded
  up to 5 KB, so one event per record would bill a 300-byte event as 5 KB.
* Firehose's ``PutRecordBatch`` can reject single records (throttling): only those are retried, with
  exponential backoff, up to ``firehose_max_attempts`` calls per chunk; the events of a record that keeps
  failing are returned to SQS together (with every message they came from).
* Idempotent by ``event_id``: an id seen twice in one batch is forwarded once, and a bounded LRU of ids
  forwarded by this (warm) container stops an SQS redelivery from being forwarded again. A duplicate that
  still gets through (a cold container, another concurrent container, a retry after a partial failure) is
  harmless: the intermediate layer deduplicates by ``event_id`` (earliest delivery wins).
* A redelivered message's lines this container already dead-lettered are not dead-lettered again: a second
  bounded LRU remembers (message id, line number) of every dead-letter sent. Another container (a concurrent
  one, or a cold start) does not share that memory and does send the record again: the dead-letter queue then
  holds two records with the same message id, line number and payload, and ``drain-dlq`` writes both into
  ``quarantine/events/``. The data is unharmed (a quarantined event never reaches landing; replayed after a
  fix, both copies have one ``event_id`` and intermediate keeps one), but quarantine counts that line twice
  until the copy is removed. The same goes for any message SQS delivers (at least once) to two containers.

Cold start: this module imports msgspec, fastavro (through the registry) and orjson, never Dagster or PySpark;
boto3 is imported inside ``build_processor``, once per container.
"""

from __future__ import annotations

import base64
import binascii
import logging
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
from lake_assets.sources.events.sqs_wire import (
    CONTENT_ENCODING,
    CONTENT_TYPE,
    NDJSON,
    SQS_BATCH_MAX_BYTES,
    SQS_BATCH_MAX_ENTRIES,
    SQS_UNSAFE,
    message_size,
    string_attributes,
)
from lake_assets.sources.quarantine import quarantine_record

SOURCE = "lambda"
FIREHOSE_MAX_RECORDS = 500  # PutRecordBatch limits
FIREHOSE_MAX_BYTES = 4 * 1024 * 1024
SEEN_CAPACITY = 100_000  # event ids remembered per warm container (about 10 MB)
DEAD_LETTERED_CAPACITY = 100_000  # (message id, line number) of dead-letters sent (at most about 25 MB)
BACKOFF_SECONDS = 0.1  # first retry delay; doubles per attempt
BACKOFF_MAX_SECONDS = 2.0

logger = logging.getLogger(__name__)


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
    """What one invocation did; logged as one line so CloudWatch can count it.

    Messages: ``received``, ``packed`` (of them), ``failed`` (returned for retry). Events: every one of
    ``events`` is ``forwarded``, ``dead_lettered``, one of the ``duplicates`` (its ``event_id`` forwarded
    already), ``already_dead_lettered`` (a redelivered line this container dead-lettered before) or one of the
    ``failed_events`` (returned to SQS with its message). A body that cannot be read is one event.
    """

    received: int = 0
    packed: int = 0
    events: int = 0
    forwarded: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    already_dead_lettered: int = 0
    failed_events: int = 0
    blank_lines: int = 0
    failed: int = 0


# One event read from a message: its line number (0: the whole body), its bytes, why it is invalid (or None).
_Read = tuple[int, bytes, InvalidEvent | None]


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
        dead_lettered_capacity: int = DEAD_LETTERED_CAPACITY,
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
        self.dead_lettered_capacity = dead_lettered_capacity
        self._dead_lettered: OrderedDict[tuple[str, int], None] = OrderedDict()
        self.last_stats = InvocationStats()

    def process(self, event: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
        """Handle one SQS batch; returns the partial batch response (the messages SQS must retry)."""
        records = event.get("Records") or []
        stats = InvocationStats(received=len(records))
        now = self.clock()
        seen, dead_lettered = self._seen, self._dead_lettered
        failed: set[str] = set()
        batch: dict[str, _Valid] = {}
        letters: list[_DeadLetter] = []
        events = 0
        for record in records:
            message_id = record["messageId"]
            read: Sequence[_Read]
            if record.get("messageAttributes"):  # packed, base64 or something else
                read = self._read(record, stats)
            else:  # one event sent as text (no attributes): the hot path of one-event messages
                read = (self._one_event(_payload(record)),)
            for number, line, error in read:
                events += 1
                if error is not None:
                    key = (message_id, number)
                    if key in dead_lettered:  # a redelivery: its record is in the dead-letter queue
                        dead_lettered.move_to_end(key)
                        stats.already_dead_lettered += 1
                    else:
                        letters.append(_dead_letter(record, number, line, error, now))
                    continue
                event_id = _decode_event_id(line).event_id
                if event_id in batch or event_id in seen:
                    stats.duplicates += 1
                    if event_id in seen:
                        seen.move_to_end(event_id)
                    continue
                batch[event_id] = _Valid(message_id, event_id, line)

        refused = self._send_to_queue(self.settings.dlq_url, [(d.body, d.attributes) for d in letters])
        for i, letter in enumerate(letters):
            if i in refused:
                failed.add(letter.key[0])
                stats.failed_events += 1
            else:
                stats.dead_lettered += 1
                self._remember_dead_letter(letter.key)

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
        undelivered = [v.message_id for v, good in zip(valid, ok, strict=True) if not good]
        failed.update(undelivered)
        stats.events = events
        stats.forwarded = len(delivered)
        stats.failed_events += len(undelivered)
        stats.failed = len(failed)
        self.last_stats = stats
        if logger.isEnabledFor(logging.INFO):
            logger.info("intake %s", orjson.dumps(stats.__dict__).decode())
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in records if r["messageId"] in failed
            ]
        }

    def _one_event(self, payload: bytes) -> _Read:
        """A whole body as one event, judged as the local intake judges the start of a file."""
        error = self.decoder.check(payload)
        if error is not None and (bom := foreign_bom(payload)):  # looked for only once rejected
            error = wrong_encoding(bom, "event")
        return (0, payload, error)

    def _read(self, record: dict[str, Any], stats: InvocationStats) -> list[_Read]:
        """The events of one message, each with its verdict; see "Reading a message" in the module doc."""
        try:
            packed = _is_packed(record)
            payload = _payload(record)
        except InvalidEvent as bad_body:
            return [(0, (record.get("body") or "").encode("utf-8", "surrogatepass"), bad_body)]
        if not packed:
            return [self._one_event(payload)]
        stats.packed += 1
        if bom := foreign_bom(payload):
            return [(0, payload, wrong_encoding(bom, "message"))]
        lines = payload.split(b"\n")
        if not lines[-1]:  # the newline ending the last line does not start another (as in a file)
            lines.pop()
        check = self.decoder.check
        events = [
            (number, line, check(line)) for number, line in enumerate(lines, 1) if line and not line.isspace()
        ]
        stats.blank_lines += len(lines) - len(events)
        return events

    # -- dead-letter queue ------------------------------------------------------------------------------

    def _remember_dead_letter(self, key: tuple[str, int]) -> None:
        dead_lettered = self._dead_lettered
        dead_lettered[key] = None
        if len(dead_lettered) > self.dead_lettered_capacity:
            dead_lettered.popitem(last=False)

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
        """Copy events to ``valid_queue_url``; indexes (into ``delivered``) not copied."""
        return self._send_to_queue(
            self.settings.valid_queue_url, [(_sqs_text(v.line), {}) for v in delivered]
        )

    def _send_to_queue(
        self, queue_url: str, entries: list[tuple[str, dict[str, dict[str, str]]]]
    ) -> set[int]:
        """Send (body, message attributes) entries to a queue: ``SendMessageBatch`` calls of up to 10 entries
        and 256 KiB (a larger one alone with ``SendMessage``), retrying what SQS refused, with backoff, up to
        ``firehose_max_attempts`` calls; returns the indexes still not sent. The dead-letter queue and the
        optional valid queue both go through here: one round trip per ten records, not one per record."""
        sizes = [message_size(body, attributes) for body, attributes in entries]

        def send_batch(ids: list[int]) -> list[int]:
            response = self.sqs.send_message_batch(
                QueueUrl=queue_url, Entries=[_batch_entry(str(i), *entries[i]) for i in ids]
            )
            refused = {entry["Id"] for entry in response.get("Failed") or []}
            return [i for i in ids if str(i) in refused]

        def send_alone(ids: list[int]) -> list[int]:
            body, attributes = entries[ids[0]]
            self.sqs.send_message(QueueUrl=queue_url, MessageBody=body, MessageAttributes=attributes)
            return []

        failed: set[int] = set()
        small = [i for i, size in enumerate(sizes) if size <= SQS_BATCH_MAX_BYTES]
        for i in sorted(set(range(len(entries))) - set(small)):  # over a batch's total: alone
            failed.update(self._left_after_retries(queue_url, [i], send_alone))
        for chunk in _chunks(small, sizes, SQS_BATCH_MAX_ENTRIES, SQS_BATCH_MAX_BYTES):
            failed.update(self._left_after_retries(queue_url, chunk, send_batch))
        return failed

    def _left_after_retries(
        self, queue_url: str, ids: list[int], send: Callable[[list[int]], list[int]]
    ) -> list[int]:
        """Call ``send`` (which returns the ids SQS refused) until nothing is left or the attempts run out."""
        remaining = ids
        for attempt in range(1, self.settings.firehose_max_attempts + 1):
            if attempt > 1:
                self.sleep(_backoff(attempt - 1))
            try:
                remaining = send(remaining)
            except Exception as exc:  # botocore raises many types; the whole call is retried
                logger.warning(
                    "%s: send attempt %d of %d entries failed: %s", queue_url, attempt, len(ids), exc
                )
                continue
            if not remaining:
                break
        return remaining

    def _remember(self, event_id: str) -> None:
        seen = self._seen
        seen[event_id] = None
        if len(seen) > self.seen_capacity:
            seen.popitem(last=False)


def _is_packed(record: dict[str, Any]) -> bool:
    """Whether the message holds packed JSON lines; InvalidEvent for a content-type it cannot read."""
    attribute = (record.get("messageAttributes") or {}).get(CONTENT_TYPE)
    if attribute is None:
        return False
    value = str(attribute.get("stringValue", ""))
    if value.strip().lower() == NDJSON:
        return True
    raise InvalidEvent(f"unsupported {CONTENT_TYPE} {value[:40]!r} (only {NDJSON})", INVALID_VALUE)


@dataclass(slots=True)
class _DeadLetter:
    key: tuple[str, int]  # (message id, line number; 0: the whole body)
    body: str
    attributes: dict[str, dict[str, str]]  # SendMessage's form


def _dead_letter(
    record: dict[str, Any], number: int, line: bytes, error: InvalidEvent, now: float
) -> _DeadLetter:
    """The dead-letter message of one invalid event (line ``number`` of a packed message, 0: the whole body):
    the quarantine record the local intake would write, and its reason as attributes."""
    message_id = record["messageId"]
    extra = {"message_id": message_id, "event_source_arn": record.get("eventSourceARN")}
    body = quarantine_record(
        line, error.reason, error.kind, SOURCE, now, line_number=number or None, extra=extra
    ).decode("utf-8")
    if SQS_UNSAFE.search(body):  # e.g. U+FFFF in a base64-sent payload: escape it as \\uffff
        body = _ascii_json(body)
    attributes = {
        "reason": SQS_UNSAFE.sub("?", error.reason),
        "kind": error.kind,
        "source": SOURCE,
        "message_id": message_id,
    }
    if number:
        attributes["line_number"] = str(number)
    return _DeadLetter((message_id, number), body, string_attributes(attributes))


def _batch_entry(entry_id: str, body: str, attributes: dict[str, dict[str, str]]) -> dict[str, Any]:
    entry: dict[str, Any] = {"Id": entry_id, "MessageBody": body}
    if attributes:
        entry["MessageAttributes"] = attributes
    return entry


def _payload(record: dict[str, Any]) -> bytes:
    """The original bytes: the body, base64-decoded when the producer said so (leading UTF-8 BOM dropped)."""
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
    return _ascii_json(text) if SQS_UNSAFE.search(text) else text


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
