"""Embedded SQL over the lake (DuckDB), and the per-layer summary the demo prints.

Every Parquet table under intermediate/ and final/ becomes a view named ``<zone>_<source>_<table>`` with its
``dt`` partition column, as Athena would see it through the catalog. The CDC tables (``intermediate/cdc/``)
become ``intermediate_cdc_<source>_<table>`` and ``..._history`` views that apply the pending versions to
the compacted buckets: the read rule of ``transforms.cdc.snapshot_current`` / ``snapshot_history`` in SQL
(the same SQL works as an Athena view over the Glue tables).
"""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path

import duckdb
import fastavro

from lake_assets.assets.cdc_merge import current_prefix, history_prefix, pending_prefix, table_columns
from lake_assets.sources.cdc.specs import CdcTableSpec, load_specs
from lake_assets.storage import ObjectStore, StorageError, Zone, parse_partition, zone_prefix

CDC = "cdc"


def parquet_tables(store: ObjectStore) -> dict[str, tuple[str, bool]]:
    """View name -> (table prefix, partitioned by ``dt=``) for every table that has Parquet files."""
    tables: dict[str, tuple[str, bool]] = {}
    for zone in (Zone.INTERMEDIATE, Zone.FINAL):
        for key in store.list_keys(zone_prefix(zone)):
            parts = key.split("/")
            if len(parts) >= 4 and key.endswith(".parquet"):
                if zone is Zone.INTERMEDIATE and parts[1] == CDC:
                    if len(parts) >= 5:
                        name = parts[3].removesuffix("_history")
                        tables[f"{parts[0]}_{CDC}_{parts[2]}_{name}"] = (
                            f"{parts[0]}/{CDC}/{parts[2]}/{name}",
                            False,
                        )
                        tables[f"{parts[0]}_{CDC}_{parts[2]}_{name}_history"] = (
                            f"{parts[0]}/{CDC}/{parts[2]}/{name}_history",
                            False,
                        )
                    continue
                partitioned = len(parts) >= 5 and parts[3].startswith("dt=")
                tables[f"{parts[0]}_{parts[1]}_{parts[2]}"] = ("/".join(parts[:3]), partitioned)
    return dict(sorted(tables.items()))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _files(folder: Path, pattern: str) -> str | None:
    """A read_parquet list of the files, or None when there are none (DuckDB refuses an empty glob)."""
    files = sorted(folder.glob(pattern)) if folder.is_dir() else []
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]" if files else None


