"""Events on AWS, the two ends the lake's operators run: send JSON lines to the intake queue, drain the DLQ.

``EventSender`` is a producer for the AWS intake (SQS -> validating Lambda -> Firehose ->
``landing/events/``). Consecutive lines are packed into one message, joined by ``\\n``, up to ``pack_bytes``
(64 KiB: SQS bills each 64 KiB of a payload as one request, so a message of 200 events costs what one event
alone did) and never over the queue's maximum message size; a message of two or more lines carries the
attribute ``content-type: application/x-ndjson`` so the Lambda splits it. A message of one line carries none,
exactly as before packing, so any Lambda version reads it. ``pack_bytes=0`` sends one line per message.
Messages go out with ``SendMessageBatch`` in batches of 10 under 256 KiB, and only the entries SQS refused are
retried, with backoff. A line is packed when it is valid Unicode text for SQS; otherwise it is sent alone,
base64, with the message attribute ``content-encoding: base64`` (the Lambda decodes it, so the validator sees
the original bytes). A line SQS can never accept (over the queue's maximum message size) is not dropped: it
is written to a rejects file as the quarantine record the validator would produce (kind ``too_large``). An
entry SQS still refuses after the retries puts every line of its message in the failed file. The report
counts events and reconciles: ``read = sent + rejected + failed``; it also counts the messages sent.

The Lambda reads a packed body as the local intake reads a file: a UTF-8 byte order mark opening it is
dropped, one opening any later line stays and makes that line invalid. So that a line's verdict never
depends on where a message happens to start, a line that starts with the mark but is not the input's first
line is never put first in a packed message: a blank line (skipped by the Lambda) goes before it. With
``pack_bytes=0`` such a line is sent alone as before (the Lambda drops the mark of a one-event message).

``DlqDrainer`` moves the dead-letter queue into the lake's ``quarantine/events/``: message bodies are already
quarantine records; they are written as one object per batch and the messages are deleted only after the
object is written, so a failed write loses nothing (the messages reappear after their visibility timeout).
Delivery is at least once: a message whose delete fails is written again next time. A packed message the
intake queue's redrive policy moved here is unpacked: one ``undelivered`` record per line, so each event can
be replayed on its own.

No Dagster import: the CLI and tests call these directly.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from lake_assets.registry.validation import UTF8_BOM
from lake_assets.sources.events.intake import QUARANTINE_PREFIX
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
from lake_assets.storage.object_store import ObjectStore

DEFAULT_PACK_BYTES = 64 * 1024  # SQS bills each 64 KiB of a message's payload as one request
SQS_DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024  # assumed when the queue's MaximumMessageSize cannot be read
DEFAULT_MAX_EVENT_BYTES = 256 * 1024
TOO_LARGE = "too_large"  # the validator's kind (lake_assets.registry.validation.TOO_LARGE)
UNDELIVERED = "undelivered"
SENDER_SOURCE = "lake events send"
_BATCH_TOO_LONG = {"BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong"}


def too_large_reason(size: int, limit: int) -> str:
    """The validator's reason text for an oversize event (``EventDecoder``), so both paths say the same."""
    return f"event is {size} bytes, over the {limit}-byte limit"


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def _error_code(exc: Exception) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) if isinstance(exc, ClientError) else ""


# ---------------------------------------------------------------------------------------------------------
# Sending


@dataclass
class SendReport:
    """What one send did; every non-blank line is sent, rejected (too large) or failed (after retries).

    ``read``, ``sent``, ``rejected`` and ``failed`` count events (lines); ``messages`` counts the SQS messages
    that carried the ``sent`` events, ``packed`` those of them holding two or more lines.
    """

    source: str
    read: int = 0
    sent: int = 0
    rejected: int = 0
    failed: int = 0
    messages: int = 0
    packed: int = 0
    skipped_blank: int = 0
    base64_encoded: int = 0
    calls: int = 0
    retried_entries: int = 0
    rejects_path: Path | None = None
    failed_path: Path | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def reconciles(self) -> bool:
        return self.read == self.sent + self.rejected + self.failed

    def summary(self) -> str:
        text = (
            f"{self.source}: read {self.read} events; sent {self.sent} in {self.messages} messages "
            f"({self.packed} packed, {self.base64_encoded} base64), {self.calls} SendMessageBatch calls "
            f"({self.retried_entries} entries retried); rejected {self.rejected}"
        )
        if self.rejected:
            text += f" (too large for SQS, written to {self.rejects_path})"
        text += f"; failed {self.failed}"
        if self.failed:
            text += f" (written to {self.failed_path}; first error: {self.errors[0] if self.errors else '?'})"
        if self.skipped_blank:
            text += f"; skipped {self.skipped_blank} blank lines"
        return text


