"""raw in the Glue catalog: Avro SerDe tables whose partitions raw's commits add.

moto stands in for AWS Glue (it cannot run here); the local catalogs hold no raw tables, by design.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lake_assets.registry import SchemaRegistry
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.raw_catalog import hive_type, register_raw_partitions
from lake_assets_tests.fixtures.moto import MOTO_REGION, moto_client, moto_env


def test_avro_types_map_to_the_hive_types_athena_reads() -> None:
    assert hive_type(["null", "string"]) == "string"
    assert hive_type({"type": "long", "logicalType": "timestamp-millis"}) == "timestamp"
    assert (
        hive_type({"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}) == "decimal(12,2)"
    )
    assert hive_type({"type": "enum", "name": "e", "symbols": ["a"]}) == "string"
    item = {
        "type": "record",
        "name": "i",
        "fields": [{"name": "q", "type": "int"}, {"name": "p", "type": "long"}],
    }
    assert hive_type({"type": "array", "items": item}) == "array<struct<q:int,p:bigint>>"
    assert hive_type({"type": "map", "values": "double"}) == "map<string,double>"


def test_partitions_are_added_once_and_a_new_schema_version_updates_the_table(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in moto_env().items():
        monkeypatch.setenv(name, value)
    catalog = CatalogConfig.for_lake("s3://lake/x", "glue", glue_endpoint=moto_server, region=MOTO_REGION)
    registry = SchemaRegistry.from_directory()
    v1, v2 = (registry.version("order_placed", n).schema for n in (1, 2))
    location = "s3://lake/x/raw/events/order_placed/"
    name = f"events_order_placed_{uuid.uuid4().hex[:8]}"  # moto is shared by the test session
    assert register_raw_partitions(catalog, name, location, v1, ["2026-11-20", "2026-11-21"]) == [
        "2026-11-20",
        "2026-11-21",
    ]
    again = register_raw_partitions(catalog, name, location, v2, ["2026-11-21", "2026-11-22"])
    assert again == ["2026-11-22"]  # a re-run adds nothing twice
    glue = moto_client("glue", moto_server)
    table = glue.get_table(DatabaseName="raw", Name=name)["Table"]
    columns = [c["Name"] for c in table["StorageDescriptor"]["Columns"]]
    assert columns == [f["name"] for f in v2["fields"]]  # the newer version's columns
    parts = glue.get_partitions(DatabaseName="raw", TableName=name)["Partitions"]
    assert sorted(p["Values"][0] for p in parts) == ["2026-11-20", "2026-11-21", "2026-11-22"]
    assert register_raw_partitions(catalog, f"files_{name}", "s3://lake/x/raw/files/stores/", v1, None) == []
    stores = glue.get_table(DatabaseName="raw", Name=f"files_{name}")["Table"]
    assert stores["PartitionKeys"] == []
    local = CatalogConfig.for_lake(str(tmp_path))
    assert register_raw_partitions(local, name, str(tmp_path), v1, ["2026-11-20"]) == []
