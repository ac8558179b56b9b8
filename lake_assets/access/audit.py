"""Who ran what against which tables: one record per ``lake query``, like Lake Formation's CloudTrail events.

Records are JSON lines under ``_system/audit/dt=<day>/``, one object per query with a name that sorts by time
and never repeats, so the log is append-only on a local disk and on S3 alike (S3 has no append; nothing is
ever rewritten). A denied query is recorded too, with the denial.
"""

from __future__ import annotations

import datetime as dt
import getpass
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import orjson

from lake_assets.storage import ObjectStore, Zone, zone_prefix

AUDIT_PREFIX = zone_prefix(Zone.SYSTEM, "audit")


@dataclass(frozen=True)
class AuditRecord:
    time: str  # UTC, ISO 8601
    user: str  # who ran the command (the OS user locally)
    principal: str | None  # the policy principal the query ran as; None: unrestricted
    engine: str
    sql: str
    tables: list[str] = field(default_factory=list)  # the lake tables the query was given
    as_of: str | None = None
    outcome: str = "ok"  # ok | denied | failed
    message: str = ""
    seconds: float = 0.0


def write_record(store: ObjectStore, record: AuditRecord) -> str:
    when = dt.datetime.fromisoformat(record.time)
    key = f"{AUDIT_PREFIX}dt={when:%Y-%m-%d}/{when:%H%M%S%f}-{uuid.uuid4().hex[:12]}.jsonl"
    store.put_bytes(key, orjson.dumps(asdict(record)) + b"\n")
    return key


def new_record(sql: str, *, principal: str | None, engine: str, as_of: str | None) -> AuditRecord:
    return AuditRecord(
        time=dt.datetime.now(dt.UTC).isoformat(),
        user=getpass.getuser(),
        principal=principal,
        engine=engine,
        sql=sql,
        as_of=as_of,
    )


def read_records(
    store: ObjectStore, *, since: dt.date | None = None, principal: str | None = None
) -> Iterator[AuditRecord]:
    """Records in time order, from ``since`` (a UTC day) on, of one principal when given."""
    start = f"{AUDIT_PREFIX}dt={since:%Y-%m-%d}/" if since else None
    for info in store.list(AUDIT_PREFIX, start_after=start and start[:-1]):
        for line in store.get_bytes(info.key).splitlines():
            if not line.strip():
                continue
            record = AuditRecord(**orjson.loads(line))
            if principal is None or record.principal == principal:
                yield record
