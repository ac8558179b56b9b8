"""Small Iceberg tables and raw Avro files made without Spark, for the status tests (pyiceberg's SQL catalog
writes the same catalog rows Spark's JDBC catalog does)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa

from lake_assets.storage import ObjectStore
from lake_assets.tables.catalog import CatalogConfig


def iceberg_table(lake_root: Path, identifier: str, rows: list[dict[str, Any]], by_day: bool) -> Any:
    """Create ``identifier`` (partitioned by identity(dt) when ``by_day``) and append ``rows``."""
    from pyiceberg.catalog.sql import SqlCatalog

    config = CatalogConfig.for_lake(str(lake_root))
    config.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    catalog = SqlCatalog("lake", uri=config.uri, warehouse=config.warehouse)
    database, name = identifier.split(".")
    catalog.create_namespace_if_not_exists(database)
    data = pa.Table.from_pylist(rows)
    table = catalog.create_table(
        identifier, schema=data.schema, location=config.table_location(database, name)
    )
    if by_day:
        with table.update_spec() as update:
            update.add_identity("dt")
    table.append(data)
    return catalog.load_table(identifier)


def raw_avro(store: ObjectStore, key: str, n: int) -> None:
    schema = {"type": "record", "name": "R", "fields": [{"name": "i", "type": "long"}]}
    out = io.BytesIO()
    fastavro.writer(out, schema, [{"i": i} for i in range(n)], codec="deflate")
    store.put_bytes(key, out.getvalue())


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)
