"""What the PostgreSQL and MariaDB captures share: their error and the row counter of a full load."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from lake_assets.sources.cdc.dms_format import ChangeRow


class CdcError(RuntimeError):
    """Capture cannot go on; the message says which table, slot or position and what to do."""


class RowCounter:
    """Counts the rows of a full load as the writer streams them into files (no second pass)."""

    def __init__(self, rows: Iterable[ChangeRow]) -> None:
        self.rows, self.n = rows, 0

    def __iter__(self) -> Iterator[ChangeRow]:
        for row in self.rows:
            self.n += 1
            yield row
