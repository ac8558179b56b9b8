"""Stage -> check -> commit of one Iceberg write, without Dagster: the assets and the Glue job share it.

Every blocking check passes on the staged snapshot, or nothing is published and the table stays at its
previous snapshot. The outcome says which checks passed with their figures, for whichever side reports them
(Dagster's asset check results locally, Dagster Pipes messages from a Glue job).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql.types import StructType

from lake_assets.checks.staged import Evaluation, StagedCheck
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.iceberg import StagedWrite, write_audit_publish
from lake_assets.tables.specs import TableSpec


@dataclass
class CommitOutcome:
    table: str
    published: bool
    snapshot_id: int | None
    attempts: int
    rows: int
    schema: StructType | None
    checks: dict[str, Evaluation] = field(default_factory=dict)  # name -> (passed, metadata), in check order
    blocking: list[str] = field(default_factory=list)

    @property
    def failed_blocking(self) -> list[str]:
        return [name for name in self.blocking if not self.checks[name][0]]

    def failure(self) -> str:
        return (
            f"{self.table}: blocking check(s) {', '.join(self.failed_blocking)} failed on the staged "
            f"snapshot; nothing was published, the table stays at snapshot {self.snapshot_id}"
        )


def commit_checked(
    session: SparkSession,
    catalog: CatalogConfig,
    spec: TableSpec,
    df: DataFrame,
    checks: Sequence[StagedCheck],
    *,
    replace_where: Column | None = None,
) -> CommitOutcome:
    """Write ``df`` on an audit branch, evaluate ``checks`` on the staged rows once, publish if they pass."""
    outcome: dict[str, Evaluation] = {}
    counted: dict[str, Any] = {"rows": 0, "schema": None}
    cached: list[DataFrame] = []

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

    try:
        result = write_audit_publish(session, catalog, spec, df, audit, replace_where=replace_where)
    finally:
        for frame in cached:
            frame.unpersist()
    return CommitOutcome(
        spec.identifier,
        result.published,
        result.snapshot_id,
        result.attempts,
        counted["rows"],
        counted["schema"],
        {c.name: outcome[c.name] for c in checks},
        [c.name for c in checks if c.blocking],
    )
