"""The Glue job script: a layer's run, reported to Dagster through Pipes (no Dagster, only dagster-pipes).

Glue starts it with the job arguments the asset passed (``--lake-layer``, ``--lake-table``, the run's days
in ``--lake-partitions``, the lake's settings as JSON in ``--lake-settings``) and the two Pipes arguments
(``--dagster-pipes-context``, ``--dagster-pipes-messages``, S3 locations). The days come as an argument, not
from the Pipes context: Dagster 1.13 puts a partition range in that context only for a one-day run, so a
backfill of several days in one run would reach the job without its days. The
layer commits through the same ``tables.checked_commit`` as local Spark; the check results and the
materialization go back as Pipes messages; a commit that published nothing sends the failure as a custom
message, so the Dagster side fails as it does locally (and the job itself succeeds: it did its work).

The CDC merge (``--lake-layer cdc``) merges the selected tables of one source side by side, each its own
commit, so one table may publish while another fails: the job sends each table's merge report (or why it did
not publish) as one custom message, and the asset turns them into results with the same code as locally.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import boto3
from dagster_pipes import (
    DAGSTER_PIPES_CLI_PARSER,
    PipesContext,
    PipesParamsLoader,
    PipesS3ContextLoader,
    PipesS3MessageWriter,
    decode_param,
    open_dagster_pipes,
)

from lake_assets.layers import FAILED


class ArgsParamsLoader(PipesParamsLoader):
    """Pipes' own CLI arguments, read from the arguments given (not only ``sys.argv``)."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.args, _ = DAGSTER_PIPES_CLI_PARSER.parse_known_args(list(argv))

    def is_dagster_pipes_process(self) -> bool:
        return self.args.dagster_pipes_context is not None

    def load_context_params(self) -> dict[str, Any]:
        return decode_param(self.args.dagster_pipes_context)

    def load_messages_params(self) -> dict[str, Any]:
        return decode_param(self.args.dagster_pipes_messages)


def _days(partitions: str) -> list[str]:
    """``2026-11-19/2026-11-22``: every day of the range, ends included."""
    first, last = partitions.split("/")
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def _metadata_value(value: Any) -> Any:
    """A check's figure as Pipes carries it: plain values as they are, anything else as JSON."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return {"raw_value": json.loads(json.dumps(value, default=str)), "type": "json"}


def _report_commit(pipes: PipesContext, outcome: Any, extra: dict[str, Any]) -> None:
    """One table's commit as Pipes messages: its check results, then its materialization or the failure."""
    for name, (passed, figures) in outcome.checks.items():
        pipes.report_asset_check(
            check_name=name,
            passed=passed,
            metadata={k: _metadata_value(v) for k, v in figures.items()},
            asset_key=pipes.asset_key,
        )
    if not outcome.published:
        pipes.report_custom_message({FAILED: outcome.failure()})
        return
    pipes.report_asset_materialization(
        asset_key=pipes.asset_key,
        metadata={
            **outcome.metadata(),
            "dagster/table_name": outcome.table,
            **{k: _metadata_value(v) for k, v in extra.items()},
        },
    )


def run(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(description="a lake layer as a Glue job run")
    parser.add_argument("--lake-layer", required=True, choices=["events", "sources", "final", "cdc"])
    parser.add_argument("--lake-table", required=True, help="the table; cdc: the tables, comma-separated")
    parser.add_argument("--lake-partitions", help="the run's days, first/last (none: unpartitioned)")
    parser.add_argument("--lake-settings", default="{}")
    args, _ = parser.parse_known_args(list(argv))
    os.environ.update(json.loads(args.lake_settings))  # the lake's typed settings read them, as locally

    from lake_assets.layers.cdc import CDC_REPORTS, merge_tables, outcome_message
    from lake_assets.layers.events import run_intermediate_events
    from lake_assets.layers.final import FINAL_TABLES, run_final
    from lake_assets.layers.sources import run_intermediate_source
    from lake_assets.registry import SchemaRegistry
    from lake_assets.settings import load_settings
    from lake_assets.sources.cdc.specs import load_specs as load_cdc_specs
    from lake_assets.sources.kind import UNPARTITIONED
    from lake_assets.sources.specs import load_specs
    from lake_assets.storage import open_store
    from lake_assets.tables.catalog import CatalogConfig, catalog_session
    from lake_assets.transforms.spark_session import build_spark_session

    settings = load_settings()
    s3 = boto3.client("s3", region_name=settings.aws_region, endpoint_url=settings.s3_endpoint_url)
    with open_dagster_pipes(
        context_loader=PipesS3ContextLoader(client=s3),
        message_writer=PipesS3MessageWriter(client=s3, interval=1),
        params_loader=ArgsParamsLoader(argv),
    ) as pipes:
        catalog = CatalogConfig.for_settings(settings)
        # On Glue the session exists already (getOrCreate); Glue 6.0 is Spark 4.1.1, as local Spark here.
        session = catalog_session(build_spark_session(s3=settings.env != "local"), catalog)
        registry = SchemaRegistry.from_directory()
        store = open_store(
            settings.lake_root, endpoint_url=settings.s3_endpoint_url, region=settings.aws_region
        )
        if args.lake_layer == "cdc":  # several tables, each its own commit: one report per table
            names = set(args.lake_table.split(","))
            specs = [s for s in load_cdc_specs(settings.cdc_tables) if s.name in names]
            unknown = names - {s.name for s in specs}
            if unknown:
                raise ValueError(f"no CDC table {', '.join(sorted(unknown))} in LAKE_CDC_TABLES")
            merged = merge_tables(session, store, catalog, specs, workers=settings.spark.merge_workers)
            for outcome in merged.values():
                if isinstance(outcome, dict):
                    outcome["engine"] = "glue"
            pipes.report_custom_message({CDC_REPORTS: {n: outcome_message(o) for n, o in merged.items()}})
            return
        days = _days(args.lake_partitions) if args.lake_partitions else [UNPARTITIONED]
        extra: dict[str, Any] = {"partitions": len(days)}
        if args.lake_layer == "final":
            outcome = run_final(session, catalog, registry, FINAL_TABLES[args.lake_table], days)
        elif args.lake_layer == "sources":  # a file or API source's intermediate table
            [spec] = [s for s in load_specs(registry=registry) if s.name == args.lake_table]
            outcome, figures = run_intermediate_source(session, catalog, store, registry, spec, days)
            extra.update(figures)
        else:  # events: the subject's intermediate table from raw
            outcome, figures = run_intermediate_events(
                session, catalog, store, registry, args.lake_table, days
            )
            extra["raw_records"] = figures["raw_records"]
        _report_commit(pipes, outcome, extra)


if __name__ == "__main__":
    run(sys.argv[1:])
