"""``lake quarantine replay``: quarantined events validated again, after a schema fix (no Dagster import).

Each quarantine object (``quarantine/events/...``, records written by ``sources/quarantine.py``) is read
whole. Every record's original payload is checked with the current registry's ``EventDecoder``, the one the
intake uses: those that pass are landed byte for byte as one landing object in the intake's key layout (so
the landing sensor picks them up like any batch); those that still fail stay, with the new reason when it
changed (the old one kept as ``previous_reason``); the object is then rewritten with what stays, or deleted.

Land first, then retire, with names derived from the input: the landing key's id is a digest of the
quarantine object's key and bytes, and its time is fixed by a marker under ``_system/replay/events/``
written before anything lands. A replay stopped anywhere and run again lands the same object under the same
key (same bytes) and retires the same records: nothing lost, nothing twice. An object with nothing to change
is not touched, so a second replay is a no-op. A file that is not quarantine records is left alone.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from lake_assets.registry.validation import WRONG_ENCODING
from lake_assets.sources.events.intake import LANDING_PREFIX, QUARANTINE_PREFIX, LineChecker, batch_key
from lake_assets.storage import ObjectStore, StorageError
from lake_assets.storage.zones import Zone, zone_prefix

MARKER_PREFIX = zone_prefix(Zone.SYSTEM, "replay", "events")
# Not a schema problem: a UTF-16 file stays wrong whatever the registry says; re-encode and ingest it.
NOT_RETRIED = frozenset({WRONG_ENCODING})
OUTCOMES = ("replayed", "new_reason", "still_failing", "not_retried")


@dataclass
class ReplayReport:
    """Counts by outcome (records), and what was read, landed and left alone (objects)."""

    dry_run: bool
    objects: int = 0
    records: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    still_failing_kinds: Counter[str] = field(default_factory=Counter)
    landing_keys: list[str] = field(default_factory=list)
    retired_objects: int = 0
    unreadable: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "objects": self.objects,
            "records": self.records,
            "outcomes": {name: self.outcomes[name] for name in OUTCOMES},
            "still_failing_kinds": dict(self.still_failing_kinds.most_common()),
            "landing_keys": self.landing_keys,
            "retired_objects": self.retired_objects,
            "unreadable_objects": self.unreadable,
        }

    def summary(self) -> str:
        verb = "would land" if self.dry_run else "landed"
        text = (
            f"quarantine replay{' (dry run)' if self.dry_run else ''}: {self.records} record(s) in "
            f"{self.objects} object(s): {verb} {self.outcomes['replayed']}"
            f"{'' if self.dry_run else f' in {len(self.landing_keys)} landing object(s)'}; "
            f"still failing {self.outcomes['still_failing']} (same reason), "
            f"{self.outcomes['new_reason']} with a new reason, {self.outcomes['not_retried']} not retried "
            f"({', '.join(sorted(NOT_RETRIED))})"
        )
        if self.still_failing_kinds:
            text += "; failing now: " + ", ".join(
                f"{k} {n}" for k, n in self.still_failing_kinds.most_common()
            )
        if self.unreadable:
            text += f"; {len(self.unreadable)} object(s) are not quarantine records, left alone: "
            text += ", ".join(self.unreadable[:5])
        return text


class ReplayError(StorageError):
    """The replay cannot go on (a marker it cannot read); nothing of the object in hand was retired."""


def payload_of(record: dict[str, Any]) -> bytes:
    """The original event bytes of a quarantine record (``payload`` text or ``payload_base64``)."""
    if isinstance(record.get("payload"), str):
        return record["payload"].encode("utf-8")
    if isinstance(record.get("payload_base64"), str):
        return base64.b64decode(record["payload_base64"], validate=True)
    raise ValueError("no payload or payload_base64")


def _records(data: bytes) -> list[dict[str, Any]] | None:
    """The object's records, or None when any line is not a quarantine record (then it is not ours)."""
    out = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
                return None
            payload_of(record)
        except (orjson.JSONDecodeError, ValueError):
            return None
        out.append(record)
    return out


