"""Table upkeep through the catalog: Iceberg's own maintenance procedures, and dropping tables to rebuild them
from raw. No Dagster import (a Glue job could run the same calls)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lake_assets.tables.catalog import CATALOG_NAME, CatalogConfig, CatalogError
from lake_assets.tables.inspect import list_tables

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class Maintenance:
    """What one table's upkeep did."""

    table: str
    rewritten_data_files: int
    added_data_files: int
    rewritten_delete_files: int
    expired_snapshots: int
    deleted_files: int
    orphan_files: int


def maintain_table(
    spark: SparkSession,
    identifier: str,
    *,
    keep_snapshots_days: float = 7.0,
    keep_last: int = 10,
    orphan_age_hours: float = 24.0,
    now: dt.datetime | None = None,
) -> Maintenance:
    """Compact small files, fold position deletes, expire old snapshots, remove files nothing references.

    Expired: snapshots older than ``keep_snapshots_days`` beyond the newest ``keep_last`` (time travel reaches
    back that far), and staged snapshots of audits that were never published. Orphans: files older than
    ``orphan_age_hours`` that no snapshot references (a crashed write's files); the age keeps files of a
    commit in flight. Each step is one Iceberg procedure, committed on its own; readers are never blocked.
    """
    name = f"{CATALOG_NAME}.{identifier}"
    now = now or dt.datetime.now(dt.UTC)
    stamp = "%Y-%m-%d %H:%M:%S.%f"
    snapshots_before = (now - dt.timedelta(days=keep_snapshots_days)).strftime(stamp)
    # The real clock, whatever ``now`` says: Iceberg refuses a cut-off younger than 24 h.
    orphan_age = dt.timedelta(hours=max(orphan_age_hours, 24.0))
    orphans_before = (dt.datetime.now(dt.UTC) - orphan_age - dt.timedelta(seconds=1)).strftime(stamp)
    call = f"CALL {CATALOG_NAME}.system"
    rewrite = spark.sql(
        f"{call}.rewrite_data_files(table => '{name}', options => map('min-input-files', '2', "
        "'delete-file-threshold', '1'))"
    ).first()
    deletes = spark.sql(
        f"{call}.rewrite_position_delete_files(table => '{name}', options => map('rewrite-all', 'true'))"
    ).first()
    snapshots = spark.sql(f"SELECT count(*) FROM {name}.snapshots").first()[0]
    expired = spark.sql(
        f"{call}.expire_snapshots(table => '{name}', older_than => TIMESTAMP '{snapshots_before}', "
        f"retain_last => {keep_last})"
    ).first()
    orphans = spark.sql(
        f"{call}.remove_orphan_files(table => '{name}', older_than => TIMESTAMP '{orphans_before}')"
    ).collect()
    deleted = sum(
        int(expired[k] or 0) for k in expired.asDict() if k.startswith("deleted_") and k.endswith("_count")
    )
    return Maintenance(
        table=identifier,
        rewritten_data_files=int(rewrite["rewritten_data_files_count"] or 0) if rewrite else 0,
        added_data_files=int(rewrite["added_data_files_count"] or 0) if rewrite else 0,
        rewritten_delete_files=int(deletes["rewritten_delete_files_count"] or 0) if deletes else 0,
        expired_snapshots=snapshots - spark.sql(f"SELECT count(*) FROM {name}.snapshots").first()[0],
        deleted_files=deleted,
        orphan_files=len(orphans),
    )


def drop_tables(catalog: CatalogConfig, identifiers: list[str]) -> list[str]:
    """Drop the tables and delete their files (purge); raw is untouched, so they can be rebuilt from it.

    Every name is checked first: an unknown one drops nothing.
    """
    known = {entry.identifier for entry in list_tables(catalog)}
    unknown = [name for name in identifiers if name not in known]
    if unknown:
        tables = ", ".join(sorted(known)) or "none"
        raise CatalogError(f"no table {', '.join(unknown)} in {catalog.describe()}; tables: {tables}")
    cat = catalog.pyiceberg()
    for name in identifiers:
        cat.purge_table(name)
    return identifiers
