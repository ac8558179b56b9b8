"""The Dagster image's build context (``lake package image``): one image runs the webserver, the daemon, the
code server and every run on ECS Fargate (``infra/lake_infra/orchestration.py``).

The context holds ``deploy/Dockerfile``, this package's source under ``src/`` (``pyproject.toml``,
``README.md`` and the package's Python and data files: what pip builds the package from),
``requirements.lock`` (the versions the tests ran with, which the Dockerfile uses as pip constraints) and the
production instance files (``deploy/dagster.production.yaml`` as ``dagster.yaml``,
``deploy/workspace.production.yaml`` as ``workspace.yaml``). It is written as a folder and as a reproducible
``context.tar.gz`` (sorted entries, fixed times, owners and modes, gzip without name or time): the same
sources give the same bytes and sha256, and ``docker build - < context.tar.gz`` builds it. No Docker engine
runs on the project's machines: the tests check the context (every COPY source present, the paths and ports
the stack uses, and that the package pip builds from it holds every data file and loads the definitions),
not a built image.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import io
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from lake_assets.deploy.glue_package import PACKAGE_ROOT, package_files

REPO_ROOT = PACKAGE_ROOT.parent
ARCHIVE = "context.tar.gz"


class ImageContextError(RuntimeError):
    """A file the image needs is missing, or the Dockerfile copies what the context does not hold."""


@dataclass(frozen=True)
class ImageContext:
    folder: Path
    archive: Path
    sha256: str
    size_bytes: int
    files: tuple[str, ...]
    tag: str  # the lake_assets version: the orchestration stack's default image tag

    def build_command(self, repository: str = "$REPO") -> str:
        return f"docker build --platform linux/amd64 -t {repository}:{self.tag} - < {self.archive}"


def context_sources(repo_root: Path = REPO_ROOT) -> dict[str, Path]:
    """Name in the context -> source file."""
    sources = {
        "Dockerfile": repo_root / "deploy" / "Dockerfile",
        "dagster.yaml": repo_root / "deploy" / "dagster.production.yaml",
        "workspace.yaml": repo_root / "deploy" / "workspace.production.yaml",
        "requirements.lock": repo_root / "requirements.lock",
        "src/pyproject.toml": repo_root / "pyproject.toml",
        "src/README.md": repo_root / "README.md",
    }
    sources |= {f"src/{name}": path for name, path in package_files(repo_root / "lake_assets").items()}
    missing = [f"{name} (from {path})" for name, path in sources.items() if not path.is_file()]
    if missing:
        raise ImageContextError(f"the image context is missing {', '.join(missing)}")
    return dict(sorted(sources.items()))


def copied_sources(dockerfile: str) -> list[str]:
    """The context paths the Dockerfile's COPY instructions read (``--from`` stages excluded)."""
    sources = []
    for line in re.sub(r"\\\n", " ", dockerfile).splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY" or any(w.startswith("--from") for w in words):
            continue
        sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            archive.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as zipped:
        zipped.write(raw.getvalue())
    return out.getvalue()


def build_image_context(out: Path, repo_root: Path = REPO_ROOT) -> ImageContext:
    """Write the context folder and ``context.tar.gz`` into ``out`` (both replaced whole)."""
    sources = context_sources(repo_root)
    contents = {name: path.read_bytes() for name, path in sources.items()}
    dockerfile = contents["Dockerfile"].decode()
    for source in copied_sources(dockerfile):
        wanted = source.rstrip("/")
        if wanted not in contents and not any(n.startswith(wanted + "/") for n in contents):
            raise ImageContextError(
                f"deploy/Dockerfile copies {source}, which the image context does not hold"
            )
    out.mkdir(parents=True, exist_ok=True)
    folder = out / "context"
    staged = out / "context.partial"
    shutil.rmtree(staged, ignore_errors=True)
    for name, data in contents.items():
        target = staged / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    shutil.rmtree(folder, ignore_errors=True)
    staged.replace(folder)
    data = _tar_bytes(contents)
    archive = out / ARCHIVE
    partial = archive.with_name(ARCHIVE + ".partial")
    partial.write_bytes(data)
    partial.replace(archive)
    return ImageContext(
        folder,
        archive,
        hashlib.sha256(data).hexdigest(),
        len(data),
        tuple(contents),
        importlib.metadata.version("lake_assets"),
    )
