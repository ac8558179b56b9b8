"""Reading raw Avro and intermediate tables for the Spark assets (glue between storage and transforms)."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import fastavro
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lake_assets.registry import SchemaRegistry
from lake_assets.storage import ObjectStore, Zone, partition_prefix
from lake_assets.tables.iceberg import qualified, table_exists
from lake_assets.tables.specs import table_spec
from lake_assets.transforms.events import clean_events
from lake_assets.transforms.spark_session import AVRO_FORMAT


def clean_params(registry: SchemaRegistry, subject: str) -> dict[str, object]:
    """Parameters of ``clean_events`` for one subject: cast to the latest registered schema."""
    return {"key": "event_id", "time": "event_time", "avro_schema": registry.latest(subject).schema}


@contextlib.contextmanager
def _partition_folders(
    store: ObjectStore, zone: Zone, subject: str, days: Sequence[str], suffix: str
) -> Iterator[dict[str, str]]:
    """Day -> local folder for the days that have files (downloaded first when the lake is on S3)."""
    with contextlib.ExitStack() as stack:
        folders = {}
        for day in days:
            folder = stack.enter_context(store.local_copy(partition_prefix(zone, "events", subject, day)))
            if folder.is_dir() and any(p.suffix == suffix for p in folder.iterdir()):
                folders[day] = str(folder)
        yield folders


def _read_avro(spark: SparkSession, registry: SchemaRegistry, subject: str, paths: list[str]) -> DataFrame:
    # Read with the latest registered schema: files of older compatible versions resolve into it.
    schema_json = json.dumps(registry.latest(subject).schema)
    df = spark.read.format(AVRO_FORMAT).option("avroSchema", schema_json).load(paths)
    return df.withColumn("_source_file", F.col("_metadata.file_name"))


def _raw_schema(spark: SparkSession, registry: SchemaRegistry, subject: str) -> StructType:
    """Raw's Spark schema without any data: a header-only Avro file of the registered schema, read."""
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.avro"
        with open(empty, "wb") as out:
            fastavro.writer(out, registry.latest(subject).parsed, [])
        return _read_avro(spark, registry, subject, [str(empty)]).schema


@contextlib.contextmanager
def read_raw_events(
    spark: SparkSession, store: ObjectStore, registry: SchemaRegistry, subject: str, days: Sequence[str]
) -> Iterator[DataFrame]:
    """Raw Avro of the given days plus ``_source_file``; an empty frame of the right schema when none."""
    with _partition_folders(store, Zone.RAW, subject, days, ".avro") as folders:
        paths = list(folders.values())
        if not paths:
            yield spark.createDataFrame([], _raw_schema(spark, registry, subject))
            return
        yield _read_avro(spark, registry, subject, paths)


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
    empty_raw = spark.createDataFrame([], _raw_schema(spark, registry, subject))
    return clean_events(spark, {"raw": empty_raw}, clean_params(registry, subject))
