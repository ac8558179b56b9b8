"""The README's first command, small: `lake demo` runs every layer through the real Dagster CLI."""

from __future__ import annotations

import pytest
from dagster._core.scheduler.instigation import InstigatorStatus

from lake_assets_tests.fixtures.demo import SmallDemo


@pytest.mark.e2e
def test_lake_demo_runs_the_whole_lake_and_prints_its_summary(small_demo: SmallDemo) -> None:
    """`lake demo --events 3000` (the session's one small demo: lake_assets_tests/fixtures/demo.py)."""
    out = small_demo.stdout
    assert "read 3000 events" in out
    for table in (
        "final         shop_daily_funnel",
        "intermediate  files_products",
        "intermediate  files_stores",
        "intermediate  api_shop_orders_api",
        "intermediate  events_page_view",
        "intermediate  cdc_shop_customers",
        "intermediate  cdc_shop_orders_history",
    ):
        assert table in out
    assert "CDC from sample DMS output: 7,000 rows loaded" in out
    assert "reconciles_with_source is not defined for public.customers, public.orders (no url in" in out
    assert "SQL> SELECT tier, count(*) AS customers FROM intermediate.cdc_shop_customers" in out
    assert "│ gold" in out
    assert "SQL> SELECT product_id" in out and "│ product_id │" in out
    # Governance: the policy's words reached the catalog, and marketing reads sales without revenue.
    assert "catalog: descriptions and owners from" in out and "written to 3 table(s)" in out
    box = out.split("SQL as marketing", 1)[1].split("\nthe sample held", 1)[0].split("\n", 1)[1]
    assert "product_id" in box and "units" in box and "revenue_cents" not in box
    assert (small_demo.home / "dagster.yaml").exists()  # a DAGSTER_HOME left for `dagster dev`
    # The landing sensors take over: RUNNING, each with the demo's cursor (so nothing is re-run).
    states = small_demo.sensors
    for name in ("landing_events_sensor", "landing_files_sensor", "landing_cdc_sensor"):
        assert states[name].status == InstigatorStatus.RUNNING, (name, states[name].status)
        assert states[name].instigator_data.cursor, name
    # Every check the demo ran passed: the UI shows no failed check after the demo.
    evaluations = small_demo.evaluations
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed]
    assert len(evaluations) > 20 and failed == []
    assert "primary_key_unique" in {e.check_name for e in evaluations}


@pytest.mark.e2e
def test_the_demo_ends_with_lineage_links_in_the_form_the_browser_suite_opens(small_demo: SmallDemo) -> None:
    """The two links `lake demo` prints last: one source's path and the whole lineage. The browser suite
    (e2e/test_ui_browser.py) opens both forms in Chromium: the whole lineage from the last line, and a
    selection inserted as `/asset-groups~<selection>/` into it, which must be the first link here."""
    from urllib.parse import quote

    *_, path_link, _, whole = small_demo.stdout.strip().splitlines()
    assert whole == small_demo.link and whole.startswith("http://127.0.0.1:3000/asset-groups?expanded=")
    selection = quote('key:"raw/events/order_placed"+', safe="")
    assert path_link == whole.replace("/asset-groups?", f"/asset-groups~{selection}/?")
