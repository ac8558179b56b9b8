"""Iceberg writes with write-audit-publish: stage on a branch, check what readers would see, then publish.

The only module that commits to the intermediate and final tables. No Dagster import: a Glue job commits
through it too. A materialization is one Iceberg commit on ``main``: the staged snapshot is published by a
fast-forward (the catalog's pointer swap), so no reader ever sees half a run, and a failed check drops the
branch, leaving ``main`` at its previous snapshot.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql.types import StructType
from pyspark.sql.utils import AnalysisException

from lake_assets.tables.catalog import CATALOG_NAME, CatalogConfig
from lake_assets.tables.errors import TableCommitError
from lake_assets.tables.specs import TableSpec

BASE_PROPERTIES = {
    "format-version": "2",  # v3 is one-way and not yet read by every AWS service
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "snappy",
    "write.distribution-mode": "hash",  # one writer per partition: few files per day
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
}


def qualified(spec: TableSpec) -> str:
    """``lake.<database>.<table>``: the Spark name of a table in the lake's catalog."""
    return f"{CATALOG_NAME}.{spec.identifier}"


def table_exists(spark: SparkSession, spec: TableSpec) -> bool:
    return bool(spark.catalog.tableExists(qualified(spec)))


def _ddl_type(data_type: object) -> str:
    return data_type.simpleString()  # type: ignore[attr-defined]


def _ensure_namespace(spark: SparkSession, database: str) -> None:
    """``CREATE NAMESPACE IF NOT EXISTS`` is check-then-insert in the JDBC catalog: two writers creating the
    first tables of a database at once can both insert; the one that loses finds the namespace there."""
    try:
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {CATALOG_NAME}.{database}")
    except Exception:
        if not spark.sql(f"SHOW NAMESPACES IN {CATALOG_NAME} LIKE '{database}'").count():
            raise


def ensure_table(spark: SparkSession, catalog: CatalogConfig, spec: TableSpec, schema: StructType) -> None:
    """Create the table (partition spec, sort order, properties from its spec), or evolve it to ``schema``.

    New columns are added (nullable); a column whose type changed in a way Iceberg cannot widen stops the
    commit with the table and the column named, the table unchanged.
    """
    name = qualified(spec)
    if not table_exists(spark, spec):
        _ensure_namespace(spark, spec.database)
        columns = ", ".join(f"`{f.name}` {_ddl_type(f.dataType)}" for f in schema.fields)
        partitioned = f" PARTITIONED BY ({', '.join(spec.partition_by)})" if spec.partition_by else ""
        properties = BASE_PROPERTIES | spec.properties
        props = ", ".join(f"'{k}'='{v}'" for k, v in properties.items())
        location = catalog.table_location(spec.database, spec.name)
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {name} ({columns}) USING iceberg{partitioned} "
            f"LOCATION '{location}' TBLPROPERTIES ({props})"
        )
        if spec.sort_by:
            # Partitioned: one writer per partition (few files per day), sorted within it; plain WRITE ORDERED
            # BY would switch the table to range distribution.
            distributed = "DISTRIBUTED BY PARTITION LOCALLY " if spec.partition_by else ""
            spark.sql(f"ALTER TABLE {name} WRITE {distributed}ORDERED BY {', '.join(spec.sort_by)}")
        return
    current = {f.name: f.dataType for f in spark.table(name).schema.fields}
    added = [f for f in schema.fields if f.name not in current]
    widened = [f for f in schema.fields if f.name in current and current[f.name] != f.dataType]
    for f in widened:  # all checked before anything changes
        if not _widens(current[f.name], f.dataType):
            raise TableCommitError(
                f"{spec.identifier}: column {f.name!r} is {_ddl_type(current[f.name])} in the table but "
                f"{_ddl_type(f.dataType)} in this write; Iceberg cannot change it in place. The table is "
                "unchanged: add a new column instead, or rebuild the table (docs/OPERATIONS.md)"
            )
    for f in added:
        spark.sql(f"ALTER TABLE {name} ADD COLUMN `{f.name}` {_ddl_type(f.dataType)}")
    for f in widened:
        spark.sql(f"ALTER TABLE {name} ALTER COLUMN `{f.name}` TYPE {_ddl_type(f.dataType)}")


