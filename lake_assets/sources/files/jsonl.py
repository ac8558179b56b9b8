"""JSON lines, one object per line, streamed line by line."""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from lake_assets.sources.files.rows import ByteSource, Row, as_binary
from lake_assets.sources.specs import FormatOptions


class JsonLinesReader:
    """Each non-blank line must be one JSON object; anything else is a row error with the line kept."""

    def __init__(self, source: ByteSource, options: FormatOptions) -> None:
        self._stream = as_binary(source)
        self._utf8 = options.encoding.replace("_", "-").lower() in ("utf-8", "utf8")
        self._encoding = options.encoding
        self.columns: list[str] | None = None  # keys vary per line; the schema decides

    def __iter__(self) -> Iterator[Row]:
        for number, line in enumerate(self._stream, start=1):
            body = line.strip()
            if not body:
                continue
            try:
                value = orjson.loads(body if self._utf8 else body.decode(self._encoding).encode())
            except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
                yield Row(number, None, f"not valid JSON: {exc}", "malformed_json", body)
                continue
            if not isinstance(value, dict):
                yield Row(
                    number, None, f"a JSON {type(value).__name__}, not an object", "malformed_json", body
                )
            else:
                yield Row(number, value)
