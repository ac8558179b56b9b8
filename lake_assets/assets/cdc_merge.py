"""The CDC tables on storage: merge-on-read with compaction, and the one way to read them (no Dagster here).

Layout of ``intermediate/cdc/<source>/<table>`` (current state) and ``..._history`` (SCD type 2):

* ``bucket=NN/`` folders: the compacted table, split by a hash of the key. Plain Parquet readers (Spark,
  pyarrow, Athena) read these and see the table as of its last compaction, a consistent state.
* ``<table>/_pending/m<NNNNNNNN>-<id>.parquet``: versions merged since (one file per merge: the table's
  columns, ``Op``, ``commit_ts``, ``position``, ``_unchanged``, ``bucket``). Those readers skip names
  starting with ``_``. The lake's readers (``read_current`` / ``read_history``, the ``lake query`` views,
  the reconciliation check) apply them: ``transforms.cdc.snapshot_current`` / ``snapshot_history``.

A merge reads the raw files not merged yet (the manifest ``_system/cdc/<source>/<table>/merged.json``) and
appends their versions as one pending file: its cost follows the changes, not the table. When the pending
versions reach ``compact_ratio`` of the table's rows (or ``max_pending_merges`` files), the merge compacts:
it rewrites the buckets the pending and new versions touch and removes the pending files, so each stored row
is rewritten once per ``compact_ratio * rows`` changes (a constant amortised cost per change). Hudi calls
the same split "merge-on-read" with "read-optimized" (buckets only) and "snapshot" (merged) queries.

Crash safety: pending files are written before the manifest; a merge that stops before its manifest is
written is merged again (its versions then appear twice, and the read rule counts a (key, position) once;
the next compaction removes both files). Two merges at once each write their own file. A compaction
publishes the buckets, then the manifest, then deletes the pending files; a reader in between sees a version
twice, and the read rule counts a (key, position) once.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake_assets.checks.table_checks import duplicate_keys
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.sources.cdc_raw import CDC_SCHEMA_ROOT, load_versions
from lake_assets.storage import ObjectStore, Zone, zone_prefix
from lake_assets.transforms import cdc as T
from lake_assets.transforms.spark_session import AVRO_FORMAT

PENDING = "_pending"


class CdcMergeError(RuntimeError):
    """The merge cannot go on; the message says what is wrong and what to do."""


def current_prefix(spec: CdcTableSpec) -> str:
    return zone_prefix(Zone.INTERMEDIATE, "cdc", spec.source, spec.table)


def history_prefix(spec: CdcTableSpec) -> str:
    return zone_prefix(Zone.INTERMEDIATE, "cdc", spec.source, f"{spec.table}_history")


def pending_prefix(spec: CdcTableSpec) -> str:
    return f"{current_prefix(spec)}{PENDING}/"


def manifest_key(spec: CdcTableSpec) -> str:
    return zone_prefix(Zone.SYSTEM, "cdc", spec.source, spec.table) + "merged.json"


@dataclass
class Manifest:
    """What has been merged: raw files (key -> size), compacted rows per bucket, pending files' versions."""

    files: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    merges: int = 0

    @classmethod
    def load(cls, store: ObjectStore, spec: CdcTableSpec) -> Manifest:
        if not store.exists(manifest_key(spec)):
            return cls()
        data = json.loads(store.get_bytes(manifest_key(spec)))
        return cls(
            data.get("files", {}), data.get("rows", {}), data.get("pending", {}), data.get("merges", 0)
        )

    def save(self, store: ObjectStore, spec: CdcTableSpec) -> None:
        body = {"files": self.files, "rows": self.rows, "pending": self.pending, "merges": self.merges}
        store.put_bytes(manifest_key(spec), json.dumps(body, sort_keys=True).encode())


def table_columns(store: ObjectStore, spec: CdcTableSpec, registry_root: str = CDC_SCHEMA_ROOT) -> list[str]:
    return _avro_schema(store, spec, registry_root)[1]


def _avro_schema(store: ObjectStore, spec: CdcTableSpec, registry_root: str) -> tuple[str, list[str]]:
    versions = load_versions(store, spec, registry_root)
    if not versions:
        raise CdcMergeError(
            f"raw/cdc/{spec.name} has no registered schema under {registry_root}: run the raw asset first"
        )
    schema = versions[-1].schema
    system = (T.OP, T.COMMIT_TS, T.POSITION, T.UNCHANGED)
    return json.dumps(schema), [f["name"] for f in schema["fields"] if f["name"] not in system]


