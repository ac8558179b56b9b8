"""The events intake Lambda's deployment zip: the handler, the modules it imports, and its native deps.

Only what ``lake_assets.sources.events.lambda_intake`` needs goes in: the package's ``__init__`` files,
settings, the schema registry (code and ``schemas/``), the intake's Lambda and quarantine modules, and the
third-party packages the Lambda Python runtime lacks (msgspec, fastavro, orjson), copied from this
environment's site-packages with their ``dist-info`` (licences). boto3 and botocore are part of the Lambda
runtime and are not bundled. The copied packages are the CPython 3.11 manylinux x86_64 wheels installed here,
so the zip targets the **x86_64 ``python3.11``** Lambda runtime (not arm64).

The zip is reproducible: entries sorted by name, timestamps fixed at 1980-01-01, permissions fixed at 0644,
no ``__pycache__`` or ``.pyc``; the same sources give the same bytes (and sha256), so a deployment tool can
tell from the hash alone whether the function's code changed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import zipfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # .../lake_assets
HANDLER = "lake_assets.sources.events.lambda_intake.handler"
RUNTIME = "python3.11"
ARCHITECTURE = "x86_64"
THIRD_PARTY = ("msgspec", "fastavro", "orjson")  # distributions the Lambda runtime does not provide

# Files and folders of lake_assets the handler imports (checked by importing it from the unpacked zip).
_OWN_FILES = (
    "__init__.py",
    "settings.py",
    "sources/__init__.py",
    "sources/events/__init__.py",
    "sources/events/lambda_intake.py",
    "sources/events/sqs_wire.py",
    "sources/quarantine.py",
)
_OWN_FOLDERS = ("registry",)  # code, schemas/**/*.avsc and subject_defaults.json
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644 << 16  # regular file, rw-r--r--
_SKIP_PARTS = {"__pycache__"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


@dataclass(frozen=True)
class LambdaPackage:
    path: Path
    size_bytes: int
    sha256: str
    files: tuple[str, ...]


def _wanted(relative: str) -> bool:
    parts = relative.split("/")
    return not (_SKIP_PARTS & set(parts)) and Path(relative).suffix not in _SKIP_SUFFIXES


def package_files(package_root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Archive name -> source file, for lake_assets' own modules and the bundled third-party packages."""
    files: dict[str, Path] = {}
    for name in _OWN_FILES:
        files[f"lake_assets/{name}"] = package_root / name
    for folder in _OWN_FOLDERS:
        for path in (package_root / folder).rglob("*"):
            relative = path.relative_to(package_root).as_posix()
            if path.is_file() and _wanted(relative):
                files[f"lake_assets/{relative}"] = path
    for dist_name in THIRD_PARTY:
        dist = importlib.metadata.distribution(dist_name)
        for entry in dist.files or ():
            relative = entry.as_posix()
            source = Path(dist.locate_file(entry))
            if relative.startswith("..") or not _wanted(relative) or not source.is_file():
                continue  # scripts installed outside site-packages, caches
            files[relative] = source
    missing = [name for name, path in files.items() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"lambda package sources missing: {missing}")
    return files


def build_lambda_zip(out_path: Path) -> LambdaPackage:
    """Write the deployment zip to ``out_path`` (replaced atomically) and describe it."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    files = package_files()
    names = tuple(sorted(files))
    partial = out_path.with_name(out_path.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.external_attr = _FILE_MODE
            info.create_system = 3  # Unix, so the mode above is honoured when unpacked
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name].read_bytes(), compresslevel=9)
    partial.replace(out_path)
    data = out_path.read_bytes()
    return LambdaPackage(out_path, len(data), hashlib.sha256(data).hexdigest(), names)


def main() -> None:
    """``python -m lake_assets.deploy.lambda_package [OUT.zip]``: build and print size and hash."""
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/events_lambda.zip")
    package = build_lambda_zip(out)
    print(
        f"{package.path}: {package.size_bytes:,} bytes, {len(package.files)} files, sha256 {package.sha256}"
    )
    print(f"handler {HANDLER}, runtime {RUNTIME} {ARCHITECTURE}")


if __name__ == "__main__":
    main()
