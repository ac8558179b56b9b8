"""Readers per file kind: each takes a binary file object or an iterator of byte chunks and yields ``Row``s.

All of them stream (a 1 GB file is never held in memory) and none of them raises on a bad row: the row comes
back with its reason and original bytes, for the quarantine. A file that cannot be read at all raises
``UnreadableFile``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import orjson

from lake_assets.sources.files.delimited import DelimitedReader
from lake_assets.sources.files.jsonl import JsonLinesReader
from lake_assets.sources.files.logs import CLF_TIME_FORMAT, LOG_PRESETS, LogReader
from lake_assets.sources.files.rows import ByteSource, Row, UnreadableFile, as_binary
from lake_assets.sources.files.xlsx import XlsxReader
from lake_assets.sources.specs import SourceSpec


class RowReader(Protocol):
    columns: list[str] | None  # None when each row carries its own keys (JSON)

    def __iter__(self) -> Iterator[Row]: ...


def records_at(page: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``data.items``) of a decoded JSON page; the page itself for ""."""
    value = page
    for part in path.split(".") if path else []:
        if not isinstance(value, dict) or part not in value:
            raise KeyError(part)
        value = value[part]
    return value


class ApiPageReader:
    """Records of one landed API page (a JSON document; pages are bounded in size, so it is read whole)."""

    columns: list[str] | None = None

    def __init__(self, source: ByteSource, records_path: str) -> None:
        self._source = source
        self._path = records_path

    def __iter__(self) -> Iterator[Row]:
        body = as_binary(self._source).read()
        try:
            page = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise UnreadableFile(f"the page is not JSON: {exc}") from None
        try:
            records = records_at(page, self._path)
        except KeyError as exc:
            raise UnreadableFile(f"the page has no {self._path!r} (missing key {exc})") from None
        if not isinstance(records, list):
            raise UnreadableFile(f"{self._path or 'the page'} is a {type(records).__name__}, not a list")
        for number, record in enumerate(records, start=1):
            if isinstance(record, dict):
                yield Row(number, record)
            else:
                yield Row(
                    number, None, "a record is not a JSON object", "malformed_json", orjson.dumps(record)
                )


def open_reader(spec: SourceSpec, source: ByteSource | Iterable[bytes]) -> RowReader:
    """The reader for ``spec``'s kind over one landing object."""
    kind = spec.kind
    if kind in ("csv", "tsv"):
        return DelimitedReader(source, spec.format)
    if kind == "jsonl":
        return JsonLinesReader(source, spec.format)
    if kind == "xlsx":
        return XlsxReader(source, spec.format)
    if kind == "log":
        return LogReader(source, spec.format)
    if kind == "http_api":
        assert spec.api is not None
        return ApiPageReader(source, spec.api.records_path)
    raise ValueError(f"no reader for kind {kind!r}")


__all__ = [
    "CLF_TIME_FORMAT",
    "LOG_PRESETS",
    "ApiPageReader",
    "ByteSource",
    "DelimitedReader",
    "JsonLinesReader",
    "LogReader",
    "Row",
    "RowReader",
    "UnreadableFile",
    "XlsxReader",
    "open_reader",
    "records_at",
]
