"""The README's first command, small: `lake demo` runs every layer through the real Dagster CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType

from lake_assets.settings import REPO_ROOT


@pytest.mark.e2e
def test_lake_demo_runs_the_whole_lake_and_prints_its_summary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKE_")}
    env["LAKE_ROOT"] = str(tmp_path / "lake")
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("lake")),
            "demo",
            "--events",
            "3000",
            "--dagster-home",
            str(tmp_path / "home"),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
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
    assert (tmp_path / "home" / "dagster.yaml").exists()  # a DAGSTER_HOME left for `dagster dev`
    # The landing sensors take over: RUNNING, each with the demo's cursor (so nothing is re-run).
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        states = {
            s.instigator_name: s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        }
    for name in ("landing_events_sensor", "landing_files_sensor", "landing_cdc_sensor"):
        assert states[name].status == InstigatorStatus.RUNNING, (name, states[name].status)
        assert states[name].instigator_data.cursor, name
    # Every check the demo ran passed: the UI shows no failed check after the demo.
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        evaluations = [
            event.dagster_event.event_specific_data
            for run in instance.get_runs()
            for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        ]
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in evaluations if not e.passed]
    assert len(evaluations) > 20 and failed == []
    assert "primary_key_unique" in {e.check_name for e in evaluations}
