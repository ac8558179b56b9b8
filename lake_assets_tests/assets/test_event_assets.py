"""Assets with dagster.materialize on a temporary lake: raw Avro -> intermediate -> final, and bad input."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import dagster as dg
import fastavro
import orjson
import pytest

from lake_assets.definitions import build_assets
from lake_assets.registry import SchemaRegistry
from lake_assets.resources.spark import SparkResource
from lake_assets.sources.raw_avro import SCHEMA_ID_KEY, SOURCE_OBJECT_KEY
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.tables.catalog import CatalogConfig, catalog_session
from lake_assets_tests.iceberg_readers import duckdb_rows, pyiceberg_table
from lake_assets_tests.lake_helpers import (
    START,
    expected_counts,
    index_landing,
    ingest_lines,
    lake_resource,
    sample_lines,
    valid_events,
)

DAYS = [START.isoformat(), (START + dt.timedelta(days=1)).isoformat()]


def materialize_all(
    lake_root: Path, selection: str = "*", days: list[str] = DAYS
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        build_assets(SchemaRegistry.from_directory()),
        selection=selection,
        resources={"lake": lake_resource(lake_root), "spark": SparkResource()},
        tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]},
        raise_on_error=False,
    )


@pytest.fixture(scope="module")
def built_lake(tmp_path_factory, spark) -> tuple[Path, list[bytes], dg.ExecuteInProcessResult]:
    """One lake for the module: 3,000 sample events over two days through every layer (one Spark session)."""
    root = tmp_path_factory.mktemp("lake")
    store = LocalObjectStore(root)
    lines = sample_lines(3000, days=2)
    ingest_lines(store, lines)
    index_landing(lake_resource(root))
    result = materialize_all(root)
    return root, lines, result


def test_the_whole_graph_materializes_with_passing_checks(built_lake) -> None:
    _, _, result = built_lake
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]


def test_raw_avro_holds_every_landed_event_with_its_schema_id(built_lake) -> None:
    root, lines, _ = built_lake
    landed = valid_events(lines)
    per_type = defaultdict(int)
    for event in landed:
        per_type[event["event_type"]] += 1
    for subject, count in per_type.items():
        files = sorted((root / "raw" / "events" / subject).glob("dt=*/*.avro"))
        assert files
        total = 0
        for path in files:
            with open(path, "rb") as handle:
                reader = fastavro.reader(handle)
                assert reader.metadata[SCHEMA_ID_KEY].startswith(f"{subject}:v")
                assert reader.metadata[SOURCE_OBJECT_KEY].startswith("landing/events/")
                total += sum(1 for _ in reader)
        assert total == count  # duplicates are kept in raw; raw is the unchanged record of what arrived


def test_intermediate_is_deduplicated_per_event_day(built_lake) -> None:
    root, lines, _ = built_lake
    expected = expected_counts(valid_events(lines))
    for subject in ("page_view", "cart_update", "order_placed"):
        table = pyiceberg_table(root, f"intermediate.events_{subject}")
        got = table.select(["event_id", "dt"]).to_pylist()
        assert len({r["event_id"] for r in got}) == len(got)
        by_day = defaultdict(int)
        for row in got:
            by_day[str(row["dt"])] += 1
        assert dict(by_day) == {day: n for (s, day), n in expected.items() if s == subject}


def test_final_sales_match_an_independent_computation(built_lake) -> None:
    root, lines, _ = built_lake
    units: dict[tuple[str, str], int] = defaultdict(int)
    revenue: dict[tuple[str, str], int] = defaultdict(int)
    seen = set()
    for event in valid_events(lines):
        if event["event_type"] != "order_placed" or event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        day = dt.datetime.fromisoformat(event["event_time"]).astimezone(dt.UTC).date().isoformat()
        for item in event["items"]:
            units[(day, item["product_id"])] += item["quantity"]
            revenue[(day, item["product_id"])] += item["quantity"] * item["unit_price_cents"]
    rows = pyiceberg_table(root, "final.shop_daily_product_sales").to_pylist()
    assert {(str(r["dt"]), r["product_id"]): r["units"] for r in rows} == dict(units)
    assert {(str(r["dt"]), r["product_id"]): r["revenue_cents"] for r in rows} == dict(revenue)


def test_rerunning_a_partition_rewrites_the_same_raw_files(built_lake) -> None:
    root, _, _ = built_lake
    before = sorted(p.relative_to(root) for p in (root / "raw").rglob("*.avro"))
    result = materialize_all(root, selection="raw/events/page_view")
    assert result.success
    after = sorted(p.relative_to(root) for p in (root / "raw").rglob("*.avro"))
    assert before == after


def test_a_corrupt_landing_object_fails_raw_naming_it_and_publishes_nothing(tmp_path: Path, spark) -> None:
    root = tmp_path / "lake"
    store = LocalObjectStore(root)
    ingest_lines(store, sample_lines(200, days=1, seed=5))
    bad_key = f"landing/events/{START:%Y/%m/%d}/12/shop-1-{START:%Y-%m-%d}-12-00-00-corrupt.jsonl"
    store.put_bytes(bad_key, b'{"event_type": "page_view", "event_time": "2026-11-20T12:00:00Z", "oops"\n')
    index_landing(lake_resource(root))
    result = materialize_all(root, selection="raw/events/page_view", days=[START.isoformat()])
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert bad_key in failure.message
    assert not (root / "raw" / "events" / "page_view").exists()
    assert store.exists(bad_key)  # landing data is never modified or deleted by processing


_PLAIN_TYPES = {"string", "integer", "long", "short", "date", "boolean"}


def test_other_readers_read_the_lake(built_lake, spark) -> None:
    """Apache Avro's own reader for raw; pyiceberg and DuckDB read every Iceberg table with Spark's rows."""
    import avro.datafile
    import avro.io

    root, _, _ = built_lake
    path = sorted((root / "raw" / "events" / "order_placed").glob("dt=*/*.avro"))[0]
    with avro.datafile.DataFileReader(open(path, "rb"), avro.io.DatumReader()) as reader:
        records = list(reader)
        assert reader.get_meta("lake.schema_id").decode().startswith("order_placed:v")
    assert records and all(isinstance(r["items"], list) for r in records)
    session = catalog_session(spark, CatalogConfig.for_lake(str(root)))
    tables = [f"intermediate.events_{s}" for s in ("page_view", "cart_update", "order_placed")]
    for identifier in [*tables, "final.shop_daily_product_sales", "final.shop_daily_funnel"]:
        table = session.table(f"lake.{identifier}")
        # Columns both engines print alike as text: strings, whole numbers, dates, booleans.
        plain = [f.name for f in table.schema.fields if f.dataType.typeName() in _PLAIN_TYPES]
        by_spark = sorted(
            tuple(row) for row in table.selectExpr(*[f"CAST(`{c}` AS STRING)" for c in plain]).collect()
        )
        assert by_spark, identifier
        assert pyiceberg_table(root, identifier).num_rows == len(by_spark), identifier
        lowered = [tuple(v.lower() if v in ("true", "false") else v for v in row) for row in by_spark]
        by_duckdb = duckdb_rows(root, identifier, ", ".join(f'CAST("{c}" AS VARCHAR)' for c in plain))
        assert by_duckdb == sorted(lowered), identifier
    kinds = duckdb_rows(root, "intermediate.events_page_view", "typeof(event_time), typeof(dt)")[0]
    assert kinds == ("TIMESTAMP WITH TIME ZONE", "DATE")


def test_counts_that_do_not_reconcile_fail_the_blocking_check_and_publish_nothing(tmp_path: Path) -> None:
    """The landing index says one more page view than the object holds: the check fails before publish."""
    root = tmp_path / "lake"
    store = LocalObjectStore(root)
    ingest_lines(store, sample_lines(200, days=1, seed=8))
    index_landing(lake_resource(root))
    day = START.isoformat()
    marker = store.list_keys(f"_system/index/events/page_view/dt={day}/")[0]
    body = orjson.loads(store.get_bytes(marker))
    store.put_bytes(marker, orjson.dumps({**body, "count": body["count"] + 1}))
    result = materialize_all(root, selection="raw/events/page_view", days=[day])
    assert not result.success
    outcomes = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert outcomes == {"conforms_to_schema": True, "counts_reconcile_with_landing": False}
    assert not (root / "raw" / "events" / "page_view").exists()
