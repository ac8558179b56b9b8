"""The reports as data: one ``ReportSpec`` per report names its source, the day column, the measures and the
series. Light on purpose (no Altair, no pandas): the Dagster definitions import it, and every process that
loads them (code server, daemon, each run, ``lake status``) would pay for the charting libraries otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

NO_COMMIT = "no commit yet"  # a CDC table the merge has not created yet


@dataclass(frozen=True)
class Measure:
    """A number on the y axis: ``column`` times ``scale`` (``revenue_cents`` * 0.01 is revenue)."""

    name: str
    column: str
    label: str
    scale: float = 1.0


@dataclass(frozen=True)
class ReportSpec:
    """One report: where its rows come from and how they are drawn.

    ``table``: the catalog table it reads (``final.shop_daily_funnel``), None when the rows come from
    elsewhere (the quarantine zone, the catalog's commit times): only table reports go to QuickSight.
    ``mark``: ``bar`` (stacked by ``series``) or ``line``; several measures are drawn as one series each.
    """

    name: str
    title: str
    description: str
    table: str | None
    x: str
    measures: tuple[Measure, ...]
    series: str | None = None
    series_label: str | None = None
    mark: str = "bar"

    @property
    def columns(self) -> tuple[str, ...]:
        """The source columns the report reads."""
        series = (self.series,) if self.series else ()
        return (self.x, *series, *(m.column for m in self.measures))


SALES = ReportSpec(
    "daily_sales",
    "Daily sales by product",
    "Revenue per day, stacked by product (the top products by revenue; the rest summed as 'other').",
    "final.shop_daily_product_sales",
    "dt",
    (Measure("revenue", "revenue_cents", "Revenue", 0.01),),
    series="product_id",
    series_label="Product",
    mark="bar",
)
FUNNEL = ReportSpec(
    "daily_funnel",
    "Funnel by day",
    "Sessions per day and how many of them viewed a product, added to the cart and ordered.",
    "final.shop_daily_funnel",
    "dt",
    (
        Measure("sessions", "sessions", "Sessions"),
        Measure("product_view", "sessions_with_product_view", "Viewed a product"),
        Measure("cart_add", "sessions_with_cart_add", "Added to cart"),
        Measure("order", "sessions_with_order", "Ordered"),
    ),
    mark="line",
)
QUARANTINE = ReportSpec(
    "quarantine",
    "Quarantine by reason",
    "Records set aside in quarantine/ per day (received, or written for file sources), by reason kind.",
    None,
    "day",
    (Measure("records", "records", "Records"),),
    series="kind",
    series_label="Reason",
    mark="bar",
)
CDC_FRESHNESS = ReportSpec(
    "cdc_freshness",
    "CDC freshness",
    "Hours since each CDC table's current state was last committed, against the freshness expectation.",
    None,
    "table",
    (Measure("age_hours", "age_hours", "Hours since last commit"),),
    series="status",
    series_label="Status",
    mark="bar",
)
REPORTS: dict[str, ReportSpec] = {r.name: r for r in (SALES, FUNNEL, QUARANTINE, CDC_FRESHNESS)}


def consumer(name: str) -> str:
    """The report's asset key as the access policy's ``read_as`` names it."""
    return f"final/reports/{name}"


@dataclass(frozen=True)
class ReportInputs:
    """What the non-table reports need besides the lake: the CDC tables and their freshness expectation."""

    cdc_tables: Sequence[str] = ()  # intermediate.cdc_<source>_<table>
    expected_hours: float = 26.0
    now: dt.datetime | None = None  # the clock for ages (tests pin it)


def age_hours(committed: dt.datetime, now: dt.datetime) -> float:
    return round((now - committed).total_seconds() / 3600, 2)
