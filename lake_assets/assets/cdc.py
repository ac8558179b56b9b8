"""CDC tables as assets, generated from ``sources/cdc/tables.yaml`` (a factory over the specs, no copies).

Per table: ``raw/cdc/<source>/<table>`` (Avro by day of change; the raw asset factory of ``assets/raw.py``
over ``sources/cdc/kind.py``), ``intermediate/cdc/<source>/<table>``
(current state) and ``..._history`` (SCD type 2), the Iceberg tables
``intermediate.cdc_<source>_<table>[_history]``. The intermediate assets of one source are one subsettable
multi-asset (``merge_cdc_<source>``), so the tables a run selects merge side by side in one Spark session.
How they are merged (MERGE INTO on audit branches) is ``layers/cdc.py``; this module is the Dagster
side: assets, checks and their metadata.
"""

import traceback
from collections.abc import Iterator, Sequence

import dagster as dg

from lake_assets.assets.keys import current_key, history_key, raw_cdc_key
from lake_assets.layers.cdc import (
    CDC_REPORTS,
    HISTORY_UNIQUE,
    KEY_UNIQUE,
    CdcMergeError,
    current_table,
    history_table,
    merge_checks,
    merge_tables,
    outcome_from_message,
    read_current,
    table_columns,
)
from lake_assets.registry.cdc import CDC_SCHEMA_ROOT, load_versions
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.sources.cdc.reconcile import source_checksum
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.transforms.cdc_checksum import checksum

RECONCILES_SOURCE = "reconciles_with_source"
LANDING_NAMES = "landing_files_named_as_dms"


# ------------------------------------------------------------------------------------------------ merge


def _merge_specs(spec: CdcTableSpec) -> list[dg.AssetSpec]:
    current_spec, history_spec = current_table(spec), history_table(spec)
    both: dict = {  # the two tables of one merge: same upstream, group, kinds and automation
        "deps": [raw_cdc_key(spec)],
        "group_name": "intermediate",
        "kinds": {"spark", "iceberg"},
        "automation_condition": dg.AutomationCondition.eager(),
    }
    return [
        dg.AssetSpec(
            current_key(spec),
            **both,
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
            history_key(spec),
            **both,
            description=f"Every version of `{spec.source}.{spec.qualified}` (SCD type 2): valid_from, "
            f"valid_to, is_current, is_deleted; Iceberg table `{history_spec.identifier}`.",
            metadata={"dagster/table_name": history_spec.identifier},
        ),
    ]


def _merge_check_specs(spec: CdcTableSpec) -> list[dg.AssetCheckSpec]:
    """The merge's blocking checks (``layers.cdc.merge_checks``), each on the table it judges."""
    history_checks, current_checks = merge_checks(spec.primary_key)
    return [
        *(c.spec(current_key(spec)) for c in current_checks),
        *(c.spec(history_key(spec)) for c in history_checks),
    ]


