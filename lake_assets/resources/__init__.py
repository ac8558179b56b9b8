"""Dagster resources: the lake (object store + registry) and Spark."""
