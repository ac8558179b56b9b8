"""Intake, sensor, raw and the Iceberg layers on the S3 backend, against a real SeaweedFS server on loopback
(no mocks)."""

from __future__ import annotations

import io
from pathlib import Path

import dagster as dg
import fastavro
import pytest

from lake_assets.assets.raw import build_raw_assets
from lake_assets.assets.spark_io import read_raw_avro
from lake_assets.definitions import build_assets, build_cdc_assets
from lake_assets.layers.cdc import read_current
from lake_assets.query import run_sql
from lake_assets.registry import SchemaRegistry
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.sensors.landing import landing_events_sensor
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.sources.events.kind import EventSourceKind
from lake_assets.sources.raw_avro import SCHEMA_ID_KEY
from lake_assets.storage.s3 import S3ObjectStore
from lake_assets.tables.catalog import catalog_session
from lake_assets_tests.fixtures.seaweed import DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY, SeaweedServer
from lake_assets_tests.lake_helpers import expected_counts, ingest_lines, sample_lines, valid_events


@pytest.mark.s3
def test_events_flow_from_intake_through_the_sensor_to_raw_avro_on_s3(
    s3_server: SeaweedServer, s3_store: S3ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_KEY)
    lines = sample_lines(1200, days=2, seed=21)
    report = ingest_lines(s3_store, lines, max_events=300)
    assert report.read == report.landed + report.quarantined
    assert report.quarantined > 0 and s3_store.list_keys("quarantine/events/")

    lake = LakeResource(env="s3", lake_root=s3_store.root, s3_endpoint_url=s3_server.endpoint_url)
    result = landing_events_sensor(dg.build_sensor_context(cursor=None, resources={"lake": lake}))
    expected = expected_counts(valid_events(lines))
    requested = {(r.asset_selection[0].path[-1], r.partition_key): r for r in result.run_requests}
    assert set(requested) == set(expected)
    again = landing_events_sensor(dg.build_sensor_context(cursor=result.cursor, resources={"lake": lake}))
    assert again.run_requests == []

    assets = build_raw_assets(EventSourceKind(SchemaRegistry.from_directory()))
    instance = dg.DagsterInstance.ephemeral()
    for (_subject, day), request in sorted(requested.items()):
        run = dg.materialize(
            assets,
            selection=[request.asset_selection[0]],
            partition_key=day,
            resources={"lake": lake},
            instance=instance,
        )
        assert run.success
    raw_counts: dict[str, int] = {}
    for key in s3_store.list_keys("raw/events/"):
        reader = fastavro.reader(io.BytesIO(s3_store.get_bytes(key)))
        assert reader.metadata[SCHEMA_ID_KEY].split(":")[0] == key.split("/")[2]
        raw_counts[key.split("/")[2]] = raw_counts.get(key.split("/")[2], 0) + sum(1 for _ in reader)
    landed_per_type: dict[str, int] = {}
    for event in valid_events(lines):
        landed_per_type[event["event_type"]] = landed_per_type.get(event["event_type"], 0) + 1
    assert raw_counts == landed_per_type


def test_a_run_against_an_unreachable_endpoint_fails_at_start_with_the_endpoint_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_KEY)
    lake = LakeResource(env="s3", lake_root="s3://lake/prefix", s3_endpoint_url="http://127.0.0.1:9")
    result = dg.materialize(
        build_raw_assets(EventSourceKind(SchemaRegistry.from_directory())),
        selection="raw/events/page_view",
        partition_key="2026-11-20",
        resources={"lake": lake},
        raise_on_error=False,
    )
    assert not result.success
    messages = []
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        while error is not None:  # the resource error wraps ours as its cause
            messages.append(error.message)
            error = error.cause
    messages = " ".join(messages)
    assert "cannot reach S3 endpoint http://127.0.0.1:9" in messages


