"""The two blocking checks every raw asset reports, whatever its source kind.

``conforms_to_schema``: every staged file carries a registered schema of the table. ``counts_reconcile_with_
landing``: the staged records are the ones landing holds for the run's days. Both are judged on the staging
folder before anything is published; a failure reports both results and leaves raw as it was.
"""

from __future__ import annotations

import dagster as dg

CONFORMS = "conforms_to_schema"
RECONCILES = "counts_reconcile_with_landing"


def raw_check_specs(key: dg.AssetKey, *, conforms: str, reconciles: str) -> list[dg.AssetCheckSpec]:
    """The two checks of a raw asset; the descriptions say what each kind compares."""
    return [
        dg.AssetCheckSpec(CONFORMS, asset=key, blocking=True, description=conforms),
        dg.AssetCheckSpec(RECONCILES, asset=key, blocking=True, description=reconciles),
    ]


def staged_check_results(
    schema_problems: list[str], count_problems: list[str], **metadata: object
) -> list[dg.AssetCheckResult]:
    """Both checks' results for a staged run that is about to fail (or pass), each with its own problems."""
    return [
        dg.AssetCheckResult(
            check_name=CONFORMS,
            passed=not schema_problems,
            metadata={**metadata, "problems": "; ".join(schema_problems)},
        ),
        dg.AssetCheckResult(
            check_name=RECONCILES,
            passed=not count_problems,
            metadata={**metadata, "problems": "; ".join(count_problems)},
        ),
    ]
