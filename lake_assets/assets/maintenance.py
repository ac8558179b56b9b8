"""Iceberg upkeep as a Dagster job on a schedule: every table in the catalog, one Spark session."""

import dataclasses

import dagster as dg

from lake_assets.resources.lake import LakeResource
from lake_assets.resources.spark import SparkResource
from lake_assets.tables.inspect import list_tables
from lake_assets.tables.maintenance import maintain_table


class MaintenanceConfig(dg.Config):
    keep_snapshots_days: float = 7.0  # how far back time travel (`lake query --as-of`) reaches
    keep_last: int = 10
    orphan_age_hours: float = 24.0  # Iceberg refuses less: a younger file may belong to a commit in flight


@dg.op(description="Compact, fold deletes, expire snapshots and remove orphan files of every Iceberg table.")
def maintain_iceberg_tables(
    context: dg.OpExecutionContext, config: MaintenanceConfig, lake: LakeResource, spark: SparkResource
) -> dg.Output[int]:
    session = spark.lake_session(lake.catalog)
    tables = list_tables(lake.catalog)
    for entry in tables:
        done = maintain_table(
            session,
            entry.identifier,
            keep_snapshots_days=config.keep_snapshots_days,
            keep_last=config.keep_last,
            orphan_age_hours=config.orphan_age_hours,
        )
        context.log.info(f"{entry.identifier}: {dataclasses.asdict(done)}")
    return dg.Output(len(tables), metadata={"tables": len(tables)})


@dg.job(description="Iceberg's maintenance procedures over every table of the catalog.")
def iceberg_maintenance() -> None:
    maintain_iceberg_tables()


iceberg_maintenance_schedule = dg.ScheduleDefinition(
    job=iceberg_maintenance,
    cron_schedule="0 4 * * *",  # a quiet hour, before the working day
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
