"""The CDC tables as Iceberg tables, kept with MERGE INTO, and the one way to read them (no Dagster here).

``intermediate.cdc_<source>_<table>`` is the current state (one row per key) and ``..._history`` every
version (SCD type 2: ``valid_from``, ``valid_to``, ``is_current``, ``is_deleted``), both merge-on-read
(position deletes) and partitioned by ``bucket(N, <first key column>)``. A merge reads the raw files not
merged yet (the manifest ``_system/cdc/<source>/<table>/merged.json``), reads the stored history of the
keys they touch, rebuilds those keys' history with ``transforms.cdc.build_history`` (ordering by log
position, a change seen twice counted once, values the log did not carry taken from the version before), and
merges it:

* history: ``MERGE ... ON key, position``: versions updated (their ``valid_to`` may change) or inserted;
* current: ``MERGE ... ON key``: the key's current row updated or inserted, a key whose last version is a
  delete deleted.

Both are staged on audit branches and checked (one version per key and position, one row per key, among the
touched keys) before either is published, through the lake's one checked commit
(``tables.checked_commit.commit_checked_together``); then history, then current, is fast-forwarded. If another
commit moved a table meanwhile, the merge is rebuilt on top of it; re-merging versions already published is a
no-op (the same rows match). A full load over a table the lake holds (a re-snapshot) rebuilds every key,
ending the keys the load lacks. Compaction and snapshot expiry are Iceberg's procedures (the
``iceberg_maintenance`` job). ``merge_tables`` merges several tables side by side in the one Spark session.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import fastavro
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake_assets.assets.spark_io import avro_reader
from lake_assets.checks.staged import StagedCheck, key_unique
from lake_assets.registry.cdc import CDC_SCHEMA_ROOT, load_versions
from lake_assets.settings import SparkSettings
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.storage import ObjectStore, Zone, zone_prefix
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.checked_commit import CheckedWrite, commit_checked_together
from lake_assets.tables.errors import TableCommitError
from lake_assets.tables.iceberg import Staging, merge_writer, qualified, snapshot_rows, table_exists
from lake_assets.tables.specs import TableSpec, table_spec
from lake_assets.transforms import cdc as T

DELETE = "_delete"
KEY_UNIQUE = "primary_key_unique"  # the current table: one row per key
HISTORY_UNIQUE = "history_versions_unique"  # the history: one version per key and log position


class CdcMergeError(RuntimeError):
    """The merge cannot go on; the message says what is wrong and what to do (nothing was published).

    ``checks``: check name -> (passed, metadata) when a blocking check on the staged tables failed.
    """

    def __init__(self, message: str, checks: dict[str, tuple[bool, dict[str, Any]]] | None = None) -> None:
        super().__init__(message)
        self.checks = checks or {}


def _cdc_table(spec: CdcTableSpec, suffix: str) -> TableSpec:
    """Layout from tables.yaml (``intermediate.cdc_*``), bucketed by the first key column."""
    partition = (f"bucket({spec.buckets}, {spec.primary_key[0]})",)
    return table_spec("intermediate", f"cdc_{spec.source}_{spec.table}{suffix}", partition_by=partition)


def current_table(spec: CdcTableSpec) -> TableSpec:
    """``intermediate.cdc_<source>_<table>``: one row per key."""
    return _cdc_table(spec, "")


def history_table(spec: CdcTableSpec) -> TableSpec:
    """``intermediate.cdc_<source>_<table>_history``: every version."""
    return _cdc_table(spec, "_history")


def manifest_key(spec: CdcTableSpec) -> str:
    return zone_prefix(Zone.SYSTEM, "cdc", spec.source, spec.table) + "merged.json"


@dataclass
class Manifest:
    """Which raw files have been merged (key -> size, or size@position for full loads)."""

    files: dict[str, int | str] = field(default_factory=dict)
    merges: int = 0

    @classmethod
    def load(cls, store: ObjectStore, spec: CdcTableSpec) -> Manifest:
        if not store.exists(manifest_key(spec)):
            return cls()
        data = json.loads(store.get_bytes(manifest_key(spec)))
        return cls(data.get("files", {}), data.get("merges", 0))

    def save(self, store: ObjectStore, spec: CdcTableSpec) -> None:
        body = {"files": self.files, "merges": self.merges}
        store.put_bytes(manifest_key(spec), json.dumps(body, sort_keys=True).encode())


def table_columns(store: ObjectStore, spec: CdcTableSpec, registry_root: str = CDC_SCHEMA_ROOT) -> list[str]:
    return _avro_schema(store, spec, registry_root)[1]


def _avro_schema(
    store: ObjectStore, spec: CdcTableSpec, registry_root: str
) -> tuple[dict[str, Any], list[str]]:
    versions = load_versions(store, spec, registry_root)
    if not versions:
        raise CdcMergeError(
            f"raw/cdc/{spec.name} has no registered schema under {registry_root}: run the raw asset first"
        )
    schema = versions[-1].schema
    system = (T.OP, T.COMMIT_TS, T.POSITION, T.UNCHANGED)
    return schema, [f["name"] for f in schema["fields"] if f["name"] not in system]


def _params(spec: CdcTableSpec, columns: list[str]) -> dict[str, Any]:
    return {"key": list(spec.primary_key), "columns": columns}


def read_current(spark: SparkSession, spec: CdcTableSpec) -> DataFrame | None:
    """The current state (None before the first merge); ``spark`` is a session of the lake's catalog."""
    table = current_table(spec)
    return spark.table(qualified(table)) if table_exists(spark, table) else None


