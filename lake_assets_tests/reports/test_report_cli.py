"""``lake report`` end to end through the installed command (a subprocess), on a lake whose reports were
built by the same code the assets run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lake_assets import cli
from lake_assets.access.policy import load_policy
from lake_assets.reports.build import build_report
from lake_assets.reports.render import HTML_FILE, PNG_FILE, SPEC_FILE
from lake_assets.reports.specs import REPORTS
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.tables.catalog import CatalogConfig

LAKE = str(Path(sys.executable).parent / "lake")


def lake_cmd(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKE_")} | {"LAKE_ROOT": str(root)}
    return subprocess.run([LAKE, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def built_lake(tmp_path: Path) -> Path:
    store = LocalObjectStore(tmp_path)
    for name in ("daily_sales", "quarantine"):
        build_report(name, store, CatalogConfig.for_lake(str(tmp_path)), load_policy())
    return tmp_path


def test_lake_report_lists_each_report_and_its_files(built_lake: Path) -> None:
    done = lake_cmd(built_lake, "report")
    assert done.returncode == 0, done.stderr
    for name in REPORTS:
        assert name in done.stdout
    for file in (PNG_FILE, HTML_FILE, SPEC_FILE):
        assert str(built_lake / "final" / "reports" / "daily_sales" / file) in done.stdout
    assert "daily_funnel     Funnel by day (not written yet)" in done.stdout


def test_lake_report_open_prints_the_page(built_lake: Path) -> None:
    done = lake_cmd(built_lake, "report", "open", "quarantine")
    assert done.returncode == 0, done.stderr
    page = Path(done.stdout.strip())
    assert page == built_lake / "final" / "reports" / "quarantine" / HTML_FILE and page.is_file()


def test_open_names_a_report_not_written_yet_and_an_unknown_one(
    built_lake: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("LAKE_ROOT", str(built_lake))
    monkeypatch.delenv("LAKE_ENV", raising=False)
    assert cli.main(["report", "open", "daily_funnel"]) == 2
    missing = capsys.readouterr().err
    assert "no report page final/reports/daily_funnel/index.html" in missing
    assert "reports written: daily_sales, quarantine" in missing
    assert cli.main(["report", "open", "sales"]) == 2
    assert "no report 'sales' (reports: daily_sales, daily_funnel, quarantine, cdc_freshness)" in (
        capsys.readouterr().err
    )
