"""Sample AWS DMS output for the shipped CDC tables (shop.public.customers, shop.public.orders).

The demo runs the lake on a laptop that may have no database: these files stand in for what
`lake cdc snapshot` / `lake cdc stream` (or DMS itself) would land, in the same layout and through the same
writer (``dms_format``), with positions laid out as the capture writes them (a 20-digit log position and a
15-digit order). A full load, then batches of changes: updates, deletes, inserts and a key change (delete
then insert), as a source database would produce them.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import pyarrow as pa

from lake_assets.sources.cdc.dms_format import ChangeRow, format_lsn_position, write_changes, write_full_load
from lake_assets.storage import ObjectStore

SOURCE, SCHEMA = "shop", "public"
CUSTOMER_COLUMNS = ["customer_id", "email", "tier", "active"]
ORDER_COLUMNS = ["order_id", "customer_id", "amount", "status"]
# The types the capture would carry for these PostgreSQL columns (integer, boolean; numeric stays text).
COLUMN_TYPES = {
    "customers": {"customer_id": pa.int32(), "active": pa.bool_()},
    "orders": {"order_id": pa.int32(), "customer_id": pa.int32()},
}
TIERS = ("std", "silver", "gold")
STATUSES = ("placed", "paid", "shipped", "returned")


@dataclass
class SampleDms:
    """The sample source's state, so later change batches follow the load (keys that exist, new keys)."""

    customers: dict[int, dict[str, str]]
    orders: dict[int, dict[str, str]]
    log: int = 1_000  # the next "log position" (a transaction each)
    seed: int = 7

    def _rng(self) -> random.Random:
        return random.Random(self.seed * 1_000_003 + self.log)


def _customer(n: int, rng: random.Random) -> dict[str, str]:
    return {
        "customer_id": str(n),
        "email": f"c{n}@example.com",
        "tier": rng.choice(TIERS),
        "active": rng.choice(("t", "f")),
    }


def _order(n: int, customers: int, rng: random.Random) -> dict[str, str]:
    return {
        "order_id": str(n),
        "customer_id": str(rng.randint(1, customers)),
        "amount": f"{rng.randint(100, 50_000) / 100:.2f}",
        "status": rng.choice(STATUSES),
    }


def write_sample_load(
    store: ObjectStore, when: dt.datetime, seed: int = 7, customers: int = 2_000, orders: int = 5_000
) -> tuple[SampleDms, list[str]]:
    """Full loads of both tables at ``when``; returns the source state and the landed keys."""
    rng = random.Random(seed)
    sample = SampleDms({}, {}, seed=seed)
    sample.customers = {n: _customer(n, rng) for n in range(1, customers + 1)}
    sample.orders = {n: _order(n, customers, rng) for n in range(1, orders + 1)}
    keys = []
    for table, columns, rows in (
        ("customers", CUSTOMER_COLUMNS, sample.customers),
        ("orders", ORDER_COLUMNS, sample.orders),
    ):
        load = [
            ChangeRow("I", when, format_lsn_position(sample.log, n), values)
            for n, values in enumerate(rows.values(), start=1)
        ]
        keys += write_full_load(store, SOURCE, SCHEMA, table, columns, load, column_types=COLUMN_TYPES[table])
    sample.log += 1
    return sample, keys


def _transaction(sample: SampleDms, kind: int, rng: random.Random) -> list[tuple[str, str, dict[str, str]]]:
    """One source transaction as (table, Op, row) changes, applied to the sample's state."""
    if kind in (0, 1):  # an order moves on; its customer is upgraded
        order_id = rng.choice(list(sample.orders))
        sample.orders[order_id]["status"] = rng.choice(STATUSES)
        out = [("orders", "U", dict(sample.orders[order_id]))]
        customer_id = int(sample.orders[order_id]["customer_id"])
        if customer_id in sample.customers:
            sample.customers[customer_id]["tier"] = "gold"
            out.append(("customers", "U", dict(sample.customers[customer_id])))
        return out
    if kind == 2:  # a new customer places an order
        customer_id, order_id = max(sample.customers) + 1, max(sample.orders) + 1
        sample.customers[customer_id] = _customer(customer_id, rng)
        sample.orders[order_id] = _order(order_id, customer_id, rng) | {"customer_id": str(customer_id)}
        return [
            ("customers", "I", dict(sample.customers[customer_id])),
            ("orders", "I", dict(sample.orders[order_id])),
        ]
    if kind == 3:  # an order is deleted
        order_id = rng.choice(list(sample.orders))
        del sample.orders[order_id]
        return [("orders", "D", {"order_id": str(order_id)})]
    # an order's key changes: DMS writes the old key's delete, then the new row
    old, new = rng.choice(list(sample.orders)), max(sample.orders) + 1
    sample.orders[new] = sample.orders.pop(old) | {"order_id": str(new)}
    return [("orders", "D", {"order_id": str(old)}), ("orders", "I", dict(sample.orders[new]))]


def write_sample_changes(
    store: ObjectStore, sample: SampleDms, when: dt.datetime, transactions: int = 50
) -> tuple[int, list[str]]:
    """Committed transactions after the load, one change file per table; returns (changes, keys)."""
    rng = sample._rng()
    by_table: dict[str, list[ChangeRow]] = {"customers": [], "orders": []}
    for t in range(transactions):
        commit = when + dt.timedelta(seconds=t)
        for seq, (table, op, values) in enumerate(_transaction(sample, t % 5, rng), start=1):
            by_table[table].append(ChangeRow(op, commit, format_lsn_position(sample.log, seq), values))
        sample.log += 1
    keys = [
        write_changes(
            store,
            SOURCE,
            SCHEMA,
            table,
            columns,
            by_table[table],
            column_types=COLUMN_TYPES[table],
        )
        for table, columns in (("customers", CUSTOMER_COLUMNS), ("orders", ORDER_COLUMNS))
    ]
    return sum(len(rows) for rows in by_table.values()), keys
