"""Table specs, the catalog, Iceberg writes; no Dagster import (a Glue job commits through it)."""