def read_history(spark: SparkSession, spec: CdcTableSpec) -> DataFrame | None:
    """Every version (None before the first merge)."""
    table = history_table(spec)
    return spark.table(qualified(table)) if table_exists(spark, table) else None


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
    spark: SparkSession, store: ObjectStore, spec: CdcTableSpec, new: Sequence[str], schema: dict[str, Any]
) -> DataFrame:
    """The new raw files, read where they are (S3 through s3a), full loads flagged."""
    frames = []
    for load in (True, False):
        paths = [store.spark_uri(key) for key in new if _is_load(key) == load]
        if paths:
            frame = avro_reader(spark, schema).load(paths)
            frames.append(frame.withColumn(T.LOAD_FLAG, F.lit(load)))
    changes = frames[0] if len(frames) == 1 else frames[0].unionByName(frames[1])
    return T.with_bucket(changes, spec.primary_key, spec.buckets)


def _rebuild(
    spark: SparkSession,
    spec: CdcTableSpec,
    stored: DataFrame | None,
    changes: DataFrame,
    params: dict[str, Any],
    reload: bool,
    loads: bool,
) -> tuple[DataFrame, int]:
    """The touched keys' history rebuilt from ``stored`` (the history ``main`` holds now) and the changes;
    on a ``reload`` every stored key is rebuilt, else only the keys the changes touch."""
    key = list(spec.primary_key)
    if stored is not None:
        stored = T.with_bucket(stored, key, spec.buckets)
        if not reload:
            stored = stored.join(changes.select(*key).distinct(), key, "left_semi")
    batch, ended_count = changes, 0
    if loads:
        ended = T.reload_deletes(spark, {"changes": changes, "stored": stored}, params)
        if ended is not None:
            ended = T.with_bucket(ended, key, spec.buckets).withColumn(T.LOAD_FLAG, F.lit(False))
            batch = changes.unionByName(ended, allowMissingColumns=True)
            ended_count = ended.count()
    return T.build_history(spark, {"changes": batch, "history": stored}, params), ended_count


def _current_source(history: DataFrame, params: dict[str, Any]) -> DataFrame:
    """Current rows of the touched keys, and a ``_delete`` row for each touched key that has none."""
    key = list(params["key"])
    current = T.current_state(history.sparkSession, {"history": history}, params).drop(T.BUCKET)
    gone = history.select(*key).distinct().join(current.select(*key), key, "left_anti")
    gone = gone.select(
        *key,
        *[F.lit(None).cast(current.schema[c].dataType).alias(c) for c in current.columns if c not in key],
    )
    return current.withColumn(DELETE, F.lit(False)).unionByName(gone.withColumn(DELETE, F.lit(True)))


def merge_checks(key: Sequence[str]) -> tuple[list[StagedCheck], list[StagedCheck]]:
    """The blocking checks of the staged history and current state (the shared builders), judged on the
    keys the merge touched."""
    return [key_unique(HISTORY_UNIQUE, [*key, T.POSITION])], [key_unique(KEY_UNIQUE, key)]


