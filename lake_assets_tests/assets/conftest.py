"""The real PostgreSQL fixtures of the CDC source tests, shared with the CDC asset tests (not copied)."""

from lake_assets_tests.sources.cdc.conftest import pg, pg_url  # noqa: F401
