"""A Spark session sized for a small machine; no Dagster import, so a Glue job can use the transforms too."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

AVRO_FORMAT = "org.apache.spark.sql.avro.AvroFileFormat"  # in Spark 4's spark-sql jar; no extra package


def build_spark_session(
    master: str = "local[2]",
    shuffle_partitions: int = 4,
    driver_memory: str = "1g",
    app_name: str = "lake_assets",
) -> SparkSession:
    """Local Spark tuned for two cores: few shuffle partitions, adaptive execution, no UI, UTC everywhere."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        # C1 JIT only: short local jobs start 2-3 s sooner (long Glue/EMR jobs would want the full JIT).
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC -XX:TieredStopAtLevel=1")
        # Raw partitions are many small Avro files (one per landing object): pack them into few scan tasks.
        .config("spark.sql.files.openCostInBytes", str(64 * 1024))
        # INT96 timestamps are deprecated; other Parquet readers expect INT64 micros.
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.parquet.compression.codec", "snappy")
        .config("spark.sql.avro.compression.codec", "deflate")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
