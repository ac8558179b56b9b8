"""Reading and publishing partitioned tables for the Spark assets (glue between storage and transforms)."""

from __future__ import annotations

import contextlib
import functools
import json
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import dagster as dg
import fastavro
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lake_assets.registry import SchemaRegistry
from lake_assets.storage import ObjectStore, Zone, partition_prefix
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


@contextlib.contextmanager
def read_raw_events(
    spark: SparkSession, store: ObjectStore, registry: SchemaRegistry, subject: str, days: Sequence[str]
) -> Iterator[DataFrame]:
    """Raw Avro of the given days plus ``_source_file``; an empty frame of the right schema when none."""
    with (
        _partition_folders(store, Zone.RAW, subject, days, ".avro") as folders,
        tempfile.TemporaryDirectory() as tmp,
    ):
        paths = list(folders.values())
        if not paths:
            # A header-only Avro file gives Spark the registered schema without any data.
            empty = Path(tmp) / "empty.avro"
            with open(empty, "wb") as out:
                fastavro.writer(out, registry.latest(subject).parsed, [])
            paths = [str(empty)]
        # Read with the latest registered schema: files of older compatible versions resolve into it.
        schema_json = json.dumps(registry.latest(subject).schema)
        df = spark.read.format(AVRO_FORMAT).option("avroSchema", schema_json).load(paths)
        yield df.withColumn("_source_file", F.col("_metadata.file_name"))


@contextlib.contextmanager
def read_intermediate_events(
    spark: SparkSession, store: ObjectStore, registry: SchemaRegistry, subject: str, days: Sequence[str]
) -> Iterator[DataFrame]:
    """Intermediate Parquet of the given days; an empty frame of the right schema when none."""
    with _partition_folders(store, Zone.INTERMEDIATE, subject, days, ".parquet") as folders:
        if folders:
            # The folder name is not trusted to carry dt (S3 copies land in temporary folders).
            frames = [
                spark.read.parquet(path).withColumn("dt", F.lit(day).cast("date"))
                for day, path in folders.items()
            ]
            yield functools.reduce(DataFrame.unionByName, frames)
            return
        with read_raw_events(spark, store, registry, subject, []) as empty_raw:
            yield clean_events(spark, {"raw": empty_raw.limit(0)}, clean_params(registry, subject))


def write_by_day(spark: SparkSession, df: DataFrame, folder: Path) -> DataFrame:
    """Write Parquet partitioned by ``dt`` and read it back (what readers will see) for the checks."""
    df.write.mode("overwrite").partitionBy("dt").parquet(str(folder))
    if not any(folder.glob("dt=*/*.parquet")):
        return spark.createDataFrame([], df.schema)  # nothing written: Spark cannot infer an empty schema
    return spark.read.parquet(str(folder))


def publish_by_day(
    store: ObjectStore, written: Path, zone: Zone, source: str, table: str, days: Sequence[str]
) -> None:
    """Publish each ``dt=`` folder Spark wrote; a day with no rows is published empty (clears stale files)."""
    for day in days:
        folder = written / f"dt={day}"
        if not folder.is_dir():
            folder.mkdir(parents=True)
        store.publish_dir(folder, partition_prefix(zone, source, table, day))


def table_schema(df: DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(f.name, f.dataType.simpleString()) for f in df.schema.fields]
    )
