"""Embedded SQL over the lake (DuckDB), and the per-layer summary the demo prints.

Every Parquet table under intermediate/ and final/ becomes a view named ``<zone>_<source>_<table>`` with its
``dt`` partition column, as Athena would see it through the catalog.
"""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path

import duckdb
import fastavro

from lake_assets.storage import ObjectStore, StorageError, Zone, parse_partition, zone_prefix


def parquet_tables(store: ObjectStore) -> dict[str, tuple[str, bool]]:
    """View name -> (table prefix, partitioned by ``dt=``) for every table that has Parquet files."""
    tables: dict[str, tuple[str, bool]] = {}
    for zone in (Zone.INTERMEDIATE, Zone.FINAL):
        for key in store.list_keys(zone_prefix(zone)):
            parts = key.split("/")
            if len(parts) >= 4 and key.endswith(".parquet"):
                partitioned = len(parts) >= 5 and parts[3].startswith("dt=")
                tables[f"{parts[0]}_{parts[1]}_{parts[2]}"] = ("/".join(parts[:3]), partitioned)
    return dict(sorted(tables.items()))


def connect(store: ObjectStore) -> duckdb.DuckDBPyConnection:
    if store.uri().startswith("s3://"):
        raise StorageError("lake query reads a local lake; on AWS query the catalog's tables with Athena")
    con = duckdb.connect()
    for view, (prefix, partitioned) in parquet_tables(store).items():
        if partitioned:
            glob = str(Path(store.uri(prefix)) / "*" / "*.parquet")
            options = "hive_partitioning = true, hive_types = {'dt': DATE}"
        else:
            glob, options = str(Path(store.uri(prefix)) / "*.parquet"), "hive_partitioning = false"
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet('{glob}', {options})")
    return con


def run_sql(store: ObjectStore, sql: str) -> str:
    con = connect(store)
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


def lake_summary(store: ObjectStore) -> str:
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
    con = connect(store)
    for view, (prefix, partitioned) in parquet_tables(store).items():
        days_sql = "count(DISTINCT dt)" if partitioned else "0"
        rows, days = con.sql(f"SELECT count(*), {days_sql} FROM {view}").fetchone()
        zone, name = prefix.split("/", 1)
        lines.append(f"{zone:<13} {name:<30} {rows:>9}  {days:>10}")
    return "\n".join(lines)
