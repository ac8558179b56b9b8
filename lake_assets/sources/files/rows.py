"""What every reader yields: numbered rows, or the reason a row cannot be read, and byte-stream plumbing."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

ByteSource = IO[bytes] | Iterable[bytes]


class UnreadableFile(ValueError):
    """The whole file cannot be read (corrupt workbook, unknown sheet, not JSON): no row can be trusted."""


@dataclass(slots=True)
class Row:
    """One input row: ``values`` keyed by column, or ``error`` with the original ``payload`` kept.

    ``number`` is the line (text formats), the sheet row (xlsx) or the record's index in a page (APIs).
    """

    number: int
    values: dict[str, Any] | None
    error: str | None = None
    kind: str | None = None
    payload: bytes | str = b""


class _ChunkStream(io.RawIOBase):
    """A readable stream over an iterator of byte chunks, so readers take chunks or files alike."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            try:
                self._rest = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._rest))
        buffer[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n


def as_binary(source: ByteSource) -> IO[bytes]:
    """A buffered binary stream over a file object or an iterator of chunks; never reads it all."""
    if hasattr(source, "read"):
        return source  # type: ignore[return-value]
    return io.BufferedReader(_ChunkStream(source), buffer_size=1 << 20)


@contextlib.contextmanager
def as_seekable(source: ByteSource) -> Iterator[IO[bytes]]:
    """A seekable stream (zip containers need one): the file itself, or a spooled copy on disk."""
    if hasattr(source, "seekable") and source.seekable():  # type: ignore[union-attr]
        yield source  # type: ignore[misc]
        return
    with tempfile.SpooledTemporaryFile(max_size=16 << 20) as spool:
        shutil.copyfileobj(as_binary(source), spool, 1 << 20)
        spool.seek(0)
        yield spool  # type: ignore[misc]
