"""Table upkeep through the catalog: dropping tables to rebuild them from raw. No Dagster import."""

from __future__ import annotations

from lake_assets.tables.catalog import CatalogConfig, CatalogError
from lake_assets.tables.inspect import list_tables


def drop_tables(catalog: CatalogConfig, identifiers: list[str]) -> list[str]:
    """Drop the tables and delete their files (purge); raw is untouched, so they can be rebuilt from it.

    Every name is checked first: an unknown one drops nothing.
    """
    known = {entry.identifier for entry in list_tables(catalog)}
    unknown = [name for name in identifiers if name not in known]
    if unknown:
        tables = ", ".join(sorted(known)) or "none"
        raise CatalogError(f"no table {', '.join(unknown)} in {catalog.describe()}; tables: {tables}")
    cat = catalog.pyiceberg()
    for name in identifiers:
        cat.purge_table(name)
    return identifiers
