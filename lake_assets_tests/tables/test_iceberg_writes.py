"""tables.iceberg on a real Iceberg catalog (SQLite file, Spark's JDBC catalog): write-audit-publish,
retries after a concurrent commit, schema evolution and its limits. Read back with pyiceberg, not Spark."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lake_assets.tables.catalog import CatalogConfig, catalog_session
from lake_assets.tables.errors import TableCommitError
from lake_assets.tables.iceberg import qualified, stage_write, write_audit_publish
from lake_assets.tables.specs import TableSpec
from lake_assets_tests.iceberg_readers import pyiceberg_catalog, pyiceberg_table, snapshot_ids

SPEC = TableSpec("intermediate", "t_orders", partition_by=("dt",), sort_by=("dt", "order_id"))


@pytest.fixture
def lake(tmp_path: Path, spark):
    catalog = CatalogConfig.for_lake(str(tmp_path))
    return tmp_path, catalog, catalog_session(spark, catalog)


def orders(session, day: str, ids: range, amount: int = 1):
    rows = [(f"o{i}", amount * i, dt.date.fromisoformat(day)) for i in ids]
    return session.createDataFrame(rows, "order_id string, amount int, dt date")


def day_is(day: str):
    return F.col("dt") == F.lit(day).cast("date")


def test_a_published_write_is_one_commit_and_a_rerun_is_idempotent(lake) -> None:
    root, catalog, session = lake
    for _ in range(2):
        done = write_audit_publish(
            session,
            catalog,
            SPEC,
            orders(session, "2026-11-20", range(5)),
            lambda s: True,
            replace_where=day_is("2026-11-20"),
        )
        assert done.published
    table = pyiceberg_catalog(root).load_table("intermediate.t_orders")
    assert table.scan().to_arrow().num_rows == 5
    assert [f.name for f in table.spec().fields] == ["dt"]
    assert [table.schema().find_column_name(f.source_id) for f in table.sort_order().fields] == [
        "dt",
        "order_id",
    ]
    assert table.format_version == 2 and table.properties["write.distribution-mode"] == "hash"
    assert list(table.metadata.refs) == ["main"]  # audit branches are gone
    assert table.location().replace("file:///", "file:/") == f"file:{root.resolve()}/intermediate/t_orders"


def test_a_failed_audit_leaves_main_at_its_previous_snapshot(lake) -> None:
    root, catalog, session = lake
    write_audit_publish(session, catalog, SPEC, orders(session, "2026-11-20", range(3)), lambda s: True)
    before = snapshot_ids(root, "intermediate.t_orders")
    seen = {}

    def audit(staged) -> bool:
        seen["staged_rows"] = staged.frame.count()
        return False

    done = write_audit_publish(session, catalog, SPEC, orders(session, "2026-11-20", range(100)), audit)
    assert not done.published and seen["staged_rows"] == 100  # the checks saw the staged data
    assert snapshot_ids(root, "intermediate.t_orders") == before
    assert pyiceberg_table(root, "intermediate.t_orders").num_rows == 3
    assert list(pyiceberg_catalog(root).load_table("intermediate.t_orders").metadata.refs) == ["main"]


def test_replace_where_empties_a_day_that_lost_its_rows(lake) -> None:
    root, catalog, session = lake
    write_audit_publish(session, catalog, SPEC, orders(session, "2026-11-20", range(3)), lambda s: True)
    write_audit_publish(session, catalog, SPEC, orders(session, "2026-11-21", range(2)), lambda s: True)
    empty = orders(session, "2026-11-20", range(0))
    write_audit_publish(session, catalog, SPEC, empty, lambda s: True, replace_where=day_is("2026-11-20"))
    days = {str(r["dt"]) for r in pyiceberg_table(root, "intermediate.t_orders").to_pylist()}
    assert days == {"2026-11-21"}


def test_a_commit_that_lands_meanwhile_is_kept_and_the_write_is_redone_on_top(lake) -> None:
    """Two writers of one table: the second publish finds main moved, stages again; both days are there."""
    root, catalog, session = lake
    write_audit_publish(session, catalog, SPEC, orders(session, "2026-11-19", range(1)), lambda s: True)
    calls = []

    def audit(staged) -> bool:
        calls.append(staged.branch)
        if len(calls) == 1:  # another run commits day 21 while this one is being audited
            write_audit_publish(
                session, catalog, SPEC, orders(session, "2026-11-21", range(4)), lambda s: True
            )
        return True

    done = write_audit_publish(session, catalog, SPEC, orders(session, "2026-11-20", range(3)), audit)
    assert done.published and done.attempts == 2 and len(set(calls)) == 2
    rows = pyiceberg_table(root, "intermediate.t_orders").to_pylist()
    assert sorted({str(r["dt"]): 0 for r in rows}) == ["2026-11-19", "2026-11-20", "2026-11-21"]
    assert len(rows) == 8


def test_a_new_column_is_added_and_old_rows_read_null(lake) -> None:
    root, catalog, session = lake
    write_audit_publish(session, catalog, SPEC, orders(session, "2026-11-20", range(2)), lambda s: True)
    wider = orders(session, "2026-11-21", range(2)).withColumn("channel", F.lit("web"))
    write_audit_publish(session, catalog, SPEC, wider, lambda s: True)
    rows = pyiceberg_table(root, "intermediate.t_orders").to_pylist()
    assert sorted((str(r["dt"]), r["channel"]) for r in rows) == [
        ("2026-11-20", None),
        ("2026-11-20", None),
        ("2026-11-21", "web"),
        ("2026-11-21", "web"),
    ]


def test_int_widens_to_long_but_an_incompatible_type_stops_the_commit_naming_table_and_column(lake) -> None:
    root, catalog, session = lake
    write_audit_publish(session, catalog, SPEC, orders(session, "2026-11-20", range(2)), lambda s: True)
    longer = orders(session, "2026-11-20", range(2)).withColumn("amount", F.col("amount").cast("long"))
    write_audit_publish(session, catalog, SPEC, longer, lambda s: True)
    before = snapshot_ids(root, "intermediate.t_orders")
    texts = orders(session, "2026-11-20", range(2)).withColumn("amount", F.lit("ten"))
    with pytest.raises(
        TableCommitError, match=r"intermediate\.t_orders: column 'amount' is bigint .* string"
    ):
        write_audit_publish(session, catalog, SPEC, texts, lambda s: True)
    assert snapshot_ids(root, "intermediate.t_orders") == before
    schema = pyiceberg_catalog(root).load_table("intermediate.t_orders").schema()
    assert str(schema.find_field("amount").field_type) == "long"


def test_stage_write_without_publish_is_discarded(lake) -> None:
    root, catalog, session = lake
    with stage_write(session, catalog, SPEC, orders(session, "2026-11-20", range(7))) as staged:
        assert staged.frame.count() == 7
        assert session.table(qualified(SPEC)).count() == 0  # readers of main see nothing yet
    assert pyiceberg_table(root, "intermediate.t_orders").num_rows == 0
    assert not pyiceberg_catalog(root).load_table("intermediate.t_orders").metadata.refs  # no branch left
