"""Blocking checks judge the staged snapshot before readers see it, for each Iceberg layer.

A transform with a bug (duplicated rows) is put in front of each layer's commit: the run fails, the blocking
check is reported failed, and the table stays at its previous snapshot with its previous rows (read with
pyiceberg, independently of the lake's code).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from lake_assets.assets.final import build_final_asset
from lake_assets.definitions import build_assets
from lake_assets.layers import events as intermediate_module
from lake_assets.layers.final import FinalTable
from lake_assets.registry import SchemaRegistry
from lake_assets.resources.spark import SparkResource
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.transforms.events import clean_events
from lake_assets.transforms.shop import daily_product_sales
from lake_assets_tests.iceberg_readers import pyiceberg_catalog, pyiceberg_table, snapshot_ids
from lake_assets_tests.lake_helpers import START, index_landing, ingest_lines, lake_resource, sample_lines

DAY = START.isoformat()


def _materialize(root: Path, assets: list, selection: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        selection=selection,
        resources={"lake": lake_resource(root), "spark": SparkResource()},
        partition_key=DAY,
        raise_on_error=False,
    )


@pytest.fixture
def lake(tmp_path: Path, spark) -> Path:
    """A lake with one day through every layer: each table has a first snapshot."""
    root = tmp_path / "lake"
    ingest_lines(LocalObjectStore(root), sample_lines(600, days=1, seed=3))
    index_landing(lake_resource(root))
    assert _materialize(root, build_assets(SchemaRegistry.from_directory()), "*").success
    return root


def _assert_unchanged(root: Path, identifier: str, snapshots: list[int], rows: int) -> None:
    assert snapshot_ids(root, identifier) == snapshots
    assert pyiceberg_table(root, identifier).num_rows == rows
    refs = pyiceberg_catalog(root).load_table(identifier).metadata.refs
    assert list(refs) == ["main"], refs  # the audit branch is dropped


def test_intermediate_with_duplicates_fails_its_blocking_check_and_publishes_nothing(
    lake, monkeypatch
) -> None:
    identifier = "intermediate.events_page_view"
    snapshots, rows = snapshot_ids(lake, identifier), pyiceberg_table(lake, identifier).num_rows

    def buggy_clean(spark, inputs, params):  # noqa: ANN001, ANN202 - same shape as the transform
        cleaned = clean_events(spark, inputs, params)
        return cleaned.unionByName(cleaned.limit(3))

    monkeypatch.setattr(intermediate_module, "clean_events", buggy_clean)
    result = _materialize(
        lake, build_assets(SchemaRegistry.from_directory()), "intermediate/events/page_view"
    )
    assert not result.success
    outcomes = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert outcomes["event_id_unique"] is False
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "event_id_unique" in failure and "nothing was published" in failure
    _assert_unchanged(lake, identifier, snapshots, rows)


def test_final_with_duplicate_keys_fails_its_blocking_check_and_publishes_nothing(lake) -> None:
    identifier = "final.shop_daily_product_sales"
    snapshots, rows = snapshot_ids(lake, identifier), pyiceberg_table(lake, identifier).num_rows

    def buggy_sales(spark, frames):  # noqa: ANN001, ANN202
        sales = daily_product_sales(spark, frames)
        return sales.unionByName(sales.limit(2))

    buggy = build_final_asset(
        FinalTable(
            "daily_product_sales",
            {"orders": "order_placed"},
            buggy_sales,
            key_columns=("dt", "product_id"),
            invariants=("units > 0",),
            description="test",
        )
    )
    result = _materialize(lake, [buggy], "final/shop/daily_product_sales")
    assert not result.success
    outcomes = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert outcomes == {"key_unique": False, "invariants_hold": True}
    _assert_unchanged(lake, identifier, snapshots, rows)


def test_a_passing_rerun_publishes_exactly_one_new_snapshot(lake) -> None:
    identifier = "final.shop_daily_funnel"
    before = snapshot_ids(lake, identifier)
    result = _materialize(lake, build_assets(SchemaRegistry.from_directory()), "final/shop/daily_funnel")
    assert result.success
    after = snapshot_ids(lake, identifier)
    assert after[:-1] == before and len(after) == len(before) + 1
    materialization = result.asset_materializations_for_node("final__shop__daily_funnel")[0]
    metadata = materialization.metadata
    assert metadata["dagster/table_name"].value == identifier
    assert metadata["snapshot_id"].value == str(after[-1])
    assert metadata["dagster/row_count"].value == pyiceberg_table(lake, identifier).num_rows
    assert [c.name for c in metadata["dagster/column_schema"].value.columns][:2] == ["dt", "sessions"]