def merge_new_changes(
    spark: SparkSession,
    store: ObjectStore,
    catalog: CatalogConfig,
    spec: CdcTableSpec,
    registry_root: str = CDC_SCHEMA_ROOT,
) -> dict[str, Any]:
    """Merges the raw files not merged yet into history and current state; returns what it did.

    ``spark`` is a session of the lake's catalog (``catalog_session``). The two tables are staged, checked
    and published together through the lake's one checked commit (``commit_checked_together``); raises
    ``CdcMergeError`` (nothing published) when a blocking check fails on the staged tables.
    """
    manifest = Manifest.load(store, spec)
    raw_root = zone_prefix(Zone.RAW, "cdc", spec.source, spec.table)
    versions = {i.key: _raw_version(store, i) for i in store.list(raw_root) if i.key.endswith(".avro")}
    new = [k for k, v in versions.items() if manifest.files.get(k) != v]
    report: dict[str, Any] = {"raw_files_merged": len(new), "changes": 0, "mode": "none", "reload": False}
    if not new:
        return report
    schema, columns = _avro_schema(store, spec, registry_root)
    params = _params(spec, columns)
    key = list(spec.primary_key)
    history_spec, current_spec = history_table(spec), current_table(spec)
    changes = _read_raw(spark, store, spec, new, schema).cache()
    cached: list[DataFrame] = [changes]
    loads = any(_is_load(k) for k in new)
    attempt: dict[str, Any] = {}  # what the latest attempt built, for the report

    def build() -> list[CheckedWrite]:
        """The merge on top of the history ``main`` holds now (again after a lost race)."""
        stored = read_history(spark, spec)
        # A full load over a table the lake holds: any stored key may be one the load ends.
        reload = loads and stored is not None and bool(stored.limit(1).count())
        history, ended = _rebuild(spark, spec, stored, changes, params, reload, loads)
        history = history.cache()
        touched = history.select(*key).distinct().cache()
        cached.extend((history, touched))
        attempt.update(reload=reload, ended=ended, touched=touched)
        history_rows = history.drop(T.BUCKET)
        current_rows = _current_source(history, params)
        table_schema = current_rows.drop(DELETE).schema
        history_checks, current_checks = merge_checks(key)

        def among_touched(frame: DataFrame) -> DataFrame:
            return frame.join(touched, key, "left_semi")

        return [
            CheckedWrite(
                Staging(
                    history_spec,
                    history_rows,
                    write=merge_writer(key, history_rows.columns, also_match=(T.POSITION,)),
                ),
                history_checks,
                among_touched,
            ),
            CheckedWrite(
                Staging(
                    current_spec,
                    current_rows,
                    write=merge_writer(key, table_schema.fieldNames()),
                    schema=table_schema,
                ),
                current_checks,
                among_touched,
            ),
        ]

    try:
        report["changes"] = changes.count()
        try:
            history_outcome, current_outcome = commit_checked_together(spark, catalog, build)
        except TableCommitError as exc:
            raise CdcMergeError(f"intermediate/cdc/{spec.name}: {exc}") from None
        checks = {**history_outcome.checks, **current_outcome.checks}
        if not (history_outcome.published and current_outcome.published):
            failed = [*history_outcome.failed_blocking, *current_outcome.failed_blocking]
            raise CdcMergeError(
                f"intermediate/cdc/{spec.name}: {', '.join(failed)} failed on the staged tables; "
                "nothing published",
                checks,
            )
        report.update(
            mode="merged",
            reload=attempt["reload"],
            ended_by_reload=attempt["ended"],
            attempts=current_outcome.attempts,
            keys_touched=attempt["touched"].count(),
            history_snapshot_id=str(history_outcome.snapshot_id),
            current_snapshot_id=str(current_outcome.snapshot_id),
            checks=checks,
        )
    finally:
        for frame in cached:  # also when a check or the race stopped the merge
            frame.unpersist()
    manifest.files.update({k: versions[k] for k in new})
    manifest.merges += 1
    manifest.save(store, spec)
    rows = snapshot_rows(spark, current_table(spec), int(report["current_snapshot_id"]))
    report["rows"] = rows if rows is not None else read_current(spark, spec).count()
    return report


MergeOutcome = dict[str, Any] | Exception  # a merge's report, or why it did not publish
CDC_REPORTS = "lake/cdc_reports"  # the Glue job's custom Pipes message: table name -> outcome_message


def outcome_message(outcome: MergeOutcome) -> dict[str, Any]:
    """A merge's outcome as JSON (a Glue job sends it through Pipes): the report, or the error and, for a
    failed check, the check results."""
    if not isinstance(outcome, Exception):
        return {"report": outcome}
    checks = outcome.checks if isinstance(outcome, CdcMergeError) else {}
    trace = "".join(traceback.format_exception(outcome))
    return {"error": str(outcome), "type": type(outcome).__name__, "checks": checks, "trace": trace}


def outcome_from_message(message: dict[str, Any]) -> MergeOutcome:
    """``outcome_message`` read back: the same report, or a ``CdcMergeError`` carrying the job's error."""
    if "report" in message:
        return message["report"]
    checks = {name: (passed, figures) for name, (passed, figures) in message.get("checks", {}).items()}
    if message.get("type") == CdcMergeError.__name__:
        return CdcMergeError(message["error"], checks)
    return RuntimeError(f"{message['type']}: {message['error']}\n{message.get('trace', '')}".rstrip())


def merge_tables(
    spark: SparkSession,
    store: ObjectStore,
    catalog: CatalogConfig,
    specs: Sequence[CdcTableSpec],
    registry_root: str = CDC_SCHEMA_ROOT,
    *,
    workers: int = SparkSettings.merge_workers,
) -> dict[str, MergeOutcome]:
    """``merge_new_changes`` for each table, ``workers`` at a time in the one session; table name -> report,
    or the exception that stopped that table (the others go on: tables are independent commits).

    One table's job scheduling and catalog commits overlap another's Spark work, so eleven small tables take
    about 0.6 of the time one after another (docs/PERFORMANCE.md; on two cores the CPU is then the limit).
    Each merge keeps its own audit branches, temporary views and cached frames; nothing is set on the shared
    session.
    """

    def merge(spec: CdcTableSpec) -> MergeOutcome:
        try:
            return merge_new_changes(spark, store, catalog, spec, registry_root)
        except Exception as exc:  # noqa: BLE001 - reported per table by the caller, with its traceback
            return exc

    if workers <= 1 or len(specs) <= 1:
        return {spec.name: merge(spec) for spec in specs}
    with ThreadPoolExecutor(max_workers=min(workers, len(specs)), thread_name_prefix="cdc_merge") as pool:
        futures = {spec.name: pool.submit(merge, spec) for spec in specs}
    return {name: future.result() for name, future in futures.items()}
