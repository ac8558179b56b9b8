"""Object store over the lake root: a local folder or S3, with the same interface.

Keys are always relative to the lake root and use ``/``. Listing is lexicographic and can start after a
cursor key, which is what makes a sensor tick cost O(new objects). ``list_calls`` counts listing requests so
benchmarks and tests can show that cost.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class StorageError(RuntimeError):
    """The lake's storage cannot be used; the message says which root and why."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: float  # seconds since the epoch


class ObjectStore(ABC):
    root: str
    list_calls: int = 0

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Write one object whole: a reader sees the old object, the new one, or none; never a part."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        """A streaming binary reader over one object, so a large file never sits in memory whole."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Objects under ``prefix`` in key order, strictly after ``start_after`` when given."""

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def uri(self, key: str = "") -> str: ...

    @abstractmethod
    @contextlib.contextmanager
    def staging_dir(self) -> Iterator[Path]:
        """A private local folder to write a partition into before ``publish_dir``; removed afterwards."""

    @abstractmethod
    def publish_dir(self, local_dir: Path, prefix: str) -> list[str]:
        """Replace everything under ``prefix`` with the files of ``local_dir``, as one visible step.

        Returns the published keys. Files and folders whose names start with ``.`` or ``_`` (Spark's
        ``_SUCCESS``, checksum files) are not published.
        """

    @abstractmethod
    def spark_uri(self, key: str) -> str:
        """Where Spark reads the object in place: a local path, or ``s3a://bucket/key`` on S3."""

    def spark_uris(self, prefix: str, suffix: str) -> list[str]:
        """The objects under the folder ``prefix`` whose names end in ``suffix``, for Spark to read in place
        (an explicit list: Spark reads exactly what was listed, nothing copied)."""
        folder = prefix.rstrip("/") + "/"
        return [self.spark_uri(o.key) for o in self.list(folder) if o.key.endswith(suffix)]

    @abstractmethod
    def check_reachable(self) -> None:
        """Fail early with a clear message when the root cannot be used."""

    def list_keys(self, prefix: str, start_after: str | None = None) -> list[str]:
        return [o.key for o in self.list(prefix, start_after)]


def _publishable(path: Path, base: Path) -> bool:
    return not any(part.startswith((".", "_")) for part in path.relative_to(base).parts)


class LocalObjectStore(ObjectStore):
    """The embedded default: a folder on this machine; atomic writes by rename.

    Readers list through directory file descriptors, so a listing that races a ``publish_dir`` sees the old
    partition, the new one, or (for an instant) none, never a mix; replaced partitions are kept in
    ``_system/trash/`` for ``TRASH_GRACE_SECONDS`` so a reader already inside one can finish.
    """

    TEMP_SUFFIX = ".lake-tmp"
    TRASH_GRACE_SECONDS = 300

    def __init__(self, root: str | Path) -> None:
        self.base = Path(root).resolve()
        self.root = str(self.base)
        self.list_calls = 0

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"object key {key!r} must be relative to the lake root")
        return self.base / key

    def check_reachable(self) -> None:
        try:
            self.base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"lake root {self.root} cannot be created: {exc.strerror}") from None
        if not os.access(self.base, os.W_OK):
            raise StorageError(f"lake root {self.root} is not writable")

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}{self.TEMP_SUFFIX}"
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except (FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
            raise StorageError(
                f"cannot store {key!r} in the local lake {self.root}: {exc.strerror} (a local key cannot "
                "also be a folder of other keys, which S3 allows; rename one of them)"
            ) from None

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise StorageError(f"no object {self.uri(key)}") from None

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        try:
            handle = open(self._path(key), "rb")  # noqa: SIM115 - closed below
        except (FileNotFoundError, IsADirectoryError):
            raise StorageError(f"no object {self.uri(key)}") from None
        with handle:
            yield handle

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Walks folders in key order and skips whole subtrees that sort before the cursor."""
        self.list_calls += 1
        folder_key = prefix[: prefix.rfind("/") + 1]  # the folder the prefix lies in
        try:
            fd = os.open(self._path(folder_key) if folder_key else self.base, os.O_RDONLY | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            return
        try:
            yield from self._walk(fd, folder_key, prefix, start_after)
        finally:
            os.close(fd)

    def _walk(self, fd: int, rel: str, prefix: str, start_after: str | None) -> Iterator[ObjectInfo]:
        try:
            entries = [(e.name, e.is_dir(follow_symlinks=False), e) for e in os.scandir(fd)]
        except FileNotFoundError:
            return
        entries.sort(key=lambda item: item[0] + ("/" if item[1] else ""))
        for name, is_dir, entry in entries:
            if name.endswith(self.TEMP_SUFFIX):
                continue  # an object still being written
            key = rel + name
            if is_dir:
                sub = key + "/"
                if not (sub.startswith(prefix) or prefix.startswith(sub)):
                    continue
                if start_after and sub < start_after[: len(sub)]:
                    continue  # the whole subtree sorts before the cursor
                try:
                    sub_fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                except (FileNotFoundError, NotADirectoryError):
                    continue
                try:
                    yield from self._walk(sub_fd, sub, prefix, start_after)
                finally:
                    os.close(sub_fd)
            elif key.startswith(prefix) and (start_after is None or key > start_after):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                yield ObjectInfo(key, st.st_size, st.st_mtime)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def uri(self, key: str = "") -> str:
        return str(self._path(key)) if key else self.root

    @contextlib.contextmanager
    def staging_dir(self) -> Iterator[Path]:
        # Inside the lake root so that publishing is a rename on the same file system.
        path = self.base / "_system" / "staging" / uuid.uuid4().hex
        path.mkdir(parents=True)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def publish_dir(self, local_dir: Path, prefix: str) -> list[str]:
        target = self._path(prefix.rstrip("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        system = self.base / "_system"
        staged = system / "staging" / f"publish-{uuid.uuid4().hex}"
        staged.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(local_dir, staged, ignore=shutil.ignore_patterns(".*", "_*"))
        trash = system / "trash" / f"{time.time_ns()}-{uuid.uuid4().hex}"
        trash.parent.mkdir(parents=True, exist_ok=True)
        # Two renames: readers see the old partition, briefly none, then the new one; never a mix.
        if target.exists():
            os.replace(target, trash)
        os.replace(staged, target)
        self._empty_trash()
        return sorted(p.relative_to(self.base).as_posix() for p in target.rglob("*") if p.is_file())

    def _empty_trash(self) -> None:
        cutoff = time.time_ns() - self.TRASH_GRACE_SECONDS * 1_000_000_000
        for old in (self.base / "_system" / "trash").iterdir():
            stamp = old.name.split("-", 1)[0]
            if stamp.isdigit() and int(stamp) < cutoff:
                shutil.rmtree(old, ignore_errors=True)

    def spark_uri(self, key: str) -> str:
        return str(self._path(key))


def open_store(
    lake_root: str,
    *,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
) -> ObjectStore:
    """The store for a lake root URI: a folder path, or ``s3://bucket/prefix``."""
    if lake_root.startswith("s3://"):
        from lake_assets.storage.s3 import S3ObjectStore

        return S3ObjectStore(
            lake_root,
            endpoint_url=endpoint_url,
            region=region,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
        )
    if "://" in lake_root:
        raise StorageError(f"lake root {lake_root!r}: only local folders and s3:// are supported")
    return LocalObjectStore(lake_root)
