"""raw/<files|api>/<source> and intermediate/<files|api>/<source>: generated from the source specs.

One factory over ``sources/specs/*.yaml``; adding a source adds its two assets. Raw lands every landing object
the index lists for the run's days with ``land_object_to_raw`` into a staging folder, holds the staged files
to blocking checks, then publishes each day. Intermediate types and deduplicates with Spark
(``transforms.sources``). An API source's raw asset also pulls the API first when its schedule starts the run
(tag ``lake/pull_api``); a backfill of past days rebuilds from what already landed and never calls the API.
"""

from collections.abc import Sequence
from typing import Any

import dagster as dg
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake_assets.assets.keys import PULL_TAG, intermediate_source_key, is_daily, raw_source_key
from lake_assets.assets.partitions import DAILY, EAGER, SINGLE_RUN
from lake_assets.assets.spark_io import days_filter, read_raw_avro
from lake_assets.assets.table_commit import commit_with_checks
from lake_assets.checks.raw import CONFORMS, RECONCILES, raw_check_specs, staged_check_results
from lake_assets.checks.staged import StagedCheck, key_unique, not_null, rows_equal
from lake_assets.registry import SchemaVersion
from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.settings import api_token
from lake_assets.sources.api.pull import ApiPullError, pull_api
from lake_assets.sources.files.index import (
    UNPARTITIONED,
    index_object,
    partition_objects,
    verify_staged,
)
from lake_assets.sources.files.raw import CountMismatch, ObjectRawResult, land_object_to_raw, resolve_schema
from lake_assets.sources.schema_inference import InferenceError
from lake_assets.sources.specs import SourceSpec
from lake_assets.storage import ObjectStore, Zone, zone_prefix
from lake_assets.tables.specs import TableSpec, table_spec
from lake_assets.transforms.events import PARTITION_COL
from lake_assets.transforms.sources import clean_source, field_for_column, required_fields

KEY_UNIQUE = "key_unique"
NOT_NULL = "required_columns_not_null"
COUNTS = "counts_reconcile_with_raw"


def table_folder(zone: Zone, spec: SourceSpec, day: str) -> str:
    """``raw/files/products/dt=2026-11-20/``, or the table folder itself when unpartitioned."""
    return zone_prefix(zone, spec.zone_folder, f"dt={day}" if day != UNPARTITIONED else "")


def _run_days(context: dg.AssetExecutionContext, spec: SourceSpec) -> list[str]:
    return list(context.partition_keys) if is_daily(spec) else [UNPARTITIONED]


def pull_and_index(
    context: dg.AssetExecutionContext, store: ObjectStore, spec: SourceSpec, days: Sequence[str]
) -> dict[str, int]:
    """Pull the API, index every landed page; returns records per day (days outside the run are warned)."""
    try:
        pulled = pull_api(store, spec, run_id=context.run_id, token=api_token(spec))
    except ApiPullError as exc:
        raise dg.Failure(description=f"{spec.name}: {exc}") from None
    by_day: dict[str, int] = {}
    for key in pulled.landed_keys:
        info = next(store.list(key), None)
        if info is None or info.key != key:
            raise dg.Failure(description=f"{spec.name}: landed page {key} is not in the store")
        for day, rows in index_object(store, spec, info).items():
            by_day[day] = by_day.get(day, 0) + rows
    outside = sorted(d for d in by_day if d not in set(days))
    if outside:
        context.log.warning(
            f"{spec.name}: the pull returned records dated {', '.join(outside)}, outside this run's days; "
            f"they are indexed: materialize {raw_source_key(spec).to_user_string()} for those days"
        )
    context.log.info(
        f"{spec.name}: pulled {pulled.records} records in {pulled.pages} pages ({pulled.retries} retries); "
        f"watermark {pulled.watermark_before} -> {pulled.watermark_after}"
    )
    return by_day


