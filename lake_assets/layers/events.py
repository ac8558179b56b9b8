"""intermediate/events/<subject>: raw Avro typed and deduplicated by event_id, and its run (Dagster-free)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyspark.sql import SparkSession

from lake_assets.assets.spark_io import clean_params, days_filter, read_raw_events
from lake_assets.checks.staged import StagedCheck, key_unique, not_null, rows_equal
from lake_assets.registry import SchemaRegistry
from lake_assets.storage import ObjectStore
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.checked_commit import CommitOutcome, commit_checked
from lake_assets.tables.specs import TableSpec, table_spec
from lake_assets.transforms.events import clean_events

UNIQUE = "event_id_unique"
NOT_NULL = "required_columns_not_null"
COUNTS = "counts_reconcile_with_raw"


def required_columns(registry: SchemaRegistry, subject: str) -> list[str]:
    """Fields whose Avro type admits no null: they must never be null after typing."""
    fields = registry.latest(subject).schema["fields"]
    return [f["name"] for f in fields if not (isinstance(f["type"], list) and "null" in f["type"])]


def intermediate_event_table(subject: str) -> TableSpec:
    """``intermediate.events_<subject>``: partitioning and sort order from tables.yaml."""
    return table_spec("intermediate", f"events_{subject}")


def intermediate_checks(
    registry: SchemaRegistry, subject: str, figures: Mapping[str, int] | None = None
) -> list[StagedCheck]:
    """The table's checks; ``figures``: what the run counted in raw (the reconciliation compares them)."""
    counted = figures if figures is not None else {}
    return [
        key_unique(UNIQUE, ["event_id"]),
        not_null(NOT_NULL, required_columns(registry, subject)),
        rows_equal(
            COUNTS, "rows = raw records - duplicates removed.", lambda: counted, "distinct_ids_in_raw"
        ),
    ]


def run_intermediate_events(
    session: SparkSession,
    catalog: CatalogConfig,
    store: ObjectStore,
    registry: SchemaRegistry,
    subject: str,
    days: Sequence[str],
) -> tuple[CommitOutcome, dict[str, int]]:
    """Rebuild ``days`` of the subject's table from raw; returns the outcome and what raw held."""
    raw = read_raw_events(session, store, registry, subject, days)
    cleaned = clean_events(session, {"raw": raw}, clean_params(registry, subject))
    figures = {"raw_records": raw.count(), "distinct_ids_in_raw": raw.select("event_id").distinct().count()}
    checks = intermediate_checks(registry, subject, figures)
    table = intermediate_event_table(subject)
    outcome = commit_checked(session, catalog, table, cleaned, checks, replace_where=days_filter(days))
    return outcome, figures
