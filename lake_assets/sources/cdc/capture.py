"""What the PostgreSQL and MariaDB captures share: their results, their error and a load's row counter."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from lake_assets.sources.cdc.dms_format import ChangeRow

P = TypeVar("P")  # the engine's log position: a PostgreSQL LSN ("0/16B3748") or a MariaDB binlog Position


@dataclass(frozen=True)
class SnapshotResult(Generic[P]):
    """A full load: rows per table, the files landed, and the position streaming resumes from."""

    tables: dict[str, int]  # "schema.table" -> rows loaded
    files: list[str]
    position: P


@dataclass
class StreamResult(Generic[P]):
    """One stream run: what it landed and the position now confirmed (None: nothing confirmed yet)."""

    changes: int = 0
    transactions: int = 0
    files: list[str] = field(default_factory=list)
    position: P | None = None


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
