"""LAKE_ENV=aws: the Iceberg tables in the AWS Glue Data Catalog, one database per zone, data on S3.

moto stands in for Glue and S3 (neither can run here; moto's Glue API accepts Iceberg table definitions, as
pyiceberg's own Glue tests rely on). Spark writes through Iceberg's GlueCatalog and S3FileIO, pyiceberg's
GlueCatalog reads the same tables back; the Glue API shows what Athena would see.
"""

from __future__ import annotations

import dagster as dg
import pytest

from lake_assets.definitions import build_assets
from lake_assets.registry import SchemaRegistry
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.sensors.landing import landing_events_sensor
from lake_assets.storage.s3 import S3ObjectStore
from lake_assets_tests.fixtures.moto import (
    MOTO_ACCESS_KEY,
    MOTO_REGION,
    MOTO_SECRET_KEY,
    moto_client,
    moto_env,
)
from lake_assets_tests.lake_helpers import expected_counts, ingest_lines, sample_lines, valid_events


@pytest.mark.s3
def test_events_layers_commit_to_glue_catalog_tables_on_s3(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, spark
) -> None:
    for name, value in moto_env().items():
        monkeypatch.setenv(name, value)
    # The test session's JVM started before these variables were set: give the AWS SDK's default chain its
    # system properties instead (on AWS, Glue jobs and EMR get credentials from their role).
    system = spark._jvm.java.lang.System
    for name, value in {"aws.accessKeyId": MOTO_ACCESS_KEY, "aws.secretAccessKey": MOTO_SECRET_KEY}.items():
        system.setProperty(name, value)
    bucket = "lake-on-glue"
    moto_client("s3", moto_server).create_bucket(Bucket=bucket)
    store = S3ObjectStore(f"s3://{bucket}/lake", endpoint_url=moto_server, region=MOTO_REGION)
    lines = sample_lines(600, days=1, seed=31)
    ingest_lines(store, lines, max_events=300)
    lake = LakeResource(
        env="aws",
        lake_root=f"s3://{bucket}/lake",
        s3_endpoint_url=moto_server,
        aws_endpoint_url=moto_server,
        aws_region=MOTO_REGION,
        catalog_uri="glue",
    )
    landing_events_sensor(dg.build_sensor_context(cursor=None, resources={"lake": lake}))
    counts = expected_counts(valid_events(lines))
    day = sorted({d for _, d in counts})[0]
    result = dg.materialize(
        build_assets(SchemaRegistry.from_directory()),
        partition_key=day,
        resources={"lake": lake, "spark": SparkResource(s3=True)},
    )
    assert result.success

    glue = moto_client("glue", moto_server)
    databases = {d["Name"] for d in glue.get_databases()["DatabaseList"]}
    assert {"intermediate", "final"} <= databases
    final = {t["Name"]: t for t in glue.get_tables(DatabaseName="final")["TableList"]}
    assert set(final) == {"shop_daily_funnel", "shop_daily_product_sales"}
    for table in final.values():
        assert table["Parameters"]["table_type"].upper() == "ICEBERG"
        assert table["Parameters"]["metadata_location"].startswith(f"s3://{bucket}/lake/final/")
    raw = {t["Name"]: t for t in glue.get_tables(DatabaseName="raw")["TableList"]}
    assert {f"events_{s}" for s, _ in counts} <= set(raw)  # (moto is shared by the test session)
    page_view = raw["events_page_view"]
    assert page_view["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("AvroSerDe")
    assert page_view["StorageDescriptor"]["Location"] == f"s3://{bucket}/lake/raw/events/page_view/"
    assert [k["Name"] for k in page_view["PartitionKeys"]] == ["dt"]
    columns = {c["Name"]: c["Type"] for c in page_view["StorageDescriptor"]["Columns"]}
    assert columns["event_id"] == "string" and columns["event_time"] == "timestamp"
    parts = glue.get_partitions(DatabaseName="raw", TableName="events_page_view")["Partitions"]
    assert [(p["Values"], p["StorageDescriptor"]["Location"]) for p in parts] == [
        ([day], f"s3://{bucket}/lake/raw/events/page_view/dt={day}/")
    ]
    catalog = lake.catalog.pyiceberg()
    for (subject, d), n in counts.items():
        if d == day:
            assert catalog.load_table(f"intermediate.events_{subject}").scan().to_arrow().num_rows == n
    sales = catalog.load_table("final.shop_daily_product_sales").scan().to_arrow()
    assert sales.num_rows > 0 and {str(v) for v in sales.column("dt").to_pylist()} == {day}
