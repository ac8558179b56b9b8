"""Stage -> check -> commit for the Iceberg layers: checks judge the staged snapshot before readers see it.

The Dagster side of ``tables.checked_commit``: every blocking check passes, or the failed results are
reported, the run fails, and the table stays at its previous snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql.types import StructType

from lake_assets.checks.staged import StagedCheck
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.checked_commit import CommitOutcome, commit_checked
from lake_assets.tables.specs import TableSpec


def table_metadata(spec: TableSpec, catalog: CatalogConfig, schema: StructType) -> dict[str, Any]:
    """What the UI shows of the table: its catalog name, location and column schema."""
    return {
        "dagster/table_name": spec.identifier,
        "dagster/column_schema": dg.TableSchema(
            columns=[
                # a column's description is its doc in the table (lake access describe writes the policy's)
                dg.TableColumn(f.name, f.dataType.simpleString(), description=f.metadata.get("comment"))
                for f in schema.fields
            ]
        ),
        "table_location": dg.MetadataValue.path(catalog.table_location(spec.database, spec.name)),
        "partition_spec": ", ".join(spec.partition_by) or "unpartitioned",
        "sort_order": ", ".join(spec.sort_by) or "none",
    }


def commit_with_checks(
    session: SparkSession,
    catalog: CatalogConfig,
    spec: TableSpec,
    df: DataFrame,
    checks: Sequence[StagedCheck],
    *,
    replace_where: Column | None = None,
    metadata: dict[str, Any] | None = None,
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    """Yield the check results and the materialization of one Iceberg commit, or fail without publishing."""
    outcome = commit_checked(session, catalog, spec, df, checks, replace_where=replace_where)
    yield from committed_results(outcome, catalog, spec, metadata)


def committed_results(
    outcome: CommitOutcome, catalog: CatalogConfig, spec: TableSpec, metadata: dict[str, Any] | None = None
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    """A commit's outcome as Dagster reports it: failed results and a failure, or the materialization."""
    check_results = [
        dg.AssetCheckResult(check_name=name, passed=passed, metadata=figures)
        for name, (passed, figures) in outcome.checks.items()
    ]
    if not outcome.published:
        yield from check_results
        raise dg.Failure(
            description=outcome.failure(), metadata={"failed_checks": ", ".join(outcome.failed_blocking)}
        )
    schema_metadata = table_metadata(spec, catalog, outcome.schema) if outcome.schema is not None else {}
    yield dg.MaterializeResult(
        metadata={**schema_metadata, **outcome.metadata(), **(metadata or {})},
        check_results=check_results,
    )
