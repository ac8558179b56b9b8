"""One report, start to end: read its rows, build its chart, render and write it (Dagster-free)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from lake_assets.reports.charts import CDC_FRESHNESS, QUARANTINE, REPORTS, ReportSpec, chart_for
from lake_assets.reports.data import read_freshness, read_quarantine, read_table
from lake_assets.reports.render import RenderedReport, write_report
from lake_assets.storage import ObjectStore
from lake_assets.tables.catalog import CatalogConfig


@dataclass(frozen=True)
class ReportInputs:
    """What the non-table reports need besides the lake: the CDC tables and their freshness expectation."""

    cdc_tables: Sequence[str] = ()  # intermediate.cdc_<source>_<table>
    expected_hours: float = 26.0
    now: dt.datetime | None = None  # the clock for ages (tests pin it)


@dataclass(frozen=True)
class BuiltReport:
    spec: ReportSpec
    rows: pd.DataFrame
    rendered: RenderedReport


def report_rows(
    spec: ReportSpec, store: ObjectStore, catalog: CatalogConfig, inputs: ReportInputs
) -> pd.DataFrame:
    if spec.table is not None:
        return read_table(catalog, spec)
    if spec is QUARANTINE:
        return read_quarantine(store)
    if spec is CDC_FRESHNESS:
        now = inputs.now or dt.datetime.now(dt.UTC)
        return read_freshness(catalog, inputs.cdc_tables, now, inputs.expected_hours)
    raise ValueError(f"report {spec.name} has no reader")


def build_report(
    name: str,
    store: ObjectStore,
    catalog: CatalogConfig,
    inputs: ReportInputs = ReportInputs(),  # noqa: B008 - frozen dataclass, safe as a default
) -> BuiltReport:
    """Read, chart, render and write report ``name``; an empty source gives an empty chart with a note."""
    if name not in REPORTS:
        raise ValueError(f"no report {name!r} (reports: {', '.join(REPORTS)})")
    spec = REPORTS[name]
    rows = report_rows(spec, store, catalog, inputs)
    chart = chart_for(spec, rows, expected_hours=inputs.expected_hours)
    return BuiltReport(spec, rows, write_report(store, name, chart))
