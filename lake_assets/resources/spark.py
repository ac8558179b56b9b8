"""Spark as a Dagster resource: one local session per process, shared by every step of a run."""

from __future__ import annotations

import dagster as dg
from pyspark.sql import SparkSession

from lake_assets.resources.glue import GlueResource
from lake_assets.settings import SparkSettings
from lake_assets.tables.catalog import CatalogConfig, catalog_session
from lake_assets.transforms.spark_session import build_spark_session


class SparkResource(dg.ConfigurableResource):
    master: str = SparkSettings.master
    shuffle_partitions: int = SparkSettings.shuffle_partitions
    driver_memory: str = SparkSettings.driver_memory
    s3: bool = SparkSettings.s3
    merge_workers: int = SparkSettings.merge_workers
    engine: str = SparkSettings.engine  # local, or glue: the layers that support it run as Glue job runs
    glue: GlueResource | None = None  # how to run them on Glue (engine glue)

    @classmethod
    def from_settings(cls, settings: SparkSettings, glue: GlueResource | None = None) -> SparkResource:
        return cls(
            master=settings.master,
            shuffle_partitions=settings.shuffle_partitions,
            driver_memory=settings.driver_memory,
            s3=settings.s3,
            merge_workers=settings.merge_workers,
            engine=settings.engine,
            glue=glue,
        )

    def on_glue(self) -> GlueResource:
        if self.glue is None:
            raise dg.Failure(
                description="LAKE_SPARK_ENGINE=glue, but no Glue job is configured (LAKE_GLUE_JOB)"
            )
        return self.glue

    def session(self) -> SparkSession:
        # getOrCreate: the in-process executor runs all steps in one process, so they share this session.
        return build_spark_session(self.master, self.shuffle_partitions, self.driver_memory, s3=self.s3)

    def lake_session(self, catalog: CatalogConfig) -> SparkSession:
        """The shared session with the lake's Iceberg catalog as ``lake``: use it for a whole step."""
        return catalog_session(self.session(), catalog)
