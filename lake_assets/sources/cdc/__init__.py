"""Change data capture from relational databases into the AWS DMS S3-target landing layout.

``dms_format`` writes and reads that layout (CSV and Parquet); ``postgres`` captures from PostgreSQL through a
logical replication slot. Nothing here imports Dagster or Spark: the raw and intermediate assets build on it.
"""
