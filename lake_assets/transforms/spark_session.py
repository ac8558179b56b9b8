"""A Spark session sized for a small machine; no Dagster import, so a Glue job can use the transforms too."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

AVRO_FORMAT = "org.apache.spark.sql.avro.AvroFileFormat"  # in Spark 4's spark-sql jar; no extra package

# The jars Spark fetches from Maven Central on first use (spark.jars.packages, cached under ~/.ivy2.5.2):
# Iceberg as on AWS Glue 6.0 (Spark 4.1, Scala 2.13, Iceberg 1.11.0) and the local SQL catalog's JDBC drivers.
ICEBERG_VERSION = "1.11.0"
SPARK_PACKAGES = (
    f"org.apache.iceberg:iceberg-spark-runtime-4.1_2.13:{ICEBERG_VERSION}",
    "org.xerial:sqlite-jdbc:3.54.1.0",
    "org.postgresql:postgresql:42.7.14",
)
# Only for a lake on S3 (LAKE_ENV=s3 or aws): Iceberg's S3FileIO with the AWS SDK it bundles (61 MB), and
# Spark's S3A connector so Spark reads raw Avro where it lies: hadoop-aws of the Hadoop inside pyspark
# (3.4.2), with the SDK modules it needs beyond Iceberg's bundle at the bundle's SDK version (about 16 MB).
# hadoop-aws would pull the whole AWS SDK bundle (640 MB); S3_EXCLUDES leaves it out.
HADOOP_VERSION = "3.4.2"
AWS_SDK_VERSION = "2.44.4"  # the SDK inside iceberg-aws-bundle 1.11.0
S3_PACKAGES = (
    f"org.apache.iceberg:iceberg-aws-bundle:{ICEBERG_VERSION}",
    f"org.apache.hadoop:hadoop-aws:{HADOOP_VERSION}",
    f"software.amazon.awssdk:s3-transfer-manager:{AWS_SDK_VERSION}",
)
S3_EXCLUDES = ("software.amazon.awssdk:bundle",)


def build_spark_session(
    master: str = "local[2]",
    shuffle_partitions: int = 4,
    driver_memory: str = "1g",
    app_name: str = "lake_assets",
    s3: bool = False,
) -> SparkSession:
    """Local Spark tuned for two cores: few shuffle partitions, adaptive execution, no UI, UTC everywhere.

    ``s3``: also load Iceberg's S3 support, with the AWS SDK computing request checksums only where S3
    requires them (S3 API servers other than AWS may store the newer default checksum framing as data).
    """
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    packages = SPARK_PACKAGES + (S3_PACKAGES if s3 else ())
    # C1 only (TieredStopAtLevel=1) reserves a 48 MB code cache, which a long session (a test run, a
    # backfill) fills; the JVM then stops compiling and slows down. 256 MB keeps it compiling.
    java_options = "-Duser.timezone=UTC -XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m"
    if s3:
        java_options += (
            " -Daws.requestChecksumCalculation=when_required -Daws.responseChecksumValidation=when_required"
        )
    builder = SparkSession.builder
    if s3:
        builder = builder.config("spark.jars.excludes", ",".join(S3_EXCLUDES))
    return (
        builder.master(master)
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
        .config("spark.driver.extraJavaOptions", java_options)
        # Raw partitions are many small Avro files (one per landing object): pack them into few scan tasks.
        .config("spark.sql.files.openCostInBytes", str(64 * 1024))
        # INT96 timestamps are deprecated; other Parquet readers expect INT64 micros.
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.parquet.compression.codec", "snappy")
        .config("spark.sql.avro.compression.codec", "deflate")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.jars.packages", ",".join(packages))
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .getOrCreate()
    )


if __name__ == "__main__":
    # `make install` runs this once: Spark resolves SPARK_PACKAGES into its Ivy cache, so no test or run
    # downloads them later (and two JVMs never resolve into an empty cache at the same time).
    session = build_spark_session(app_name="fetch_packages", s3=True)
    session.stop()
    print(f"spark {session.version}: packages ready: {', '.join(SPARK_PACKAGES + S3_PACKAGES)}")
