"""Excel workbooks through openpyxl's read-only mode: rows are streamed from the sheet's XML, not loaded.

An xlsx file is a zip archive, which needs random access; a chunk iterator is spooled to disk first.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from typing import Any

import orjson
from openpyxl import load_workbook
from openpyxl.utils.cell import range_boundaries
from openpyxl.utils.exceptions import InvalidFileException

from lake_assets.sources.files.rows import ByteSource, Row, UnreadableFile, as_seekable
from lake_assets.sources.specs import FormatOptions


def _cell_text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.time) else value


class XlsxReader:
    """Rows of one sheet (the first by default) inside an optional cell range; the range's first row is the
    header unless ``header: false``."""

    def __init__(self, source: ByteSource, options: FormatOptions) -> None:
        self._source = source
        self.options = options
        self.columns: list[str] = list(options.columns)

    def __iter__(self) -> Iterator[Row]:
        o = self.options
        with as_seekable(self._source) as stream:
            try:
                book = load_workbook(stream, read_only=True, data_only=True)
            except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
                raise UnreadableFile(f"not a readable xlsx workbook ({type(exc).__name__}: {exc})") from None
            try:
                if o.sheet is not None and o.sheet not in book.sheetnames:
                    raise UnreadableFile(f"no sheet {o.sheet!r} (sheets: {', '.join(book.sheetnames)})")
                sheet = book[o.sheet] if o.sheet else book.worksheets[0]
                min_col, min_row, max_col, max_row = (
                    range_boundaries(o.cell_range) if o.cell_range else (1, 1, None, None)
                )
                if o.cell_range and ":" not in o.cell_range:
                    max_col = max_row = None  # "B3": from there to the end of the sheet
                rows = sheet.iter_rows(
                    min_row=min_row, max_row=max_row, min_col=min_col, max_col=max_col, values_only=True
                )
                try:
                    yield from self._rows(rows, min_row)
                except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
                    raise UnreadableFile(f"the workbook is damaged ({type(exc).__name__}: {exc})") from None
            finally:
                book.close()

    def _rows(self, rows: Iterator[tuple[Any, ...]], first: int) -> Iterator[Row]:
        number = first - 1
        width = len(self.columns)
        for cells in rows:
            number += 1
            if all(c is None or c == "" for c in cells):
                continue
            if self.options.header and not self.columns:
                trimmed = list(cells)
                while trimmed and trimmed[-1] is None:
                    trimmed.pop()
                self.columns = ["" if c is None else str(c).strip() for c in trimmed]
                width = len(self.columns)
                continue
            extra = [c for c in cells[width:] if c is not None]
            values = list(cells[:width]) + [None] * (width - len(cells))
            if extra:
                payload = orjson.dumps([_cell_text(c) for c in cells], default=str)
                yield Row(
                    number,
                    None,
                    f"extra cells beyond the header's {width} columns",
                    "wrong_column_count",
                    payload,
                )
                continue
            yield Row(
                number, {c: (None if v == "" else v) for c, v in zip(self.columns, values, strict=True)}
            )
