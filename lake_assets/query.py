"""Embedded SQL over the lake (DuckDB), and the per-layer summary the demo prints.

Every Iceberg table in the catalog is read through DuckDB's Iceberg extension (``iceberg_scan`` of its current
metadata, or of an older snapshot with ``--as-of``) under the name Athena gives it, ``<database>.<table>``
(also ``<database>_<table>``); raw's Avro folders are ``raw.<kind>_<name>`` (``raw.events_page_view``,
``raw.cdc_shop_customers``) with their ``dt`` partition column. The CDC tables (``intermediate/cdc/``)
become ``intermediate_cdc_<source>_<table>`` and ``..._history`` views that apply the pending versions to
the compacted buckets: the read rule of ``transforms.cdc.snapshot_current`` / ``snapshot_history`` in SQL
(the same SQL works as an Athena view over the Glue tables).
"""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path

import duckdb
import duckdb_extension_avro
import duckdb_extension_httpfs
import duckdb_extension_iceberg
import fastavro

from lake_assets.access.enforce import restricted_connection
from lake_assets.access.policy import AccessDenied, Policy
from lake_assets.storage import ObjectStore, StorageError, Zone, parse_partition, zone_prefix
from lake_assets.tables.catalog import CatalogConfig, CatalogError
from lake_assets.tables.inspect import TableEntry, list_tables, resolve_as_of

CDC = "cdc"


def parquet_tables(store: ObjectStore, iceberg: set[str] = frozenset()) -> dict[str, tuple[str, bool]]:
    """View name -> (table prefix, partitioned by ``dt=``) for every Parquet folder not in the catalog.

    ``iceberg``: the ``<zone>/<table>`` folders of catalog tables, whose files are read through the catalog.
    Folders of a layout the catalog replaced (``intermediate/cdc/``, the pre-Iceberg CDC buckets; the
    ``<zone>/<source>/<table>/dt=`` Parquet of a table now in the catalog) are not read.
    """
    tables: dict[str, tuple[str, bool]] = {}
    shadowed = {prefix.replace("/", "_") for prefix in iceberg}
    for zone in (Zone.INTERMEDIATE, Zone.FINAL):
        for key in store.list_keys(zone_prefix(zone)):
            parts = key.split("/")
            if "/".join(parts[:2]) in iceberg or (zone is Zone.INTERMEDIATE and parts[1] == CDC):
                continue
            if len(parts) >= 4 and key.endswith(".parquet"):
                partitioned = len(parts) >= 5 and parts[3].startswith("dt=")
                name = f"{parts[0]}_{parts[1]}_{parts[2]}"
                if name not in shadowed:
                    tables[name] = ("/".join(parts[:3]), partitioned)
    return dict(sorted(tables.items()))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _extension(module: object, name: str) -> str:
    """An extension file shipped in its PyPI wheel (DuckDB cannot download extensions here)."""
    path = Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    return str(path).replace("'", "''")


