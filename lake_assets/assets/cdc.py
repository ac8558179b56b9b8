"""CDC tables as assets, generated from ``sources/cdc/tables.yaml`` (a factory over the specs, no copies).

Per table: ``raw/cdc/<source>/<table>`` (Avro by day of change) and one multi-asset writing
``intermediate/cdc/<source>/<table>`` (current state) and ``..._history`` (SCD type 2). How they are stored
and merged (buckets, pending versions, compaction) is ``assets/cdc_merge.py``; this module is the Dagster
side: assets, checks and their metadata.
"""

import contextlib
from collections.abc import Sequence

import dagster as dg

from lake_assets.assets.cdc_merge import (
    CdcMergeError,
    merge_new_changes,
    read_current,
    table_columns,
)
from lake_assets.assets.partitions import DAILY, SINGLE_RUN
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.sources.cdc.reconcile import source_checksum
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.sources.cdc_raw import (
    CDC_SCHEMA_ROOT,
    CdcRawError,
    build_cdc_raw,
    forget_rebuilt,
    load_versions,
    register_version,
    unrecognised_message,
    verify_cdc_raw,
)
from lake_assets.storage import Zone, partition_prefix, zone_prefix
from lake_assets.transforms.cdc_checksum import checksum

CONFORMS = "conforms_to_schema"
RECONCILES_LANDING = "counts_reconcile_with_landing"
KEY_UNIQUE = "primary_key_unique"
RECONCILES_SOURCE = "reconciles_with_source"
LANDING_NAMES = "landing_files_named_as_dms"


def raw_cdc_key(spec: CdcTableSpec) -> dg.AssetKey:
    return dg.AssetKey(["raw", "cdc", spec.source, spec.table])


def current_key(spec: CdcTableSpec) -> dg.AssetKey:
    return dg.AssetKey(["intermediate", "cdc", spec.source, spec.table])


def history_key(spec: CdcTableSpec) -> dg.AssetKey:
    return dg.AssetKey(["intermediate", "cdc", spec.source, f"{spec.table}_history"])


# ------------------------------------------------------------------------------------------------ raw


def build_raw_cdc_asset(spec: CdcTableSpec, registry_root: str = CDC_SCHEMA_ROOT) -> dg.AssetsDefinition:
    key = raw_cdc_key(spec)

    @dg.asset(
        key=key,
        group_name="raw",
        kinds={"avro"},
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        description=f"Changes of `{spec.source}.{spec.qualified}` as Avro, one file per landing DMS file, "
        "by day of change (full load: the load day). Schema derived from the landed files, registered under "
        f"`{registry_root}/{spec.name}/`.",
        metadata={
            "primary_key": list(spec.primary_key),
            "landing": f"landing/cdc/{spec.source}/{spec.schema}/",
        },
        check_specs=[
            dg.AssetCheckSpec(
                CONFORMS, asset=key, blocking=True, description="Files carry a registered schema."
            ),
            dg.AssetCheckSpec(
                RECONCILES_LANDING,
                asset=key,
                blocking=True,
                description="Raw records = landed rows of the days.",
            ),
            dg.AssetCheckSpec(
                LANDING_NAMES,
                asset=key,
                blocking=False,
                description="Every file in the table's landing folder has a DMS name; others are not read.",
            ),
        ],
    )
    def raw_cdc(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        store = lake.store
        days = list(context.partition_keys)
        with store.staging_dir() as stage:
            try:
                result = build_cdc_raw(store, spec, days, stage, registry_root)
            except CdcRawError as exc:  # a schema change or an unreadable file: say what and what to do
                raise dg.Failure(description=str(exc)) from None
            for day in days:
                verification = verify_cdc_raw(stage / f"dt={day}", result.resolver.all, result.expected[day])
                if not verification.passed:
                    raise dg.Failure(
                        description=f"raw/cdc/{spec.name} dt={day} failed its checks; nothing published: "
                        + "; ".join(verification.problems)
                    )
            registered = [
                register_version(store, spec, v, registry_root) for v in result.resolver.new_versions
            ]
            for key_ in registered:
                context.log.info(f"raw/cdc/{spec.name}: registered {key_}")
            for day in days:
                folder = stage / f"dt={day}"
                folder.mkdir(exist_ok=True)
                store.publish_dir(folder, partition_prefix(Zone.RAW, "cdc", spec.name, day))
            forget_rebuilt(store, spec, result, days)
        if result.resolver.all:  # on Glue, raw is an Avro table too: the published days are its partitions
            name = "cdc_" + spec.name.replace("/", "_")
            lake.register_raw(
                name, zone_prefix(Zone.RAW, "cdc", spec.name), result.resolver.all[-1].schema, days
            )
        if result.unrecognised:
            context.log.warning(unrecognised_message(spec, result.unrecognised))
        latest = result.resolver.all[-1].schema_id if result.resolver.all else None
        records = sum(result.days.values())
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": records,
                "landing_objects": len(result.landing_objects),
                "schema_id": latest or "",
                "registered_versions": [v.schema_id for v in result.resolver.new_versions],
                "unrecognised_landing_objects": result.unrecognised,
            },
            check_results=[
                dg.AssetCheckResult(check_name=CONFORMS, passed=True, metadata={"schema_id": latest or ""}),
                dg.AssetCheckResult(
                    check_name=RECONCILES_LANDING, passed=True, metadata={"records": records}
                ),
                dg.AssetCheckResult(
                    check_name=LANDING_NAMES,
                    passed=not result.unrecognised,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=unrecognised_message(spec, result.unrecognised)
                    if result.unrecognised
                    else "Every file in the table's landing folder has a DMS name.",
                    metadata={"unrecognised_landing_objects": result.unrecognised},
                ),
            ],
        )

    return raw_cdc