def _parquet(folder: Path, pattern: str) -> list[str]:
    return sorted(str(p) for p in folder.glob(pattern)) if folder.is_dir() else []


def _pending_files(store: ObjectStore, spec: CdcTableSpec, stack: contextlib.ExitStack) -> list[str]:
    """The pending files, local (fetched first from a remote store; kept until ``stack`` closes)."""
    return _parquet(stack.enter_context(store.local_copy(pending_prefix(spec))), "*.parquet")


def _bucket_files(
    store: ObjectStore, prefix: str, buckets: Sequence[str] | None, stack: contextlib.ExitStack
) -> list[str]:
    """A table's compacted files, local: every bucket, or only ``buckets`` (all a remote store fetches)."""
    if buckets is None:
        return _parquet(stack.enter_context(store.local_copy(prefix)), f"{T.BUCKET}=*/*.parquet")
    files: list[str] = []
    for bucket in buckets:
        files += _parquet(stack.enter_context(store.local_copy(f"{prefix}{T.BUCKET}={bucket}/")), "*.parquet")
    return files


def _read(spark: SparkSession, files: Sequence[str], spec: CdcTableSpec) -> DataFrame | None:
    """Parquet files as one frame, columns of every schema version, ``bucket`` from the key."""
    if not files:
        return None
    df = spark.read.option("mergeSchema", "true").parquet(*files)
    return T.with_bucket(df.drop(T.BUCKET), spec.primary_key, spec.buckets)


def _params(spec: CdcTableSpec, columns: list[str]) -> dict[str, Any]:
    return {"key": list(spec.primary_key), "columns": columns}


def read_current(
    spark: SparkSession, store: ObjectStore, spec: CdcTableSpec, stack: contextlib.ExitStack
) -> DataFrame | None:
    """The current state with the pending versions applied (None before the first merge)."""
    inputs = {
        "current": _read(spark, _bucket_files(store, current_prefix(spec), None, stack), spec),
        "history": _read(spark, _bucket_files(store, history_prefix(spec), None, stack), spec),
        "pending": _read(spark, _pending_files(store, spec, stack), spec),
    }
    return T.snapshot_current(spark, inputs, _params(spec, table_columns(store, spec)))


def read_history(
    spark: SparkSession, store: ObjectStore, spec: CdcTableSpec, stack: contextlib.ExitStack
) -> DataFrame | None:
    """Every version with the pending versions applied (None before the first merge)."""
    inputs = {
        "history": _read(spark, _bucket_files(store, history_prefix(spec), None, stack), spec),
        "pending": _read(spark, _pending_files(store, spec, stack), spec),
    }
    return T.snapshot_history(spark, inputs, _params(spec, table_columns(store, spec)))


def _write_buckets(spark: SparkSession, df: DataFrame, folder: Path, width: int) -> DataFrame:
    """Parquet by ``bucket=NN`` (one file per bucket), read back as readers will see it."""
    df.repartition(T.BUCKET).write.mode("overwrite").partitionBy(T.BUCKET).parquet(str(folder))
    if not any(folder.glob(f"{T.BUCKET}=*/*.parquet")):
        return spark.createDataFrame([], df.schema)
    written = spark.read.parquet(str(folder))
    return written.withColumn(T.BUCKET, F.lpad(F.col(T.BUCKET).cast("string"), width, "0"))


def _single_parquet(df: DataFrame, folder: Path) -> Path:
    df.coalesce(1).write.mode("overwrite").parquet(str(folder))
    files = list(folder.glob("*.parquet"))
    if len(files) != 1:
        raise CdcMergeError(f"expected one Parquet file in {folder}, found {len(files)}")
    return files[0]