def _merge_results(
    spec: CdcTableSpec, report: dict, wanted: set[dg.AssetKey], wanted_checks: set[dg.AssetCheckKey]
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """One table's materializations and check results, for the assets and checks of the run's selection."""
    current, history = current_key(spec), history_key(spec)
    meta = {
        "mode": report["mode"],
        "raw_files_merged": report["raw_files_merged"],
        "changes": report["changes"],
        "keys_touched": report.get("keys_touched", 0),
        "reload": report["reload"],
        **({"engine": report["engine"]} if "engine" in report else {}),  # set by the Glue job
    }
    if report["mode"] == "none":  # nothing new: the tables are as they were
        note = {"note": "no new raw files; nothing merged"}
        checks = {KEY_UNIQUE: (True, note), HISTORY_UNIQUE: (True, note)}
        materialized = {current: meta, history: meta}
    else:
        checks = report["checks"]
        materialized = {
            current: {
                **meta,
                "dagster/row_count": report["rows"],
                "dagster/table_name": current_table(spec).identifier,
                "snapshot_id": report["current_snapshot_id"],
            },
            history: {
                **meta,
                "dagster/table_name": history_table(spec).identifier,
                "snapshot_id": report["history_snapshot_id"],
            },
        }
    for key, metadata in materialized.items():
        if key in wanted:
            yield dg.MaterializeResult(asset_key=key, metadata=metadata)
    yield from _check_results(spec, checks, wanted_checks)


def _check_results(
    spec: CdcTableSpec, checks: dict[str, tuple[bool, dict]], wanted: set[dg.AssetCheckKey]
) -> Iterator[dg.AssetCheckResult]:
    for name, (passed, metadata) in checks.items():
        asset = history_key(spec) if name == HISTORY_UNIQUE else current_key(spec)
        if dg.AssetCheckKey(asset, name) in wanted:
            yield dg.AssetCheckResult(asset_key=asset, check_name=name, passed=passed, metadata=metadata)


def build_cdc_merge_asset(
    source: str, specs: Sequence[CdcTableSpec], registry_root: str = CDC_SCHEMA_ROOT
) -> dg.AssetsDefinition:
    """One multi-asset per source: the selected tables merge side by side in the run's Spark session
    (``merge_tables``); each table publishes on its own, and a table that fails fails the step after the
    others are reported."""

    @dg.multi_asset(
        specs=[a for spec in specs for a in _merge_specs(spec)],
        check_specs=[c for spec in specs for c in _merge_check_specs(spec)],
        name=merge_op_name(source),
        can_subset=True,
    )
    def merge_cdc(  # noqa: ANN202
        context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource
    ):
        wanted, wanted_checks = set(context.selected_asset_keys), set(context.selected_asset_check_keys)
        selected = [s for s in specs if {current_key(s), history_key(s)} & wanted]
        if spark.engine == "glue":  # the same merges in a Glue job run; its reports come back through Pipes
            glue = spark.on_glue()
            names = ",".join(s.name for s in selected)
            invocation = glue.run_job(context, {"--lake-layer": "cdc", "--lake-table": names})
            reports = glue.custom_message(invocation, CDC_REPORTS) or {}
            outcomes = {
                s.name: outcome_from_message(reports[s.name])
                if s.name in reports
                else RuntimeError(f"the Glue job sent no report for {s.name}")
                for s in selected
            }
        else:
            session = spark.lake_session(lake.catalog)
            outcomes = merge_tables(
                session, lake.store, lake.catalog, selected, registry_root, workers=spark.merge_workers
            )
        failures = []
        for spec in selected:
            outcome = outcomes[spec.name]
            if isinstance(outcome, CdcMergeError):  # checked on the staged tables; nothing published
                yield from _check_results(spec, outcome.checks, wanted_checks)
                failures.append(str(outcome))
            elif isinstance(outcome, Exception):
                trace = "".join(traceback.format_exception(outcome))
                context.log.error(f"intermediate/cdc/{spec.name}: the merge failed:\n{trace}")
                failures.append(f"intermediate/cdc/{spec.name}: {type(outcome).__name__}: {outcome}")
            else:
                context.log.info(f"intermediate/cdc/{spec.name}: {outcome}")
                yield from _merge_results(spec, outcome, wanted, wanted_checks)
        if failures:
            merged = len(selected) - len(failures)
            raise dg.Failure(
                description=f"{len(failures)} of {len(selected)} CDC table(s) of {source} did not merge "
                f"({merged} published): " + " | ".join(failures)
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


def build_cdc_merge_assets(
    specs: Sequence[CdcTableSpec], registry_root: str = CDC_SCHEMA_ROOT
) -> list[dg.AssetsDefinition]:
    """The intermediate (current + history) tables of every table spec, one multi-asset per source."""
    by_source: dict[str, list[CdcTableSpec]] = {}
    for spec in specs:
        by_source.setdefault(spec.source, []).append(spec)
    return [build_cdc_merge_asset(source, tables, registry_root) for source, tables in by_source.items()]


def merge_op_name(source: str) -> str:
    """The step that merges a source's tables (``merge_cdc_<source>``)."""
    return f"merge_cdc_{source}"


def build_cdc_checks(
    specs: Sequence[CdcTableSpec], registry_root: str = CDC_SCHEMA_ROOT
) -> list[dg.AssetChecksDefinition]:
    """The source reconciliation check for every spec that names its source's URL."""
    return [build_reconcile_check(s, registry_root) for s in specs if s.url]