# ------------------------------------------------------------------------------------------------ merge


class MergeConfig(dg.Config):
    """Run config of a CDC merge: ``compact`` rewrites the touched buckets now, below the thresholds."""

    compact: bool = False


def build_cdc_merge_asset(spec: CdcTableSpec, registry_root: str = CDC_SCHEMA_ROOT) -> dg.AssetsDefinition:
    current, history = current_key(spec), history_key(spec)

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                current,
                deps=[raw_cdc_key(spec)],
                group_name="intermediate",
                kinds={"spark", "parquet"},
                automation_condition=dg.AutomationCondition.eager(),
                description=f"`{spec.source}.{spec.qualified}` as of its newest change: one row per "
                f"{', '.join(spec.primary_key)}, deletes removed; Parquet in {spec.buckets} key buckets.",
                metadata={"primary_key": list(spec.primary_key), "buckets": spec.buckets},
            ),
            dg.AssetSpec(
                history,
                deps=[raw_cdc_key(spec)],
                group_name="intermediate",
                kinds={"spark", "parquet"},
                automation_condition=dg.AutomationCondition.eager(),
                description=f"Every version of `{spec.source}.{spec.qualified}` (SCD type 2): valid_from, "
                "valid_to, is_current, is_deleted.",
            ),
        ],
        check_specs=[
            dg.AssetCheckSpec(KEY_UNIQUE, asset=current, blocking=True, description="One row per key.")
        ],
        name=merge_op_name(spec),
    )
    def merge_cdc(  # noqa: ANN202
        context: dg.AssetExecutionContext, config: MergeConfig, lake: LakeResource, spark: SparkResource
    ):
        try:
            report = merge_new_changes(spark.session(), lake.store, spec, registry_root, config.compact)
        except CdcMergeError as exc:
            raise dg.Failure(description=str(exc)) from None
        context.log.info(f"intermediate/cdc/{spec.name}: {report}")
        meta = {
            "mode": report["mode"],
            "raw_files_merged": report["raw_files_merged"],
            "changes": report["changes"],
            "buckets_rewritten": dg.MetadataValue.json(report["buckets_rewritten"]),
            "pending_merges": report["pending_merges"],
            "pending_versions": report["pending_versions"],
        }
        # The compacted row count; with pending versions the table differs from it by at most those.
        counted = {"dagster/row_count": report["rows"]} if report["mode"] != "pending" else {}
        yield dg.MaterializeResult(asset_key=current, metadata={**meta, **counted})
        yield dg.MaterializeResult(asset_key=history, metadata=meta)
        checked = (
            "one row per key in the rewritten buckets"
            if report["mode"] == "compacted"
            else "one version per key and position in the appended pending file"
        )
        yield dg.AssetCheckResult(
            asset_key=current,
            check_name=KEY_UNIQUE,
            passed=True,
            metadata={"checked": checked, "buckets_rewritten": len(report["buckets_rewritten"])},
        )

    return merge_cdc


