"""The catalog on SQLite (the default) and on the test session's PostgreSQL: Spark writes through Iceberg's
JDBC catalog, pyiceberg's SQL catalog and DuckDB read the same tables; bad catalogs and specs are one line."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import psycopg2
import pytest

from lake_assets.query import run_sql
from lake_assets.settings import SettingsError, load_settings
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.tables.catalog import CatalogConfig, CatalogError, catalog_session
from lake_assets.tables.iceberg import write_audit_publish
from lake_assets.tables.inspect import describe_table, list_tables
from lake_assets.tables.specs import TableSpec, TableSpecError, table_spec

SPEC = TableSpec("final", "t_sales", partition_by=("dt",), sort_by=("dt", "product_id"))


def _sales(session, n: int):
    day = dt.date(2026, 11, 20)
    return session.createDataFrame(
        [(day, f"p{i}", i) for i in range(n)], "dt date, product_id string, units int"
    )


@pytest.fixture
def pg_catalog_uri(postgres_server) -> str:
    """A fresh database on the session's PostgreSQL for one catalog."""
    name = f"catalog_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(postgres_server.url.rsplit("/", 1)[0] + "/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    conn.close()
    return postgres_server.url.rsplit("/", 1)[0] + f"/{name}"


def test_a_postgresql_catalog_holds_the_tables_spark_writes_and_pyiceberg_reads(
    tmp_path: Path, spark, pg_catalog_uri: str
) -> None:
    catalog = CatalogConfig.for_lake(str(tmp_path), pg_catalog_uri)
    assert catalog.kind == "postgresql"
    session = catalog_session(spark, catalog)
    assert write_audit_publish(session, catalog, SPEC, _sales(session, 6), lambda s: True).published
    assert [e.identifier for e in list_tables(catalog)] == ["final.t_sales"]
    assert catalog.pyiceberg().load_table("final.t_sales").scan().to_arrow().num_rows == 6
    assert "6 rows in 1 files" in describe_table(catalog, "final.t_sales")
    assert not (tmp_path / "_system" / "catalog.db").exists()  # nothing went to a SQLite file
    out = run_sql(LocalObjectStore(tmp_path), "SELECT sum(units) AS s FROM final.t_sales", catalog=catalog)
    assert "15" in out
    rows = psycopg2.connect(pg_catalog_uri).cursor()
    rows.execute("SELECT catalog_name, table_namespace, table_name FROM iceberg_tables")
    assert rows.fetchall() == [("lake", "final", "t_sales")]


def test_pyiceberg_and_spark_share_the_sqlite_catalog_both_ways(tmp_path: Path, spark) -> None:
    catalog = CatalogConfig.for_lake(str(tmp_path))
    session = catalog_session(spark, catalog)
    write_audit_publish(session, catalog, SPEC, _sales(session, 3), lambda s: True)
    table = catalog.pyiceberg().load_table("final.t_sales")
    table.append(table.scan().to_arrow())  # pyiceberg commits to the table Spark made
    assert session.table("lake.final.t_sales").count() == 6  # and Spark sees that commit


def test_a_missing_or_unreadable_catalog_is_one_clear_line(tmp_path: Path) -> None:
    catalog = CatalogConfig.for_lake(str(tmp_path))
    assert list_tables(catalog) == []  # no catalog yet: no tables, no error
    with pytest.raises(CatalogError, match="does not exist yet"):
        describe_table(catalog, "final.t_sales")
    catalog.sqlite_path.parent.mkdir(parents=True)
    catalog.sqlite_path.write_bytes(b"this is not SQLite" * 50)
    with pytest.raises(CatalogError) as err:
        list_tables(catalog)
    assert str(catalog.sqlite_path) in str(err.value) and "\n" not in str(err.value)


def test_catalog_settings_are_checked_at_start() -> None:
    assert (
        load_settings({"LAKE_CATALOG_URI": "postgresql://u@h:5432/c"}).catalog_uri
        == "postgresql://u@h:5432/c"
    )
    assert load_settings({"LAKE_ENV": "aws", "LAKE_ROOT": "s3://b/p"}).catalog_uri == "glue"
    with pytest.raises(SettingsError, match="LAKE_CATALOG_URI='mysql://x'"):
        load_settings({"LAKE_CATALOG_URI": "mysql://x"})
    with pytest.raises(CatalogError, match="needs LAKE_CATALOG_URI"):
        CatalogConfig.for_lake("s3://bucket/lake")


def test_table_specs_come_from_the_yaml_with_clear_errors(tmp_path: Path) -> None:
    spec = table_spec("final", "shop_daily_product_sales")
    assert spec.partition_by == ("dt",) and spec.sort_by == ("dt", "product_id")
    assert table_spec("intermediate", "events_search").sort_by == ("event_time",)  # the wildcard entry
    assert table_spec("final", "unknown_table").partition_by == ()
    bad = tmp_path / "tables.yaml"
    bad.write_text("tables:\n  final.sales:\n    partition_by: [bucket(16, id)]\n")
    with pytest.raises(
        TableSpecError, match=r"final.sales.partition_by: 'bucket\(16' is cut at a comma: quote"
    ):
        table_spec("final", "sales", bad)
    bad.write_text("tables:\n  final.sales:\n    partition_by: ['bucket(x, id)']\n")
    with pytest.raises(
        TableSpecError, match=r"tables.yaml: final.sales.partition_by: 'bucket\(x, id\)' is not"
    ):
        table_spec("final", "sales", bad)
    bad.write_text("tables:\n  final.sales:\n    partition_by: ['bucket(16, id)']\n")
    assert table_spec("final", "sales", bad).partition_by == ("bucket(16, id)",)
    bad.write_text("tables:\n  gold.sales: {}\n")
    with pytest.raises(TableSpecError, match="database one of"):
        table_spec("final", "sales", bad)
    bad.write_text("tables:\n  final.sales:\n    partitions: [dt]\n")
    with pytest.raises(TableSpecError, match=r"unknown field\(s\) \['partitions'\]"):
        table_spec("final", "sales", bad)
