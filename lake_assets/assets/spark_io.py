"""Reading raw Avro and intermediate tables for the Spark assets (glue between storage and transforms)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fastavro
from pyspark.sql import Column, DataFrame, DataFrameReader, SparkSession
from pyspark.sql import functions as F

from lake_assets.registry import SchemaRegistry
from lake_assets.storage import ObjectStore, Zone, partition_prefix
from lake_assets.tables.iceberg import qualified, table_exists
from lake_assets.tables.specs import table_spec
from lake_assets.transforms.events import SOURCE_FILE_COL, clean_events
from lake_assets.transforms.spark_session import AVRO_FORMAT


def clean_params(registry: SchemaRegistry, subject: str) -> dict[str, object]:
    """Parameters of ``clean_events`` for one subject: cast to the latest registered schema."""
    return {"key": "event_id", "time": "event_time", "avro_schema": registry.latest(subject).schema}


def read_raw_avro(
    spark: SparkSession, store: ObjectStore, prefixes: Sequence[str], schema: dict[str, Any]
) -> DataFrame:
    """The raw Avro files under ``prefixes`` (day folders), read where they are (S3 through s3a), with
    ``_source_file``; an empty frame of the same columns when there are none.

    Read with ``schema`` (the latest registered version): files of older compatible versions resolve into it.
    """
    paths = [uri for prefix in prefixes for uri in store.spark_uris(prefix, ".avro")]
    if not paths:
        return empty_raw_avro(spark, schema)
    return avro_reader(spark, schema).load(paths).withColumn(SOURCE_FILE_COL, F.col("_metadata.file_name"))


def avro_reader(spark: SparkSession, schema: dict[str, Any]) -> DataFrameReader:
    """Avro read with ``schema`` as the reader's: files of older compatible versions resolve into it."""
    return spark.read.format(AVRO_FORMAT).option("avroSchema", json.dumps(schema))


def empty_raw_avro(spark: SparkSession, schema: dict[str, Any]) -> DataFrame:
    """No rows, the columns ``read_raw_avro`` gives: a header-only file of the schema, read."""
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.avro"
        with open(empty, "wb") as out:
            fastavro.writer(out, fastavro.parse_schema(schema), [])
        columns = avro_reader(spark, schema).load(str(empty)).withColumn(SOURCE_FILE_COL, F.lit("")).schema
    return spark.createDataFrame([], columns)


def read_raw_events(
    spark: SparkSession, store: ObjectStore, registry: SchemaRegistry, subject: str, days: Sequence[str]
) -> DataFrame:
    """Raw Avro of the given days of one event type."""
    prefixes = [partition_prefix(Zone.RAW, "events", subject, day) for day in days]
    return read_raw_avro(spark, store, prefixes, registry.latest(subject).schema)


def days_filter(days: Sequence[str]) -> Column:
    """The rows of the given days: what a daily materialization replaces (days left empty included)."""
    return F.col("dt").isin([F.lit(d).cast("date") for d in days]) if days else F.lit(False)


def read_intermediate_events(
    spark: SparkSession, registry: SchemaRegistry, subject: str, days: Sequence[str]
) -> DataFrame:
    """The days of ``intermediate.events_<subject>``; an empty typed frame before its first commit."""
    spec = table_spec("intermediate", f"events_{subject}")
    if table_exists(spark, spec):
        return spark.table(qualified(spec)).where(days_filter(days))
    empty_raw = empty_raw_avro(spark, registry.latest(subject).schema)
    return clean_events(spark, {"raw": empty_raw}, clean_params(registry, subject))