def duckdb_with_iceberg() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the Iceberg extension loaded offline (it needs the Avro one first)."""
    con = duckdb.connect()
    con.execute(f"LOAD '{_extension(duckdb_extension_avro, 'avro')}'")
    con.execute(f"LOAD '{_extension(duckdb_extension_iceberg, 'iceberg')}'")
    return con


def iceberg_scan_sql(entry: TableEntry, snapshot_id: int | None = None) -> str:
    location = entry.metadata_location.removeprefix("file://").replace("'", "''")
    at = f", snapshot_from_id = {snapshot_id}" if snapshot_id is not None else ""
    return f"SELECT * FROM iceberg_scan('{location}'{at})"


def _iceberg_views(
    con: duckdb.DuckDBPyConnection, catalog: CatalogConfig, as_of: str | None
) -> list[TableEntry]:
    entries = list_tables(catalog)
    pinned = resolve_as_of(catalog, entries, as_of) if as_of else {}
    shown = []
    for entry in entries:
        if entry.identifier in pinned and pinned[entry.identifier] is None:
            continue  # the table had no snapshot at that time
        database, name = entry.identifier.split(".")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(database)}")
        sql = iceberg_scan_sql(entry, pinned.get(entry.identifier))
        con.execute(f"CREATE VIEW {_ident(database)}.{_ident(name)} AS {sql}")
        con.execute(f"CREATE VIEW {_ident(database + '_' + name)} AS {sql}")
        shown.append(entry)
    return shown


def raw_tables(root: Path) -> dict[str, tuple[Path, bool]]:
    """``raw.<kind>_<name>`` -> (its folder, partitioned by ``dt=``) for every raw table with Avro files.

    raw stays Avro files (the architecture); these are its catalog names, as on Glue (an Avro table per raw
    folder, with the ``dt`` partitions).
    """
    out: dict[str, tuple[Path, bool]] = {}
    base = root / Zone.RAW.value
    folders = [*base.glob("*/*"), *base.glob(f"{CDC}/*/*")] if base.is_dir() else []
    for folder in sorted(folders):
        rel = folder.relative_to(base).parts
        if not folder.is_dir() or (rel[0] == CDC) != (len(rel) == 3) or folder.name.startswith(("dt=", "_")):
            continue
        partitioned = any(folder.glob("dt=*/*.avro"))
        if partitioned or any(folder.glob("*.avro")):
            out["_".join(rel)] = (folder, partitioned)
    return out


def _avro_groups(files: list[Path]) -> list[list[Path]]:
    """Files grouped by writer schema: DuckDB reads a multi-file Avro glob with the first file's columns
    only (a later version's new column would be dropped or fail), so each schema is read on its own."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in files:
        with open(path, "rb") as handle:
            header = fastavro.reader(handle).metadata.get("avro.schema", "")
        groups[header].append(path)
    return list(groups.values())


def _raw_views(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {Zone.RAW.value}")
    for name, (folder, partitioned) in raw_tables(root).items():
        files = sorted(folder.glob("dt=*/*.avro" if partitioned else "*.avro"))
        options = (
            "hive_partitioning = true, hive_types = {'dt': DATE}"
            if partitioned
            else "hive_partitioning = false"
        )
        parts = []
        for group in _avro_groups(files):
            listed = ", ".join("'" + str(p).replace("'", "''") + "'" for p in group)
            parts.append(f"SELECT * FROM read_avro([{listed}], {options})")
        sql = " UNION ALL BY NAME ".join(parts)
        con.execute(f"CREATE VIEW {Zone.RAW.value}.{_ident(name)} AS {sql}")
        con.execute(f"CREATE VIEW {_ident(Zone.RAW.value + '_' + name)} AS {sql}")


def _s3_access(con: duckdb.DuckDBPyConnection, catalog: CatalogConfig) -> None:
    """DuckDB's S3 reader (httpfs, from its wheel) with the credentials of the AWS chain and the endpoint."""
    con.execute(f"LOAD '{_extension(duckdb_extension_httpfs, 'httpfs')}'")
    credentials = catalog.s3_credentials()
    options = {"TYPE": "s3", "REGION": catalog.region}
    if credentials:
        options |= {"KEY_ID": credentials["s3.access-key-id"], "SECRET": credentials["s3.secret-access-key"]}
        if "s3.session-token" in credentials:
            options["SESSION_TOKEN"] = credentials["s3.session-token"]
    if catalog.s3_endpoint:
        scheme, _, host = catalog.s3_endpoint.partition("://")
        options |= {
            "ENDPOINT": host.rstrip("/"),
            "URL_STYLE": "path",
            "USE_SSL": str(scheme == "https").lower(),
        }
    body = ", ".join(
        f"{k} {v}" if k == "TYPE" or k == "USE_SSL" else f"{k} '{v}'" for k, v in options.items()
    )
    con.execute(f"CREATE SECRET lake_s3 ({body})")


def connect(
    store: ObjectStore,
    *,
    catalog: CatalogConfig | None = None,
    as_of: str | None = None,
) -> duckdb.DuckDBPyConnection:
    con = duckdb_with_iceberg()
    if store.uri().startswith("s3://"):
        # A lake on S3: the catalog's Iceberg tables, read from S3 by DuckDB (raw and the CDC Parquet
        # folders are read on local lakes only; on AWS, Athena reads every table of the Glue catalog).
        if catalog is None:
            raise StorageError("lake query on S3 reads the tables of the catalog: set LAKE_CATALOG_URI")
        _s3_access(con, catalog)
        try:
            _iceberg_views(con, catalog, as_of)
        except CatalogError as exc:
            raise StorageError(str(exc)) from None
        return con
    root = Path(store.uri())
    catalog = catalog or CatalogConfig.for_lake(str(root))
    try:
        entries = _iceberg_views(con, catalog, as_of)
    except CatalogError as exc:
        raise StorageError(str(exc)) from None
    iceberg = {"/".join(e.identifier.split(".")) for e in entries}
    _raw_views(con, root)
    for view, (prefix, partitioned) in parquet_tables(store, iceberg).items():
        if partitioned:
            glob = str(Path(store.uri(prefix)) / "*" / "*.parquet")
            options = "hive_partitioning = true, hive_types = {'dt': DATE}"
        else:
            glob = str(Path(store.uri(prefix)) / "*.parquet")
            options = "hive_partitioning = false"
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{glob}', {options})")
    return con


def table_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.sql(
        "SELECT CASE WHEN schema_name = 'main' THEN view_name ELSE schema_name || '.' || view_name END "
        "FROM duckdb_views() WHERE NOT internal ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def run_sql(
    store: ObjectStore,
    sql: str,
    *,
    catalog: CatalogConfig | None = None,
    as_of: str | None = None,
    principal: str | None = None,
    policy: Policy | None = None,
    tables: list[str] | None = None,
) -> str:
    """The printed result of ``sql``; as ``principal`` under ``policy`` when given (``access/enforce.py``:
    raises ``AccessDenied``). ``tables``, when given, receives the lake tables the query was given."""
    catalog = catalog or CatalogConfig.for_lake(store.uri())
    con = connect(store, catalog=catalog, as_of=as_of)
    target = con
    if principal is not None:
        if policy is None:
            raise AccessDenied(f"querying as {principal} needs an access policy")
        target, handed = restricted_connection(policy, principal, sql, con)
        con.close()
        if tables is not None:
            tables += handed
    try:
        relation = target.sql(sql)
    except duckdb.Error as exc:
        views = ", ".join(table_names(target)) or "none yet"
        absent = ""
        if as_of:
            pinned = resolve_as_of(catalog, list_tables(catalog), as_of)
            missing = [name for name, snapshot in pinned.items() if snapshot is None]
            absent = f"; not yet created at {as_of}: {', '.join(missing)}" if missing else ""
        who = f" for {principal}" if principal else ""
        raise StorageError(f"query failed: {exc}\n(tables{who}: {views}{absent})") from None
    return str(relation) if relation is not None else "ok"


def _count_lines(store: ObjectStore, prefix: str) -> tuple[int, int]:
    objects = lines = 0
    for info in store.list(prefix):
        objects += 1
        lines += sum(1 for line in store.get_bytes(info.key).split(b"\n") if line.strip())
    return objects, lines


def _avro_counts(store: ObjectStore, prefix: str) -> dict[str, tuple[int, set[str]]]:
    counts: dict[str, list] = defaultdict(lambda: [0, set()])
    for key in store.list_keys(prefix):
        if not key.endswith(".avro"):
            continue
        table = key.split("/")[2]
        blocks = fastavro.block_reader(io.BytesIO(store.get_bytes(key)))
        counts[table][0] += sum(block.num_records for block in blocks)
        counts[table][1].add(parse_partition(key) or "?")
    return {t: (n, days) for t, (n, days) in counts.items()}


def lake_summary(store: ObjectStore, catalog: CatalogConfig | None = None) -> str:
    catalog = catalog or CatalogConfig.for_lake(store.uri())
    landing_objects, landed = _count_lines(store, zone_prefix(Zone.LANDING, "events"))
    quarantine_objects, quarantined = _count_lines(store, zone_prefix(Zone.QUARANTINE, "events"))
    lines = [
        "",
        "layer         table                          records  partitions",
        f"landing       events ({landing_objects} objects){'':<10} {landed:>9}",
        f"quarantine    events ({quarantine_objects} objects){'':<10} {quarantined:>9}",
    ]
    for table, (records, days) in sorted(_avro_counts(store, zone_prefix(Zone.RAW, "events")).items()):
        lines.append(f"raw           events/{table:<23} {records:>9}  {len(days):>10}")
    con = connect(store, catalog=catalog)
    tables: dict[str, tuple[str, bool]] = {}
    # The catalog's tables as connect() made them views (listing the catalog again would load each table).
    made = con.sql(
        "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal "
        f"AND schema_name IN ('{Zone.INTERMEDIATE.value}', '{Zone.FINAL.value}') ORDER BY 1, 2"
    ).fetchall()
    for database, name in made:
        columns = {c[0] for c in con.sql(f"DESCRIBE {_ident(database)}.{_ident(name)}").fetchall()}
        tables[f"{_ident(database)}.{_ident(name)}"] = (f"{database}/{name}", "dt" in columns)
    iceberg = {prefix for prefix, _ in tables.values()}
    tables |= parquet_tables(store, iceberg)
    for view, (prefix, partitioned) in sorted(tables.items(), key=lambda item: item[1][0]):
        days_sql = "count(DISTINCT dt)" if partitioned else "0"
        rows, days = con.sql(f"SELECT count(*), {days_sql} FROM {view}").fetchone()
        zone, name = prefix.split("/", 1)
        lines.append(f"{zone:<13} {name:<30} {rows:>9}  {days:>10}")
    return "\n".join(lines)
