"""Independent readers of the lake's Iceberg tables: pyiceberg's SQL catalog and DuckDB's Iceberg extension.

Neither goes through the lake's own read code: pyiceberg opens the catalog file itself, and DuckDB scans the
metadata file pyiceberg names. Tests compare their rows with Spark's.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog

from lake_assets.query import duckdb_with_iceberg


def pyiceberg_catalog(lake_root: Path) -> SqlCatalog:
    root = Path(lake_root).resolve()
    return SqlCatalog("lake", uri=f"sqlite:///{root / '_system' / 'catalog.db'}", warehouse=root.as_uri())


def pyiceberg_table(lake_root: Path, identifier: str) -> pa.Table:
    return pyiceberg_catalog(lake_root).load_table(identifier).scan().to_arrow()


def duckdb_rows(
    lake_root: Path, identifier: str, select: str = "*", snapshot_id: int | None = None
) -> list[tuple]:
    """Rows of ``SELECT <select>`` from the table's current (or a given) snapshot, sorted."""
    location = pyiceberg_catalog(lake_root).load_table(identifier).metadata_location.removeprefix("file://")
    at = f", snapshot_from_id = {snapshot_id}" if snapshot_id is not None else ""
    con = duckdb_with_iceberg()
    return sorted(con.sql(f"SELECT {select} FROM iceberg_scan('{location}'{at})").fetchall())


def snapshot_ids(lake_root: Path, identifier: str) -> list[int]:
    """The snapshots on main, oldest first."""
    table = pyiceberg_catalog(lake_root).load_table(identifier)
    return [entry.snapshot_id for entry in table.history()]
