"""Landing file -> raw Avro + quarantine, for every kind, with real generated files and each bad input."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

from lake_assets.registry import SchemaRegistry
from lake_assets.samples import files as file_samples
from lake_assets.sources.files.raw import ObjectRawResult, land_object_to_raw
from lake_assets.sources.schema_inference import InferenceError, schema_key
from lake_assets.sources.specs import SourceSpec, load_specs, parse_spec
from lake_assets.storage.object_store import LocalObjectStore

SPECS = {s.name: s for s in load_specs()}


def _land(store: LocalObjectStore, spec: SourceSpec, name: str, data: bytes | None = None) -> str:
    key = f"{spec.landing_prefix}2026/11/20/{name}"
    if data is not None:
        store.put_bytes(key, data)
    return key


def _run(
    store: LocalObjectStore, spec: SourceSpec, key: str, tmp_path: Path, **kwargs: Any
) -> tuple[ObjectRawResult, list[dict[str, Any]], list[dict[str, Any]]]:
    out = tmp_path / f"out-{key.replace('/', '_')}-{len(list(tmp_path.iterdir()))}"
    out.mkdir()
    result = land_object_to_raw(store, spec, key, out, **kwargs)
    records: list[dict[str, Any]] = []
    for rel in result.files:
        with open(out / rel, "rb") as handle:
            reader = fastavro.reader(handle)
            assert reader.metadata["lake.schema_id"] == result.schema_id
            assert reader.metadata["lake.source_object"] == key
            records += list(reader)
    quarantined = [
        json.loads(line) for qkey in result.quarantine_keys for line in store.get_bytes(qkey).splitlines()
    ]
    assert result.rows_read == result.rows_written + result.rows_quarantined
    assert len(records) == result.rows_written
    if result.file_error is None:
        assert len(quarantined) == result.rows_quarantined
    return result, records, quarantined


@pytest.mark.parametrize(
    ("source", "writer", "name", "rows"),
    [
        ("products", file_samples.products_csv, "p.csv", 1000),
        ("stores", file_samples.stores_tsv, "s.tsv", 40),
        ("reviews", file_samples.reviews_jsonl, "r.jsonl", 500),
        ("inventory", file_samples.inventory_xlsx, "i.xlsx", 300),
        ("web_access", file_samples.nginx_access_log, "access.log", 2000),
    ],
)
def test_each_kind_lands_every_row_with_an_inferred_schema(
    local_store: LocalObjectStore, tmp_path: Path, source: str, writer: Any, name: str, rows: int
) -> None:
    spec = SPECS[source]
    key = _land(local_store, spec, name)
    path = Path(local_store.uri(key))
    path.parent.mkdir(parents=True)
    assert writer(path, seed=7) == rows
    result, records, quarantined = _run(local_store, spec, key, tmp_path)
    assert (result.rows_read, result.rows_written, quarantined) == (rows, rows, [])
    assert result.schema_inferred and result.schema_id == f"files/{source}:v1"
    assert local_store.exists(schema_key(spec))
    if spec.partitioning == "daily":
        assert all(f.startswith("dt=") for f in result.files) and sum(result.rows_by_day.values()) == rows
    else:
        assert result.rows_by_day == {"": rows}
    # a second file is held to the stored schema, not re-inferred
    again, again_records, _ = _run(local_store, spec, key, tmp_path)
    assert not again.schema_inferred and again_records == records


def test_typed_values_and_deterministic_samples(local_store: LocalObjectStore, tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    file_samples.products_csv(a, rows=50, seed=3)
    file_samples.products_csv(b, rows=50, seed=3)
    assert a.read_bytes() == b.read_bytes()
    spec = SPECS["products"]
    key = _land(local_store, spec, "p.csv", a.read_bytes())
    _, records, _ = _run(local_store, spec, key, tmp_path)
    first = records[0]
    assert isinstance(first["product_id"], int) and isinstance(first["unit_price"], float)
    assert isinstance(first["in_stock"], bool) and first["updated_at"].tzinfo is not None
    assert any('"limited" edition' in r["name"] for r in records)  # quoted commas and quotes survive
    stores = SPECS["stores"]
    tsv = tmp_path / "s.tsv"
    file_samples.stores_tsv(tsv, seed=3)
    _, store_rows, _ = _run(
        local_store, stores, _land(local_store, stores, "s.tsv", tsv.read_bytes()), tmp_path
    )
    assert {r["city"] for r in store_rows} & {
        "München",
        "Zürich",
        "Genève",
        "Besançon",
        "Köln",
        "Málaga",
        "Århus",
    }
    assert any(r["floor_sqm"] is None for r in store_rows)  # NULL -> null


def test_chunk_iterator_and_file_object_inputs_give_the_same_raw(
    local_store: LocalObjectStore, tmp_path: Path
) -> None:
    spec = SPECS["web_access"]
    path = tmp_path / "access.log"
    file_samples.nginx_access_log(path, lines=300, seed=2)
    data = path.read_bytes()
    key = _land(local_store, spec, "access.log")
    chunks = (data[i : i + 777] for i in range(0, len(data), 777))
    _, from_chunks, _ = _run(local_store, spec, key, tmp_path, source=chunks)
    _, from_file, _ = _run(local_store, spec, key, tmp_path, source=io.BytesIO(data))
    assert from_chunks == from_file and len(from_file) == 300


CSV_HEADER = b"product_id,name,unit_price,updated_at\n"
GOOD = b"1,Trail Runner,89.90,2026-11-20T10:00:00Z\n2,Rain Parka,149.00,2026-11-21T09:30:00Z\n"


def _csv_spec(**format_options: Any) -> SourceSpec:
    data = {
        "name": "catalog",
        "kind": "csv",
        "event_time": "updated_at",
        "primary_key": ["product_id"],
        "format": format_options,
    }
    spec, problems = parse_spec(data)
    assert spec is not None, problems
    return spec


def _seeded(store: LocalObjectStore, tmp_path: Path) -> SourceSpec:
    """A source whose schema was inferred from a good first file."""
    spec = _csv_spec()
    _run(store, spec, _land(store, spec, "first.csv", CSV_HEADER + GOOD), tmp_path)
    return spec


def test_bad_rows_go_to_quarantine_with_line_and_reason(
    local_store: LocalObjectStore, tmp_path: Path
) -> None:
    spec = _seeded(local_store, tmp_path)
    bad = (
        CSV_HEADER
        + b"3,Wool Beanie,19.90,2026-11-22T08:00:00Z\n"
        + b"4,Linen Shirt,39.90,yesterday\n"  # bad date
        + b"5,Nordic Parka,199.00,2026-11-22T08:00:00Z,surplus\n"  # extra column
        + b"6,Kite,twelve,2026-11-22T08:00:00Z\n"  # not a number
        + b",Nameless,1.00,2026-11-22T08:00:00Z\n"  # primary key missing
        + b'7,"Classic Chino, slim",59.00,2026-11-22T23:59:59+01:00\n'  # good, quoted comma, offset
        + b"8,M\xfcnchen Mug,9.00,2026-11-22T08:00:00Z\n"  # Latin-1 byte in a UTF-8 file
    )
    result, records, quarantined = _run(
        local_store, spec, _land(local_store, spec, "second.csv", bad), tmp_path
    )
    assert [r["product_id"] for r in records] == [3, 7]
    assert result.rows_read == 7 and result.rows_quarantined == 5
    by_line = {q["line_number"]: q for q in quarantined}
    assert set(by_line) == {3, 4, 5, 6, 8}
    assert "column 'updated_at': 'yesterday' is not a valid timestamp" in by_line[3]["reason"]
    assert (
        by_line[4]["kind"] == "wrong_column_count"
        and "the row has 5 cells, the header 4" in by_line[4]["reason"]
    )
    assert by_line[4]["payload"] == "5,Nordic Parka,199.00,2026-11-22T08:00:00Z,surplus"
    assert "'twelve' is not a valid double" in by_line[5]["reason"]
    assert by_line[6]["kind"] == "missing_value"
    assert by_line[8]["kind"] == "invalid_encoding" and "payload_base64" in by_line[8]
    assert result.rows_by_day == {"2026-11-22": 2}
    assert all(q["source"] == "catalog" and q["object"].endswith("second.csv") for q in quarantined)


def test_wrong_delimiter_quarantines_every_row_and_says_why(
    local_store: LocalObjectStore, tmp_path: Path
) -> None:
    spec = _seeded(local_store, tmp_path)
    semicolons = CSV_HEADER.replace(b",", b";") + GOOD.replace(b",", b";")
    result, records, quarantined = _run(
        local_store, spec, _land(local_store, spec, "semi.csv", semicolons), tmp_path
    )
    assert records == [] and result.rows_quarantined == 2 == len(quarantined)
    assert all(q["kind"] == "schema_mismatch" for q in quarantined)
    assert "is the delimiter ';'?" in quarantined[0]["reason"]
    # the spec that matches the file reads it
    fixed = dataclasses.replace(spec, format=dataclasses.replace(spec.format, delimiter=";"))
    result, records, _ = _run(local_store, fixed, _land(local_store, spec, "semi.csv"), tmp_path)
    assert result.rows_written == 2


def test_missing_header(local_store: LocalObjectStore, tmp_path: Path) -> None:
    fresh = _csv_spec()
    with pytest.raises(InferenceError, match="is the header missing"):
        land_object_to_raw(local_store, fresh, _land(local_store, fresh, "nohead.csv", GOOD), tmp_path / "o1")
    assert not local_store.exists(schema_key(fresh))  # nothing inferred from garbage
    spec = _seeded(local_store, tmp_path)  # once a schema exists, a headerless file is quarantined
    result, _, quarantined = _run(local_store, spec, _land(local_store, spec, "nohead.csv"), tmp_path)
    assert result.rows_read == 1 and "is the header missing?" in quarantined[0]["reason"]
    assert result.rows_written == 0


def test_extra_and_missing_columns_in_the_header(local_store: LocalObjectStore, tmp_path: Path) -> None:
    spec = _seeded(local_store, tmp_path)
    extra = b"product_id,name,unit_price,updated_at,colour\n1,Kite,9.00,2026-11-20T10:00:00Z,red\n"
    _, records, quarantined = _run(local_store, spec, _land(local_store, spec, "extra.csv", extra), tmp_path)
    assert records == [] and "columns not in schema files/catalog:v1: 'colour'" in quarantined[0]["reason"]
    fewer = b"product_id,updated_at\n1,2026-11-20T10:00:00Z\n"  # nullable columns may be absent
    result, records, _ = _run(local_store, spec, _land(local_store, spec, "fewer.csv", fewer), tmp_path)
    assert records[0]["name"] is None and result.rows_written == 1


def test_corrupt_xlsx_is_quarantined_as_a_whole(local_store: LocalObjectStore, tmp_path: Path) -> None:
    spec = SPECS["inventory"]
    good = tmp_path / "good.xlsx"
    file_samples.inventory_xlsx(good, rows=20)
    _run(local_store, spec, _land(local_store, spec, "good.xlsx", good.read_bytes()), tmp_path)
    data = good.read_bytes()
    for name, body in (("truncated.xlsx", data[: len(data) // 2]), ("text.xlsx", b"this is not a workbook")):
        result, records, quarantined = _run(local_store, spec, _land(local_store, spec, name, body), tmp_path)
        assert records == [] and result.files == []
        assert result.file_error and "not a readable xlsx workbook" in result.file_error
        assert quarantined[0]["kind"] == "unreadable_file" and name in quarantined[0]["object"]
    wrong_sheet = dataclasses.replace(spec, format=dataclasses.replace(spec.format, sheet="Stok"))
    result, _, _ = _run(local_store, wrong_sheet, _land(local_store, spec, "good.xlsx"), tmp_path)
    assert result.file_error and "no sheet 'Stok' (sheets: Notes, Stock)" in result.file_error


def test_unmatched_log_lines(local_store: LocalObjectStore, tmp_path: Path) -> None:
    spec = SPECS["web_access"]
    good = tmp_path / "access.log"
    file_samples.nginx_access_log(good, lines=20)
    lines = good.read_bytes().splitlines(keepends=True)
    body = (
        b"".join(lines[:10]) + b"kernel: oom-killer invoked\n" + b"".join(lines[10:]) + b"\xff\xfe garbage\n"
    )
    result, records, quarantined = _run(local_store, spec, _land(local_store, spec, "a.log", body), tmp_path)
    assert len(records) == 20 and result.rows_read == 22
    assert quarantined[0] == {
        "reason": "the line does not match the nginx_combined pattern",
        "kind": "unmatched_line",
        "source": "web_access",
        "object": "landing/files/web_access/2026/11/20/a.log",
        "line_number": 11,
        "payload": "kernel: oom-killer invoked",
    }
    assert quarantined[1]["kind"] == "invalid_encoding" and quarantined[1]["line_number"] == 22
    assert records[0]["status"] in (200, 304, 301, 404, 500) and records[0]["time_local"].tzinfo is not None


def test_jsonl_bad_lines_and_unknown_fields(local_store: LocalObjectStore, tmp_path: Path) -> None:
    spec = SPECS["reviews"]
    good = tmp_path / "r.jsonl"
    file_samples.reviews_jsonl(good, rows=30)
    _run(local_store, spec, _land(local_store, spec, "r.jsonl", good.read_bytes()), tmp_path)
    line = json.loads(good.read_text().splitlines()[0])
    body = "\n".join(
        [
            json.dumps(line),
            "{not json",
            "[1, 2]",
            json.dumps({**line, "sentiment": 0.9}),
            json.dumps({**line, "created_at": "2026-13-45T00:00:00Z"}),
        ]
    ).encode()
    result, records, quarantined = _run(
        local_store, spec, _land(local_store, spec, "bad.jsonl", body), tmp_path
    )
    assert len(records) == 1 and records[0]["tags"] == json.dumps(line["tags"], separators=(",", ":"))
    assert [q["kind"] for q in quarantined] == [
        "malformed_json",
        "malformed_json",
        "schema_mismatch",
        "invalid_value",
    ]
    assert [q["line_number"] for q in quarantined] == [2, 3, 4, 5]


def test_rerun_rewrites_the_same_objects_and_clears_stale_quarantine(
    local_store: LocalObjectStore, tmp_path: Path
) -> None:
    spec = _seeded(local_store, tmp_path)
    key = _land(local_store, spec, "x.csv", CSV_HEADER + b"9,Kite,oops,2026-11-20T10:00:00Z\n")
    first, _, _ = _run(local_store, spec, key, tmp_path)
    q_bytes = local_store.get_bytes(first.quarantine_keys[0])
    second, _, _ = _run(local_store, spec, key, tmp_path)
    assert second.quarantine_keys == first.quarantine_keys
    assert local_store.get_bytes(second.quarantine_keys[0]) == q_bytes
    local_store.put_bytes(key, CSV_HEADER + GOOD)  # the object is replaced by a good one
    third, _, _ = _run(local_store, spec, key, tmp_path)
    assert (
        third.quarantine_keys == []
        and local_store.list_keys("quarantine/files/catalog/2026/11/20/x.csv/") == []
    )


def test_declared_registry_subject(local_store: LocalObjectStore, tmp_path: Path) -> None:
    folder = tmp_path / "registry" / "files" / "catalog"
    folder.mkdir(parents=True)
    schema = {
        "type": "record",
        "name": "catalog",
        "fields": [
            {"name": "product_id", "type": "long"},
            {"name": "name", "type": "string"},
            {"name": "unit_price", "type": ["null", "double"], "default": None},
            {"name": "updated_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        ],
    }
    (folder / "v1.avsc").write_text(json.dumps(schema))
    registry = SchemaRegistry.from_directory(tmp_path / "registry")
    spec = dataclasses.replace(_csv_spec(), schema_subject="catalog")
    body = CSV_HEADER + GOOD + b"3,Kite,,2026-11-20T10:00:00\n"  # naive time: the spec's timezone (UTC)
    result, records, _ = _run(
        local_store, spec, _land(local_store, spec, "d.csv", body), tmp_path, registry=registry
    )
    assert result.schema_id == "catalog:v1" and not result.schema_inferred
    kite = next(r for r in records if r["product_id"] == 3)
    assert kite["unit_price"] is None and kite["updated_at"].isoformat() == "2026-11-20T10:00:00+00:00"
    assert not local_store.exists(schema_key(spec))