def landing_key(stream: str, when: dt.datetime, digest: str) -> str:
    """The intake's layout (``intake.batch_key``), with the id derived from the replayed input."""
    return batch_key(LANDING_PREFIX, stream, when, uuid.UUID(digest[:32]))


def replay_quarantine(
    store: ObjectStore,
    decoder: LineChecker,
    *,
    stream_name: str = "shop",
    dry_run: bool = False,
    clock: Callable[[], float] = time.time,
) -> ReplayReport:
    """Validate every quarantined event again; land what passes, keep what fails (with its new reason)."""
    report = ReplayReport(dry_run=dry_run)
    keys = [k for k in store.list_keys(QUARANTINE_PREFIX) if not k.rsplit("/", 1)[-1].startswith(".")]
    for key in keys:
        data = store.get_bytes(key)
        records = _records(data)
        if records is None:
            report.unreadable.append(key)
            continue
        report.objects += 1
        report.records += len(records)
        passed: list[bytes] = []
        kept: list[dict[str, Any]] = []
        changed = False
        for record in records:
            payload = payload_of(record)
            if record["kind"] in NOT_RETRIED:
                report.outcomes["not_retried"] += 1
                kept.append(record)
                continue
            error = decoder.check(payload)
            if error is None:
                report.outcomes["replayed"] += 1
                passed.append(payload)
                changed = True
                continue
            report.still_failing_kinds[error.kind] += 1
            if error.kind == record["kind"] and error.reason == record.get("reason"):
                report.outcomes["still_failing"] += 1
                kept.append(record)
                continue
            report.outcomes["new_reason"] += 1
            changed = True
            kept.append(_with_new_reason(record, error.kind, error.reason, clock()))
        if dry_run or not changed:
            continue
        digest = hashlib.sha256(key.encode() + b"\0" + data).hexdigest()
        if passed:
            target = _landing_target(store, key, digest, stream_name, clock)
            body = b"\n".join(passed) + b"\n"
            if not (store.exists(target) and store.get_bytes(target) == body):
                store.put_bytes(target, body)  # land first ...
            report.landing_keys.append(target)
        if kept:  # ... then retire: the object keeps only what still fails
            store.put_bytes(key, b"\n".join(orjson.dumps(r) for r in kept) + b"\n")
        else:
            store.delete(key)
        report.retired_objects += 1
    return report


def _with_new_reason(record: dict[str, Any], kind: str, reason: str, now: float) -> dict[str, Any]:
    """The same record (payload, source, line, arrival) with today's verdict; the old one kept beside it."""
    updated = {k: v for k, v in record.items() if k not in ("payload", "payload_base64")}
    updated.update(
        previous_kind=record["kind"],
        previous_reason=record.get("reason"),
        kind=kind,
        reason=reason,
        revalidated_at=dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="milliseconds"),
    )
    for name in ("payload", "payload_base64"):  # payload last, as the builder writes it
        if name in record:
            updated[name] = record[name]
    return updated


def _landing_target(
    store: ObjectStore, key: str, digest: str, stream: str, clock: Callable[[], float]
) -> str:
    """The landing key for this quarantine object's bytes: recorded before landing, reused by a re-run."""
    marker = f"{MARKER_PREFIX}{digest[:32]}.json"
    if store.exists(marker):
        try:
            return str(orjson.loads(store.get_bytes(marker))["landing_key"])
        except (orjson.JSONDecodeError, KeyError, TypeError, StorageError) as exc:
            raise ReplayError(
                f"replay marker {store.uri(marker)} is unreadable ({exc}); {key} untouched"
            ) from None
    target = landing_key(stream, dt.datetime.fromtimestamp(clock(), dt.UTC), digest)
    store.put_bytes(marker, orjson.dumps({"quarantine_key": key, "sha256": digest, "landing_key": target}))
    return target
