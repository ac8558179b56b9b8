"""Every synthesized template passes cfn-lint and checkov; each checkov suppression carries its reason.

cfn-lint is in the lake's venv (the dev extra); checkov's pins conflict with the lake's (tabulate, boto3,
packaging), so it runs from its own venv, ``infra/.venv-tools`` (``infra/install-tools.sh``; ``make test``
installs it). Without that venv the checkov test is skipped on a laptop and fails in CI (``CI`` set).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lake_assets_tests.infra.conftest import INFRA, Synth

CHECKOV = INFRA / ".venv-tools" / "bin" / "checkov"


def test_cfn_lint_is_clean_on_every_template(synth: Synth) -> None:
    templates = sorted(str(p) for p in synth.outdir.glob("*.template.json"))
    assert len(templates) == 9
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_suppression_names_its_reason(synth: Synth) -> None:
    from lake_infra.common import CHECKOV_MIN_REASON

    skips = [
        (stack, name, skip)
        for stack, template in synth.templates.items()
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips, "expected the suppressions of infra/lake_infra to be in the templates"
    short = [(s, n, k) for s, n, k in skips if len(k.get("comment", "").strip()) < CHECKOV_MIN_REASON]
    assert not short, f"suppressions without a reason: {short}"


def test_checkov_passes(synth: Synth) -> None:
    if not CHECKOV.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHECKOV} is missing: run infra/install-tools.sh (make test does)")
        pytest.skip(f"{CHECKOV} is missing: run infra/install-tools.sh")
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(synth.outdir),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--quiet",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    reports = json.loads(result.stdout) if result.stdout.strip() else []
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{c['check_id']} {c['resource']} ({Path(c['file_path']).name}): {c['check_name']}"
        for r in reports
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    assert result.returncode == 0 and not failed, "\n".join(failed) or result.stderr[-3000:]
    summary = reports[0]["summary"]
    assert summary["passed"] > 200 and summary["parsing_errors"] == 0
