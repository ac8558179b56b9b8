"""One report, start to end: read its rows as its reader, build its chart, render and write it (Dagster-free).

Every report reads as one principal of the access policy (``read_as``): the chart, its page and its image
hold only what that principal may read, because whoever opens the Dagster UI or ``final/reports/`` sees them.
A report whose reader may not read a column it draws is refused with the grant to change, never drawn
from the lake's own view.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from lake_assets.access.policy import AccessDenied, Policy
from lake_assets.reports.charts import chart_for
from lake_assets.reports.data import read_freshness, read_quarantine, read_table
from lake_assets.reports.render import RenderedReport, write_report
from lake_assets.reports.specs import (
    CDC_FRESHNESS,
    QUARANTINE,
    REPORTS,
    ReportInputs,
    ReportSpec,
    consumer,
)
from lake_assets.storage import ObjectStore
from lake_assets.tables.catalog import CatalogConfig


@dataclass(frozen=True)
class BuiltReport:
    spec: ReportSpec
    rows: pd.DataFrame
    rendered: RenderedReport
    read_as: str  # the principal whose view the chart shows


def report_rows(
    spec: ReportSpec,
    store: ObjectStore,
    catalog: CatalogConfig,
    inputs: ReportInputs,
    policy: Policy,
    principal: str,
) -> pd.DataFrame:
    """The rows ``principal`` may read; ``AccessDenied`` when it may not read what the report draws."""
    purpose = consumer(spec.name)
    if spec.table is not None:
        return read_table(catalog, spec, policy.view(principal, spec.table, spec.columns, purpose))
    if spec is QUARANTINE:  # quarantined records are raw data that failed validation
        if not policy.reads_database(principal, "raw"):
            raise AccessDenied(
                f"{purpose} reads as {principal}, who is not granted the raw database in {policy.path}: "
                "quarantined records are raw data; read as a principal granted raw (read_as)"
            )
        return read_quarantine(store)
    if spec is CDC_FRESHNESS:  # commit times only, but of tables the reader must be granted
        for table in inputs.cdc_tables:
            policy.view(principal, table, (), purpose)
        now = inputs.now or dt.datetime.now(dt.UTC)
        return read_freshness(catalog, inputs.cdc_tables, now, inputs.expected_hours)
    raise ValueError(f"report {spec.name} has no reader")


def build_report(
    name: str,
    store: ObjectStore,
    catalog: CatalogConfig,
    policy: Policy,
    inputs: ReportInputs = ReportInputs(),  # noqa: B008 - frozen dataclass, safe as a default
) -> BuiltReport:
    """Read (as the report's reader), chart, render and write report ``name``; an empty source gives an
    empty chart with a note."""
    if name not in REPORTS:
        raise ValueError(f"no report {name!r} (reports: {', '.join(REPORTS)})")
    spec = REPORTS[name]
    principal = policy.reader(consumer(name))
    rows = report_rows(spec, store, catalog, inputs, policy, principal)
    chart = chart_for(spec, rows, expected_hours=inputs.expected_hours, read_as=principal)
    return BuiltReport(spec, rows, write_report(store, name, chart), principal)
