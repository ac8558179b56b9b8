"""CSV and TSV, streamed: one row at a time through ``csv.reader`` over a text wrapper, never the whole file.

Bytes that are not valid in the declared encoding do not stop the file: they are decoded with
``surrogateescape`` and the rows holding them are reported with the original bytes, so nothing is lost.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

from lake_assets.sources.files.rows import ByteSource, Row, UnreadableFile, as_binary
from lake_assets.sources.specs import FormatOptions

csv.field_size_limit(16 * 1024 * 1024)


_UNDECODED = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of undecodable bytes


def _has_bad_bytes(cells: list[str]) -> bool:
    joined = "".join(cells)
    return not joined.isascii() and _UNDECODED.search(joined) is not None


class DelimitedReader:
    """Rows of a delimited file; ``columns`` is known once iteration has read the header."""

    def __init__(self, source: ByteSource, options: FormatOptions) -> None:
        self.options = options
        self.columns: list[str] = list(options.columns)
        try:
            self._text = io.TextIOWrapper(
                as_binary(source), encoding=options.encoding, errors="surrogateescape", newline=""
            )
        except LookupError as exc:
            raise UnreadableFile(f"unknown encoding: {exc}") from None

    def _payload(self, cells: list[str]) -> bytes:
        out = io.StringIO()
        csv.writer(out, delimiter=self.options.delimiter, quotechar=self.options.quotechar).writerow(cells)
        return out.getvalue().rstrip("\r\n").encode(self.options.encoding, "surrogateescape")

    def __iter__(self) -> Iterator[Row]:
        o = self.options
        reader = csv.reader(
            self._text, delimiter=o.delimiter, quotechar=o.quotechar, escapechar=o.escapechar, strict=False
        )
        try:
            for _ in range(o.skip_rows):
                next(reader, None)
            if o.header:
                header = next(reader, None)
                while header == []:
                    header = next(reader, None)
                if header is None:
                    return  # an empty file has no rows
                if header and header[0].startswith("\ufeff"):
                    header[0] = header[0][1:]  # a byte-order mark written by spreadsheet exports
                self.columns = [h.strip() for h in header]
            columns = self.columns
            width = len(columns)
            for cells in reader:
                if not cells:
                    continue  # a blank line is not a row
                number = reader.line_num
                if len(cells) != width:
                    more = "extra cells" if len(cells) > width else "missing cells"
                    yield Row(
                        number,
                        None,
                        f"{more}: the row has {len(cells)} cells, the header {width}",
                        "wrong_column_count",
                        self._payload(cells),
                    )
                elif _has_bad_bytes(cells):
                    yield Row(
                        number,
                        None,
                        f"bytes that are not {o.encoding}",
                        "invalid_encoding",
                        self._payload(cells),
                    )
                else:
                    yield Row(number, dict(zip(columns, cells, strict=True)))
        except csv.Error as exc:
            raise UnreadableFile(f"line {reader.line_num}: {exc}") from None
