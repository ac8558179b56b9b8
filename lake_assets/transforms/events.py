"""Raw events -> intermediate events: typed, deduplicated, partitioned by the UTC day of the event.

Pure DataFrame/SQL API (no RDDs, no Python UDFs, no Dagster, no storage paths) so the same function runs in
a local session, in a Glue job, or is translated one-to-one to an embedded engine's SQL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

SOURCE_FILE_COL = "_source_file"  # added by the reader: the landing object a record came from
INGESTED_FROM_COL = "_ingested_from"  # kept in the output: the delivery that won deduplication
PARTITION_COL = "dt"
DEFAULT_PARAMS: dict[str, Any] = {"key": "event_id", "time": "event_time"}

_AVRO_PRIMITIVES = {
    "null": "void",
    "boolean": "boolean",
    "int": "int",
    "long": "bigint",
    "float": "float",
    "double": "double",
    "bytes": "binary",
    "string": "string",
}
_AVRO_LOGICAL = {
    "timestamp-millis": "timestamp",
    "timestamp-micros": "timestamp",
    "local-timestamp-millis": "timestamp_ntz",
    "local-timestamp-micros": "timestamp_ntz",
    "date": "date",
    "uuid": "string",
}


def avro_to_spark_ddl(avro_type: Any) -> tuple[str | None, bool]:
    """Spark DDL type and nullability for an Avro type, as Spark's own Avro reader maps it.

    Returns (None, True) for unions of several non-null branches, which Spark reads as a struct of members;
    those columns are left as read rather than guessed.
    """
    if isinstance(avro_type, list):
        branches = [b for b in avro_type if b != "null"]
        nullable = len(branches) != len(avro_type)
        if len(branches) != 1:
            return None, True
        ddl, _ = avro_to_spark_ddl(branches[0])
        return ddl, nullable
    if isinstance(avro_type, str):
        if avro_type in _AVRO_PRIMITIVES:
            return _AVRO_PRIMITIVES[avro_type], avro_type == "null"
        raise ValueError(f"named Avro type {avro_type!r} must be given inline (use the schema's JSON form)")
    kind = avro_type["type"]
    logical = avro_type.get("logicalType")
    if logical == "decimal":
        return f"decimal({avro_type['precision']},{avro_type.get('scale', 0)})", False
    if logical in _AVRO_LOGICAL:
        return _AVRO_LOGICAL[logical], False
    if kind == "enum":
        return "string", False
    if kind == "fixed":
        return "binary", False
    if kind == "array":
        item, _ = avro_to_spark_ddl(avro_type["items"])
        return (None if item is None else f"array<{item}>"), False
    if kind == "map":
        value, _ = avro_to_spark_ddl(avro_type["values"])
        return (None if value is None else f"map<string,{value}>"), False
    if kind == "record":
        parts = []
        for field in avro_type["fields"]:
            ddl, _ = avro_to_spark_ddl(field["type"])
            if ddl is None:
                return None, False
            parts.append(f"`{field['name']}`:{ddl}")
        return f"struct<{','.join(parts)}>", False
    return avro_to_spark_ddl(kind)


def _as_utc_timestamp(col: Column, data_type: T.DataType) -> Column:
    """Event time as a UTC instant whatever the reader produced (epoch millis, string or timestamp)."""
    if isinstance(data_type, T.TimestampType):
        return col
    if isinstance(data_type, T.IntegralType):
        return F.timestamp_millis(col)
    if isinstance(data_type, T.StringType):
        return F.to_timestamp(col)
    return col.cast("timestamp")


def utc_day(ts: Column) -> Column:
    """UTC calendar day of an instant, independent of spark.sql.session.timeZone (a Glue job may differ)."""
    # Whole seconds are exact in a double, so floor(seconds / 86400) never rounds across midnight.
    return F.date_from_unix_date(F.floor(F.unix_seconds(ts) / F.lit(86_400)).cast("int"))


def _typed_columns(df: DataFrame, avro_schema: Mapping[str, Any] | None, time: str) -> list[Column]:
    """Columns cast to the schema's Spark types, so every partition's Parquet schema is the same.

    Without an Avro schema the reader's types are kept (Spark's Avro reader already follows the file's
    schema); with one, columns missing from older-version files are added with their default (or null).
    """
    types = {f.name: f.dataType for f in df.schema.fields}
    skip = {SOURCE_FILE_COL, PARTITION_COL, "_metadata"}
    if avro_schema is None:
        names = [n for n in df.columns if n not in skip]
        return [(_as_utc_timestamp(F.col(n), types[n]) if n == time else F.col(n)).alias(n) for n in names]
    cols = []
    for field in avro_schema["fields"]:
        name = field["name"]
        ddl, _ = avro_to_spark_ddl(field["type"])
        if name == time:
            source = _as_utc_timestamp(F.col(name), types[name]) if name in types else F.lit(None)
            cols.append(source.cast("timestamp").alias(name))
        elif name in types:
            cols.append((F.col(name) if ddl is None else F.col(name).cast(ddl)).alias(name))
        elif ddl is not None:
            default = field.get("default")
            literal = F.lit(default if isinstance(default, str | int | float | bool) else None)
            cols.append(literal.cast(ddl).alias(name))
        else:
            raise ValueError(f"column {name!r} is missing and its Avro type has no single Spark type")
    return cols


def _has_map(data_type: T.DataType) -> bool:
    """Spark refuses to hash maps; such columns are left out of the tie-break hash."""
    if isinstance(data_type, T.MapType):
        return True
    if isinstance(data_type, T.ArrayType):
        return _has_map(data_type.elementType)
    if isinstance(data_type, T.StructType):
        return any(_has_map(f.dataType) for f in data_type.fields)
    return False


def clean_events(
    spark: SparkSession, inputs: dict[str, DataFrame], params: Mapping[str, Any] | None = None
) -> DataFrame:
    """Raw events -> typed events, one row per event id, with ``dt`` and ``_ingested_from``.

    inputs: ``raw``, the raw Avro records plus ``_source_file`` (the landing object name; names are time
    ordered). params: ``key`` (default ``event_id``), ``time`` (default ``event_time``) and optionally
    ``avro_schema`` (the registry's schema, dict or JSON text) to cast to its types and fill columns that
    older-version files lack.

    Deduplication keeps the earliest delivery (smallest ``_source_file``), then the earliest event time, then
    a hash of the whole row, so a re-run picks the same row. ``dt`` is the UTC day of the event time, so a
    late event lands in its own day, not the day it arrived. Rows without key or time cannot be placed and
    are dropped; the raw layer's schema check guarantees both. Output columns: the schema's fields in
    schema order, ``_ingested_from``, ``dt`` (last, the partition column).
    """
    p = {**DEFAULT_PARAMS, **(params or {})}
    key, time = p["key"], p["time"]
    avro_schema = p.get("avro_schema")
    if isinstance(avro_schema, str):
        avro_schema = json.loads(avro_schema)
    raw = inputs["raw"]
    missing = [c for c in (key, time, SOURCE_FILE_COL) if c not in raw.columns]
    if missing:
        raise ValueError(f"clean_events: input 'raw' lacks column(s) {missing}")

    typed = raw.select(*_typed_columns(raw, avro_schema, time), F.col(SOURCE_FILE_COL).cast("string"))
    payload = [c for c in typed.columns if c != SOURCE_FILE_COL]
    hashable = [f.name for f in typed.schema.fields if f.name in payload and not _has_map(f.dataType)]
    order = Window.partitionBy(key).orderBy(
        F.col(SOURCE_FILE_COL).asc_nulls_last(),
        F.col(time).asc(),
        F.xxhash64(*hashable).asc(),
    )
    return (
        typed.where(F.col(key).isNotNull() & F.col(time).isNotNull())
        .withColumn("_rank", F.row_number().over(order))
        .where(F.col("_rank") == 1)
        .select(
            *payload,
            F.col(SOURCE_FILE_COL).alias(INGESTED_FROM_COL),
            utc_day(F.col(time)).alias(PARTITION_COL),
        )
    )


def column_contract(df: DataFrame) -> list[tuple[str, str, bool]]:
    """(name, Spark type, nullable) per column: the table schema to publish as asset metadata or catalog."""
    return [(f.name, f.dataType.simpleString(), f.nullable) for f in df.schema.fields]