def _widens(old: object, new: object) -> bool:
    """Iceberg's promotions: int -> long, float -> double, decimal(P,S) -> decimal(P',S) with P' > P."""
    a, b = _ddl_type(old), _ddl_type(new)
    if (a, b) in {("int", "bigint"), ("float", "double")}:
        return True
    if a.startswith("decimal(") and b.startswith("decimal("):
        pa, sa = a[8:-1].split(",")
        pb, sb = b[8:-1].split(",")
        return sa == sb and int(pb) >= int(pa)
    return False


def current_snapshot_id(spark: SparkSession, spec: TableSpec) -> int | None:
    rows = spark.sql(f"SELECT snapshot_id FROM {qualified(spec)}.refs WHERE name = 'main'").collect()
    return rows[0][0] if rows else None


def snapshot_rows(spark: SparkSession, spec: TableSpec, snapshot_id: int) -> int | None:
    """Rows a reader of the snapshot sees, from its summary (no data read): records in data files minus
    position deletes (each deletes one live row). None when the summary lacks the totals or the table has
    equality deletes, which the lake never writes."""
    rows = spark.sql(
        f"SELECT summary FROM {qualified(spec)}.snapshots WHERE snapshot_id = {int(snapshot_id)}"
    ).collect()
    summary = rows[0][0] if rows else {}
    if "total-records" not in summary or summary.get("total-equality-deletes", "0") != "0":
        return None
    return int(summary["total-records"]) - int(summary.get("total-position-deletes", "0"))


@dataclass
class StagedWrite:
    """A write on an audit branch: ``frame`` is what readers will see once it is published."""

    spark: SparkSession
    spec: TableSpec
    branch: str
    base_snapshot_id: int | None
    published_snapshot_id: int | None = None
    _published: bool = field(default=False, repr=False)

    @property
    def frame(self) -> DataFrame:
        return self.spark.read.option("branch", self.branch).table(qualified(self.spec))

    def staged_snapshot_id(self) -> int:
        rows = self.spark.sql(
            f"SELECT snapshot_id FROM {qualified(self.spec)}.refs WHERE name = '{self.branch}'"
        ).collect()
        return rows[0][0]

    def publish(self) -> int:
        """Fast-forward ``main`` to the staged snapshot: one atomic commit in the catalog."""
        try:
            self.spark.sql(
                f"CALL {CATALOG_NAME}.system.fast_forward('{qualified(self.spec)}', 'main', '{self.branch}')"
            ).collect()
        except Exception as exc:  # py4j / analysis errors: main moved on meanwhile
            raise ConcurrentCommit(str(exc).splitlines()[0]) from None
        self._published = True
        self.published_snapshot_id = self.staged_snapshot_id()
        return self.published_snapshot_id


class ConcurrentCommit(RuntimeError):
    """``main`` moved after the branch was made (another commit landed first): stage again on top of it."""


Writer = Callable[[DataFrame, str], None]  # writes a frame into a table name (a branch's, here)


def overwrite_writer(replace_where: Column | None) -> Writer:
    """Replace the rows ``replace_where`` selects (a day that lost all its rows is emptied too), or, without
    it, the partitions present in the frame (dynamic partition overwrite)."""

    def write(df: DataFrame, target: str) -> None:
        writer = df.writeTo(target)
        if replace_where is not None:
            writer.overwrite(replace_where)
        else:
            writer.overwritePartitions()

    return write


@contextlib.contextmanager
def stage_write(
    spark: SparkSession,
    catalog: CatalogConfig,
    spec: TableSpec,
    df: DataFrame,
    *,
    replace_where: Column | None = None,
    write: Writer | None = None,
    schema: StructType | None = None,
) -> Iterator[StagedWrite]:
    """Write ``df`` to a new branch of the table and yield it for checks; the branch is always dropped.

    ``write`` does the writing (default: ``overwrite_writer(replace_where)``; a MERGE for CDC tables);
    ``schema``: the table's columns when ``df`` carries more (a MERGE source's ``_delete``). Call
    ``publish()`` inside the block to make the write visible; leaving without it discards it.
    """
    ensure_table(spark, catalog, spec, schema or df.schema)
    name = qualified(spec)
    branch = f"audit_{uuid.uuid4().hex[:16]}"
    base = current_snapshot_id(spark, spec)  # None for a new table: main gets its first snapshot on publish
    spark.sql(f"ALTER TABLE {name} CREATE BRANCH `{branch}`")
    try:
        (write or overwrite_writer(replace_where))(df, f"{name}.branch_{branch}")
        yield StagedWrite(spark, spec, branch, base)
    finally:
        with contextlib.suppress(AnalysisException, Exception):
            spark.sql(f"ALTER TABLE {name} DROP BRANCH IF EXISTS `{branch}`")


