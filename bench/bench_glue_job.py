"""What running a layer through Dagster Pipes costs: the Glue job script's run against the in-process run.

Prints figures; never a timed test. Run from the repo root:

    .venv/bin/python bench/bench_glue_job.py [--events 60000] [--repeat 3]

Setup (printed, not timed): a lake with ``--events`` sample events of one day landed, indexed and built
through raw, intermediate and final locally; a SeaweedFS S3 server (Pipes' context and messages) and a moto
server (Glue's API, holding the job) on loopback.

Timed, alternating, ``--repeat`` times each: ``dagster.materialize`` of ``final/shop/daily_funnel`` and of
``intermediate/events/page_view`` for that day with the local engine (the baseline: Spark in the process),
and with ``LAKE_SPARK_ENGINE=glue`` where the Glue job run is the job script run in this process under the
same Spark (the test suite's stand-in: Glue cannot run here), so the difference is what Pipes adds: writing
the context to S3, the job's own settings, catalog and session set-up, the messages written and read back
through S3 and the polling. Also printed: the size of ``lake package glue``'s artifacts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the fixtures live in lake_assets_tests

import dagster as dg  # noqa: E402

from lake_assets.definitions import build_assets  # noqa: E402
from lake_assets.deploy.glue_package import build_glue_package  # noqa: E402
from lake_assets.registry import SchemaRegistry  # noqa: E402
from lake_assets.resources.glue import GlueResource  # noqa: E402
from lake_assets.resources.spark import SparkResource  # noqa: E402
from lake_assets.storage.object_store import LocalObjectStore  # noqa: E402
from lake_assets_tests.fixtures.moto import MOTO_REGION, moto_client, moto_env, start_moto, stop_moto  # noqa: E402
from lake_assets_tests.fixtures.seaweed import (  # noqa: E402
    DUMMY_ACCESS_KEY,
    DUMMY_SECRET_KEY,
    s3_client,
    start_seaweed,
    stop_seaweed,
)
from lake_assets_tests.lake_helpers import START, index_landing, ingest_lines, lake_resource, sample_lines  # noqa: E402
from lake_assets_tests.layers.test_glue_job import LocalGlueRuns  # noqa: E402

DAY = START.isoformat()
SELECTIONS = ("final/shop/daily_funnel", "intermediate/events/page_view")


def materialize(root: Path, spark: SparkResource, selection: str) -> float:
    started = time.perf_counter()
    result = dg.materialize(
        build_assets(SchemaRegistry.from_directory()),
        selection=selection,
        resources={"lake": lake_resource(root), "spark": spark},
        partition_key=DAY,
        raise_on_error=True,
    )
    assert result.success
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"bench_glue_job {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {platform.machine()}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; Python {platform.python_version()}"
    )
    package = build_glue_package(Path(tempfile.mkdtemp(prefix="bench-glue-pkg-")))
    print(
        f"lake package glue: lake_assets.zip {package.size_bytes / 1024:.0f} KiB "
        f"({len(package.files)} files), script {package.script.stat().st_size} B, "
        f"modules {', '.join(package.modules)}"
    )
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": DUMMY_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": DUMMY_SECRET_KEY,
            "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        }
    )
    with tempfile.TemporaryDirectory(prefix="bench-glue-") as tmp:
        root = Path(tmp) / "lake"
        seaweed = start_seaweed(Path(tmp) / "seaweed")
        moto_url, moto = start_moto(Path(tmp) / "moto.log")
        try:
            started = time.perf_counter()
            ingest_lines(LocalObjectStore(root), sample_lines(args.events, days=1, seed=7))
            index_landing(lake_resource(root))
            materialize(root, SparkResource(), "*")
            took = time.perf_counter() - started
            print(f"setup: {args.events:,} events landed and built through final in {took:.1f} s")
            s3_client(seaweed.endpoint_url).create_bucket(Bucket="pipes")
            for name, value in moto_env().items():
                os.environ.setdefault(name, value)
            glue_api = moto_client("glue", moto_url)
            glue_api.create_job(
                Name="lake-layers",
                Role="arn:aws:iam::123456789012:role/lake-glue",
                Command={"Name": "glueetl", "ScriptLocation": "s3://lake-artifacts/glue/glue_job.py"},
                GlueVersion="6.0",
            )
            runs = LocalGlueRuns(glue_api)
            GlueResource.glue_client = lambda self: runs  # type: ignore[method-assign]
            glue = GlueResource(
                pipes_bucket="pipes",
                region=MOTO_REGION,
                s3_endpoint_url=seaweed.endpoint_url,
                settings_env={"LAKE_ROOT": str(root), "LAKE_S3_ENDPOINT_URL": seaweed.endpoint_url},
                poll_seconds=0.5,
            )
            engines = {"local": SparkResource(), "glue (Pipes)": SparkResource(engine="glue", glue=glue)}
            print(f"\n{'asset':<34} {'local':>9} {'glue (Pipes)':>13} {'ratio':>7}")
            for selection in SELECTIONS:
                times: dict[str, list[float]] = {name: [] for name in engines}
                for _ in range(args.repeat):
                    for name, spark in engines.items():
                        times[name].append(materialize(root, spark, selection))
                local, piped = (statistics.median(times[n]) for n in engines)
                print(f"{selection:<34} {local:>7.2f} s {piped:>11.2f} s {piped / local:>6.2f}x")
            polls = "Pipes polls S3 every 0.5 s here (10 s by default)"
            print(f"\nmedians of {args.repeat} runs each, alternated; {polls}")
        finally:
            stop_moto(moto)
            stop_seaweed(seaweed)


if __name__ == "__main__":
    main()