def cdc_view_sql(spec: CdcTableSpec, columns: list[str], root: Path) -> tuple[str, str]:
    """(current, history) SELECTs: the compacted buckets with the pending versions applied.

    Mirrors ``transforms.cdc``: per key, versions by (position, commit_ts), a (key, position) seen in the
    compacted history and a pending file counted once (the compacted row kept), values the log did not carry
    (``_unchanged``) taken from the key's previous version, the current row the last version unless a delete.
    """
    current = _files(root / current_prefix(spec), "bucket=*/*.parquet")
    history = _files(root / history_prefix(spec), "bucket=*/*.parquet")
    pending = _files(root / pending_prefix(spec), "*.parquet")
    read = "read_parquet({}, union_by_name = true, hive_partitioning = false)"
    if pending is None:
        return (
            f"SELECT * FROM {read.format(current)}" if current else "SELECT NULL AS empty WHERE false",
            f"SELECT * FROM {read.format(history)}" if history else "SELECT NULL AS empty WHERE false",
        )
    key = ", ".join(_ident(k) for k in spec.primary_key)
    order = f"PARTITION BY {key} ORDER BY position, commit_ts"
    filled = []
    for column in columns:
        c = _ident(column)
        if column in spec.primary_key:
            filled.append(c)
            continue
        quoted = "'" + column.replace("'", "''") + "'"
        carried = f"(_unchanged IS NULL OR NOT list_contains(_unchanged, {quoted}))"
        previous = f"last_value(CASE WHEN {carried} THEN struct_pack(v := {c}) END IGNORE NULLS) OVER running"
        filled.append(f"CASE WHEN {carried} THEN {c} ELSE ({previous}).v END AS {c}")
    system = "EXCLUDE (valid_from, valid_to, is_current, is_deleted)"
    stored = f"SELECT * {system}, 0 AS _layer FROM {read.format(history)} SEMI JOIN touched USING ({key})"
    rebuilt = f"""
        pending AS (SELECT * EXCLUDE (bucket), 1 AS _layer FROM {read.format(pending)}),
        touched AS (SELECT DISTINCT {key} FROM pending),
        versions AS ({stored + " UNION ALL BY NAME " if history else ""}SELECT * FROM pending),
        once AS (
            SELECT * FROM versions
            QUALIFY row_number() OVER (PARTITION BY {key}, position ORDER BY _layer) = 1
        ),
        rebuilt AS (
            SELECT {", ".join(filled)}, "Op", commit_ts, position, commit_ts AS valid_from,
                lead(commit_ts) OVER ordered AS valid_to,
                lead(position) OVER ordered IS NULL AND "Op" <> 'D' AS is_current,
                "Op" = 'D' AS is_deleted, _unchanged
            FROM once
            WINDOW ordered AS ({order}),
                running AS ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        )"""
    names = ", ".join(_ident(c) for c in columns)
    kept_history = (
        f"SELECT * FROM {read.format(history)} ANTI JOIN touched USING ({key}) UNION ALL BY NAME "
        if history
        else ""
    )
    kept_current = (
        f"SELECT * FROM {read.format(current)} ANTI JOIN touched USING ({key}) UNION ALL BY NAME "
        if current
        else ""
    )
    return (
        f"WITH {rebuilt} {kept_current}SELECT {names}, commit_ts, position FROM rebuilt WHERE is_current",
        f"WITH {rebuilt} {kept_history}SELECT * FROM rebuilt",
    )


def connect(store: ObjectStore, specs: list[CdcTableSpec] | None = None) -> duckdb.DuckDBPyConnection:
    if store.uri().startswith("s3://"):
        raise StorageError("lake query reads a local lake; on AWS query the catalog's tables with Athena")
    con = duckdb.connect()
    root = Path(store.uri())
    cdc_specs = {
        f"intermediate_{CDC}_{s.source}_{s.table}": s for s in (load_specs() if specs is None else specs)
    }
    for view, (prefix, partitioned) in parquet_tables(store).items():
        if view in cdc_specs:
            spec = cdc_specs[view]
            current_sql, history_sql = cdc_view_sql(spec, table_columns(store, spec), root)
            con.execute(f"CREATE VIEW {view} AS {current_sql}")
            con.execute(f"CREATE VIEW {view}_history AS {history_sql}")
            continue
        if view.removesuffix("_history") in cdc_specs:
            continue
        if partitioned:
            glob = str(Path(store.uri(prefix)) / "*" / "*.parquet")
            options = "hive_partitioning = true, hive_types = {'dt': DATE}"
        else:
            # A CDC table tables.yaml no longer names: its compacted buckets (no key to apply pending by).
            cdc = prefix.startswith(f"{Zone.INTERMEDIATE.value}/{CDC}/")
            glob = str(Path(store.uri(prefix)) / ("bucket=*/*.parquet" if cdc else "*.parquet"))
            options = "hive_partitioning = false"
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{glob}', {options})")
    return con


def run_sql(store: ObjectStore, sql: str, specs: list[CdcTableSpec] | None = None) -> str:
    con = connect(store, specs)
    try:
        relation = con.sql(sql)
    except duckdb.Error as exc:
        views = ", ".join(parquet_tables(store)) or "none yet"
        raise StorageError(f"query failed: {exc}\n(tables: {views})") from None
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


def lake_summary(store: ObjectStore, specs: list[CdcTableSpec] | None = None) -> str:
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
    con = connect(store, specs)
    for view, (prefix, partitioned) in parquet_tables(store).items():
        days_sql = "count(DISTINCT dt)" if partitioned else "0"
        rows, days = con.sql(f"SELECT count(*), {days_sql} FROM {view}").fetchone()
        zone, name = prefix.split("/", 1)
        lines.append(f"{zone:<13} {name:<30} {rows:>9}  {days:>10}")
    return "\n".join(lines)