def build_raw_source_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    key = raw_source_key(spec)
    daily = is_daily(spec)
    schema_note = (
        f"registry subject `{spec.schema_subject}`"
        if spec.schema_subject
        else f"inferred from the first object (`_system/schemas/{spec.name}/v1.avsc`)"
    )

    @dg.asset(
        key=key,
        group_name="raw",
        kinds={"avro"},
        partitions_def=DAILY if daily else None,
        backfill_policy=SINGLE_RUN,
        description=f"{spec.description or spec.name} Raw Avro, one file per landing object"
        f"{' and event day' if daily else ''}; schema {schema_note}. Rows that do not fit go to "
        f"`quarantine/{spec.zone_folder}/`.",
        metadata={"source": spec.name, "kind": spec.kind, "landing": spec.landing_prefix},
        check_specs=raw_check_specs(
            key,
            conforms="Every staged file carries the source schema.",
            reconciles="Rows read = written + quarantined per landing object; staged files hold them.",
        ),
    )
    def raw_source(context: dg.AssetExecutionContext, lake: LakeResource):  # noqa: ANN202 - a generator
        store = lake.store
        days = _run_days(context, spec)
        if spec.api is not None and context.run.tags.get(PULL_TAG):
            pull_and_index(context, store, spec, days)
        objects = sorted({key for day in days for key in partition_objects(store, spec, day)})
        results: list[ObjectRawResult] = []
        with store.staging_dir() as stage:
            out = stage / "table"
            out.mkdir()
            for object_key in objects:
                try:
                    results.append(land_object_to_raw(store, spec, object_key, out, registry=lake.registry))
                except CountMismatch as exc:
                    yield from staged_check_results([], [str(exc)])
                    raise dg.Failure(
                        description=f"{key.to_user_string()}: {exc}; nothing published"
                    ) from None
                except InferenceError as exc:
                    raise dg.Failure(
                        description=f"{key.to_user_string()}: {store.uri(object_key)}: {exc}; nothing "
                        "published and no schema stored: fix the file (or the spec) and re-run"
                    ) from None
            version = resolve_schema(store, spec, lake.registry)
            written = {day: sum(r.rows_by_day.get(day, 0) for r in results) for day in days}
            problems: list[str] = []
            schema_problems: list[str] = []
            for day in days:
                folder = out / f"dt={day}" if day != UNPARTITIONED else out
                files = sorted(folder.glob("*.avro")) if folder.is_dir() else []
                if version is None:  # no object yet (or every one unreadable): nothing can be staged
                    if files:
                        schema_problems.append(f"dt={day}: files staged without a schema")
                    continue
                check = verify_staged(files, version, written[day])
                schema_problems += [f"dt={day}: {p}" if day else p for p in check.schema_problems]
                problems += [f"dt={day}: {p}" if day else p for p in check.count_problems]
            if schema_problems or problems:
                yield from staged_check_results(schema_problems, problems)
                raise dg.Failure(
                    description=f"{key.to_user_string()} failed its checks; nothing published: "
                    + "; ".join(schema_problems + problems)
                )
            for day in days:
                folder = out / f"dt={day}" if day != UNPARTITIONED else out
                if day != UNPARTITIONED:
                    folder.mkdir(exist_ok=True)  # a day without rows is published empty (clears stale files)
                store.publish_dir(folder, table_folder(Zone.RAW, spec, day))
        if version is not None:  # on Glue, raw is an Avro table too: the published days are its partitions
            partitioned = is_daily(spec)
            name, prefix = spec.zone_folder.replace("/", "_"), zone_prefix(Zone.RAW, spec.zone_folder)
            lake.register_raw(name, prefix, version.schema, sorted(days) if partitioned else None)
        read = sum(r.rows_read for r in results)
        quarantined = sum(r.rows_quarantined for r in results)
        rows = sum(written.values())
        reasons: dict[str, int] = {}
        for r in results:
            for reason, n in r.reasons.items():
                reasons[reason] = reasons.get(reason, 0) + n
        unreadable = [r.object_key for r in results if r.file_error]
        if quarantined:
            why = ", ".join(f"{reason}: {n}" for reason, n in sorted(reasons.items()))
            context.log.warning(
                f"{key.to_user_string()}: {quarantined} of {read} rows quarantined under "
                f"quarantine/{spec.zone_folder}/ ({why})"
            )
        counts = {
            "rows_read": read,
            "rows_written": sum(r.rows_written for r in results),
            "rows_quarantined": quarantined,
        }
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "landing_objects": len(objects),
                **counts,
                "rows_on_other_days": counts["rows_written"] - rows,
                "quarantine_reasons": dg.MetadataValue.json(reasons),
                "unreadable_objects": dg.MetadataValue.json(unreadable),
                "schema_id": version.schema_id if version else "",
                "partitions": len(days),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=CONFORMS,
                    passed=True,
                    metadata={"records_checked": rows, "schema_id": version.schema_id if version else ""},
                ),
                dg.AssetCheckResult(check_name=RECONCILES, passed=True, metadata=counts),
            ],
        )

    return raw_source