def merge_new_changes(
    spark: SparkSession,
    store: ObjectStore,
    spec: CdcTableSpec,
    registry_root: str = CDC_SCHEMA_ROOT,
    compact: bool = False,
) -> dict[str, Any]:
    """Merges the raw files not merged yet: appends a pending file, or compacts; returns what it did.

    ``compact=True`` compacts even below the table's thresholds (and with no new raw file, if any pending).
    """
    manifest = Manifest.load(store, spec)
    raw_root = zone_prefix(Zone.RAW, "cdc", spec.source, spec.table)
    versions = {i.key: _raw_version(store, i) for i in store.list(raw_root) if i.key.endswith(".avro")}
    new = [k for k, v in versions.items() if manifest.files.get(k) != v]
    pending_files = [k for k in store.list_keys(pending_prefix(spec)) if k.endswith(".parquet")]
    report: dict[str, Any] = {
        "raw_files_merged": len(new),
        "changes": 0,
        "mode": "none",
        "buckets_rewritten": [],
        "pending_merges": len(pending_files),
        "pending_versions": sum(manifest.pending.values()),
        "rows": sum(manifest.rows.values()),
    }
    if not new and not (compact and pending_files):
        return report
    schema_json, columns = _avro_schema(store, spec, registry_root)
    params = _params(spec, columns)
    with contextlib.ExitStack() as stack:
        changes = None
        if new:
            changes = _read_raw(spark, stack, store, spec, new, schema_json).cache()
            report["changes"] = changes.count()
        base_rows = sum(manifest.rows.values())
        pending_versions = sum(manifest.pending.values()) + report["changes"]
        # A full load over a table the lake already holds: every bucket may hold keys the load ends.
        loads = any(_is_load(k) for k in new)
        reload = loads and bool(manifest.rows or pending_files)
        report["reload"] = reload
        compacting = (
            compact
            or reload
            or pending_versions > spec.compact_ratio * base_rows
            or len(pending_files) + 1 > spec.max_pending_merges
        )
        if compacting:
            _compact(spark, stack, store, spec, manifest, changes, params, report, reload, loads)
        else:
            _append_pending(spark, stack, store, spec, manifest, changes, params, report)
        if changes is not None:
            changes.unpersist()
    manifest.files.update({k: versions[k] for k in new})
    manifest.merges += 1
    manifest.save(store, spec)
    if compacting:
        for key in pending_files:  # after the manifest: a crash before here leaves versions already compacted
            store.delete(key)
    report.update(
        pending_merges=len(manifest.pending),
        pending_versions=sum(manifest.pending.values()),
        rows=sum(manifest.rows.values()),
    )
    return report


def _is_load(key: str) -> bool:
    """Raw files made from a full load are named after it: ``LOAD00000001.avro``."""
    return key.rsplit("/", 1)[-1].startswith("LOAD")


def _raw_version(store: ObjectStore, info: Any) -> int | str:
    """What identifies a raw file's content in the manifest: the size; for a full load also a position.

    A re-snapshot rewrites a load under the same name, possibly the same size; its positions (the new
    snapshot's log position) always differ. Change files are never rewritten with other changes.
    """
    if not _is_load(info.key):
        return info.size
    with store.open_read(info.key) as body:
        first = next(iter(fastavro.reader(body)), None)
    return f"{info.size}@{first[T.POSITION] if first else ''}"


def _read_raw(
    spark: SparkSession,
    stack: contextlib.ExitStack,
    store: ObjectStore,
    spec: CdcTableSpec,
    new: Sequence[str],
    schema_json: str,
) -> DataFrame:
    frames = []
    for load in (True, False):
        paths = []
        for key in new:
            if _is_load(key) != load:
                continue
            prefix, name = key.rsplit("/", 1)
            folder = stack.enter_context(store.local_copy(prefix + "/"))
            if (folder / name).exists():
                paths.append(str(folder / name))
        if paths:
            frame = spark.read.format(AVRO_FORMAT).option("avroSchema", schema_json).load(paths)
            frames.append(frame.withColumn(T.LOAD_FLAG, F.lit(load)))
    changes = frames[0] if len(frames) == 1 else frames[0].unionByName(frames[1])
    return T.with_bucket(changes, spec.primary_key, spec.buckets)


def _buckets(df: DataFrame | None) -> set[str]:
    return set() if df is None else {r[0] for r in df.select(T.BUCKET).distinct().collect()}


