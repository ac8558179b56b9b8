"""The feature table's run without Dagster: read the inputs it needs, build, check, commit one snapshot.

Days ``D`` need events of ``D-27 .. D+7`` (trailing windows and the label week) and the whole customers
history; the write replaces exactly the run's days (``commit_checked``, the lake's one checked commit).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake_assets.assets.spark_io import days_filter, read_intermediate_events
from lake_assets.checks.staged import StagedCheck, invariants_hold, key_unique, not_null
from lake_assets.registry import SchemaRegistry
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.checked_commit import CommitOutcome, commit_checked
from lake_assets.tables.iceberg import qualified, table_exists
from lake_assets.tables.specs import TableSpec, table_spec
from lake_assets.transforms.features import LABEL_DAYS, WINDOWS, customer_day_features

FEATURE_TABLE = table_spec("final", "ml_customer_day_features")
EVENT_INPUTS = {"orders": "order_placed", "page_views": "page_view", "cart_updates": "cart_update"}
# The history columns the features read (what an empty history looks like before the first CDC merge).
HISTORY_COLUMNS = (
    "customer_id int, tier string, active boolean, valid_from timestamp, valid_to timestamp, "
    "is_deleted boolean, position string"
)

CHECKS: tuple[StagedCheck, ...] = (
    key_unique("key_unique", ("dt", "customer_id")),
    not_null("required_columns_not_null", ("dt", "customer_id", "orders_7d", "orders_28d", "customer_known")),
    invariants_hold(
        "invariants_hold",
        (
            "orders_7d <= orders_28d",
            "sessions_7d <= sessions_28d",
            "spend_cents_7d <= spend_cents_28d",
            "spend_cents_28d >= 0",
            "label IS NULL OR label IN (0, 1)",
            "days_since_last_order IS NULL OR days_since_last_order BETWEEN 0 AND 27",
        ),
    ),
)


def input_days(days: Sequence[str]) -> list[str]:
    """Every day the features and labels of ``days`` read: ``min - 27 .. max + 7``."""
    parsed = sorted(dt.date.fromisoformat(d) for d in days)
    first = parsed[0] - dt.timedelta(days=max(WINDOWS) - 1)
    last = parsed[-1] + dt.timedelta(days=LABEL_DAYS)
    return [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def read_history(session: SparkSession, history: TableSpec) -> DataFrame:
    """The customers' SCD2 history; an empty frame of its columns before the first CDC merge."""
    if table_exists(session, history):
        return session.table(qualified(history))
    return session.createDataFrame([], HISTORY_COLUMNS)


def event_horizon(session: SparkSession, registry: SchemaRegistry) -> str | None:
    """The last day whose events count as complete: the day before the newest day of page views (the newest
    may still be filling). None when there are no events."""
    spec = table_spec("intermediate", f"events_{EVENT_INPUTS['page_views']}")
    if not table_exists(session, spec):
        return None
    newest = session.table(qualified(spec)).agg(F.max("dt")).first()[0]
    return None if newest is None else (newest - dt.timedelta(days=1)).isoformat()


def build_features(
    session: SparkSession,
    registry: SchemaRegistry,
    history: TableSpec,
    days: Sequence[str],
    horizon: str | None = None,
) -> DataFrame:
    """The feature rows of ``days`` from the lake's tables (``horizon`` defaults to ``event_horizon``)."""
    if not days:
        raise ValueError("no feature days given")
    read = input_days(days)
    frames = {name: read_intermediate_events(session, registry, s, read) for name, s in EVENT_INPUTS.items()}
    frames["customers_history"] = read_history(session, history)
    horizon = horizon or event_horizon(session, registry) or "0001-01-01"
    return customer_day_features(session, frames, {"days": list(days), "horizon": horizon})


def run_features(
    session: SparkSession,
    catalog: CatalogConfig,
    registry: SchemaRegistry,
    history: TableSpec,
    days: Sequence[str],
    horizon: str | None = None,
) -> CommitOutcome:
    """Rebuild ``days`` of the feature table; checked on the staged snapshot, then published."""
    df = build_features(session, registry, history, days, horizon)
    return commit_checked(session, catalog, FEATURE_TABLE, df, CHECKS, replace_where=days_filter(days))