def read_raw_source(
    spark: SparkSession, store: ObjectStore, spec: SourceSpec, version: SchemaVersion, days: Sequence[str]
) -> DataFrame:
    """Raw Avro of the given days with ``_source_file`` (an empty frame of the schema when there is none)."""
    return read_raw_avro(spark, store, [table_folder(Zone.RAW, spec, day) for day in days], version.schema)


def intermediate_source_table(spec: SourceSpec) -> TableSpec:
    """``intermediate.<files|api>_<name>``, partitioned by dt when the source spec says daily."""
    return table_spec(
        "intermediate",
        spec.zone_folder.replace("/", "_"),
        partition_by=(PARTITION_COL,) if is_daily(spec) else (),
    )


def build_intermediate_source_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    key = intermediate_source_key(spec)
    table = intermediate_source_table(spec)
    daily = is_daily(spec)
    pk = list(spec.primary_key)
    run: dict[str, Any] = {}  # what each run computed from raw, read by its checks
    checks = [
        StagedCheck(
            NOT_NULL,
            "Required columns (key, event time) are never null.",
            lambda frame: not_null(NOT_NULL, run["required"]).evaluate(frame),
        ),
        rows_equal(
            COUNTS,
            "rows = distinct keys in raw" + (" per day" if daily else "") if pk else "rows = raw rows",
            lambda: run["figures"],
            "expected_rows",
        ),
    ]
    if pk:
        checks.insert(
            0,
            StagedCheck(
                KEY_UNIQUE,
                f"{', '.join(pk)} is unique" + (" per day" if daily else ""),
                lambda frame: key_unique(KEY_UNIQUE, run["group"]).evaluate(frame),
            ),
        )

    @dg.asset(
        key=key,
        deps=[raw_source_key(spec)],
        group_name="intermediate",
        kinds={"spark", "iceberg"},
        partitions_def=DAILY if daily else None,
        backfill_policy=SINGLE_RUN,
        automation_condition=EAGER,
        description=f"`{spec.name}` typed"
        + (f", latest row per {', '.join(pk)}" + (" and day" if daily else "") if pk else "")
        + f": Iceberg table `{table.identifier}`"
        + (" partitioned by dt." if daily else "."),
        metadata={"dagster/table_name": table.identifier},
        check_specs=[c.spec(key) for c in checks],
    )
    def intermediate_source(context: dg.AssetExecutionContext, lake: LakeResource, spark: SparkResource):  # noqa: ANN202
        session = spark.lake_session(lake.catalog)
        store = lake.store
        days = _run_days(context, spec)
        version = resolve_schema(store, spec, lake.registry)
        if version is None:
            # Nothing has landed (or only unreadable objects): there is no table to build or check yet.
            context.log.warning(f"{spec.name}: no schema yet, raw has landed no rows; nothing to build")
            note = {"note": "no schema yet: raw has landed no rows"}
            yield dg.MaterializeResult(
                metadata={"dagster/row_count": 0, "partitions": len(days)},
                check_results=[
                    dg.AssetCheckResult(check_name=c.name, passed=True, metadata=note) for c in checks
                ],
            )
            return
        schema = version.schema
        key_fields = [field_for_column(schema, c) for c in pk]
        time_field = field_for_column(schema, spec.event_time) if spec.event_time else None
        params = {"avro_schema": schema, "key": key_fields, "time": time_field, "daily": daily}
        group = [*key_fields, *([PARTITION_COL] if daily else [])]
        raw = read_raw_source(session, store, spec, version, days)
        cleaned = clean_source(session, {"raw": raw}, params)
        raw_rows = raw.count()
        expected = (
            clean_source(session, {"raw": raw}, {**params, "key": []}).select(*group).distinct().count()
            if pk
            else raw_rows
        )
        run.update(
            required=required_fields(schema),
            group=group,
            figures={"raw_records": raw_rows, "expected_rows": expected},
        )
        yield from commit_with_checks(
            session,
            lake.catalog,
            table,
            cleaned,
            checks,
            replace_where=days_filter(days) if daily else F.lit(True),
            metadata={"raw_records": raw_rows, "partitions": len(days), "schema_id": version.schema_id},
        )

    return intermediate_source


def build_source_assets(specs: Sequence[SourceSpec]) -> list[dg.AssetsDefinition]:
    """raw and intermediate assets for every file/API source spec."""
    return [
        build(spec) for spec in specs for build in (build_raw_source_asset, build_intermediate_source_asset)
    ]
