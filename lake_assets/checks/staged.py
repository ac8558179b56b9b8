"""Shared builders of the checks that judge a staged Iceberg write before it is published.

Each builder returns a ``StagedCheck``: a name, a description and a function of the staged rows (the
partitions the run replaces) to (passed, metadata). The assets list them; ``assets.table_commit`` runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame

if TYPE_CHECKING:
    import dagster as dg

from lake_assets.checks.table_checks import duplicate_keys, null_counts, rows_violating

Evaluation = tuple[bool, dict[str, Any]]


@dataclass(frozen=True)
class StagedCheck:
    name: str
    description: str
    evaluate: Callable[[DataFrame], Evaluation]
    blocking: bool = True

    def spec(self, key: dg.AssetKey) -> dg.AssetCheckSpec:
        import dagster as dg  # only the Dagster side asks for a spec; a Glue job evaluates without Dagster

        return dg.AssetCheckSpec(self.name, asset=key, blocking=self.blocking, description=self.description)


def key_unique(name: str, columns: Sequence[str], *, blocking: bool = True) -> StagedCheck:
    def evaluate(frame: DataFrame) -> Evaluation:
        dupes = duplicate_keys(frame, columns)
        return dupes == 0, {"duplicate_keys": dupes}

    return StagedCheck(name, f"Unique: {', '.join(columns)}", evaluate, blocking)


def not_null(name: str, columns: Sequence[str], *, blocking: bool = True) -> StagedCheck:
    def evaluate(frame: DataFrame) -> Evaluation:
        nulls = null_counts(frame, columns)
        return not any(nulls.values()), {"null_counts": nulls}

    return StagedCheck(name, f"Not null: {', '.join(columns) or '(none)'}", evaluate, blocking)


def invariants_hold(name: str, conditions: Sequence[str], *, blocking: bool = False) -> StagedCheck:
    def evaluate(frame: DataFrame) -> Evaluation:
        broken = {condition: rows_violating(frame, condition) for condition in conditions}
        return not any(broken.values()), {"violations": broken}

    return StagedCheck(name, "; ".join(conditions), evaluate, blocking)


def rows_equal(
    name: str,
    description: str,
    expected: Callable[[], Mapping[str, int]],
    key: str,
    *,
    blocking: bool = False,
) -> StagedCheck:
    """The staged row count equals ``expected()[key]``, a figure the run computed from its inputs."""

    def evaluate(frame: DataFrame) -> Evaluation:
        figures = dict(expected())
        rows = frame.count()
        return rows == figures[key], {**figures, "rows": rows}

    return StagedCheck(name, description, evaluate, blocking)