@dataclass(slots=True)
class _Message:
    lines: list[tuple[int, bytes]]  # (line number in the input, line) of every event it carries
    body: str
    attributes: dict[str, dict[str, str]]
    size: int

    def entry(self, entry_id: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"Id": entry_id, "MessageBody": self.body}
        if self.attributes:
            entry["MessageAttributes"] = self.attributes
        return entry

    @property
    def where(self) -> str:
        first, last = self.lines[0][0], self.lines[-1][0]
        return f"line {first}" if len(self.lines) == 1 else f"lines {first}-{last} ({len(self.lines)} events)"


class _Pack:
    """Consecutive text lines becoming one message: joined by ``\\n``, sized as SQS counts it."""

    __slots__ = ("lines", "lead", "nbytes")

    def __init__(self) -> None:
        self.lines: list[tuple[int, bytes]] = []
        self.lead = False  # a blank line goes first, so the first line's byte order mark is kept
        self.nbytes = 0  # the body's bytes: the lines, the \n between them, the blank lead's \n

    def fits(self, size: int, limit: int) -> bool:
        """Whether one more line of ``size`` bytes keeps the packed message within ``limit`` bytes."""
        return bool(self.lines) and self.nbytes + 1 + size + PACKED_ATTRIBUTE_BYTES <= limit

    def add(self, number: int, line: bytes) -> None:
        self.nbytes += len(line) + (1 if self.lines else 0)
        self.lines.append((number, line))

    def start(self, number: int, line: bytes, lead: bool) -> None:
        self.lines, self.lead, self.nbytes = [(number, line)], lead, len(line) + lead

    def take(self) -> _Message | None:
        """The message of the lines so far (None when there are none); the pack is empty afterwards."""
        if not self.lines:
            return None
        lines, lead = self.lines, self.lead
        self.lines, self.lead, self.nbytes = [], False, 0
        data = (b"\n" if lead else b"") + b"\n".join(line for _, line in lines)
        if len(lines) == 1 and not lead:  # exactly what one line alone was before packing
            return _Message(lines, data.decode("utf-8"), {}, len(data))
        attributes = string_attributes({CONTENT_TYPE: NDJSON})
        return _Message(lines, data.decode("utf-8"), attributes, len(data) + PACKED_ATTRIBUTE_BYTES)


class _Outbox:
    """Messages waiting for one ``SendMessageBatch`` call: at most 10 entries and 256 KiB."""

    def __init__(self, send_batch: Callable[[list[_Message]], None]) -> None:
        self.send_batch = send_batch
        self.messages: list[_Message] = []
        self.nbytes = 0

    def add(self, message: _Message | None) -> None:
        if message is None:
            return
        if self.messages and (
            len(self.messages) == SQS_BATCH_MAX_ENTRIES or self.nbytes + message.size > SQS_BATCH_MAX_BYTES
        ):
            self.flush()
        self.messages.append(message)
        self.nbytes += message.size

    def flush(self) -> None:
        if self.messages:
            messages, self.messages, self.nbytes = self.messages, [], 0
            self.send_batch(messages)


class _LazyFile:
    """A file opened for appending on first write, so a clean run leaves no empty rejects file behind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stream: IO[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = self.path.open("ab")
        self._stream.write(data)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()


def encode_message(line: bytes) -> tuple[str, dict[str, dict[str, str]]]:
    """The SQS body and attributes for a line: the text itself, or base64 when SQS cannot carry it."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not SQS_UNSAFE.search(text):
        return text, {}
    encoded = base64.b64encode(line).decode("ascii")
    return encoded, string_attributes({CONTENT_ENCODING: "base64"})


# What the content-type attribute adds to a packed message's size (SQS counts attributes against the limits).
PACKED_ATTRIBUTE_BYTES = message_size("", string_attributes({CONTENT_TYPE: NDJSON}))


