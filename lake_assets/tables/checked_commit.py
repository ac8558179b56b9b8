"""Stage -> check -> commit of Iceberg writes, without Dagster: every layer and the Glue job share it.

One table (``commit_checked``) or several published together (``commit_checked_together``: a CDC merge's
history and current state). Every blocking check passes on the staged snapshots, or nothing is published and
the tables stay at their previous snapshots. The outcome says which checks passed with their figures, for
whichever side reports them (Dagster's asset check results locally, Dagster Pipes messages from a Glue job).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql.types import StructType

from lake_assets.checks.staged import Evaluation, StagedCheck
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.iceberg import StagedWrite, Staging, publish_together
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

    @classmethod
    def nothing_to_publish(cls, table: str, checks: dict[str, Evaluation]) -> CommitOutcome:
        """A run with nothing to write yet (no input has landed): a success that commits nothing."""
        return cls(table, True, None, 0, 0, None, checks)

    def metadata(self) -> dict[str, int | str]:
        """What a materialization says of the commit (only rows when there was nothing to commit)."""
        if self.snapshot_id is None:
            return {"dagster/row_count": self.rows}
        return {
            "dagster/row_count": self.rows,
            "snapshot_id": str(self.snapshot_id),
            "commit_attempts": self.attempts,
        }

    @property
    def failed_blocking(self) -> list[str]:
        return [name for name in self.blocking if not self.checks[name][0]]

    def failure(self) -> str:
        return (
            f"{self.table}: blocking check(s) {', '.join(self.failed_blocking)} failed on the staged "
            f"snapshot; nothing was published, the table stays at snapshot {self.snapshot_id}"
        )


@dataclass(frozen=True)
class CheckedWrite:
    """One table of a checked commit: its staging, its checks, and which staged rows they judge
    (``audited``; default: the rows ``replace_where`` selects, or the whole staged table)."""

    staging: Staging
    checks: Sequence[StagedCheck]
    audited: Callable[[DataFrame], DataFrame] | None = None

    def audited_rows(self, staged: StagedWrite) -> DataFrame:
        frame = staged.frame
        if self.audited is not None:
            return self.audited(frame)
        where = self.staging.replace_where
        return frame if where is None else frame.where(where)


def commit_checked_together(
    session: SparkSession, catalog: CatalogConfig, build: Callable[[], Sequence[CheckedWrite]]
) -> list[CommitOutcome]:
    """Stage every table ``build()`` gives, evaluate each one's checks once on its staged rows, and publish
    them all only if every blocking check of every table passes (``tables.iceberg.publish_together``).

    ``build`` runs again when a race is lost; one outcome per table, in ``build``'s order.
    """
    writes: list[CheckedWrite] = []
    results: list[tuple[int, StructType | None, dict[str, Evaluation]]] = []
    cached: list[DataFrame] = []

    def stagings() -> list[Staging]:
        writes[:] = build()
        return [w.staging for w in writes]

    def audit(staged: Sequence[StagedWrite]) -> bool:
        results.clear()
        for write, table in zip(writes, staged, strict=True):
            frame = write.audited_rows(table).cache()  # read once for all of the table's checks
            cached.append(frame)
            evaluations = {check.name: check.evaluate(frame) for check in write.checks}
            results.append((frame.count(), frame.schema, evaluations))
        return all(
            evaluations[c.name][0]
            for write, (_, _, evaluations) in zip(writes, results, strict=True)
            for c in write.checks
            if c.blocking
        )

    try:
        published = publish_together(session, catalog, stagings, audit)
    finally:
        for frame in cached:
            frame.unpersist()
    return [
        CommitOutcome(
            done.table,
            done.published,
            done.snapshot_id,
            done.attempts,
            rows,
            schema,
            evaluations,
            [c.name for c in write.checks if c.blocking],
        )
        for done, write, (rows, schema, evaluations) in zip(published, writes, results, strict=True)
    ]


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
    [outcome] = commit_checked_together(
        session, catalog, lambda: [CheckedWrite(Staging(spec, df, replace_where), checks)]
    )
    return outcome
