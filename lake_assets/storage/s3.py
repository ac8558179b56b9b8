"""The lake on S3 (AWS, or any S3 API endpoint such as a local SeaweedFS server).

Keys are relative to the lake root's prefix, exactly as in the local store, so code above the store never
sees the bucket. Every boto3 call goes through one client with modest timeouts and retries, so a dead endpoint
fails in seconds rather than hanging a sensor tick.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from lake_assets.storage.object_store import ObjectInfo, ObjectStore, StorageError

_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)
_MISSING_KEY_CODES = {"404", "NoSuchKey", "NotFound"}
_MISSING_BUCKET_CODES = {"NoSuchBucket"}
_DENIED_CODES = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"}
_DELETE_BATCH = 1000  # DeleteObjects' limit per request


def _config(connect: float, read: float, attempts: int) -> Config:
    # Checksums only when an API requires them: SeaweedFS (and other S3 servers) otherwise store the
    # aws-chunked framing as data or reject the write; AWS itself is fine either way.
    return Config(
        connect_timeout=connect,
        read_timeout=read,
        retries={"max_attempts": attempts, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_publishable(rel: Path) -> bool:
    # Same rule as the local store: Spark's _SUCCESS, .crc checksum files and hidden folders stay behind.
    return not any(part.startswith((".", "_")) for part in rel.parts)


class S3ObjectStore(ObjectStore):
    """Objects under ``s3://bucket/prefix``; one PutObject per write, so each object appears whole."""

    def __init__(
        self,
        lake_root: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        if not lake_root.startswith("s3://"):
            raise StorageError(f"lake root {lake_root!r} is not an s3:// URI")
        bucket, _, prefix = lake_root[len("s3://") :].partition("/")
        if not bucket:
            raise StorageError(f"lake root {lake_root!r} names no bucket")
        self.bucket = bucket
        prefix = prefix.strip("/")
        self._prefix = f"{prefix}/" if prefix else ""
        self.root = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self.list_calls = 0
        session = boto3.session.Session(
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=region
        )
        # Path-style for custom endpoints: local servers rarely resolve bucket.host names.
        s3_opts = {"addressing_style": "path"} if endpoint_url else {}
        self._client = session.client(
            "s3", endpoint_url=endpoint_url, config=_config(5, 60, 3).merge(Config(s3=s3_opts))
        )
        # check_reachable must answer in seconds even against a black-holed address.
        self._probe_client = session.client(
            "s3", endpoint_url=endpoint_url, config=_config(2, 5, 2).merge(Config(s3=s3_opts))
        )
        self.endpoint_url = self._client.meta.endpoint_url

    # -- keys and errors ---------------------------------------------------------------------------------

    def _full(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"object key {key!r} must be relative to the lake root")
        return self._prefix + key

    def _relative(self, full_key: str) -> str:
        if not full_key.startswith(self._prefix):
            raise StorageError(f"S3 returned key {full_key!r} outside the lake root {self.root}")
        return full_key[len(self._prefix) :]

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self._full(key)}" if key else self.root

    @contextlib.contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        """Turn botocore's exceptions into StorageError naming the endpoint, bucket and operation."""
        try:
            yield
        except _UNREACHABLE as exc:
            raise StorageError(f"cannot reach S3 endpoint {self.endpoint_url} ({what}): {exc}") from None
        except NoCredentialsError:
            raise StorageError(f"no AWS credentials found for {self.root} ({what})") from None
        except ClientError as exc:
            code = _error_code(exc)
            if code in _MISSING_BUCKET_CODES:
                raise StorageError(
                    f"bucket {self.bucket!r} does not exist at {self.endpoint_url} ({what})"
                ) from None
            if code in _DENIED_CODES:
                raise StorageError(
                    f"access denied to {self.root} at {self.endpoint_url} ({what}): check credentials "
                    f"and bucket policy [{code}]"
                ) from None
            raise StorageError(f"S3 error on {what} at {self.endpoint_url}: {exc}") from None
        except BotoCoreError as exc:
            raise StorageError(f"S3 client error on {what} at {self.endpoint_url}: {exc}") from None

    def check_reachable(self) -> None:
        """HeadBucket with short timeouts: a wrong endpoint, bucket or credential fails before any work."""
        try:
            self._probe_client.head_bucket(Bucket=self.bucket)
        except _UNREACHABLE as exc:
            raise StorageError(
                f"cannot reach S3 endpoint {self.endpoint_url} for lake root {self.root}: {exc}"
            ) from None
        except NoCredentialsError:
            raise StorageError(
                f"no AWS credentials found for lake root {self.root} (set the access key settings)"
            ) from None
        except ClientError as exc:
            code = _error_code(exc)
            # HeadBucket has no body, so the code is the bare HTTP status.
            if code in {"404", "NoSuchBucket", "NotFound"}:
                raise StorageError(
                    f"bucket {self.bucket!r} does not exist at S3 endpoint {self.endpoint_url} "
                    f"(lake root {self.root})"
                ) from None
            if code in _DENIED_CODES:
                raise StorageError(
                    f"access denied to bucket {self.bucket!r} at S3 endpoint {self.endpoint_url}: check the "
                    f"credentials and bucket policy (lake root {self.root})"
                ) from None
            raise StorageError(
                f"S3 endpoint {self.endpoint_url} refused lake root {self.root}: {exc}"
            ) from None
        except BotoCoreError as exc:
            raise StorageError(f"cannot use S3 endpoint {self.endpoint_url} for {self.root}: {exc}") from None

    # -- objects -----------------------------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._translate(f"put {self.uri(key)}"):
            self._client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data)

    def get_bytes(self, key: str) -> bytes:
        with self._translate(f"get {self.uri(key)}"):
            try:
                response = self._client.get_object(Bucket=self.bucket, Key=self._full(key))
            except ClientError as exc:
                if _error_code(exc) in _MISSING_KEY_CODES:
                    raise StorageError(f"no object {self.uri(key)}") from None
                raise
            return response["Body"].read()

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        """The object's body streamed in 1 MiB chunks behind a buffered reader (readline, iteration)."""
        with self._translate(f"get {self.uri(key)}"):
            try:
                body = self._client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"]
            except ClientError as exc:
                if _error_code(exc) in _MISSING_KEY_CODES:
                    raise StorageError(f"no object {self.uri(key)}") from None
                raise
        try:
            yield io.BufferedReader(_Chunks(body.iter_chunks(1 << 20)), buffer_size=1 << 20)
        finally:
            body.close()

    def exists(self, key: str) -> bool:
        with self._translate(f"head {self.uri(key)}"):
            try:
                self._client.head_object(Bucket=self.bucket, Key=self._full(key))
            except ClientError as exc:
                if _error_code(exc) in _MISSING_KEY_CODES:
                    return False
                raise
        return True

    def delete(self, key: str) -> None:
        with self._translate(f"delete {self.uri(key)}"):
            self._client.delete_object(Bucket=self.bucket, Key=self._full(key))

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """ListObjectsV2 with StartAfter: the cost is the pages after the cursor, not all objects ever landed.

        ``list_calls`` grows by one per request. Keys come in the server's order, which is the order its
        StartAfter follows: byte order on AWS; SeaweedFS orders by path component (``a/b/c`` before ``a-b``).
        So a cursor must be the last key a listing returned, never a ``max()`` computed by the client.
        """
        request: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self._full(prefix) if prefix else self._prefix,
        }
        if start_after:
            request["StartAfter"] = self._full(start_after)
        while True:
            self.list_calls += 1
            with self._translate(f"list {self.uri(prefix)}"):
                page = self._client.list_objects_v2(**request)
            for obj in page.get("Contents", []):
                yield ObjectInfo(self._relative(obj["Key"]), obj["Size"], obj["LastModified"].timestamp())
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated"):
                return
            if not token:
                raise StorageError(
                    f"S3 listing of {self.uri(prefix)} is truncated but has no continuation token"
                )
            request["ContinuationToken"] = token

    # -- partitions --------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def staging_dir(self) -> Iterator[Path]:
        """A local temporary folder: S3 has no rename, so staging near the data buys nothing."""
        with tempfile.TemporaryDirectory(prefix="lake-staging-") as path:
            yield Path(path)

    def publish_dir(self, local_dir: Path, prefix: str) -> list[str]:
        """Upload the publishable files of ``local_dir`` under ``prefix``, then delete stale keys there.

        S3 has no rename, so this is not one atomic step: while it runs a reader listing the prefix may see
        new objects next to stale ones. The commit point on S3 is therefore the catalog registration made
        after this returns; readers must go through the catalog, not list the prefix. Each object is still
        written whole, and re-running with the same files gives the same keys (idempotent).
        """
        folder = prefix.strip("/")
        if not folder:
            raise StorageError("publish_dir needs a non-empty prefix (it deletes stale keys under it)")
        files = sorted(
            p for p in local_dir.rglob("*") if p.is_file() and _is_publishable(p.relative_to(local_dir))
        )
        published = [f"{folder}/{p.relative_to(local_dir).as_posix()}" for p in files]
        transfer = TransferConfig(use_threads=False)
        for path, key in zip(files, published, strict=True):
            with self._translate(f"upload {self.uri(key)}"):
                self._client.upload_file(str(path), self.bucket, self._full(key), Config=transfer)
        keep = set(published)
        stale = [o.key for o in self.list(folder + "/") if o.key not in keep]
        for start in range(0, len(stale), _DELETE_BATCH):
            batch = stale[start : start + _DELETE_BATCH]
            with self._translate(f"delete stale objects under {self.uri(folder)}"):
                response = self._client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self._full(k)} for k in batch], "Quiet": True},
                )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise StorageError(
                    f"could not delete {len(response['Errors'])} stale objects under {self.uri(folder)}, "
                    f"e.g. {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )
        return published

    def spark_uri(self, key: str) -> str:
        """Spark's S3A connector (hadoop-aws, loaded for lakes on S3) reads the object where it is."""
        return f"s3a://{self.bucket}/{self._full(key)}"


class _Chunks(io.RawIOBase):
    """A raw stream over an iterator of byte chunks (what botocore's StreamingBody offers)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._rest = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._rest:
            self._rest = next(self._chunks, b"")
            if not self._rest:
                return 0
        n = min(len(buffer), len(self._rest))
        buffer[:n], self._rest = self._rest[:n], self._rest[n:]
        return n
