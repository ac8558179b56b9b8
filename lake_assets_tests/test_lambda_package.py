"""The intake Lambda's zip: reproducible, and enough to run the handler with only the Lambda runtime."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest

from lake_assets.deploy.lambda_package import HANDLER, LambdaPackage, build_lambda_zip

# What the Lambda python3.11 runtime provides besides the standard library (boto3 and its dependencies).
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "dateutil", "urllib3", "six.py")

# Runs in `python -I -S`: no site-packages; sys.path is the standard library, the unpacked zip and, when
# given, a folder holding only the runtime's packages. Prints where every imported module came from.
PROBE = r"""
import json, os, sys, sysconfig
code_dir, runtime_dir = sys.argv[1], sys.argv[2]
sys.path[:0] = [code_dir] + ([runtime_dir] if runtime_dir else [])
stdlib = (sysconfig.get_path("stdlib"), sys.base_prefix)

def origins():
    out = {}
    for name, module in sorted(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path:
            continue
        path = os.path.abspath(path)  # not realpath: the runtime folder holds symlinks
        out[name] = "zip" if path.startswith(code_dir) else "runtime" if runtime_dir and path.startswith(
            runtime_dir) else "stdlib" if path.startswith(stdlib) else path
    return out

import lake_assets.sources.events.lambda_intake as handler_module
result = {"after_import": origins()}
if runtime_dir:
    os.environ.update(LAKE_FIREHOSE_STREAM="s", LAKE_DLQ_URL="http://127.0.0.1:9/dlq",
                      LAKE_AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_REGION="us-east-1",
                      AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    processor = handler_module.build_processor()  # settings, boto3 clients, registry, decoder
    valid = (b'{"event_id":"e1","event_type":"page_view","event_time":"2026-11-24T10:00:00Z",'
             b'"session_id":"s","page_url":"/","page_type":"home","device":"mobile"}')
    result["valid"] = processor.decoder.check(valid) is None
    result["invalid"] = processor.decoder.check(b'{"event_type": "nope"}').kind
    result["subjects"] = list(processor.decoder.subjects)
    result["after_build"] = origins()
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> LambdaPackage:
    return build_lambda_zip(tmp_path_factory.mktemp("zip") / "events_lambda.zip")


def test_the_zip_is_reproducible(package: LambdaPackage, tmp_path: Path) -> None:
    again = build_lambda_zip(tmp_path / "again.zip")
    assert again.sha256 == package.sha256 and again.size_bytes == package.size_bytes
    assert package.sha256 == hashlib.sha256(package.path.read_bytes()).hexdigest()
    with zipfile.ZipFile(package.path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names) == list(package.files)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_zip_holds_the_handler_its_modules_and_deps_but_not_boto3(package: LambdaPackage) -> None:
    names = set(package.files)
    for required in (
        "lake_assets/__init__.py",
        "lake_assets/settings.py",
        "lake_assets/sources/__init__.py",
        "lake_assets/sources/events/lambda_intake.py",
        "lake_assets/sources/quarantine.py",
        "lake_assets/registry/validation.py",
        "lake_assets/registry/schemas/events/page_view/v1.avsc",
        "lake_assets/registry/schemas/events/subject_defaults.json",
        "msgspec/__init__.py",
        "fastavro/__init__.py",
        "orjson/__init__.py",
    ):
        assert required in names, required
    assert not [n for n in names if n.split("/")[0] in ("boto3", "botocore", "dagster", "pyspark", "pyarrow")]
    assert not [n for n in names if n.startswith(("lake_assets/assets/", "lake_assets/storage/"))]
    assert [n for n in names if n.endswith(".so")] and all("x86_64" in n for n in names if n.endswith(".so"))
    assert package.size_bytes < 10 * 1024 * 1024  # Lambda allows 50 MB zipped; this stays small on purpose
    assert HANDLER == "lake_assets.sources.events.lambda_intake.handler"


def _unpack(package: LambdaPackage, folder: Path) -> Path:
    with zipfile.ZipFile(package.path) as archive:
        archive.extractall(folder)
    return folder


def _probe(code_dir: Path, runtime_dir: Path | None) -> dict:
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE, str(code_dir.resolve()), str(runtime_dir or "")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_handler_imports_from_the_zip_and_the_standard_library_alone(
    package: LambdaPackage, tmp_path: Path
) -> None:
    result = _probe(_unpack(package, tmp_path / "code"), None)
    where = result["after_import"]
    assert where["lake_assets.sources.events.lambda_intake"] == "zip"
    assert where["msgspec"] == where["fastavro"] == where["orjson"] == "zip"
    assert {origin for origin in where.values()} <= {"zip", "stdlib"}, where


def test_the_handler_builds_its_processor_with_the_runtime_boto3(
    package: LambdaPackage, tmp_path: Path
) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    site_packages = Path(boto3.__file__).resolve().parent.parent
    for name in RUNTIME_PACKAGES:
        (runtime / name).symlink_to(site_packages / name)
    result = _probe(_unpack(package, tmp_path / "code"), runtime)
    assert result["valid"] is True and result["invalid"] == "unknown_event_type"
    assert result["subjects"] == ["cart_update", "order_placed", "page_view"]
    assert {origin for origin in result["after_build"].values()} <= {"zip", "stdlib", "runtime"}
    assert result["after_build"]["boto3"] == "runtime"
