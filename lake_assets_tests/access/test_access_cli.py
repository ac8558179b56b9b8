"""The access commands through the real command line: lake query --as, lake access check and audit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from lake_assets.access.audit import AUDIT_PREFIX, read_records
from lake_assets.settings import REPO_ROOT
from lake_assets_tests.access.conftest import Lake

LAKE = str(Path(sys.executable).with_name("lake"))


@pytest.fixture(scope="module")
def env(lake: Lake) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKE_", "AWS_"))}
    env["LAKE_ROOT"] = str(lake.root)
    return env


def lake_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LAKE, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_query_as_a_principal_sees_its_rows_and_columns_and_every_query_is_audited(
    lake: Lake, env: dict[str, str]
) -> None:
    before = len(list(read_records(lake.store)))
    sql = "SELECT * FROM final.shop_daily_product_sales ORDER BY dt, product_id"
    done = lake_cli(env, "query", "--as", "marketing", sql)
    assert done.returncode == 0, done.stderr
    assert "revenue_cents" not in done.stdout and "2026-10-31" not in done.stdout
    assert "2026-11-02" in done.stdout and "units" in done.stdout

    denied = lake_cli(env, "query", "--as", "marketing", "SELECT * FROM read_csv('/etc/passwd')")
    assert denied.returncode == 2
    assert denied.stderr.strip() == (
        "lake: access denied: marketing may not call table functions (read_csv): query the lake's tables"
    )
    unrestricted = lake_cli(env, "query", "SELECT count(*) AS n FROM final.shop_daily_funnel")
    assert unrestricted.returncode == 0 and "40" not in unrestricted.stdout  # one row: n = 1

    records = list(read_records(lake.store))[before:]
    assert [(r.principal, r.outcome, r.tables) for r in records] == [
        ("marketing", "ok", ["final.shop_daily_product_sales"]),
        ("marketing", "denied", []),
        (None, "ok", ["final.shop_daily_funnel"]),
    ]
    assert records[0].sql == sql and records[1].message.startswith("marketing may not call table functions")
    assert all(r.user and r.engine == "duckdb" and r.seconds >= 0 for r in records)
    keys = lake.store.list_keys(AUDIT_PREFIX)
    assert len(keys) == len(set(keys)) >= 3  # one object per query: nothing is ever rewritten
    assert all(orjson.loads(lake.store.get_bytes(k).splitlines()[0])["time"] for k in keys)

    shown = lake_cli(env, "access", "audit", "--principal", "marketing")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert (
        lines[-1] == f"{len([r for r in read_records(lake.store) if r.principal == 'marketing'])} record(s)"
    )
    assert any(" as marketing  duckdb  denied  [-]  SELECT * FROM read_csv" in line for line in lines)


def test_access_check_passes_the_shipped_policy_and_names_what_a_bad_one_gets_wrong(
    lake: Lake, env: dict[str, str], tmp_path: Path
) -> None:
    done = lake_cli(env, "access", "check")
    assert done.returncode == 0, done.stderr
    assert "policy.yaml: ok (4 principals, 7 grants" in done.stdout
    assert "5 reports and data sets reading as a principal" in done.stdout
    bad = tmp_path / "policy.yaml"
    bad.write_text(
        "principals:\n  analyst: {}\ngrants:\n  - principal: analyst\n    tables: [final.shop_daily_funnel]\n"
        "    row_filter: 'visits > 3'\n"
    )
    done = lake_cli(env, "access", "check", "--policy", str(bad))
    assert done.returncode == 2
    first, *others = done.stderr.strip().splitlines()
    assert first == (
        f"lake: {bad}:6: grants[0].row_filter: 'visits > 3' Referenced column \"visits\" not found in FROM "
        "clause. Fix: write a SQL predicate over the table's columns, e.g. dt >= DATE '2026-11-01'."
    )
    # It has no read_as either: every report and the ML data set is named, each on its own line.
    assert len(others) == 5 and all(f"{bad}: read_as: final/" in line for line in others), others
    assert all("reads as nobody" in line for line in others)
