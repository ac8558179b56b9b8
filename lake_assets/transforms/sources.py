"""Raw file/API sources -> intermediate: typed to the source's schema, latest row per primary key.

Pure DataFrame API (no Dagster, no storage paths), like ``transforms.events``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lake_assets.transforms.events import (
    INGESTED_FROM_COL,
    PARTITION_COL,
    SOURCE_FILE_COL,
    avro_to_spark_ddl,
    utc_day,
)


def field_for_column(avro_schema: Mapping[str, Any], column: str) -> str:
    """The Avro field name of a source column (inferred schemas keep the column in ``lake.column``)."""
    for f in avro_schema["fields"]:
        if f.get("lake.column", f["name"]) == column or f["name"] == column:
            return f["name"]
    raise ValueError(f"column {column!r} is not in schema {avro_schema.get('name')}")


def required_fields(avro_schema: Mapping[str, Any]) -> list[str]:
    """Fields whose Avro type admits no null (primary key and event time in an inferred schema)."""
    return [
        f["name"]
        for f in avro_schema["fields"]
        if not (isinstance(f["type"], list) and "null" in f["type"]) and f["type"] != "null"
    ]


def clean_source(spark: SparkSession, inputs: dict[str, DataFrame], params: Mapping[str, Any]) -> DataFrame:
    """Raw records -> typed rows, one per primary key (per day when daily), ``_ingested_from``, ``dt``.

    inputs: ``raw`` (raw Avro records plus ``_source_file``). params: ``avro_schema`` (dict or JSON),
    ``key`` (field names; empty keeps every row: a log has no key), ``time`` (the event-time field or None),
    ``daily`` (add ``dt``, the UTC day of ``time``, and deduplicate within each day, so a day's result does
    not depend on which other days share the run).

    The latest row wins: the newest event time, then the landing object that sorts last (drop folders are
    dated), then a hash of the row, so a re-run keeps the same row.
    """
    schema = params["avro_schema"]
    if isinstance(schema, str):
        schema = json.loads(schema)
    key: list[str] = list(params.get("key") or [])
    time: str | None = params.get("time")
    daily = bool(params.get("daily"))
    if daily and not time:
        raise ValueError("clean_source: daily partitioning needs the event-time field")
    raw = inputs["raw"]
    present = set(raw.columns)
    cols = []
    for f in schema["fields"]:
        ddl, _ = avro_to_spark_ddl(f["type"])
        source = F.col(f["name"]) if f["name"] in present else F.lit(None)
        cols.append((source if ddl is None else source.cast(ddl)).alias(f["name"]))
    typed = raw.select(*cols, F.col(SOURCE_FILE_COL).cast("string").alias(INGESTED_FROM_COL))
    if daily:
        typed = typed.withColumn(PARTITION_COL, utc_day(F.col(time)))
    if not key:
        return typed
    payload = [f["name"] for f in schema["fields"]]
    order = [F.col(time).desc_nulls_last()] if time else []
    order += [F.col(INGESTED_FROM_COL).desc(), F.xxhash64(F.to_json(F.struct(*payload))).desc()]
    window = Window.partitionBy(*key, *([PARTITION_COL] if daily else [])).orderBy(*order)
    return typed.withColumn("_rank", F.row_number().over(window)).where(F.col("_rank") == 1).drop("_rank")
