"""The dead-letter record every intake path writes for an invalid event ("quarantine parity").

The local intake (``sources/events/intake.py``) writes these records to ``quarantine/events/``; the AWS intake
Lambda (``sources/events/lambda_intake.py``) sends the same record as the dead-letter queue message body. One
builder keeps the reason and the record's shape the same whichever path an event took: one tool reads both.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import orjson


def quarantine_record(
    payload: bytes,
    reason: str,
    kind: str,
    source: str,
    received_at: float,
    line_number: int | None = None,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """One JSON record: why, where from, when, and the original payload (base64 when it is not UTF-8).

    Fields: ``reason``, ``kind``, ``source``, ``line_number`` (null when the event did not come from a file),
    ``received_at`` (UTC, RFC 3339 with milliseconds), then ``extra``'s fields, then ``payload`` or
    ``payload_base64``. ``extra`` cannot replace the standard fields: a reader must be able to trust them.
    """
    record: dict[str, Any] = {
        "reason": reason,
        "kind": kind,
        "source": source,
        "line_number": line_number,
        "received_at": dt.datetime.fromtimestamp(received_at, dt.UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
    }
    if extra:
        clash = (record.keys() | {"payload", "payload_base64"}) & extra.keys()
        if clash:
            raise ValueError(f"extra fields {sorted(clash)} would replace standard quarantine fields")
        record.update(extra)
    try:
        record["payload"] = payload.decode("utf-8")
    except UnicodeDecodeError:
        record["payload_base64"] = base64.b64encode(payload).decode("ascii")
    return orjson.dumps(record)
