"""File sources through Dagster on a temporary lake: sensor -> raw Avro (+ quarantine) -> intermediate."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import dagster as dg
import fastavro
import pytest

from lake_assets.assets.keys import is_daily
from lake_assets.definitions import build_source_assets
from lake_assets.resources.spark import SparkResource
from lake_assets.samples import files as file_samples
from lake_assets.sensors.landing import build_landing_sensor
from lake_assets.sources.files.kind import FileSourceKind
from lake_assets.sources.specs import load_specs
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.iceberg_readers import pyiceberg_table
from lake_assets_tests.lake_helpers import lake_resource

SPECS = [s for s in load_specs() if s.kind != "http_api"]
DAYS = ["2026-11-19", "2026-11-22"]  # every sample's event days (inventory is Berlin time: the 19th in UTC)
BAD_KEY = "landing/files/products/2026/11/21/products-late.csv"


def bad_products_csv() -> bytes:
    """Three good rows and three that cannot be typed: a bad price, no key, a missing cell."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["product_id", "sku", "name", "category", "unit_price", "currency", "in_stock", "updated_at"]
    )
    for i in range(3):
        writer.writerow(
            [900_000 + i, f"SKU-L{i}", "Late Item", "toys", "9.99", "EUR", "true", "2026-11-21T10:00:00Z"]
        )
    writer.writerow([900_010, "SKU-X", "Bad Price", "toys", "cheap", "EUR", "true", "2026-11-21T10:00:00Z"])
    writer.writerow(["", "SKU-Y", "No Key", "toys", "1.00", "EUR", "true", "2026-11-21T10:00:00Z"])
    writer.writerow([900_011, "SKU-Z", "Short Row", "toys", "1.00", "EUR"])
    return out.getvalue().encode()


def materialize(root: Path, specs=SPECS) -> list[dg.ExecuteInProcessResult]:
    """Daily sources in one range run (single-run backfill), unpartitioned ones in another."""
    resources = {"lake": lake_resource(root), "spark": SparkResource()}
    assets = build_source_assets(specs)
    runs = []
    daily = [a for a in assets if a.partitions_def is not None]
    if daily:
        tags = {"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]}
        runs.append(dg.materialize(daily, resources=resources, tags=tags, raise_on_error=False))
    flat = [a for a in assets if a.partitions_def is None]
    if flat:
        runs.append(dg.materialize(flat, resources=resources, raise_on_error=False))
    return runs


def raw_records(root: Path, spec_name: str) -> list[dict]:
    records = []
    for path in sorted((root / "raw" / "files" / spec_name).rglob("*.avro")):
        with open(path, "rb") as handle:
            records += list(fastavro.reader(handle))
    return records


@pytest.fixture(scope="module")
def lake(tmp_path_factory, spark) -> tuple[Path, list[dg.ExecuteInProcessResult]]:
    root = tmp_path_factory.mktemp("lake")
    file_samples.write_samples(root, seed=3)
    LocalObjectStore(root).put_bytes(BAD_KEY, bad_products_csv())
    sensor = build_landing_sensor(FileSourceKind(SPECS))
    assert sensor is not None
    tick = sensor(dg.build_sensor_context(resources={"lake": lake_resource(root)}))
    assert tick.run_requests  # the index markers the raw runs read are written by this tick
    return root, materialize(root)


def test_every_file_source_reaches_intermediate_with_passing_checks(lake) -> None:
    root, runs = lake
    for run in runs:
        assert run.success
        checks = run.get_asset_check_evaluations()
        assert checks and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
    expected_rows = {"products": 1003, "stores": 40, "reviews": 500, "inventory": 300, "web_access": 2000}
    for spec in SPECS:
        raw = raw_records(root, spec.name)
        table = pyiceberg_table(root, f"intermediate.files_{spec.name}")
        assert len(raw) == expected_rows[spec.name], spec.name
        if spec.primary_key:
            assert table.num_rows <= len(raw)
        else:
            assert table.num_rows == len(raw)  # a log has no key: every line stays
        assert table.num_rows > 0
        if is_daily(spec):
            assert {str(d) for d in table.column("dt").to_pylist()} <= {
                "2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22"
            }  # fmt: skip


def test_intermediate_keeps_the_latest_row_per_key_and_day(lake) -> None:
    root, _ = lake
    table = pyiceberg_table(root, "intermediate.files_products")
    rows = table.select(["product_id", "unit_price", "updated_at", "dt"]).to_pylist()
    keys = [(r["product_id"], r["dt"]) for r in rows]
    assert len(keys) == len(set(keys)) == 1003
    late = [r for r in rows if r["product_id"] >= 900_000]
    assert sorted(r["product_id"] for r in late) == [900_000, 900_001, 900_002]
    assert {str(r["dt"]) for r in late} == {"2026-11-21"} and all(r["unit_price"] == 9.99 for r in late)


def test_bad_rows_land_in_quarantine_and_counts_reconcile(lake) -> None:
    root, runs = lake
    raw_meta = runs[0].asset_materializations_for_node("raw__files__products")[0].metadata
    read, written, quarantined = (
        raw_meta[k].value for k in ("rows_read", "rows_written", "rows_quarantined")
    )
    assert (read, written, quarantined) == (1006, 1003, 3)
    assert read == written + quarantined
    parts = sorted(
        (root / "quarantine" / "files" / "products" / "2026" / "11" / "21" / "products-late.csv").glob(
            "*.jsonl"
        )
    )
    records = [json.loads(line) for p in parts for line in p.read_text().splitlines()]
    assert sorted(r["kind"] for r in records) == ["invalid_value", "missing_value", "wrong_column_count"]
    assert all(r["object"] == BAD_KEY and r["line_number"] for r in records)
    assert (root / BAD_KEY).exists()  # landing is never modified by processing


def test_rerunning_rewrites_the_same_raw_files(lake) -> None:
    root, _ = lake

    def snapshot() -> dict[str, list[dict]]:
        out = {}
        for path in sorted((root / "raw" / "files").rglob("*.avro")):
            with open(path, "rb") as handle:
                out[str(path.relative_to(root))] = list(fastavro.reader(handle))
        return out

    before = snapshot()
    products = [s for s in SPECS if s.name in ("products", "stores")]
    assert all(r.success for r in materialize(root, products))
    assert snapshot() == before
