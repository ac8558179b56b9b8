"""The read-back check every raw layer runs before publishing, on good and damaged files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import fastavro

from lake_assets.registry import SchemaRegistry
from lake_assets.sources.raw_avro import FINGERPRINT_KEY, SCHEMA_ID_KEY, verify_avro_files

REGISTRY = SchemaRegistry.from_directory()
V1, V2 = REGISTRY.version("order_placed", 1), REGISTRY.version("order_placed", 2)
ALLOWED = {V1.schema_id: V1, V2.schema_id: V2}
ORDER = {
    "event_id": "e1",
    "event_type": "order_placed",
    "event_time": dt.datetime(2026, 11, 24, tzinfo=dt.UTC),
    "session_id": "s",
    "user_id": "u",
    "order_id": "o",
    "currency": "EUR",
    "items": [{"product_id": "p", "quantity": 1, "unit_price_cents": 100}],
    "total_cents": 100,
}


def write(path: Path, version, schema_id: str, fingerprint: str, records: int = 2) -> Path:
    with open(path, "wb") as out:
        metadata = {SCHEMA_ID_KEY: schema_id, FINGERPRINT_KEY: fingerprint}
        fastavro.writer(out, version.parsed, [ORDER] * records, metadata=metadata)
    return path


def test_files_of_allowed_versions_with_the_right_count_pass(tmp_path: Path) -> None:
    files = [
        write(tmp_path / "a.avro", V1, V1.schema_id, V1.fingerprint),
        write(tmp_path / "b.avro", V2, V2.schema_id, V2.fingerprint, records=3),
    ]
    result = verify_avro_files(files, ALLOWED, 5, "landing indexed")
    assert result.passed and result.records == 5


def test_each_kind_of_damage_is_a_named_problem(tmp_path: Path) -> None:
    unknown = write(tmp_path / "unknown.avro", V1, "order_placed:v9", V1.fingerprint)
    lying = write(tmp_path / "lying.avro", V1, V2.schema_id, V2.fingerprint)  # v1 data labelled v2
    cut = tmp_path / "cut.avro"
    cut.write_bytes(write(tmp_path / "whole.avro", V1, V1.schema_id, V1.fingerprint).read_bytes()[:40])
    result = verify_avro_files([unknown, lying, cut], ALLOWED, 4, "landing indexed")
    text = "; ".join(result.schema_problems)
    assert "unknown.avro: lake.schema_id 'order_placed:v9' is not one of" in text
    assert "lying.avro: the embedded schema" in text
    assert "cut.avro: cannot be read back" in text
    assert result.count_problems == ["raw holds 2 records but landing indexed 4"]
    assert not result.passed
