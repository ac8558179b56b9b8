"""The README's first command, small: `lake demo` runs every layer through the real Dagster CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
        "final         shop/daily_funnel",
        "intermediate  files/products",
        "intermediate  files/stores",
        "intermediate  cdc/shop/customers",
        "intermediate  cdc/shop/orders_history",
    ):
        assert table in out
    assert "CDC from sample DMS output: 7,000 rows loaded" in out
    assert "SQL> SELECT tier, count(*) AS customers" in out and "│ gold" in out
    assert "SQL> SELECT product_id" in out and "│ product_id │" in out
    assert (tmp_path / "home" / "dagster.yaml").exists()  # a DAGSTER_HOME left for `dagster dev`