def _append_pending(
    spark: SparkSession,
    stack: contextlib.ExitStack,
    store: ObjectStore,
    spec: CdcTableSpec,
    manifest: Manifest,
    changes: DataFrame,
    params: dict[str, Any],
    report: dict[str, Any],
) -> None:
    """One pending file with the batch's versions; reads stored rows only for values the log did not carry."""
    previous = None
    partial = changes.where(F.size(F.coalesce(F.col(T.UNCHANGED), F.array())) > 0)
    needed = sorted(_buckets(partial))
    if needed:
        keys = partial.select(*spec.primary_key).distinct()
        stored = [
            _read(spark, _bucket_files(store, history_prefix(spec), needed, stack), spec),
            _read(spark, _pending_files(store, spec, stack), spec),
        ]
        frames = [f.join(keys, list(spec.primary_key), "left_semi") for f in stored if f is not None]
        for frame in frames:
            previous = frame if previous is None else previous.unionByName(frame, allowMissingColumns=True)
    versions = T.new_versions(spark, {"changes": changes, "previous": previous}, params)
    stage = stack.enter_context(store.staging_dir())
    local = _single_parquet(versions.sortWithinPartitions(T.BUCKET, *spec.primary_key), stage / "pending")
    written = spark.read.parquet(str(local))
    twice = written.groupBy(*spec.primary_key, T.POSITION).count().where("count > 1").count()
    if twice:
        raise CdcMergeError(
            f"intermediate/cdc/{spec.name}: {twice} (key, position) pairs occur more than once in the new "
            "pending versions; nothing published"
        )
    # Numbered for people, unique for safety: two merges running at once never overwrite each other's file.
    name = f"m{manifest.merges + 1:08d}-{uuid.uuid4().hex[:8]}.parquet"
    count = written.count()
    store.put_bytes(pending_prefix(spec) + name, local.read_bytes())
    manifest.pending[name] = count
    report.update(mode="pending", pending_file=name, versions_appended=count, duplicate_keys=0)


def _compact(
    spark: SparkSession,
    stack: contextlib.ExitStack,
    store: ObjectStore,
    spec: CdcTableSpec,
    manifest: Manifest,
    changes: DataFrame | None,
    params: dict[str, Any],
    report: dict[str, Any],
    reload: bool = False,
    loads: bool = False,
) -> None:
    """Rewrites the buckets that the pending and new versions touch; the pending files become obsolete.

    With full-load rows among the changes (``loads``), keys live before a load that it lacks are deleted as
    of its position; on a ``reload`` (a load over stored rows) every bucket is read for them. The batch itself
    may hold earlier versions too (a table rebuilt from all of raw after a re-snapshot).
    """
    pending = _read(spark, _pending_files(store, spec, stack), spec)
    touched = None if reload else sorted(_buckets(changes) | _buckets(pending))
    stored = _read(spark, _bucket_files(store, history_prefix(spec), touched, stack), spec)
    if pending is not None:
        stored = pending if stored is None else stored.unionByName(pending, allowMissingColumns=True)
    if loads and changes is not None:
        ended = T.reload_deletes(spark, {"changes": changes, "stored": stored}, params)
        if ended is not None:
            ended = T.with_bucket(ended, spec.primary_key, spec.buckets).withColumn(T.LOAD_FLAG, F.lit(False))
            changes = changes.unionByName(ended, allowMissingColumns=True)
            report["ended_by_reload"] = ended.count()
    if reload:
        touched = sorted(_buckets(changes) | _buckets(stored))
    if changes is None:  # compacting pending versions only
        changes = spark.createDataFrame([], stored.schema).withColumn(
            T.UNCHANGED, F.lit(None).cast("array<string>")
        )
    width = T.bucket_width(spec.buckets)
    stage = stack.enter_context(store.staging_dir())
    history = T.build_history(spark, {"changes": changes, "history": stored}, params)
    history = _write_buckets(spark, history, stage / "history", width)
    current = T.current_state(spark, {"history": history}, params)
    current = _write_buckets(spark, current, stage / "current", width)
    dupes = duplicate_keys(current, spec.primary_key)
    if dupes:
        raise CdcMergeError(
            f"intermediate/cdc/{spec.name}: {dupes} key values occur more than once in the merged buckets; "
            "nothing published"
        )
    counts = {r[0]: r[1] for r in current.groupBy(T.BUCKET).count().collect()}
    for bucket in touched:
        for table, prefix in (("history", history_prefix(spec)), ("current", current_prefix(spec))):
            folder = stage / table / f"{T.BUCKET}={bucket}"
            folder.mkdir(parents=True, exist_ok=True)
            store.publish_dir(folder, f"{prefix}{T.BUCKET}={bucket}/")
        manifest.rows[bucket] = int(counts.get(bucket, 0))
    manifest.pending = {}
    report.update(mode="compacted", buckets_rewritten=touched, duplicate_keys=0)
