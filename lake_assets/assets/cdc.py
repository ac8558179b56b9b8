"""CDC tables as assets, generated from ``sources/cdc/tables.yaml`` (a factory over the specs, no copies).

Per table: ``raw/cdc/<source>/<table>`` (Avro by day of change) and one multi-asset writing
``intermediate/cdc/<source>/<table>`` (current state) and ``..._history`` (SCD type 2), both bucketed by a
hash of the key (``bucket=NN/``). A merge reads only the raw files not merged yet (a manifest in
``_system/cdc/<source>/<table>/merged.json``), the stored history of the buckets their keys fall in, and
rewrites only those buckets: its cost follows the changes, not the table.
"""

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake_assets.assets.partitions import DAILY, SINGLE_RUN
from lake_assets.checks.table_checks import duplicate_keys
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.sources.cdc.reconcile import source_checksum
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.sources.cdc_raw import (
    CDC_SCHEMA_ROOT,
    CdcRawError,
    build_cdc_raw,
    load_versions,
    register_version,
    verify_cdc_raw,
)
from lake_assets.storage import ObjectStore, Zone, partition_prefix, zone_prefix
from lake_assets.transforms import cdc as T
from lake_assets.transforms.cdc_checksum import checksum
from lake_assets.transforms.spark_session import AVRO_FORMAT

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


def current_prefix(spec: CdcTableSpec) -> str:
    return zone_prefix(Zone.INTERMEDIATE, "cdc", spec.source, spec.table)


def history_prefix(spec: CdcTableSpec) -> str:
    return zone_prefix(Zone.INTERMEDIATE, "cdc", spec.source, f"{spec.table}_history")


def manifest_key(spec: CdcTableSpec) -> str:
    return zone_prefix(Zone.SYSTEM, "cdc", spec.source, spec.table) + "merged.json"


# ------------------------------------------------------------------------------------------------ raw


def build_raw_cdc_asset(spec: CdcTableSpec, registry_root: str = CDC_SCHEMA_ROOT) -> dg.AssetsDefinition:
    # Raw-only helpers, imported where they are used (the module's imports serve the merge code).
    from lake_assets.sources.cdc_raw import forget_rebuilt, unrecognised_message

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


def _read_buckets(
    spark: SparkSession, stack: contextlib.ExitStack, store: ObjectStore, prefix: str, buckets: Sequence[str]
) -> DataFrame | None:
    frames = []
    for bucket in buckets:
        folder = stack.enter_context(store.local_copy(f"{prefix}bucket={bucket}/"))
        if folder.is_dir() and any(p.suffix == ".parquet" for p in folder.iterdir()):
            frames.append(spark.read.parquet(str(folder)).withColumn(T.BUCKET, F.lit(bucket)))
    if not frames:
        return None
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame, allowMissingColumns=True)
    return out


def _write_buckets(spark: SparkSession, df: DataFrame, folder: Path, width: int) -> DataFrame:
    """Parquet by ``bucket=NN`` (one file per bucket), read back as readers will see it."""
    df.repartition(T.BUCKET).write.mode("overwrite").partitionBy(T.BUCKET).parquet(str(folder))
    if not any(folder.glob(f"{T.BUCKET}=*/*.parquet")):
        return spark.createDataFrame([], df.schema)
    written = spark.read.parquet(str(folder))
    return written.withColumn(T.BUCKET, F.lpad(F.col(T.BUCKET).cast("string"), width, "0"))


def _avro_schema_json(store: ObjectStore, spec: CdcTableSpec, registry_root: str) -> tuple[str, list[str]]:
    versions = load_versions(store, spec, registry_root)
    if not versions:
        raise dg.Failure(
            description=f"raw/cdc/{spec.name} has files but no registered schema under {registry_root}"
        )
    schema = versions[-1].schema
    columns = [
        f["name"] for f in schema["fields"] if f["name"] not in (T.OP, T.COMMIT_TS, T.POSITION, T.UNCHANGED)
    ]
    return json.dumps(schema), columns


