"""Table and column descriptions and owners from the policy, where people read them: the catalog and Dagster.

The catalog keeps them in the Iceberg table itself (table properties ``Description`` and ``comment``,
``owner``; column docs), so Spark, pyiceberg and DuckDB see them locally, and on AWS pyiceberg's Glue catalog
writes them as the Glue table's Description and its columns' Comments, which Athena shows. Dagster shows the
same words: the assets' owners and descriptions come from the policy (``asset_words``), and the column
descriptions ride in each materialization's column schema, read back from the table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import dagster as dg

from lake_assets.access.policy import Policy, TableInfo
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.inspect import list_tables

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def dagster_owner(owner: str) -> str:
    """An e-mail stays one; any other owner is a team (``team:analytics``), as Dagster wants them."""
    return owner if _EMAIL.fullmatch(owner) or owner.startswith("team:") else f"team:{owner}"


def describe_tables(
    policy: Policy, catalog: CatalogConfig, specs: Mapping[str, str] | None = None
) -> list[str]:
    """Write the policy's words into every table of the catalog it describes, and for the other tables the
    description their own spec gives (``specs``: table -> description, e.g. the assets' descriptions); returns
    one line per table changed (nothing when the catalog already says the same: safe on every deploy)."""
    existing = {e.identifier for e in list_tables(catalog)}
    words = {n: TableInfo(n, None, d, {}) for n, d in (specs or {}).items() if d} | dict(policy.tables)
    described = [info for name, info in sorted(words.items()) if name in existing]
    if not described:
        return []
    cat = catalog.pyiceberg()
    changed = []
    for info in described:
        table = cat.load_table(info.name)
        properties = {}
        if info.description and table.properties.get("Description") != info.description:
            properties |= {"Description": info.description, "comment": info.description}
        if info.owner and table.properties.get("owner") != info.owner:
            properties["owner"] = info.owner
        fields = {f.name: f for f in table.schema().fields}
        docs = {c: d for c, d in info.columns.items() if c in fields and fields[c].doc != d}
        if not properties and not docs:
            continue
        with table.transaction() as tx:
            if properties:
                tx.set_properties(**properties)
            if docs:
                with tx.update_schema() as schema:
                    for column, doc in docs.items():
                        schema.update_column(column, doc=doc)
        what = [
            *(["description"] if "Description" in properties else []),
            *(["owner"] if "owner" in properties else []),
        ]
        what += [f"{len(docs)} column description(s)"] if docs else []
        changed.append(f"{info.name}: {', '.join(what)}")
    return changed


def asset_words(assets: Iterable[dg.AssetsDefinition], policy: Policy) -> Sequence[dg.AssetsDefinition]:
    """The assets whose table the policy describes, with its owner and its description ahead of theirs."""

    def words(spec: dg.AssetSpec) -> dg.AssetSpec:
        info: TableInfo | None = policy.tables.get(str(spec.metadata.get("dagster/table_name", "")))
        if info is None:
            return spec
        description = "\n\n".join(d for d in (info.description, spec.description) if d)
        owners = [dagster_owner(info.owner)] if info.owner else list(spec.owners)
        return spec.replace_attributes(description=description or None, owners=owners)

    return dg.map_asset_specs(words, assets)  # type: ignore[return-value]
