"""Running the CDC assets on a temporary lake and reading their tables back: shared by the CDC asset tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg

from lake_assets.assets.cdc import build_cdc_checks
from lake_assets.definitions import build_cdc_assets
from lake_assets.resources.spark import SparkResource
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets_tests.iceberg_readers import pyiceberg_catalog
from lake_assets_tests.lake_helpers import lake_resource


def run(root: Path, spec: CdcTableSpec, days: list[str], checks: bool = False) -> dg.ExecuteInProcessResult:
    """raw for ``days`` then the merge (two runs: the merge is not partitioned)."""
    defs = [*build_cdc_assets([spec]), *(build_cdc_checks([spec]) if checks else [])]
    resources = {"lake": lake_resource(root), "spark": SparkResource()}
    raw = dg.materialize(
        defs,
        selection=f"raw/cdc/{spec.name}",
        resources=resources,
        tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]},
        raise_on_error=False,
    )
    if not raw.success:
        return raw
    return dg.materialize(
        defs,
        selection=[f"intermediate/cdc/{spec.name}", f"intermediate/cdc/{spec.name}_history"],
        resources=resources,
        raise_on_error=False,
    )


def table(root: Path, spec: CdcTableSpec, suffix: str = "") -> list[dict]:
    """The Iceberg table's rows, read with pyiceberg (not the lake's Spark code); [] before a merge."""
    identifier = f"intermediate.cdc_{spec.source}_{spec.table}{suffix}"
    catalog = pyiceberg_catalog(root)
    if not catalog.table_exists(identifier):
        return []
    return catalog.load_table(identifier).scan().to_arrow().to_pylist()


def current(root: Path, spec: CdcTableSpec, columns: list[str]) -> dict[tuple, dict]:
    """The current-state table as pyiceberg reads it (typed values), keyed like ``PgTest.rows``."""
    out = {}
    for row in table(root, spec):
        values = {c: row.get(c) for c in columns}
        out[tuple(values[k] for k in spec.primary_key)] = values
    return out


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    return " ".join(str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure)


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


def checks_of(result: dg.ExecuteInProcessResult) -> dict[str, tuple[bool, dict]]:
    """Check name -> (passed, metadata) of a run."""
    return {c.check_name: (c.passed, c.metadata) for c in result.get_asset_check_evaluations()}


def reconcile_only(root: Path, spec: CdcTableSpec) -> tuple[bool, dict]:
    """Only the reconciliation check, against the source as it is now."""
    result = dg.materialize(
        [*build_cdc_assets([spec]), *build_cdc_checks([spec])],
        selection=dg.AssetSelection.checks(
            dg.AssetCheckKey(
                dg.AssetKey(["intermediate", "cdc", spec.source, spec.table]), "reconciles_with_source"
            )
        ),
        resources={"lake": lake_resource(root), "spark": SparkResource()},
        raise_on_error=False,
    )
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation.passed, evaluation.metadata
