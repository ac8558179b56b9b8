"""Pure PySpark transforms raw -> intermediate -> final; no Dagster, no storage: a Glue job can run them.

Each transform is ``fn(spark, inputs: dict[str, DataFrame], params) -> DataFrame``.
"""

from lake_assets.transforms.events import avro_to_spark_ddl, clean_events, column_contract, utc_day
from lake_assets.transforms.shop import daily_funnel, daily_product_sales, order_lines
from lake_assets.transforms.spark_session import AVRO_FORMAT, build_spark_session

__all__ = [
    "AVRO_FORMAT",
    "avro_to_spark_ddl",
    "build_spark_session",
    "clean_events",
    "column_contract",
    "daily_funnel",
    "daily_product_sales",
    "order_lines",
    "utc_day",
]
