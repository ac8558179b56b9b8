"""The rows behind each report, read without Spark: Iceberg tables through pyiceberg, the quarantine zone's
JSON records through the object store, commit times from the catalog's snapshot metadata.

Each reader returns a pandas frame with the columns its ``ReportSpec`` names, empty (with those columns)
when there is nothing yet, so an empty lake draws empty charts instead of failing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable

import orjson
import pandas as pd

from lake_assets.access.policy import TableAccess
from lake_assets.access.views import restricted_arrow
from lake_assets.reports.specs import NO_COMMIT, QUARANTINE, ReportSpec, age_hours
from lake_assets.storage import ObjectStore, Zone, zone_prefix
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.inspect import catalog_exists

UNREADABLE = "unreadable_record"  # a quarantine line that is not a JSON object: counted, never dropped


def _empty(columns: Iterable[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _load_table(catalog: CatalogConfig, identifier: str):  # noqa: ANN202 - a pyiceberg Table or None
    """The table, or None when the catalog or the table does not exist yet (not an error for a report)."""
    if not catalog_exists(catalog):
        return None
    from pyiceberg.exceptions import NoSuchTableError

    try:
        return catalog.pyiceberg().load_table(identifier)
    except NoSuchTableError:
        return None


def read_table(catalog: CatalogConfig, spec: ReportSpec, access: TableAccess) -> pd.DataFrame:
    """The report's columns of its table as ``access`` (its reader's view: rows filtered, and only columns
    it may read) leaves them; every day: the final tables hold one row per day and product, so the whole
    table is small; the chart keeps the last ``WINDOW_DAYS`` of it."""
    if spec.table is None:
        raise ValueError(f"report {spec.name} does not read a table")
    table = _load_table(catalog, spec.table)
    if table is None or table.current_snapshot() is None:
        return _empty(spec.columns)
    names = {f.name for f in table.schema().fields}
    missing = [c for c in spec.columns if c not in names]
    if missing:
        raise ValueError(
            f"report {spec.name}: table {spec.table} has no column(s) {', '.join(missing)} "
            f"(it has {', '.join(sorted(names))})"
        )
    # The row filter may name any column of the table: read them all when there is one.
    fields = ("*",) if access.row_filter else spec.columns
    return restricted_arrow(access, table.scan(selected_fields=fields).to_arrow(), spec.columns).to_pandas()


def _day(record: dict, fallback: str) -> str:
    received = record.get("received_at")
    if isinstance(received, str) and len(received) >= 10:
        try:
            return dt.date.fromisoformat(received[:10]).isoformat()
        except ValueError:
            pass
    return fallback


def read_quarantine(store: ObjectStore) -> pd.DataFrame:
    """Quarantined records per (day, kind): every JSON-lines object under ``quarantine/``.

    The day is the record's ``received_at`` (events) or, for sources whose records carry none (files, API),
    the day the quarantine object was written. A line that is not a JSON object is counted as
    ``unreadable_record``: the chart's totals always equal the records in the zone.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for info in store.list(zone_prefix(Zone.QUARANTINE)):
        if not info.key.endswith((".jsonl", ".json")):
            continue
        written = dt.datetime.fromtimestamp(info.last_modified, dt.UTC).date().isoformat()
        for line in store.get_bytes(info.key).splitlines():
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                record = None
            if not isinstance(record, dict):
                counts[(written, UNREADABLE)] += 1
                continue
            counts[(_day(record, written), str(record.get("kind") or "unknown"))] += 1
    if not counts:
        return _empty(QUARANTINE.columns)
    rows = [(day, kind, n) for (day, kind), n in sorted(counts.items())]
    return pd.DataFrame(rows, columns=list(QUARANTINE.columns))


def read_freshness(
    catalog: CatalogConfig, tables: Iterable[str], now: dt.datetime, expected_hours: float
) -> pd.DataFrame:
    """Per CDC current-state table: its last commit (the current snapshot's time), the hours since, and
    ``fresh`` / ``overdue`` against ``expected_hours``; a table not created yet is ``no commit yet``."""
    rows = []
    for identifier in tables:
        table = _load_table(catalog, identifier)
        snapshot = table.current_snapshot() if table is not None else None
        if snapshot is None:
            rows.append((identifier, NO_COMMIT, "", 0.0))
            continue
        committed = dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, dt.UTC)
        age = age_hours(committed, now)
        status = "fresh" if age <= expected_hours else "overdue"
        rows.append((identifier, status, committed.strftime("%Y-%m-%d %H:%M:%S UTC"), age))
    columns = ["table", "status", "last_commit", "age_hours"]  # CDC_FRESHNESS's columns and the commit time
    return pd.DataFrame(rows, columns=columns) if rows else _empty(columns)
