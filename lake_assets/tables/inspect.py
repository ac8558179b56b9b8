"""What the catalog holds, read with pyiceberg (independent of Spark): ``lake catalog`` and ``lake query``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lake_assets.tables.catalog import CatalogConfig, CatalogError
from lake_assets.tables.specs import DATABASES


@dataclass(frozen=True)
class TableEntry:
    identifier: str  # <database>.<table>
    metadata_location: str


def catalog_exists(catalog: CatalogConfig) -> bool:
    """False for a local lake that has committed no table yet (no catalog file): nothing to read, no error."""
    return catalog.kind != "sqlite" or catalog.sqlite_path.is_file()


def list_tables(catalog: CatalogConfig) -> list[TableEntry]:
    if not catalog_exists(catalog):
        return []
    cat = catalog.pyiceberg()
    out = []
    try:
        namespaces = {ns[0] for ns in cat.list_namespaces()}
        for database in DATABASES:
            if database not in namespaces:
                continue
            for ident in sorted(cat.list_tables(database)):
                table = cat.load_table(ident)
                out.append(TableEntry(f"{ident[0]}.{ident[1]}", table.metadata_location))
    except CatalogError:
        raise
    except Exception as exc:  # a broken catalog row or a missing metadata file: name it, no stack trace
        raise CatalogError(f"{catalog.describe()}: cannot list its tables: {exc}") from None
    return out


def _load(catalog: CatalogConfig, identifier: str):  # noqa: ANN202 - a pyiceberg Table
    if not catalog_exists(catalog):
        raise CatalogError(f"{catalog.describe()} does not exist yet: materialize a table first")
    try:
        return catalog.pyiceberg().load_table(identifier)
    except CatalogError:
        raise
    except Exception as exc:
        names = ", ".join(t.identifier for t in list_tables(catalog)) or "none yet"
        raise CatalogError(
            f"no table {identifier!r} in {catalog.describe()} ({exc}); tables: {names}"
        ) from None


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def describe_table(catalog: CatalogConfig, identifier: str) -> str:
    """Schema, partition spec, sort order, current snapshot, files and size: ``lake catalog show``."""
    table = _load(catalog, identifier)
    schema = table.schema()
    lines = [
        f"table      {identifier}",
        f"location   {table.location()}",
        f"format     v{table.format_version}",
    ]
    lines.append("columns")
    for field in schema.fields:
        lines.append(f"  {field.name:<28} {field.field_type!s:<20} {'required' if field.required else ''}")
    spec = table.spec()
    parts = [f"{f.transform}({schema.find_column_name(f.source_id)})" for f in spec.fields]
    lines.append(f"partition  {', '.join(parts) or 'unpartitioned'}")
    order = table.sort_order()
    sorts = [f"{schema.find_column_name(f.source_id)} {f.direction.name}" for f in order.fields]
    lines.append(f"sort order {', '.join(sorts) or 'none'}")
    snapshot = table.current_snapshot()
    if snapshot is None:
        lines.append("snapshot   none (no data committed yet)")
        return "\n".join(lines)
    summary = snapshot.summary.additional_properties if snapshot.summary else {}
    lines.append(f"snapshot   {snapshot.snapshot_id} at {_when(snapshot.timestamp_ms)}")
    lines.append(
        f"data       {summary.get('total-records', '?')} rows in "
        f"{summary.get('total-data-files', '?')} files, {int(summary.get('total-files-size', 0)):,} bytes; "
        f"{summary.get('total-delete-files', '0')} delete files"
    )
    lines.append(f"branches   {', '.join(sorted(table.metadata.refs)) or 'main'}")
    return "\n".join(lines)


STAGED = "  (never main's: staged, or a branch's base)"


def table_history(catalog: CatalogConfig, identifier: str) -> str:
    """Every snapshot, oldest first, with its operation and row counts: ``lake catalog history``."""
    table = _load(catalog, identifier)
    on_main = {entry.snapshot_id for entry in table.history()}  # each snapshot main pointed to
    lines = [
        f"{'snapshot':<20} {'committed (UTC)':<19} {'operation':<10} {'added':>9} {'deleted':>9} {'rows':>10}"
    ]
    for snap in sorted(table.snapshots(), key=lambda s: s.timestamp_ms):
        props = snap.summary.additional_properties if snap.summary else {}
        operation = snap.summary.operation.value if snap.summary else "?"
        lines.append(
            f"{snap.snapshot_id:<20} {_when(snap.timestamp_ms):<19} {operation:<10} "
            f"{props.get('added-records', '0'):>9} {props.get('deleted-records', '0'):>9} "
            f"{props.get('total-records', '?'):>10}{'' if snap.snapshot_id in on_main else STAGED}"
        )
    return "\n".join(lines)


def resolve_as_of(catalog: CatalogConfig, entries: list[TableEntry], as_of: str) -> dict[str, int | None]:
    """Which snapshot each table is read at for ``--as-of``; tables left out are read at their current one.

    A snapshot id pins the table that has it; a timestamp pins every table to its last snapshot at that time
    (None: the table had none then, so it is left out of the query).
    """
    tables = {entry.identifier: _load(catalog, entry.identifier) for entry in entries}
    if as_of.isdigit():
        snapshot_id = int(as_of)
        pinned = {
            name: snapshot_id for name, t in tables.items() if t.snapshot_by_id(snapshot_id) is not None
        }
        if not pinned:
            raise CatalogError(
                f"--as-of {as_of}: no table has this snapshot (see lake catalog history TABLE)"
            )
        return pinned
    try:
        when = dt.datetime.fromisoformat(as_of)
    except ValueError:
        raise CatalogError(
            f"--as-of {as_of!r}: give a snapshot id (lake catalog history TABLE) or a time like "
            "2026-11-30T08:00:00 (UTC unless it has an offset)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    ms = int(when.timestamp() * 1000)
    out: dict[str, int | None] = {}
    for name, table in tables.items():
        found = table.snapshot_as_of_timestamp(ms)
        out[name] = found.snapshot_id if found is not None else None
    return out
