"""Stage -> check -> commit for the Iceberg layers: checks judge the staged snapshot before readers see it.

The Dagster side of ``tables.iceberg.write_audit_publish``: every blocking check passes, or the failed
results are reported, the run fails, and the table stays at its previous snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql.types import StructType

from lake_assets.checks.staged import Evaluation, StagedCheck
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.iceberg import StagedWrite, write_audit_publish
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
    outcome: dict[str, Evaluation] = {}
    counted: dict[str, Any] = {}

    def audit(staged: StagedWrite) -> bool:
        frame = staged.frame if replace_where is None else staged.frame.where(replace_where)
        frame = frame.cache()  # the staged rows are read once for all the checks, not once per check
        cached.append(frame)
        outcome.clear()
        counted["rows"] = frame.count()
        for check in checks:
            outcome[check.name] = check.evaluate(frame)
        counted["schema"] = frame.schema
        return all(outcome[c.name][0] for c in checks if c.blocking)

    cached: list = []
    try:
        result = write_audit_publish(session, catalog, spec, df, audit, replace_where=replace_where)
    finally:
        for frame in cached:
            frame.unpersist()
    check_results = [
        dg.AssetCheckResult(check_name=c.name, passed=outcome[c.name][0], metadata=outcome[c.name][1])
        for c in checks
    ]
    if not result.published:
        yield from check_results
        failed = [c.name for c in checks if c.blocking and not outcome[c.name][0]]
        raise dg.Failure(
            description=f"{spec.identifier}: blocking check(s) {', '.join(failed)} failed on the staged "
            f"snapshot; nothing was published, the table stays at snapshot {result.snapshot_id}",
            metadata={"failed_checks": ", ".join(failed)},
        )
    yield dg.MaterializeResult(
        metadata={
            **table_metadata(spec, catalog, counted["schema"]),
            "dagster/row_count": counted["rows"],
            "snapshot_id": str(result.snapshot_id),
            "commit_attempts": result.attempts,
            **(metadata or {}),
        },
        check_results=check_results,
    )
