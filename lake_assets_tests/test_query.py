"""lake query's raw views: every raw Avro folder as raw.<kind>_<name>, whatever schema versions it holds."""

from __future__ import annotations

from pathlib import Path

import fastavro
import pytest

from lake_assets.query import raw_tables, run_sql
from lake_assets.storage import StorageError
from lake_assets.storage.object_store import LocalObjectStore

V1 = {
    "type": "record",
    "name": "r",
    "fields": [{"name": "id", "type": "int"}, {"name": "y", "type": "string"}],
}
V2 = {
    "type": "record",
    "name": "r",
    "fields": [
        {"name": "id", "type": "int"},
        {"name": "coupon", "type": ["null", "string"], "default": None},
        {"name": "y", "type": "string"},
    ],
}


def _write(path: Path, schema: dict, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        fastavro.writer(out, schema, records)


def test_raw_views_read_every_schema_version_by_name(tmp_path: Path) -> None:
    """An old-version file sorting first must not hide the new column, nor a new one fail the old file."""
    folder = tmp_path / "raw" / "events" / "order_placed"
    _write(folder / "dt=2026-11-20" / "a.avro", V1, [{"id": 1, "y": "old"}])
    _write(folder / "dt=2026-11-21" / "b.avro", V2, [{"id": 2, "coupon": "X10", "y": "new"}])
    _write(
        tmp_path / "raw" / "cdc" / "shop" / "customers" / "dt=2026-11-21" / "c.avro",
        V1,
        [{"id": 3, "y": "c"}],
    )
    _write(tmp_path / "raw" / "files" / "stores" / "all.avro", V1, [{"id": 4, "y": "s"}])
    assert {name: partitioned for name, (_, partitioned) in raw_tables(tmp_path).items()} == {
        "cdc_shop_customers": True,
        "events_order_placed": True,
        "files_stores": False,
    }
    store = LocalObjectStore(tmp_path)
    out = run_sql(
        store,
        "SELECT string_agg(id || ':' || coalesce(coupon, '-') || ':' || dt, ' ' ORDER BY id) "
        "AS r FROM raw.events_order_placed",
    )
    assert "1:-:2026-11-20 2:X10:2026-11-21" in out
    assert "3" in run_sql(store, "SELECT sum(id) AS s FROM raw_cdc_shop_customers")
    assert "4" in run_sql(store, "SELECT max(id) AS s FROM raw.files_stores")


def test_an_unknown_table_names_the_tables_there_are(tmp_path: Path) -> None:
    _write(tmp_path / "raw" / "events" / "page_view" / "dt=2026-11-20" / "a.avro", V1, [{"id": 1, "y": "a"}])
    with pytest.raises(StorageError, match=r"raw\.events_page_view"):
        run_sql(LocalObjectStore(tmp_path), "SELECT * FROM raw.nope")
