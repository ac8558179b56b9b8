"""The Dagster image's build context (``lake package image``) against what the orchestration stack runs.

No Docker engine runs on the project's machines, so no image is built here. What is tested is everything the
build reads and everything the stack expects of the result: the context is reproducible and complete (every
COPY source is in it), the instance files and ports are where the task definitions look, the commands the
tasks run are console scripts of the installed distributions, and the package pip builds from the context's
source (as the Dockerfile's ``pip install`` does) holds every data file and loads the definitions.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from lake_assets.deploy.image import build_image_context, copied_sources
from lake_assets.settings import REPO_ROOT
from lake_assets_tests.infra.conftest import Synth
from lake_assets_tests.infra.test_orchestration import containers
from lake_infra.orchestration import CODE_SERVER_PORT, DAGSTER_HOME, WEBSERVER_PORT, WORKSPACE


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory):
    return build_image_context(tmp_path_factory.mktemp("image"))


def test_lake_package_image_is_reproducible(context, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("lake")), "package", "image", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"sha256 {context.sha256}" in done.stdout  # a second build, another folder: the same bytes
    assert f"docker build --platform linux/amd64 -t $REPO:{context.tag} - < {tmp_path}/context.tar.gz" in (
        done.stdout
    )
    with tarfile.open(context.archive) as archive:
        members = archive.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members) == list(context.files)
    assert {(m.mtime, m.uid, m.gid, m.mode) for m in members} == {(0, 0, 0, 0o644)}
    unpacked = sorted(
        p.relative_to(context.folder).as_posix() for p in context.folder.rglob("*") if p.is_file()
    )
    assert unpacked == list(context.files)
    assert (context.folder / "Dockerfile").read_bytes() == (REPO_ROOT / "deploy" / "Dockerfile").read_bytes()


def test_every_file_the_dockerfile_copies_is_in_the_context(context) -> None:
    sources = copied_sources((context.folder / "Dockerfile").read_text())
    assert sources == ["requirements.lock", "src/", "dagster.yaml", "workspace.yaml"]
    for source in sources:
        assert (context.folder / source).exists(), source
    assert "lake_assets/access/policy.yaml" in {n.removeprefix("src/") for n in context.files}


def test_the_image_puts_the_instance_and_ports_where_the_tasks_look(context, synth: Synth) -> None:
    dockerfile = (context.folder / "Dockerfile").read_text()
    assert re.search(rf"DAGSTER_HOME={re.escape(DAGSTER_HOME)}\b", dockerfile)
    assert "COPY dagster.yaml workspace.yaml ${DAGSTER_HOME}/" in dockerfile
    assert f"{DAGSTER_HOME}/workspace.yaml" == WORKSPACE
    exposed = {
        int(p) for line in dockerfile.splitlines() if line.startswith("EXPOSE") for p in line.split()[1:]
    }
    assert exposed == {WEBSERVER_PORT, CODE_SERVER_PORT}
    assert (context.folder / "dagster.yaml").read_bytes() == (
        REPO_ROOT / "deploy" / "dagster.production.yaml"
    ).read_bytes()
    # Each task's command is a console script of the distributions the image installs (the same pins).
    scripts = {e.name for e in importlib.metadata.entry_points(group="console_scripts")}
    for name, container in containers(synth).items():
        assert container["Command"][0] in scripts, name
        ports = {m["ContainerPort"] for m in container.get("PortMappings", [])}
        assert ports <= exposed, name


def test_the_package_built_from_the_context_holds_every_data_file_and_loads_the_definitions(
    context, tmp_path: Path
) -> None:
    """pip builds the context's src/ as the Dockerfile does; installed alone (its dependencies from this
    environment, the versions requirements.lock pins), a fresh interpreter loads the definitions from it."""
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(context.folder / "src")],
        check=True,
        cwd=tmp_path,
    )
    [wheel] = wheels.glob("lake_assets-*.whl")
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)], check=True
    )
    tracked = subprocess.run(
        ["git", "ls-files", "lake_assets"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    installed = {p.relative_to(target).as_posix() for p in (target / "lake_assets").rglob("*") if p.is_file()}
    missing = [f for f in tracked if f not in installed]
    assert missing == []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKE_", "AWS_"))}
    env |= {"LAKE_ROOT": str(tmp_path / "lake"), "DAGSTER_HOME": str(tmp_path)}

    def asset_keys(package_dir: Path | None) -> list[str]:
        first = f"import sys; sys.path.insert(0, {str(package_dir)!r})\n" if package_dir else ""
        probe = (
            f"{first}import lake_assets\n"
            "print(lake_assets.__file__)\n"
            "from lake_assets.definitions import defs\n"
            "import json\n"
            "print(json.dumps(sorted('/'.join(s.key.path) for s in defs.resolve_all_asset_specs())))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        where, keys = done.stdout.splitlines()[-2:]
        assert where.startswith(str(package_dir or REPO_ROOT)), where
        return json.loads(keys)

    # The same graph (reports, ML and CDC assets included) as from the source tree.
    installed_keys = asset_keys(target)
    assert installed_keys == asset_keys(None) and "final/reports/daily_sales" in installed_keys
