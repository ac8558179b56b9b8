"""The Glue job's artifacts (``lake package glue``): the script, this package as a zip, the modules it adds.

Glue 6.0 runs the job script with its own Spark 4.1.1 (pyspark, py4j), boto3 and common libraries; the rest
comes through two job arguments: ``--extra-py-files`` (``lake_assets.zip``, this package's Python files and
data files: schemas, specs, table specs) and ``--additional-python-modules`` (the pinned third-party
distributions the job's code path imports that Glue does not ship: found by importing that path in a fresh
interpreter, so the list cannot drift from the code). The job runs Python 3.13 on Glue 6.0: the zip is pure
Python and the modules are installed there by pip from PyPI.

The zip is reproducible (sorted entries, fixed timestamps and modes, no caches): the same sources give the
same bytes and sha256, which name the upload folder, so a changed artifact never overwrites one a running job
uses.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # .../lake_assets
SCRIPT = "glue_job.py"
# What the job's code path imports at run time (layers/glue_job.run and the final layer).
JOB_MODULES = (
    "lake_assets.layers.glue_job",
    "lake_assets.layers.final",
    "lake_assets.layers.events",
    "lake_assets.storage",
    "lake_assets.settings",
    "lake_assets.registry",
    "lake_assets.tables.catalog",
    "lake_assets.tables.iceberg",
    "lake_assets.transforms.spark_session",
)
# Distributions AWS Glue 6.0 provides (its Spark and the Python libraries it ships).
GLUE_PROVIDED = frozenset(
    {
        "pyspark",
        "py4j",
        "boto3",
        "botocore",
        "s3transfer",
        "jmespath",
        "urllib3",
        "python-dateutil",
        "six",
        "certifi",
        "numpy",
        "pandas",
        "pyarrow",
    }
)
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644 << 16
_DATA_SUFFIXES = {".py", ".avsc", ".json", ".yaml", ".yml"}


@dataclass(frozen=True)
class GluePackage:
    folder: Path
    script: Path
    zip_path: Path
    sha256: str
    size_bytes: int
    modules: tuple[str, ...]  # name==version, for --additional-python-modules
    files: tuple[str, ...] = field(default=())

    @property
    def arguments(self) -> dict[str, str]:
        """The job's default arguments, given where the artifacts were uploaded (``{prefix}`` below)."""
        return {
            "--extra-py-files": f"{{prefix}}/{self.zip_path.name}",
            "--additional-python-modules": ",".join(self.modules),
        }


def package_files(package_root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Archive name -> source for every Python and data file of the package (no caches, no tests)."""
    files = {}
    for path in sorted(package_root.rglob("*")):
        relative = path.relative_to(package_root.parent).as_posix()
        if path.is_file() and path.suffix in _DATA_SUFFIXES and "__pycache__" not in relative:
            files[relative] = path
    return files


def job_modules() -> tuple[str, ...]:
    """The pinned distributions the job imports that Glue does not provide, from a fresh interpreter."""
    probe = (
        "import importlib, json, sys, importlib.metadata as md\n"
        f"before = set(sys.modules)\nfor m in {list(JOB_MODULES)!r}: importlib.import_module(m)\n"
        "tops = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "dists = md.packages_distributions()\n"
        "print(json.dumps(sorted({d for m in tops for d in dists.get(m, []) if d != 'lake_assets'})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    names = [n for n in json.loads(done.stdout) if n not in GLUE_PROVIDED and n.lower() != "lake-assets"]
    return tuple(sorted(f"{n}=={importlib.metadata.version(n)}" for n in names))


def build_glue_package(out: Path) -> GluePackage:
    """Write the script and the zip into ``out`` and describe them (the zip replaced atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    script = out / SCRIPT
    script.write_text(
        '"""AWS Glue job: a lake layer through Dagster Pipes (built by lake package glue)."""\n'
        "import sys\n\nfrom lake_assets.layers.glue_job import run\n\nrun(sys.argv[1:])\n"
    )
    files = package_files()
    names = tuple(sorted(files))
    zip_path = out / "lake_assets.zip"
    partial = zip_path.with_name(zip_path.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = _FILE_MODE
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name].read_bytes(), compresslevel=9)
    partial.replace(zip_path)
    data = zip_path.read_bytes()
    return GluePackage(
        out, script, zip_path, hashlib.sha256(data).hexdigest(), len(data), job_modules(), names
    )


def upload(package: GluePackage, s3: object, bucket: str, prefix: str) -> str:
    """Upload the script and zip under ``prefix/<sha256[:16]>/``; returns that S3 folder."""
    folder = f"{prefix.strip('/')}/{package.sha256[:16]}"
    for path in (package.script, package.zip_path):
        s3.upload_file(str(path), bucket, f"{folder}/{path.name}")  # type: ignore[attr-defined]
    return f"s3://{bucket}/{folder}"