@pytest.mark.s3
def test_cdc_raw_and_merge_run_on_s3(
    s3_server: SeaweedServer, s3_store: S3ObjectStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spark
) -> None:
    """DMS files on S3 -> raw Avro -> the Iceberg current state and history on S3 (MERGE INTO, position
    deletes), read back by Spark through the catalog."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_KEY)
    spec = CdcTableSpec("sales", "sales", "orders", ("order_id",), buckets=4)
    fixtures = (
        Path(__file__).parents[1] / "sources" / "cdc" / "dms_fixtures" / "with_header" / "sales" / "orders"
    )
    lake = LakeResource(
        env="s3",
        lake_root=s3_store.root,
        s3_endpoint_url=s3_server.endpoint_url,
        catalog_uri=f"sqlite:///{tmp_path / 'catalog.db'}",
    )
    defs = build_cdc_assets([spec])
    resources = {"lake": lake, "spark": SparkResource(s3=True)}

    def land_and_merge(name: str) -> dict[str, str]:
        s3_store.put_bytes(f"landing/cdc/sales/sales/orders/{name}", (fixtures / name).read_bytes())
        raw = dg.materialize(
            defs, selection="raw/cdc/sales/orders", partition_key="2026-11-24", resources=resources
        )
        assert raw.success
        merged = dg.materialize(
            defs,
            selection=["intermediate/cdc/sales/orders", "intermediate/cdc/sales/orders_history"],
            resources=resources,
        )
        assert merged.success
        session = catalog_session(spark, lake.catalog)
        return {r["order_id"]: r["amount"] for r in read_current(session, spec).collect()}

    assert land_and_merge("LOAD00000001.csv") == {"1": "10.50", "2": "7.25", "3": "3.00"}
    assert land_and_merge("20261124-221530123.csv") == {"1": "11.00", "2": "7.25", "4": "99.99"}
    assert land_and_merge("20261124-221600000.csv") == {"1": "11.00", "2": "8.00", "4": "99.99"}
    keys = s3_store.list_keys("intermediate/cdc_sales_orders/")
    assert any("/data/" in k for k in keys) and any(k.endswith(".metadata.json") for k in keys)


@pytest.mark.s3
def test_events_reach_iceberg_tables_on_s3_through_every_layer(
    s3_server: SeaweedServer, s3_store: S3ObjectStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spark
) -> None:
    """Raw -> intermediate -> final with the Iceberg tables' files on S3 (S3FileIO); the catalog is a SQLite
    file here (a lake on S3 names its catalog with LAKE_CATALOG_URI). pyiceberg reads the tables back."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_KEY)
    lines = sample_lines(900, days=1, seed=23)
    ingest_lines(s3_store, lines, max_events=300)
    lake = LakeResource(
        env="s3",
        lake_root=s3_store.root,
        s3_endpoint_url=s3_server.endpoint_url,
        catalog_uri=f"sqlite:///{tmp_path / 'catalog.db'}",
    )
    landing_events_sensor(dg.build_sensor_context(cursor=None, resources={"lake": lake}))
    day = sorted({d for _, d in expected_counts(valid_events(lines))})[0]
    result = dg.materialize(
        build_assets(SchemaRegistry.from_directory()),
        partition_key=day,
        resources={"lake": lake, "spark": SparkResource(s3=True)},
    )
    assert result.success
    keys = s3_store.list_keys("")
    assert any(
        k.startswith("intermediate/events_page_view/data/dt=") and k.endswith(".parquet") for k in keys
    )
    assert any(
        k.startswith("final/shop_daily_funnel/metadata/") and k.endswith(".metadata.json") for k in keys
    )
    catalog = lake.catalog
    expected = {s: n for (s, d), n in expected_counts(valid_events(lines)).items() if d == day}
    for subject, count in expected.items():
        table = catalog.pyiceberg().load_table(f"intermediate.events_{subject}")
        assert table.location().startswith(f"{s3_store.root}/intermediate/")
        assert table.scan().to_arrow().num_rows == count, subject
    funnel = catalog.pyiceberg().load_table("final.shop_daily_funnel").scan().to_arrow().to_pylist()
    assert [str(r["dt"]) for r in funnel] == [day] and funnel[0]["sessions"] > 0
    # lake query on S3: DuckDB reads the same table from S3 through the catalog, under its Athena name.
    out = run_sql(
        s3_store, "SELECT 'sessions=' || sum(sessions) AS s FROM final.shop_daily_funnel", catalog=catalog
    )
    assert f"sessions={funnel[0]['sessions']}" in out


@pytest.mark.s3
def test_spark_reads_raw_avro_in_place_on_s3(
    s3_server: SeaweedServer, s3_store: S3ObjectStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spark
) -> None:
    """Raw on S3 is read by Spark's S3A connector where it lies (``s3a://`` paths, nothing downloaded)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_KEY)
    schema = {"type": "record", "name": "r", "fields": [{"name": "n", "type": "long"}]}
    for day, rows in (("2026-11-24", range(3)), ("2026-11-25", range(3, 5))):
        body = io.BytesIO()
        fastavro.writer(body, schema, [{"n": n} for n in rows])
        s3_store.put_bytes(f"raw/events/probe/dt={day}/part.avro", body.getvalue())
    lake = LakeResource(
        env="s3",
        lake_root=s3_store.root,
        s3_endpoint_url=s3_server.endpoint_url,
        catalog_uri=f"sqlite:///{tmp_path / 'catalog.db'}",
    )
    session = catalog_session(spark, lake.catalog)
    prefixes = [f"raw/events/probe/dt={day}" for day in ("2026-11-24", "2026-11-25", "2026-11-26")]
    frame = read_raw_avro(session, s3_store, prefixes, schema)
    rows = frame.select("n", "_metadata.file_path").collect()
    assert sorted(r["n"] for r in rows) == [0, 1, 2, 3, 4]
    bucket_and_root = s3_store.root.removeprefix("s3://")
    assert {r["file_path"] for r in rows} == {
        f"s3a://{bucket_and_root}/raw/events/probe/dt={day}/part.avro" for day in ("2026-11-24", "2026-11-25")
    }
