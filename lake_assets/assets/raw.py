"""raw/<kind>/<table>: one raw asset factory for every source kind (events, files, API, CDC).

The kind stages the run's days as Avro (``SourceKind.stage``); the two blocking checks judge the staging
folder (``verify_staged``); only then are new schema versions registered and the days published, each as
one visible step. A failure reports both check results and leaves raw as it was. On Glue, raw is an Avro
table too: the published days become its partitions.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from lake_assets.assets.keys import raw_key
from lake_assets.assets.partitions import DAILY, SINGLE_RUN
from lake_assets.checks.raw import CONFORMS, RECONCILES, raw_check_specs, staged_check_results
from lake_assets.resources.lake import LakeResource
from lake_assets.sources.kind import UNPARTITIONED, RawInputError, RawRun, SourceKind, verify_staged


def build_raw_asset(kind: SourceKind[Any], target: Any) -> dg.AssetsDefinition:
    info = kind.describe(target)
    folder = kind.zone_folder(target)
    key = raw_key(folder)
    name = key.to_user_string()
    checks = raw_check_specs(key, conforms=info.conforms, reconciles=info.reconciles)
    if info.warnings_check:
        check_name, description = info.warnings_check
        checks.append(dg.AssetCheckSpec(check_name, asset=key, blocking=False, description=description))

    @dg.asset(
        key=key,
        group_name="raw",
        kinds={"avro"},
        partitions_def=DAILY if info.daily else None,
        backfill_policy=SINGLE_RUN,
        description=info.description,
        metadata={"dagster/table_name": f"raw.{folder.replace('/', '_')}", **info.metadata},
        check_specs=checks,
    )
    def raw(
        context: dg.AssetExecutionContext, lake: LakeResource
    ) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
        store = lake.store
        days = list(context.partition_keys) if info.daily else [UNPARTITIONED]
        with store.staging_dir() as stage:
            run = RawRun(
                lake, days, stage, context.run.run_id, context.run.tags, context.log.info, context.log.warning
            )
            try:
                staged = kind.stage(run, target)
            except RawInputError as exc:
                raise dg.Failure(description=str(exc)) from None
            verification = verify_staged(staged)
            if not verification.passed:  # both results reported, then nothing published
                yield from staged_check_results(verification.schema_problems, verification.count_problems)
                raise dg.Failure(
                    description=f"{name} failed its checks; nothing published: "
                    + "; ".join(verification.problems)
                )
            for line in staged.register() if staged.register else []:
                context.log.info(line)
            for day in days:
                day_folder = staged.folder(day)
                day_folder.mkdir(parents=True, exist_ok=True)  # a day without rows publishes empty
                store.publish_dir(day_folder, staged.target_prefix(day))
            if staged.published:
                staged.published()
        if staged.schema is not None:
            partitions = sorted(days) if info.daily else None
            lake.register_raw(folder.replace("/", "_"), staged.table_prefix, staged.schema, partitions)
        for line in staged.notes:
            context.log.info(line)
        for line in staged.warnings:
            context.log.warning(line)
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": staged.records,
                "landing_objects": len(staged.landing_objects),
                "partitions": len(days),
                "schema_id": staged.schema_id,
                **staged.metadata,
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=CONFORMS,
                    passed=True,
                    metadata={"records_checked": verification.records, "schema_id": staged.schema_id},
                ),
                dg.AssetCheckResult(check_name=RECONCILES, passed=True, metadata=staged.reconciled),
                *(
                    dg.AssetCheckResult(
                        check_name=o.name,
                        passed=o.passed,
                        severity=dg.AssetCheckSeverity.WARN,
                        description=o.description,
                        metadata=dict(o.metadata),
                    )
                    for o in staged.outcomes
                ),
            ],
        )

    return raw


def build_raw_assets(kind: SourceKind[Any]) -> list[dg.AssetsDefinition]:
    """The kind's raw tables, one asset each."""
    return [build_raw_asset(kind, target) for target in kind.targets()]