@dataclass(frozen=True)
class Published:
    table: str
    snapshot_id: int | None  # main after the commit (the previous one when nothing was published)
    published: bool
    attempts: int


@dataclass(frozen=True)
class Staging:
    """One table's part of a commit: the rows, and how they are written (see ``stage_write``)."""

    spec: TableSpec
    frame: DataFrame
    replace_where: Column | None = None
    write: Writer | None = None
    schema: StructType | None = None


def publish_together(
    spark: SparkSession,
    catalog: CatalogConfig,
    build: Callable[[], Sequence[Staging]],
    audit: Callable[[Sequence[StagedWrite]], bool],
    *,
    max_attempts: int = 3,
) -> list[Published]:
    """Stage every table of ``build()``, audit them all, publish them in order only if the audit passes.

    ``build`` is called for every attempt, so a write computed from a table itself (a CDC merge) is
    recomputed on top of the commit that won a race. Tables publish one after another (Iceberg commits are
    per table): when another commit moved a later table meanwhile, the whole set is staged again on top of
    what is there, so its writes must be idempotent (a day overwritten, a MERGE of the same rows: both are).
    After ``max_attempts`` lost races it fails; nothing of the last attempt is published.
    """
    names = ""
    for attempt in range(1, max_attempts + 1):
        with contextlib.ExitStack() as stack:
            staged = [
                stack.enter_context(
                    stage_write(
                        spark,
                        catalog,
                        s.spec,
                        s.frame,
                        replace_where=s.replace_where,
                        write=s.write,
                        schema=s.schema,
                    )
                )
                for s in build()
            ]
            names = ", ".join(s.spec.identifier for s in staged)
            if not audit(staged):
                return [Published(s.spec.identifier, s.base_snapshot_id, False, attempt) for s in staged]
            try:
                snapshots = [s.publish() for s in staged]
            except ConcurrentCommit:
                continue
            return [
                Published(s.spec.identifier, snapshot, True, attempt)
                for s, snapshot in zip(staged, snapshots, strict=True)
            ]
    raise TableCommitError(
        f"{names}: {max_attempts} attempts lost the race to other commits; nothing of this run was "
        "published (run it again)"
    )


def write_audit_publish(
    spark: SparkSession,
    catalog: CatalogConfig,
    spec: TableSpec,
    df: DataFrame | Callable[[], DataFrame],
    audit: Callable[[StagedWrite], bool],
    *,
    replace_where: Column | None = None,
    write: Writer | None = None,
    max_attempts: int = 3,
) -> Published:
    """``publish_together`` for one table: stage, audit, publish (``df`` may be a function, rebuilt for
    every attempt)."""
    [published] = publish_together(
        spark,
        catalog,
        lambda: [Staging(spec, df() if callable(df) else df, replace_where, write)],
        lambda staged: audit(staged[0]),
        max_attempts=max_attempts,
    )
    return published


def merge_writer(key: Sequence[str], columns: Sequence[str], *, also_match: Sequence[str] = ()) -> Writer:
    """``MERGE INTO`` on ``key`` (+ ``also_match``): matched rows updated, new ones inserted, and rows whose
    source has ``_delete`` true deleted. Iceberg writes position deletes (merge-on-read tables)."""

    def write(df: DataFrame, target: str) -> None:
        source = f"lake_merge_{uuid.uuid4().hex[:12]}"
        df.createOrReplaceTempView(source)
        on = " AND ".join(f"t.`{c}` = s.`{c}`" for c in (*key, *also_match))
        sets = ", ".join(f"t.`{c}` = s.`{c}`" for c in columns)
        names = ", ".join(f"`{c}`" for c in columns)
        values = ", ".join(f"s.`{c}`" for c in columns)
        deletes = "_delete" in df.columns
        try:
            df.sparkSession.sql(
                f"MERGE INTO {target} t USING {source} s ON {on} "
                + ("WHEN MATCHED AND s._delete THEN DELETE " if deletes else "")
                + f"WHEN MATCHED THEN UPDATE SET {sets} "
                + f"WHEN NOT MATCHED {'AND NOT s._delete ' if deletes else ''}"
                + f"THEN INSERT ({names}) VALUES ({values})"
            )
        finally:
            df.sparkSession.catalog.dropTempView(source)

    return write
