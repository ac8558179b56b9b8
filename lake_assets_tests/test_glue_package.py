"""lake package glue: the Glue job's artifacts, reproducible, importable from the zip alone, uploaded.

S3 here is moto's (the artifacts bucket stands in for the deployment's).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from lake_assets.deploy.glue_package import GLUE_PROVIDED, build_glue_package, upload
from lake_assets.settings import REPO_ROOT
from lake_assets_tests.fixtures.moto import moto_client, moto_env


def test_the_package_is_reproducible_and_names_what_glue_lacks(tmp_path: Path) -> None:
    first, second = build_glue_package(tmp_path / "a"), build_glue_package(tmp_path / "b")
    assert first.sha256 == second.sha256 and first.zip_path.read_bytes() == second.zip_path.read_bytes()
    names = set(zipfile.ZipFile(first.zip_path).namelist())
    assert {
        "lake_assets/layers/glue_job.py",
        "lake_assets/layers/final.py",
        "lake_assets/tables/tables.yaml",
    } <= names
    assert any(n.startswith("lake_assets/registry/schemas/") and n.endswith(".avsc") for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    modules = {m.split("==")[0] for m in first.modules}
    assert "dagster-pipes" in modules and "fastavro" in modules
    assert not modules & GLUE_PROVIDED and "dagster" not in modules  # no Dagster in the job
    assert all("==" in m for m in first.modules)  # pinned


def test_the_job_code_imports_from_the_zip_without_dagster(tmp_path: Path) -> None:
    """A fresh interpreter, the zip first on its path: the job imports lake_assets from it, and no Dagster."""
    package = build_glue_package(tmp_path / "glue")
    probe = (
        f"import sys; sys.path.insert(0, {str(package.zip_path)!r})\n"
        "import lake_assets.layers.glue_job as job, lake_assets\n"
        "assert lake_assets.__file__.startswith(sys.path[0]), lake_assets.__file__\n"
        "assert 'dagster' not in sys.modules, 'the job imported Dagster'\n"
        "print('ok', callable(job.run))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok True"
    assert "from lake_assets.layers.glue_job import run" in package.script.read_text()


def test_lake_package_glue_builds_and_uploads_through_the_command_line(
    tmp_path: Path, moto_server: str
) -> None:
    moto_client("s3", moto_server).create_bucket(Bucket="lake-artifacts")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKE_", "AWS_"))}
    env |= moto_env() | {
        "LAKE_ENV": "s3",
        "LAKE_ROOT": "s3://lake-artifacts/lake",
        "LAKE_S3_ENDPOINT_URL": moto_server,
    }
    lake = str(Path(sys.executable).with_name("lake"))
    args = [lake, "package", "glue", "--out", str(tmp_path / "glue"), "--upload", "s3://lake-artifacts/glue"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    sha = build_glue_package(tmp_path / "again").sha256
    assert f"sha256 {sha}" in done.stdout and "--additional-python-modules " in done.stdout
    keys = {
        o["Key"] for o in moto_client("s3", moto_server).list_objects_v2(Bucket="lake-artifacts")["Contents"]
    }
    assert {f"glue/{sha[:16]}/glue_job.py", f"glue/{sha[:16]}/lake_assets.zip"} <= keys
    bad = subprocess.run(
        [*args[:-1], "lake-artifacts/glue"], env=env, capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert bad.returncode == 2 and "--upload 'lake-artifacts/glue': write s3://bucket/prefix" in bad.stderr


def test_upload_names_its_folder_by_content(tmp_path: Path) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str, str]] = []

        def upload_file(self, path: str, bucket: str, key: str) -> None:
            self.calls.append((Path(path).name, bucket, key))

    package = build_glue_package(tmp_path / "glue")
    recorder = Recorder()
    assert upload(package, recorder, "b", "/glue/") == f"s3://b/glue/{package.sha256[:16]}"
    assert [c[2] for c in recorder.calls] == [
        f"glue/{package.sha256[:16]}/glue_job.py",
        f"glue/{package.sha256[:16]}/lake_assets.zip",
    ]
