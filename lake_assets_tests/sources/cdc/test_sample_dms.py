"""The demo's sample DMS output: real DMS layout, and its files merge to the sample source's state."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lake_assets.samples.cdc import write_sample_changes, write_sample_load
from lake_assets.sources.cdc.dms_format import current_state, in_landing_order, parse_key, read_dms_file
from lake_assets.storage.object_store import LocalObjectStore


def typed(values: dict[str, str]) -> dict[str, object]:
    ints = {c: int(values[c]) for c in ("customer_id", "order_id") if c in values}
    flags = {"active": values["active"] == "t"} if "active" in values else {}
    return values | ints | flags


def test_sample_load_and_changes_merge_to_the_sample_state(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    when = dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC)
    sample, load_keys = write_sample_load(store, when, seed=3, customers=50, orders=120)
    changed, change_keys = write_sample_changes(store, sample, when + dt.timedelta(hours=1), transactions=40)
    assert all(parse_key(k).full_load for k in load_keys) and not any(
        parse_key(k).full_load for k in change_keys
    )
    assert changed > 40  # some transactions change two rows
    ops = set()
    for table, key, expected in (
        ("customers", "customer_id", sample.customers),
        ("orders", "order_id", sample.orders),
    ):
        keys = in_landing_order(store.list_keys(f"landing/cdc/shop/public/{table}/"))
        rows = [row for k in keys for row in read_dms_file(store, k)]
        ops |= {r.op for r in rows}
        state = current_state(rows, [key])
        # Typed as the capture types PostgreSQL's integer and boolean columns (their sidecars say so).
        assert state == {(k,): typed(v) for k, v in expected.items()}
        assert all(isinstance(v[key], int) for v in state.values())
    assert ops == {"I", "U", "D"}
