"""``lake status``: is the lake healthy, per table, at a glance (no Dagster import).

Every table the lake holds: raw (its Avro folders, read through the object store), intermediate and final
(the Iceberg catalog, CDC tables included, read with pyiceberg): last day with data, last snapshot and its
age, rows, quarantined records by reason (events attributed to ``raw.events_<event_type>``), failed checks
and freshness. What only Dagster knows comes in as arguments (``commands.py`` reads it): the failed checks
(None: no instance to ask, shown as "unknown") and each table's freshness expectation (the lag of its
freshness check in the definitions, ``checks/freshness.py``: one place for it).
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import fastavro
import orjson

from lake_assets.operations.replay import payload_of
from lake_assets.storage import ObjectStore
from lake_assets.storage.zones import Zone, parse_partition, zone_prefix
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.inspect import list_tables

UNATTRIBUTED = "quarantine.events"  # events whose type names no table (unknown type, not JSON, ...)


@dataclass
class TableStatus:
    table: str  # <zone>.<name>, as lake query names it
    last_partition: str | None = None
    snapshot_id: int | None = None
    updated_at: dt.datetime | None = None  # the last snapshot's commit; raw: its newest file
    rows: int | None = None
    quarantined: Counter[str] = field(default_factory=Counter)  # by kind
    failed_checks: list[str] | None = None  # None: unknown (no Dagster instance)
    expected_within: dt.timedelta | None = None

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        return None if self.updated_at is None else now - self.updated_at

    def stale(self, now: dt.datetime) -> bool:
        """Overdue against its expectation; a table expected but never written is overdue too."""
        if self.expected_within is None:
            return False
        age = self.age(now)
        return age is None or age > self.expected_within

    def to_json(self, now: dt.datetime) -> dict[str, Any]:
        age = self.age(now)
        return {
            "table": self.table,
            "last_partition": self.last_partition,
            "snapshot_id": self.snapshot_id,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "age_seconds": round(age.total_seconds()) if age is not None else None,
            "rows": self.rows,
            "quarantined": dict(self.quarantined.most_common()),
            "failed_checks": self.failed_checks,
            "expected_within_seconds": (
                round(self.expected_within.total_seconds()) if self.expected_within else None
            ),
            "stale": self.stale(now),
        }


@dataclass
class LakeStatus:
    now: dt.datetime
    tables: list[TableStatus]
    checks_known: bool

    @property
    def problems(self) -> list[str]:
        out = [f"{t.table}: stale" for t in self.tables if t.stale(self.now)]
        out += [f"{t.table}: failed {', '.join(t.failed_checks)}" for t in self.tables if t.failed_checks]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "generated_at": self.now.isoformat(),
            "checks_known": self.checks_known,
            "tables": [t.to_json(self.now) for t in self.tables],
            "problems": self.problems,
        }

    def render(self) -> str:
        header = ("table", "last dt", "snapshot", "age", "rows", "quarantined", "failed checks", "fresh")
        rows = [header]
        for t in self.tables:
            fresh = "-" if t.expected_within is None else ("STALE" if t.stale(self.now) else "ok")
            checks = "unknown" if t.failed_checks is None else (", ".join(t.failed_checks) or "none")
            rows.append(
                (
                    t.table,
                    t.last_partition or "-",
                    str(t.snapshot_id) if t.snapshot_id is not None else "-",
                    _age_text(t.age(self.now)),
                    f"{t.rows:,}" if t.rows is not None else "-",
                    _quarantine_text(t.quarantined),
                    checks,
                    fresh,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        problems = self.problems
        lines.append("")
        lines.append(f"{len(problems)} problem(s)" + (": " + "; ".join(problems) if problems else ""))
        if not self.checks_known:
            lines.append("failed checks unknown: no Dagster instance (set DAGSTER_HOME or --dagster-home)")
        return "\n".join(lines)


def _quarantine_text(counts: Counter[str], shown: int = 2) -> str:
    """``1,780: wrong_type 702, missing_field 426, +4 kinds``: the table stays readable; --json has all."""
    if not counts:
        return "-"
    top = counts.most_common()
    text = f"{sum(counts.values()):,}: " + ", ".join(f"{k} {n}" for k, n in top[:shown])
    return text + (f", +{len(top) - shown} kinds" if len(top) > shown else "")


def _age_text(age: dt.timedelta | None) -> str:
    if age is None:
        return "-"
    seconds = max(0, int(age.total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"


def raw_status(store: ObjectStore) -> list[TableStatus]:
    """Each raw folder with Avro files (``raw/<kind>/<name>/``, CDC ``raw/cdc/<source>/<table>/``)."""
    tables: dict[str, TableStatus] = {}
    for info in store.list(zone_prefix(Zone.RAW)):
        if not info.key.endswith(".avro"):
            continue
        parts = info.key.split("/")[1:-1]
        parts = [p for p in parts if not p.startswith("dt=")]
        if not parts or any(p.startswith(("_", ".")) for p in parts):
            continue
        name = f"raw.{'_'.join(parts)}"
        status = tables.setdefault(name, TableStatus(name, rows=0))
        day = parse_partition(info.key)
        if day and (status.last_partition is None or day > status.last_partition):
            status.last_partition = day
        stamp = dt.datetime.fromtimestamp(info.last_modified, dt.UTC)
        if status.updated_at is None or stamp > status.updated_at:
            status.updated_at = stamp
        with store.open_read(info.key) as handle:
            blocks = fastavro.block_reader(io.BytesIO(handle.read()))
            status.rows = (status.rows or 0) + sum(block.num_records for block in blocks)
    return [tables[name] for name in sorted(tables)]


def iceberg_status(catalog: CatalogConfig) -> list[TableStatus]:
    """Every catalog table: current snapshot, its commit time and row count, the newest ``dt`` partition."""
    out = []
    entries = list_tables(catalog)
    cat = catalog.pyiceberg() if entries else None
    for entry in entries:
        assert cat is not None
        table = cat.load_table(entry.identifier)
        status = TableStatus(entry.identifier)
        snapshot = table.current_snapshot()
        if snapshot is not None:
            props = snapshot.summary.additional_properties if snapshot.summary else {}
            status.snapshot_id = snapshot.snapshot_id
            status.updated_at = dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, dt.UTC)
            status.rows = int(props["total-records"]) if "total-records" in props else None
            status.last_partition = _last_day(table)
        else:
            status.rows = 0
        out.append(status)
    return out


def _last_day(table: Any) -> str | None:
    """The newest ``dt`` with rows, from the partition statistics (no data file is read)."""
    schema = table.schema()
    fields = [f for f in table.spec().fields if schema.find_column_name(f.source_id) == "dt"]
    if not fields or str(fields[0].transform) != "identity":
        return None
    partitions = table.inspect.partitions().to_pylist()
    days = [p["partition"].get(fields[0].name) for p in partitions if p.get("record_count", 0) > 0]
    days = [d for d in days if d is not None]
    return str(max(days)) if days else None


def quarantine_counts(store: ObjectStore, subjects: Sequence[str]) -> dict[str, Counter[str]]:
    """Quarantined records by kind, per table: events to ``raw.events_<event_type>`` when the payload names a
    known subject, otherwise to ``quarantine.events``; other quarantine folders to ``quarantine.<folder>``."""
    known = set(subjects)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for info in store.list(zone_prefix(Zone.QUARANTINE)):
        folder = info.key.split("/")[1]
        if info.key.rsplit("/", 1)[-1].startswith("."):
            continue
        for line in store.get_bytes(info.key).split(b"\n"):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                counts[f"quarantine.{folder}"]["unreadable_record"] += 1
                continue
            kind = str(record.get("kind", "unknown")) if isinstance(record, dict) else "unknown"
            counts[_attributed(record, folder, known)][kind] += 1
    return dict(counts)


def _attributed(record: Any, folder: str, subjects: set[str]) -> str:
    if folder == "events" and isinstance(record, dict):
        try:
            event = orjson.loads(payload_of(record))
        except (ValueError, orjson.JSONDecodeError):
            event = None
        subject = event.get("event_type") if isinstance(event, dict) else None
        if isinstance(subject, str) and subject in subjects:
            return f"raw.events_{subject}"
    return f"quarantine.{folder}"


def lake_status(
    store: ObjectStore,
    catalog: CatalogConfig,
    *,
    subjects: Sequence[str],
    expectations: Mapping[str, dt.timedelta],
    failed_checks: Mapping[str, list[str]] | None,
    now: dt.datetime | None = None,
) -> LakeStatus:
    """The status of every table the lake holds, plus any table an expectation or a failed check names."""
    tables = {t.table: t for t in [*raw_status(store), *iceberg_status(catalog)]}
    for name, counts in quarantine_counts(store, subjects).items():
        tables.setdefault(name, TableStatus(name)).quarantined.update(counts)
    for name in [*expectations, *(failed_checks or {})]:
        tables.setdefault(name, TableStatus(name))  # declared but never written: say so
    for name, status in tables.items():
        status.expected_within = expectations.get(name)
        if failed_checks is not None:
            status.failed_checks = sorted(failed_checks.get(name, []))
    order = {"raw": 0, "intermediate": 1, "final": 2, "quarantine": 3}
    ordered = sorted(tables.values(), key=lambda t: (order.get(t.table.split(".")[0], 9), t.table))
    return LakeStatus(now or dt.datetime.now(dt.UTC), ordered, failed_checks is not None)
