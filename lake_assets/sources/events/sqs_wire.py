"""What the producer (``sqs.py``) and the intake Lambda (``lambda_intake.py``) agree on about an SQS message:
the attributes that say how to read its body, the batch limits, the characters a body may hold, and how SQS
counts a message's bytes. One copy for both ends; standard library only, as it travels in the Lambda's zip.
"""

from __future__ import annotations

import re

CONTENT_ENCODING = "content-encoding"  # "base64": the body is the event's bytes, base64-encoded
CONTENT_TYPE = "content-type"
NDJSON = "application/x-ndjson"  # a packed message's content-type: JSON lines joined by "\n"
SQS_BATCH_MAX_ENTRIES = 10  # SendMessageBatch limits (256 KiB: the classic total, accepted everywhere)
SQS_BATCH_MAX_BYTES = 256 * 1024
# Characters an SQS message body or attribute may hold (anything else is rejected by SendMessage).
SQS_UNSAFE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def string_attributes(values: dict[str, str]) -> dict[str, dict[str, str]]:
    """String message attributes in the form SendMessage takes."""
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def message_size(body: str, attributes: dict[str, dict[str, str]]) -> int:
    """Bytes SQS counts against its limits: body plus each attribute's name, type and value."""
    size = len(body.encode("utf-8"))
    for name, value in attributes.items():
        size += len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
    return size
