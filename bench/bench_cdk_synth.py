"""`cdk synth` time of the infra/ app: every stack against the storage stack alone, in the same run.

Each synth runs in a fresh Python process, as ``python infra/app.py`` (and the CDK CLI) does: interpreter,
imports, the jsii Node.js process, building the constructs, writing the cloud assembly. The figure per run is
wall time from the parent (best of ``--repeat``), plus the child's own time for building and synthesizing
once imports are done. The baseline is the storage stack alone (one bucket pair and a key: mostly the fixed
cost of starting jsii); the ratio is what the other stacks add. Then the two linters CI runs on the
templates: cfn-lint (the lake's venv) and checkov (infra/.venv-tools, when installed), and the deployment
artifacts the stacks name: the Lambda zip, the Glue package and the Dagster image's build context (sizes and
build times).

    .venv/bin/python bench/bench_cdk_synth.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
CHECKOV = INFRA / ".venv-tools" / "bin" / "checkov"

CHILD = """
import json, sys, time
sys.path.insert(0, {infra!r})
started = time.perf_counter()
from lake_infra.app import build_app
imported = time.perf_counter()
app = build_app({context!r} and json.loads({context!r}), outdir={outdir!r}, only={only!r})
app.synth()
done = time.perf_counter()
print(json.dumps({{"import": imported - started, "synth": done - imported}}))
"""


def synth_once(only: list[str] | None, context: dict, outdir: Path) -> tuple[float, dict[str, float]]:
    code = CHILD.format(infra=str(INFRA), context=json.dumps(context), outdir=str(outdir), only=only)
    env = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"synth failed:\n{result.stderr[-3000:]}")
    return wall, json.loads(result.stdout.strip().splitlines()[-1])


def best(repeat: int, only: list[str] | None, context: dict, folder: Path) -> tuple[float, dict[str, float]]:
    runs = [
        synth_once(only, context, folder / f"{'all' if only is None else '-'.join(only)}-{i}")
        for i in range(repeat)
    ]
    return min(runs, key=lambda r: r[0])


def timed(command: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    sys.path.insert(0, str(INFRA))
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from lake_assets.deploy.glue_package import build_glue_package
    from lake_assets.deploy.image import build_image_context
    from lake_assets.deploy.lambda_package import build_lambda_zip
    from lake_infra.app import STACKS, default_context

    with tempfile.TemporaryDirectory(prefix="bench_cdk_") as tmp:
        folder = Path(tmp)
        context = default_context()
        started = time.perf_counter()
        lambda_zip = build_lambda_zip(folder / "intake-lambda.zip")
        zip_path = lambda_zip.path
        lambda_s = time.perf_counter() - started
        started = time.perf_counter()
        glue = build_glue_package(folder / "glue")
        glue_s = time.perf_counter() - started
        started = time.perf_counter()
        image = build_image_context(folder / "image")
        image_s = time.perf_counter() - started
        context["lake:deployment"] = {
            **context["lake:deployment"],
            "lambda_zip": str(zip_path),
            "glue_package": str(folder / "glue"),
        }
        base_wall, base_child = best(args.repeat, ["LakeStorage"], context, folder)
        all_wall, all_child = best(args.repeat, None, context, folder)
        templates = sorted(str(p) for p in (folder / "all-0").glob("*.template.json"))
        resources = sum(len(json.loads(Path(t).read_text())["Resources"]) for t in templates)
        lint_s, lint_rc = timed([str(Path(sys.executable).parent / "cfn-lint"), *templates])
        checkov = None
        if CHECKOV.exists():
            out = str(folder / "all-0")
            checkov = timed(
                [str(CHECKOV), "-d", out, "--framework", "cloudformation", "--skip-download", "--quiet"]
            )

    print(
        f"cdk synth, Python {platform.python_version()}, aws-cdk-lib {_version('aws-cdk-lib')}, "
        f"{os.cpu_count()} cores, best of {args.repeat} fresh processes"
    )
    print(f"{'synth':40} {'wall s':>8} {'import s':>9} {'build+synth s':>14}")
    rows = [
        ("baseline: LakeStorage alone", base_wall, base_child),
        (f"all {len(STACKS)} stacks", all_wall, all_child),
    ]
    for label, wall, child in rows:
        print(f"{label:40} {wall:>8.2f} {child['import']:>9.2f} {child['synth']:>14.2f}")
    ratio_synth = all_child["synth"] / base_child["synth"]
    print(f"ratio all / baseline: {all_wall / base_wall:.2f}x wall, {ratio_synth:.2f}x build+synth")
    print(f"all stacks: {resources} resources in {len(templates)} templates")
    print(f"cfn-lint on {len(templates)} templates: {lint_s:.2f} s (exit {lint_rc})")
    if checkov is not None:
        print(f"checkov on {len(templates)} templates: {checkov[0]:.2f} s (exit {checkov[1]})")
    else:
        print(f"checkov: not installed ({CHECKOV}; infra/install-tools.sh)")
    print("deployment artifacts (reproducible builds):")
    artifacts = [
        ("intake Lambda zip", lambda_zip.size_bytes, len(lambda_zip.files), lambda_s),
        ("Glue package zip", glue.size_bytes, len(glue.files), glue_s),
        ("Dagster image build context", image.size_bytes, len(image.files), image_s),
    ]
    for label, size, files, seconds in artifacts:
        print(f"  {label:30} {size / 1024:>9,.0f} KiB {files:>5} files {seconds:>7.2f} s")


def _version(name: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(name)


if __name__ == "__main__":
    main()
