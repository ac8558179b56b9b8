"""Landing -> raw for big files: rows/s for a large CSV and an nginx log, and peak RSS at two sizes.

Each measurement runs in a fresh process, so its peak RSS (``ru_maxrss``) is its own: streaming means the
peak stays flat while the file grows. Usage: ``.venv/bin/python bench/bench_files.py [--csv-mb 200]
[--log-mb 100] [--keep DIR]``; ``--csv-mb 1024`` for the 1 GB run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lake_assets.samples import files as file_samples
from lake_assets.sources.files.raw import land_object_to_raw
from lake_assets.sources.specs import load_specs
from lake_assets.storage.object_store import LocalObjectStore

CSV_BYTES_PER_ROW = 83  # measured on products_csv
LOG_BYTES_PER_LINE = 172  # measured on nginx_access_log
NAMES = {"products": "products.csv", "web_access": "access.log"}


def child(root: Path, source: str) -> None:
    """Land one object to raw in this process and print rows, seconds and peak RSS as JSON."""
    store = LocalObjectStore(root)
    spec = {s.name: s for s in load_specs()}[source]
    key = f"{spec.landing_prefix}2026/11/20/{NAMES[source]}"
    started = time.perf_counter()
    with store.staging_dir() as out:
        result = land_object_to_raw(store, spec, key, out)
        raw_bytes = sum((out / f).stat().st_size for f in result.files)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": result.rows_read, "written": result.rows_written, "seconds": seconds,
                      "peak_rss_mb": peak_mb, "raw_mb": raw_bytes / 2**20}))  # fmt: skip


def measure(root: Path, source: str, megabytes: int) -> dict[str, float]:
    path = root / "landing" / "files" / source / "2026" / "11" / "20" / NAMES[source]
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if source == "products":
        file_samples.products_csv(path, rows=megabytes * 2**20 // CSV_BYTES_PER_ROW, seed=1, days=7)
    else:
        file_samples.nginx_access_log(path, lines=megabytes * 2**20 // LOG_BYTES_PER_LINE, seed=1, days=1)
    generated = time.perf_counter() - started
    for schema in root.glob("_system/schemas/*/v1.avsc"):
        schema.unlink()  # every run infers, as a first load does
    out = subprocess.run(
        [sys.executable, __file__, "--child", source, "--root", str(root)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(out.stdout)
    figures["file_mb"] = path.stat().st_size / 2**20
    figures["generate_seconds"] = generated
    path.unlink()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv-mb", type=int, default=200)
    parser.add_argument("--log-mb", type=int, default=100)
    parser.add_argument("--child")
    parser.add_argument("--root", type=Path)
    args = parser.parse_args()
    if args.child:
        return child(args.root, args.child)
    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        root = Path(tmp)
        for source, big in (("products", args.csv_mb), ("web_access", args.log_mb)):
            for megabytes in (max(1, big // 4), big):
                f = measure(root, source, megabytes)
                print(
                    f"{source:10s} {f['file_mb']:7.1f} MB {int(f['rows']):>10,} rows  {f['seconds']:6.1f} s  "
                    f"{f['rows'] / f['seconds']:>9,.0f} rows/s  {f['file_mb'] / f['seconds']:5.1f} MB/s  "
                    f"peak RSS {f['peak_rss_mb']:6.1f} MB  raw Avro {f['raw_mb']:6.1f} MB",
                    flush=True,
                )


if __name__ == "__main__":
    main()
