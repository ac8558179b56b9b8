"""Deployment artifacts for AWS (the intake Lambda's zip); no Dagster import, so infra code can use it."""