def queue_max_message_bytes(sqs: Any, queue_url: str) -> int:
    """The queue's MaximumMessageSize, or the classic 256 KiB when the sender may not read attributes."""
    try:
        answer = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["MaximumMessageSize"])
        return int(answer["Attributes"]["MaximumMessageSize"])
    except ClientError as exc:
        if _error_code(exc) in {"AccessDenied", "AccessDeniedException"}:
            return SQS_DEFAULT_MAX_MESSAGE_BYTES
        raise


class EventSender:
    """Sends JSON lines to an SQS queue, packed into messages, in batches; see the module docstring.

    ``pack_bytes`` caps a packed message (attributes included), never above the queue's maximum message
    size; 0 sends one line per message. A line larger than the cap but within the queue's limit goes alone.
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        *,
        rejects_path: Path | str = "send-rejects.jsonl",
        failed_path: Path | str = "send-failed.jsonl",
        max_message_bytes: int | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        pack_bytes: int = DEFAULT_PACK_BYTES,
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if pack_bytes < 0:
            raise ValueError("pack_bytes must be 0 (one event per message) or more")
        self.sqs = sqs
        self.queue_url = queue_url
        self.rejects_path = Path(rejects_path)
        self.failed_path = Path(failed_path)
        self.max_message_bytes = (
            max_message_bytes if max_message_bytes is not None else queue_max_message_bytes(sqs, queue_url)
        )
        self.max_event_bytes = max_event_bytes
        self.pack_bytes = min(pack_bytes, self.max_message_bytes)
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.sleep = sleep
        self.clock = clock

    def send(self, lines: Iterable[bytes], source_name: str) -> SendReport:
        """Send every line (bytes, ``\\n`` optional); returns once every batch was sent or given up on."""
        report = SendReport(source_name, rejects_path=self.rejects_path, failed_path=self.failed_path)
        rejects, failures = _LazyFile(self.rejects_path), _LazyFile(self.failed_path)
        limit, max_message = self.pack_bytes, self.max_message_bytes
        pack = _Pack()
        outbox = _Outbox(lambda batch: self._send_batch(batch, report, failures))
        try:
            for number, raw in enumerate(lines, 1):
                line = raw[:-1] if raw[-1:] == b"\n" else raw  # as the local intake: only the \n goes
                if not line or line.isspace():
                    report.skipped_blank += 1
                    continue
                report.read += 1
                body, attributes = encode_message(line)
                size = message_size(body, attributes)
                if size > max_message:
                    rejects.write(self._reject_record(line, size, source_name, number) + b"\n")
                    report.rejected += 1
                    continue
                if attributes:  # base64: alone, as before packing; the pack goes on (a queue keeps no order)
                    report.base64_encoded += 1
                    outbox.add(_Message([(number, line)], body, attributes, size))
                elif limit and pack.fits(size, limit):
                    pack.add(number, line)
                else:
                    outbox.add(pack.take())
                    # A mark opening a later line must stay part of it, as in a file (module docstring).
                    lead = bool(limit) and number > 1 and line.startswith(UTF8_BOM)
                    pack.start(number, line, lead and 1 + size + PACKED_ATTRIBUTE_BYTES <= max_message)
            outbox.add(pack.take())
            outbox.flush()
        finally:
            rejects.close()
            failures.close()
        if not report.reconciles:  # the "no event lost" rule; not an assert: -O
            raise AssertionError(
                f"send of {source_name} lost events: read {report.read}, sent {report.sent} + "
                f"rejected {report.rejected} + failed {report.failed}"
            )
        return report

    def send_file(self, path_or_dash: str | Path, source_name: str | None = None) -> SendReport:
        """Send a file (``-`` for stdin) line by line, so a large file never sits in memory."""
        if str(path_or_dash) == "-":
            return self.send(sys.stdin.buffer, source_name or "stdin")
        with open(path_or_dash, "rb") as stream:
            return self.send(stream, source_name or str(path_or_dash))

    def _reject_record(self, line: bytes, size: int, source: str, number: int) -> bytes:
        # The limit named is the lake's event limit whenever the line is over it too (the usual case, as the
        # SQS limit is larger): then the reason is exactly what the validator says for this line.
        limit = min(self.max_event_bytes, self.max_message_bytes)
        return quarantine_record(
            line,
            too_large_reason(len(line), limit),
            TOO_LARGE,
            source,
            self.clock(),
            line_number=number,
            extra={
                "rejected_by": SENDER_SOURCE,
                "sqs_message_bytes": size,
                "sqs_limit": self.max_message_bytes,
            },
        )

    def _send_batch(self, batch: list[_Message], report: SendReport, failures: _LazyFile) -> None:
        pending = {str(i): m for i, m in enumerate(batch)}
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                report.retried_entries += len(pending)
                self.sleep(min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 2)))
            report.calls += 1
            try:
                answer = self.sqs.send_message_batch(
                    QueueUrl=self.queue_url, Entries=[m.entry(i) for i, m in pending.items()]
                )
            except (ClientError, BotoCoreError) as exc:
                if _error_code(exc) in _BATCH_TOO_LONG and len(pending) > 1:
                    # The queue counts bytes differently than we do: send the entries one by one.
                    report.calls -= 1
                    for message in pending.values():
                        self._send_batch([message], report, failures)
                    return
                report.errors.append(_error_text(exc))
                continue  # the whole call failed (throttled, network): every entry is retried
            for ok in answer.get("Successful") or []:
                message = pending.pop(ok["Id"], None)
                if message is not None:
                    report.sent += len(message.lines)
                    report.messages += 1
                    report.packed += CONTENT_TYPE in message.attributes
            for bad in answer.get("Failed") or []:
                if bad.get("SenderFault"):  # retrying an invalid entry cannot help
                    message = pending.pop(bad["Id"], None)
                    if message is not None:
                        self._fail(message, f"{bad.get('Code')}: {bad.get('Message', '')}", report, failures)
                elif bad["Id"] in pending:
                    report.errors.append(f"{bad.get('Code')}: {bad.get('Message', '')}")
            if not pending:
                return
        for message in pending.values():
            self._fail(message, f"still failing after {self.max_attempts} attempts", report, failures)

    def _fail(self, message: _Message, error: str, report: SendReport, failures: _LazyFile) -> None:
        # The original lines, so the failed file can be sent again as it is.
        for _number, line in message.lines:
            failures.write(line + b"\n")
        report.failed += len(message.lines)
        report.errors.append(f"{message.where}: {error}")


# ---------------------------------------------------------------------------------------------------------
# Draining the dead-letter queue


@dataclass
class DrainReport:
    """What one drain did: messages received, written to the lake (in objects), deleted from the queue."""

    queue_url: str
    received: int = 0
    written: int = 0
    deleted: int = 0
    not_deleted: int = 0
    wrapped: int = 0
    objects: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = (
            f"{self.queue_url}: received {self.received} messages; wrote {self.written} quarantine records "
            f"in {len(self.objects)} objects; deleted {self.deleted}"
        )
        if self.wrapped:
            text += f"; {self.wrapped} bodies were not quarantine records (wrapped as kind {UNDELIVERED})"
        if self.not_deleted:
            text += f"; {self.not_deleted} not deleted (they will be written again by the next drain)"
        return text


class DlqDrainer:
    """Moves dead-letter messages into ``quarantine/events/`` of a lake; see the module docstring."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        store: ObjectStore,
        *,
        stream_name: str = "shop",
        wait_seconds: int = 10,
        visibility_timeout: int = 300,
        max_per_object: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if "/" in stream_name or not stream_name:
            raise ValueError(f"stream name {stream_name!r} must be a non-empty name without '/'")
        self.sqs = sqs
        self.queue_url = queue_url
        self.store = store
        self.stream_name = stream_name
        self.wait_seconds = wait_seconds
        self.visibility_timeout = visibility_timeout
        self.max_per_object = max_per_object
        self.clock = clock

    def drain(self, max_messages: int | None = None) -> DrainReport:
        """Drain until a long poll finds nothing (or ``max_messages`` were received)."""
        report = DrainReport(self.queue_url)
        while max_messages is None or report.received < max_messages:
            budget = None if max_messages is None else max_messages - report.received
            messages, exhausted = self._receive_batch(budget)
            report.received += len(messages)
            if messages:
                self._write_then_delete(messages, report)
            if exhausted:
                break
        return report

    def _receive_batch(self, budget: int | None) -> tuple[list[dict[str, Any]], bool]:
        """Messages for one object; True when the queue looked empty. Stops well inside the visibility."""
        messages: dict[str, dict[str, Any]] = {}
        started = self.clock()
        limit = self.max_per_object if budget is None else min(budget, self.max_per_object)
        while len(messages) < limit and self.clock() - started < self.visibility_timeout / 2:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, limit - len(messages)),
                WaitTimeSeconds=self.wait_seconds,
                VisibilityTimeout=self.visibility_timeout,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            )
            received = answer.get("Messages") or []
            if not received:
                return list(messages.values()), True
            for message in received:  # a redelivery inside one batch is written once
                messages[message["MessageId"]] = message
        return list(messages.values()), False

    def _write_then_delete(self, messages: list[dict[str, Any]], report: DrainReport) -> None:
        lines = []
        for message in messages:
            records, wrapped = self._records(message)
            lines.extend(records)
            report.wrapped += wrapped
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        key = (
            f"{QUARANTINE_PREFIX}{now:%Y/%m/%d/%H}/"
            f"{self.stream_name}-dlq-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}.jsonl"
        )
        self.store.put_bytes(key, b"\n".join(lines) + b"\n")  # raises: nothing is deleted
        report.objects.append(key)
        report.written += len(lines)
        deleted, not_deleted = self._delete(messages)
        report.deleted += deleted
        report.not_deleted += not_deleted

    def _records(self, message: dict[str, Any]) -> tuple[list[bytes], bool]:
        """The quarantine records of one message: its body, or the body wrapped when it is something else.

        The Lambda's dead-letter messages are quarantine records; a queue's redrive policy can also move an
        original message here after it failed too often (then it is wrapped, so it is kept and explained). A
        packed one (``content-type: application/x-ndjson``) gives one record per non-blank line, numbered in
        the message, so each event can be replayed on its own.
        """
        body: str = message.get("Body", "")
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict) and "reason" in parsed and "kind" in parsed:
            return [body.encode("utf-8") if "\n" not in body else orjson.dumps(parsed)], False
        attributes = message.get("MessageAttributes") or {}
        payload = body.encode("utf-8", "surrogatepass")
        if str(attributes.get(CONTENT_ENCODING, {}).get("StringValue", "")).lower() == "base64":
            with contextlib.suppress(binascii.Error, ValueError):
                payload = base64.b64decode(body, validate=True)
        parts: list[tuple[int | None, bytes]] = [(None, payload)]
        if str(attributes.get(CONTENT_TYPE, {}).get("StringValue", "")).strip().lower() == NDJSON:
            lines = payload.removeprefix(UTF8_BOM).split(b"\n")  # as the Lambda reads it
            parts = [(n, line) for n, line in enumerate(lines, 1) if line and not line.isspace()] or parts
        system = message.get("Attributes") or {}
        receives = system.get("ApproximateReceiveCount", "?")
        sent_ms = system.get("SentTimestamp")
        records = [
            quarantine_record(
                line,
                f"not processed: moved to the dead-letter queue after {receives} receive(s)",
                UNDELIVERED,
                self.queue_url,
                int(sent_ms) / 1000 if sent_ms else self.clock(),
                line_number=number,
                extra={"message_id": message.get("MessageId")},
            )
            for number, line in parts
        ]
        return records, True

    def _delete(self, messages: list[dict[str, Any]], attempts: int = 3) -> tuple[int, int]:
        deleted = 0
        for chunk in _chunked(messages, 10):
            todo = {str(i): m["ReceiptHandle"] for i, m in enumerate(chunk)}
            for attempt in range(attempts):
                if attempt:
                    time.sleep(0.2 * 2**attempt)
                try:
                    answer = self.sqs.delete_message_batch(
                        QueueUrl=self.queue_url,
                        Entries=[{"Id": i, "ReceiptHandle": h} for i, h in todo.items()],
                    )
                except (ClientError, BotoCoreError):
                    continue
                for ok in answer.get("Successful") or []:
                    if todo.pop(ok["Id"], None) is not None:
                        deleted += 1
                if not todo:
                    break
        return deleted, len(messages) - deleted


def _chunked(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
