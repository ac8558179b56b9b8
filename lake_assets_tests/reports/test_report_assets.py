"""The report assets, materialized with Dagster on a temporary lake holding real Iceberg final tables."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from pathlib import Path

import dagster as dg
import pytest

from lake_assets.access.policy import AccessDenied, load_policy
from lake_assets.assets.keys import final_key
from lake_assets.assets.reports import build_report_assets, report_key
from lake_assets.reports.build import build_report
from lake_assets.reports.charts import HEIGHT, NO_CDC_DATA, NO_DATA, OTHER, TOP_SERIES, WIDTH
from lake_assets.reports.render import HTML_FILE, PNG_FILE, SPEC_FILE, png_size
from lake_assets.reports.specs import NO_COMMIT
from lake_assets.settings import LakeSettings
from lake_assets.sources.cdc.specs import load_specs
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.tables.catalog import CatalogConfig
from lake_assets_tests.lake_helpers import event, ingest_lines, lake_resource, policy_with
from lake_assets_tests.reports.conftest import DAYS, ReportLake, funnel_rows, sales_rows

NAMES = ["daily_sales", "daily_funnel", "quarantine", "cdc_freshness"]


def materialize_reports(root: Path) -> dg.ExecuteInProcessResult:
    assets = build_report_assets(load_specs(LakeSettings().cdc_tables), [], load_policy())
    return dg.materialize(assets, resources={"lake": lake_resource(root)})


def metadata(result: dg.ExecuteInProcessResult, name: str) -> dict:
    [event_] = result.asset_materializations_for_node(f"final__reports__{name}")
    return event_.metadata


def spec_rows(root: Path, name: str) -> list[dict]:
    spec = json.loads((root / "final" / "reports" / name / SPEC_FILE).read_text())
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


@pytest.fixture(scope="module")
def materialized(report_lake: ReportLake) -> dg.ExecuteInProcessResult:
    store = LocalObjectStore(report_lake.root)
    ingest_lines(store, [event(1), event(2, device="tv"), b"{not json"])  # 2 quarantined
    result = materialize_reports(report_lake.root)
    assert result.success
    return result


@pytest.mark.parametrize("name", NAMES)
def test_each_report_writes_a_png_of_the_chart_size_a_page_and_its_spec(
    report_lake: ReportLake, materialized, name: str
) -> None:
    folder = report_lake.root / "final" / "reports" / name
    assert sorted(p.name for p in folder.iterdir()) == sorted([PNG_FILE, HTML_FILE, SPEC_FILE])
    assert png_size((folder / PNG_FILE).read_bytes()) == (WIDTH, HEIGHT)
    meta = metadata(materialized, name)
    # The UI shows the image inline (a data URI of the same PNG) and links the page.
    uri = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", meta["chart"].value).group(1)
    assert base64.b64decode(uri) == (folder / PNG_FILE).read_bytes()
    assert meta["page"].value == str(folder / HTML_FILE)
    assert meta["image_size"].value == f"{WIDTH}x{HEIGHT}"


def test_sales_chart_holds_the_table_revenue(report_lake: ReportLake, materialized) -> None:
    rows = spec_rows(report_lake.root, "daily_sales")
    expected_total = sum(r[4] for r in sales_rows()) / 100
    assert sum(r["revenue"] for r in rows) == pytest.approx(expected_total)
    assert {r["day"] for r in rows} == {d.isoformat() for d in DAYS}
    assert len({r["product_id"] for r in rows}) == TOP_SERIES + 1 and OTHER in {r["product_id"] for r in rows}
    assert metadata(materialized, "daily_sales")["rows"].value == len(sales_rows())


def test_funnel_chart_holds_each_day_steps(report_lake: ReportLake, materialized) -> None:
    rows = {r["day"]: r for r in spec_rows(report_lake.root, "daily_funnel")}
    for day, sessions, viewed, added, ordered, *_ in funnel_rows():
        row = rows[day.isoformat()]
        got = (row["Sessions"], row["Viewed a product"], row["Added to cart"], row["Ordered"])
        assert got == (sessions, viewed, added, ordered)


def test_quarantine_chart_counts_the_quarantined_events(report_lake: ReportLake, materialized) -> None:
    rows = spec_rows(report_lake.root, "quarantine")
    assert {r["kind"]: r["records"] for r in rows} == {"invalid_value": 1, "malformed_json": 1}


def test_freshness_chart_lists_every_cdc_table(report_lake: ReportLake, materialized) -> None:
    rows = {r["table"]: r for r in spec_rows(report_lake.root, "cdc_freshness") if "table" in r}
    written, *missing = report_lake.cdc_tables
    assert rows[written]["status"] == "fresh" and 0 <= rows[written]["age_hours"] < 1
    assert missing and all(rows[t]["status"] == NO_COMMIT for t in missing)


def test_an_empty_lake_renders_every_report_empty_with_a_note(tmp_path: Path) -> None:
    result = materialize_reports(tmp_path)
    assert result.success
    for name in NAMES:
        spec = (tmp_path / "final" / "reports" / name / SPEC_FILE).read_text()
        assert NO_DATA in spec or NO_CDC_DATA in spec
        assert png_size((tmp_path / "final" / "reports" / name / PNG_FILE).read_bytes()) == (WIDTH, HEIGHT)
        assert metadata(result, name)["rows"].value == 0 or name == "cdc_freshness"


def test_reports_follow_their_tables_without_waiting_for_every_day() -> None:
    """Declarative automation: a report is requested once one day of its table is materialized, although
    the table's other daily partitions (from LAKE_PARTITIONS_START on) were never materialized. Stand-ins
    for the upstream assets, with the real keys and partitions; nothing runs but the evaluation."""
    from lake_assets.assets.partitions import DAILY

    @dg.asset(key=final_key("daily_product_sales"), partitions_def=DAILY)
    def upstream() -> None: ...

    [sales] = [a for a in build_report_assets([], [], load_policy()) if a.key == report_key("daily_sales")]
    instance = dg.DagsterInstance.ephemeral()
    defs = dg.Definitions(assets=[upstream, sales], resources={"lake": lake_resource("/nonexistent")})
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0
    day = DAYS[0].isoformat()
    instance.report_runless_asset_event(
        dg.AssetMaterialization(final_key("daily_product_sales"), partition=day)
    )
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert second.total_requested == 1


def test_each_report_says_whose_view_it_shows(report_lake: ReportLake, materialized) -> None:
    readers = load_policy().read_as
    for name in NAMES:
        assert metadata(materialized, name)["read_as"].value == readers[f"final/reports/{name}"]
        spec = json.loads((report_lake.root / "final" / "reports" / name / SPEC_FILE).read_text())
        assert (
            spec["title"]["subtitle"] == f"as {readers[f'final/reports/{name}']} may read it (access policy)"
        )


def test_a_report_holds_only_the_rows_its_reader_may_read(report_lake: ReportLake, tmp_path: Path) -> None:
    """The sales report read as marketing, granted revenue but only from 2026-11-21: the chart holds the
    revenue of the last two days only (computed here from the rows the table was written with)."""
    policy = policy_with(
        tmp_path,
        ("final/reports/daily_sales: analyst", "final/reports/daily_sales: marketing"),
        ("columns: {exclude: [revenue_cents]}", "columns: {include: [dt, product_id, units, revenue_cents]}"),
        ("row_filter: \"dt >= DATE '2026-11-01'\"", "row_filter: \"dt >= DATE '2026-11-21'\""),
    )
    out = tmp_path / "out"
    out.mkdir()
    built = build_report("daily_sales", LocalObjectStore(out), report_lake.catalog, policy)
    assert built.read_as == "marketing"
    kept = [r for r in sales_rows() if r[0] >= dt.date(2026, 11, 21)]
    assert len(built.rows) == len(kept) < len(sales_rows())
    rows = spec_rows(out, "daily_sales")
    assert {r["day"] for r in rows} == {"2026-11-21", "2026-11-22"}
    assert sum(r["revenue"] for r in rows) == pytest.approx(sum(r[4] for r in kept) / 100)


def test_a_reader_who_may_not_read_a_drawn_column_fails_the_report_and_writes_nothing(
    report_lake: ReportLake, tmp_path: Path
) -> None:
    """marketing may not read revenue_cents (the lake's policy): the sales report read as marketing fails
    its run naming the column, and no chart of the lake's own view is written in its place."""
    policy = policy_with(
        tmp_path, ("final/reports/daily_sales: analyst", "final/reports/daily_sales: marketing")
    )
    out = tmp_path / "lake"
    out.mkdir()
    [sales] = [a for a in build_report_assets([], [], policy) if a.key == report_key("daily_sales")]
    with pytest.raises(dg.Failure, match="marketing, who may not read revenue_cents of final.shop_daily"):
        dg.materialize([sales], resources={"lake": lake_resource(out)})
    assert not (out / "final" / "reports").exists()


def test_a_report_that_reads_as_nobody_fails_naming_the_fix(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, ("  final/reports/quarantine: data_engineer\n", ""))
    with pytest.raises(AccessDenied, match="final/reports/quarantine reads as nobody: add it under read_as"):
        build_report("quarantine", LocalObjectStore(tmp_path), CatalogConfig.for_lake(str(tmp_path)), policy)


def test_the_quarantine_report_needs_a_reader_granted_raw(tmp_path: Path) -> None:
    policy = policy_with(
        tmp_path, ("final/reports/quarantine: data_engineer", "final/reports/quarantine: analyst")
    )
    with pytest.raises(AccessDenied, match="analyst, who is not granted the raw database"):
        build_report("quarantine", LocalObjectStore(tmp_path), CatalogConfig.for_lake(str(tmp_path)), policy)