def build_reconcile_check(
    spec: CdcTableSpec, registry_root: str = CDC_SCHEMA_ROOT
) -> dg.AssetChecksDefinition:
    """Row count and checksum of the current state against the live source (``url`` in the spec).

    Not blocking: while changes are still in flight the two differ for a moment; a difference that stays
    after the capture and the merge caught up is a lost or doubled change.
    """

    @dg.asset_check(
        asset=current_key(spec),
        name=RECONCILES_SOURCE,
        description=f"Row count and checksum equal `{spec.qualified}` at the source.",
    )
    def reconcile(lake: LakeResource, spark: SparkResource) -> dg.AssetCheckResult:
        store, session = lake.store, spark.session()
        if not load_versions(store, spec, registry_root):
            return dg.AssetCheckResult(
                passed=False,
                description=f"nothing captured from {spec.qualified} yet: run `lake cdc snapshot`, then "
                "the raw and intermediate CDC assets",
            )
        columns = table_columns(store, spec, registry_root)
        with contextlib.ExitStack() as stack:
            table = read_current(session, store, spec, stack)
            lake_count, lake_sum = checksum(table, columns) if table is not None else (0, 0)
        try:
            src_count, src_sum = source_checksum(str(spec.url), spec.schema, spec.table, columns)
        except Exception as exc:  # noqa: BLE001 - any source error is this check's finding, not a crash
            return dg.AssetCheckResult(
                passed=False, description=f"cannot read {spec.qualified} at the source: {exc}".strip()
            )
        return dg.AssetCheckResult(
            passed=(lake_count, lake_sum) == (src_count, src_sum),
            metadata={
                "lake_rows": lake_count,
                "source_rows": src_count,
                "lake_checksum": str(lake_sum),
                "source_checksum": str(src_sum),
            },
        )

    return reconcile


def build_cdc_assets(
    specs: Sequence[CdcTableSpec], registry_root: str = CDC_SCHEMA_ROOT
) -> list[dg.AssetsDefinition]:
    """raw and intermediate (current + history) assets for every table spec."""
    out: list[dg.AssetsDefinition] = []
    for spec in specs:
        out += [build_raw_cdc_asset(spec, registry_root), build_cdc_merge_asset(spec, registry_root)]
    return out


COMPACTION_SCHEDULE = "cdc_compaction_schedule"


def merge_op_name(spec: CdcTableSpec) -> str:
    return f"merge_cdc_{spec.source}_{spec.table}"


def build_cdc_compaction_schedule(specs: Sequence[CdcTableSpec]) -> dg.ScheduleDefinition | None:
    """Once a day every CDC table is compacted, so plain Parquet readers are never more than a day behind.

    Between compactions the merges only append pending files (merge-on-read); a table that stopped changing
    would otherwise keep its last pending files until its next change. A table with none is left alone.
    """
    if not specs:
        return None
    job = dg.define_asset_job(
        "cdc_compaction",
        selection=dg.AssetSelection.assets(*[k for s in specs for k in (current_key(s), history_key(s))]),
        config={"ops": {merge_op_name(s): {"config": {"compact": True}} for s in specs}},
        description="Compacts every CDC table: pending files folded into the key buckets.",
    )
    return dg.ScheduleDefinition(
        name=COMPACTION_SCHEDULE,
        job=job,
        cron_schedule="30 3 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )


def build_cdc_checks(
    specs: Sequence[CdcTableSpec], registry_root: str = CDC_SCHEMA_ROOT
) -> list[dg.AssetChecksDefinition]:
    """The source reconciliation check for every spec that names its source's URL."""
    return [build_reconcile_check(s, registry_root) for s in specs if s.url]