def merge_new_changes(
    spark: SparkSession, store: ObjectStore, spec: CdcTableSpec, registry_root: str = CDC_SCHEMA_ROOT
) -> dict[str, object]:
    """Merges the raw files not merged yet into history and current state; returns what it did.

    Steps: list raw files, keep those missing from the manifest (or of another size), read them, find
    their key buckets, read the stored history of those buckets only, rebuild their history and current
    rows, check the key is unique, publish bucket by bucket, then record the files in the manifest. A crash
    before the manifest is written merges the same files again next time, which changes nothing.
    """
    manifest = json.loads(store.get_bytes(manifest_key(spec))) if store.exists(manifest_key(spec)) else {}
    merged: dict[str, int] = manifest.get("files", {})
    rows: dict[str, int] = manifest.get("rows", {})
    raw_root = zone_prefix(Zone.RAW, "cdc", spec.source, spec.table)
    new = [i for i in store.list(raw_root) if i.key.endswith(".avro") and merged.get(i.key) != i.size]
    report: dict[str, object] = {"raw_files_merged": len(new), "buckets_rewritten": [], "changes": 0}
    if not new:
        report["rows"] = sum(rows.values())
        return report
    schema_json, columns = _avro_schema_json(store, spec, registry_root)
    width = T.bucket_width(spec.buckets)
    params = {"key": list(spec.primary_key), "columns": columns}
    with contextlib.ExitStack() as stack:
        by_folder: dict[str, list[str]] = {}
        for info in new:
            by_folder.setdefault(info.key.rsplit("/", 1)[0] + "/", []).append(info.key.rsplit("/", 1)[1])
        paths = []
        for prefix, names in by_folder.items():
            folder = stack.enter_context(store.local_copy(prefix))
            paths += [str(folder / n) for n in names if (folder / n).exists()]
        changes = spark.read.format(AVRO_FORMAT).option("avroSchema", schema_json).load(paths)
        changes = T.with_bucket(changes, spec.primary_key, spec.buckets).cache()
        report["changes"] = changes.count()
        touched = sorted(r[0] for r in changes.select(T.BUCKET).distinct().collect())
        stored = _read_buckets(spark, stack, store, history_prefix(spec), touched)
        stage = stack.enter_context(store.staging_dir())
        history = T.build_history(spark, {"changes": changes, "history": stored}, params)
        history = _write_buckets(spark, history, stage / "history", width)
        current = T.current_state(spark, {"history": history}, params)
        current = _write_buckets(spark, current, stage / "current", width)
        dupes = duplicate_keys(current, spec.primary_key)
        if dupes:
            raise dg.Failure(
                description=f"intermediate/cdc/{spec.name}: {dupes} key values occur more than once in the "
                "merged buckets; nothing published",
                metadata={"duplicate_keys": dupes},
            )
        counts = {r[0]: r[1] for r in current.groupBy(T.BUCKET).count().collect()}
        for bucket in touched:
            for table, prefix in (("history", history_prefix(spec)), ("current", current_prefix(spec))):
                folder = stage / table / f"{T.BUCKET}={bucket}"
                folder.mkdir(parents=True, exist_ok=True)
                store.publish_dir(folder, f"{prefix}{T.BUCKET}={bucket}/")
            rows[bucket] = int(counts.get(bucket, 0))
        changes.unpersist()
    merged.update({i.key: i.size for i in new})
    store.put_bytes(manifest_key(spec), json.dumps({"files": merged, "rows": rows}, sort_keys=True).encode())
    report.update(buckets_rewritten=touched, rows=sum(rows.values()), duplicate_keys=0)
    return report


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
        name=f"merge_cdc_{spec.source}_{spec.table}",
    )
    def merge_cdc(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource):  # noqa: ANN202
        report = merge_new_changes(spark.session(), lake.store, spec, registry_root)
        context.log.info(f"intermediate/cdc/{spec.name}: {report}")
        meta = {
            "raw_files_merged": report["raw_files_merged"],
            "changes": report["changes"],
            "buckets_rewritten": dg.MetadataValue.json(report["buckets_rewritten"]),
        }
        yield dg.MaterializeResult(asset_key=current, metadata={**meta, "dagster/row_count": report["rows"]})
        yield dg.MaterializeResult(asset_key=history, metadata=meta)
        yield dg.AssetCheckResult(
            asset_key=current,
            check_name=KEY_UNIQUE,
            passed=True,
            metadata={"buckets_checked": len(report["buckets_rewritten"])},
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
        _, columns = _avro_schema_json(store, spec, registry_root)
        with store.local_copy(current_prefix(spec)) as folder:
            files = list(folder.glob(f"{T.BUCKET}=*/*.parquet")) if folder.is_dir() else []
            if files:
                lake_count, lake_sum = checksum(session.read.parquet(str(folder)), columns)
            else:
                lake_count, lake_sum = 0, 0
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


def build_cdc_checks(
    specs: Sequence[CdcTableSpec], registry_root: str = CDC_SCHEMA_ROOT
) -> list[dg.AssetChecksDefinition]:
    """The source reconciliation check for every spec that names its source's URL."""
    return [build_reconcile_check(s, registry_root) for s in specs if s.url]
