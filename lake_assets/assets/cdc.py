"""CDC tables as assets, generated from ``sources/cdc/tables.yaml`` (a factory over the specs, no copies).

Per table: ``raw/cdc/<source>/<table>`` (Avro by day of change) and one multi-asset writing
``intermediate/cdc/<source>/<table>`` (current state) and ``..._history`` (SCD type 2), the Iceberg tables
``intermediate.cdc_<source>_<table>[_history]``. How they are merged (MERGE INTO on audit branches) is
``assets/cdc_merge.py``; this module is the Dagster side: assets, checks and their metadata.
"""

from collections.abc import Sequence

import dagster as dg

from lake_assets.assets.cdc_merge import (
    CdcMergeError,
    current_table,
    history_table,
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


HISTORY_UNIQUE = "history_versions_unique"


def build_cdc_merge_asset(spec: CdcTableSpec, registry_root: str = CDC_SCHEMA_ROOT) -> dg.AssetsDefinition:
    current, history = current_key(spec), history_key(spec)
    current_spec, history_spec = current_table(spec), history_table(spec)

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                current,
                deps=[raw_cdc_key(spec)],
                group_name="intermediate",
                kinds={"spark", "iceberg"},
                automation_condition=dg.AutomationCondition.eager(),
                description=f"`{spec.source}.{spec.qualified}` as of its newest change: one row per "
                f"{', '.join(spec.primary_key)}, deletes removed; Iceberg table `{current_spec.identifier}` "
                f"kept with MERGE INTO, in {spec.buckets} key buckets.",
                metadata={
                    "primary_key": list(spec.primary_key),
                    "buckets": spec.buckets,
                    "dagster/table_name": current_spec.identifier,
                },
            ),
            dg.AssetSpec(
                history,
                deps=[raw_cdc_key(spec)],
                group_name="intermediate",
                kinds={"spark", "iceberg"},
                automation_condition=dg.AutomationCondition.eager(),
                description=f"Every version of `{spec.source}.{spec.qualified}` (SCD type 2): valid_from, "
                f"valid_to, is_current, is_deleted; Iceberg table `{history_spec.identifier}`.",
                metadata={"dagster/table_name": history_spec.identifier},
            ),
        ],
        check_specs=[
            dg.AssetCheckSpec(
                KEY_UNIQUE,
                asset=current,
                blocking=True,
                description="One row per key (checked before publish).",
            ),
            dg.AssetCheckSpec(
                HISTORY_UNIQUE,
                asset=history,
                blocking=True,
                description="One version per key and log position (checked before publish).",
            ),
        ],
        name=merge_op_name(spec),
    )
    def merge_cdc(  # noqa: ANN202
        context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource
    ):
        session = spark.lake_session(lake.catalog)
        try:
            report = merge_new_changes(session, lake.store, lake.catalog, spec, registry_root)
        except CdcMergeError as exc:
            for name, (passed, metadata) in exc.checks.items():  # checked on the staged tables
                asset = history if name == HISTORY_UNIQUE else current
                yield dg.AssetCheckResult(asset_key=asset, check_name=name, passed=passed, metadata=metadata)
            raise dg.Failure(description=str(exc)) from None
        context.log.info(f"intermediate/cdc/{spec.name}: {report}")
        meta = {
            "mode": report["mode"],
            "raw_files_merged": report["raw_files_merged"],
            "changes": report["changes"],
            "keys_touched": report.get("keys_touched", 0),
            "reload": report["reload"],
        }
        if report["mode"] == "none":  # nothing new: the tables are as they were
            yield dg.MaterializeResult(asset_key=current, metadata=meta)
            yield dg.MaterializeResult(asset_key=history, metadata=meta)
            note = {"note": "no new raw files; nothing merged"}
            yield dg.AssetCheckResult(asset_key=current, check_name=KEY_UNIQUE, passed=True, metadata=note)
            yield dg.AssetCheckResult(
                asset_key=history, check_name=HISTORY_UNIQUE, passed=True, metadata=note
            )
            return
        yield dg.MaterializeResult(
            asset_key=current,
            metadata={
                **meta,
                "dagster/row_count": report["rows"],
                "dagster/table_name": current_spec.identifier,
                "snapshot_id": report["current_snapshot_id"],
            },
        )
        yield dg.MaterializeResult(
            asset_key=history,
            metadata={
                **meta,
                "dagster/table_name": history_spec.identifier,
                "snapshot_id": report["history_snapshot_id"],
            },
        )
        for name, (passed, metadata) in report["checks"].items():
            asset = history if name == HISTORY_UNIQUE else current
            yield dg.AssetCheckResult(asset_key=asset, check_name=name, passed=passed, metadata=metadata)

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
        store, session = lake.store, spark.lake_session(lake.catalog)
        if not load_versions(store, spec, registry_root):
            return dg.AssetCheckResult(
                passed=False,
                description=f"nothing captured from {spec.qualified} yet: run `lake cdc snapshot`, then "
                "the raw and intermediate CDC assets",
            )
        columns = table_columns(store, spec, registry_root)
        table = read_current(session, spec)
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


def merge_op_name(spec: CdcTableSpec) -> str:
    return f"merge_cdc_{spec.source}_{spec.table}"


def build_cdc_checks(
    specs: Sequence[CdcTableSpec], registry_root: str = CDC_SCHEMA_ROOT
) -> list[dg.AssetChecksDefinition]:
    """The source reconciliation check for every spec that names its source's URL."""
    return [build_reconcile_check(s, registry_root) for s in specs if s.url]
