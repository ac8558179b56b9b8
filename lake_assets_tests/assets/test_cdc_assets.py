"""CDC assets via dagster.materialize on a temporary lake: real PostgreSQL capture, hand-made DMS files."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import shutil
import threading
from pathlib import Path

import dagster as dg
import pyarrow as pa

from lake_assets import query
from lake_assets.assets.maintenance import iceberg_maintenance
from lake_assets.definitions import build_cdc_assets
from lake_assets.layers import cdc as cdc_merge
from lake_assets.layers.cdc import read_current, read_history
from lake_assets.registry.cdc import register_version
from lake_assets.resources.spark import SparkResource
from lake_assets.sources.cdc.dms_format import (
    UNCHANGED,
    ChangeRow,
    DmsOptions,
    write_changes,
    write_full_load,
)
from lake_assets.sources.cdc.postgres import drop_slot, snapshot, stream
from lake_assets.sources.cdc.raw import build_cdc_raw
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.storage import Zone, partition_prefix
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.tables.catalog import CatalogConfig, catalog_session
from lake_assets_tests.assets.cdc_helpers import current, failure_text, reconcile_only, run, table, today
from lake_assets_tests.iceberg_readers import pyiceberg_catalog
from lake_assets_tests.lake_helpers import lake_resource
from lake_assets_tests.sources.cdc.conftest import PgTest

FIXTURES = Path(__file__).parents[1] / "sources" / "cdc" / "dms_fixtures"
ORDERS = CdcTableSpec("sales", "sales", "orders", ("order_id",), buckets=4)


# ------------------------------------------------------------------------------------------ PostgreSQL


def make_customers(pg: PgTest, rows: int = 30) -> CdcTableSpec:
    name = f"{pg.name}_customers"
    pg.execute(
        f"CREATE TABLE {name} (customer_id int PRIMARY KEY, email text, tier text, active boolean)",
        f"INSERT INTO {name} SELECT g, 'c' || g || '@x', 'std', g % 2 = 0 FROM generate_series(1, {rows}) g",
    )
    return CdcTableSpec("shop", "public", name, ("customer_id",), buckets=8, url=pg.url)


def test_postgres_full_load_and_changes_merge_to_select_star(pg: PgTest, lake_root: Path, spark) -> None:
    store = LocalObjectStore(lake_root)
    spec = make_customers(pg)
    t = spec.table
    snapshot(pg.url, [t], store, "shop", slot=pg.name)
    pg.transaction(
        f"INSERT INTO {t} VALUES (100, 'new@x', 'gold', true)",
        f"UPDATE {t} SET tier = 'gold', email = NULL WHERE customer_id IN (1, 2)",
        f"DELETE FROM {t} WHERE customer_id = 3",
    )
    pg.execute(f"UPDATE {t} SET customer_id = 200 WHERE customer_id = 4")  # a key update: D + I
    pg.execute(f"UPDATE {t} SET email = 'later@x' WHERE customer_id = 100")
    stream(pg.url, pg.name, store, "shop")
    result = run(lake_root, spec, [today()], checks=True)
    assert result.success, failure_text(result)
    columns = ["customer_id", "email", "tier", "active"]
    assert current(lake_root, spec, columns) == pg.rows(t, ["customer_id"])
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {
        "primary_key_unique": True,
        "history_versions_unique": True,
        "reconciles_with_source": True,
    }

    # A change the lake has not seen yet: the reconciliation check says so.
    pg.execute(f"UPDATE {t} SET tier = 'x' WHERE customer_id = 5")
    passed, _ = reconcile_only(lake_root, spec)
    assert not passed


def test_a_new_nullable_column_registers_v2(pg: PgTest, lake_root: Path, spark) -> None:
    store = LocalObjectStore(lake_root)
    spec = make_customers(pg, rows=5)
    t = spec.table
    snapshot(pg.url, [t], store, "shop", slot=pg.name)
    assert run(lake_root, spec, [today()]).success
    pg.execute(
        f"ALTER TABLE {t} ADD COLUMN phone text", f"UPDATE {t} SET phone = '555' WHERE customer_id = 1"
    )
    stream(pg.url, pg.name, store, "shop")
    result = run(lake_root, spec, [today()])
    assert result.success, failure_text(result)
    schemas = lake_root / "_system" / "schemas" / "cdc" / "shop" / t
    assert sorted(p.name for p in schemas.iterdir()) == ["v1.avsc", "v2.avsc"]
    assert current(lake_root, spec, ["customer_id", "email", "tier", "active", "phone"]) == pg.rows(
        t, ["customer_id"]
    )


def test_csv_and_parquet_landing_give_the_same_sql_types(pg: PgTest, lake_root: Path, spark) -> None:
    """The source's column types reach the table through CSV (the capture's sidecar) as through Parquet:
    the same Iceberg schema, and SQL on the key compares numbers, not text."""
    store = LocalObjectStore(lake_root)
    t = f"{pg.name}_typed"
    pg.execute(
        f"CREATE TABLE {t} (customer_id int PRIMARY KEY, big bigint, score real, ratio double precision, "
        "active boolean, born date, amount numeric(8,2), seen timestamp, note text)",
        f"INSERT INTO {t} SELECT g, g * 10000000000, g / 4.0, g / 3.0, g % 2 = 0, DATE '2000-01-01' + g, "
        f"g * 1.25, TIMESTAMP '2026-01-01 00:00:00' + g * INTERVAL '1 hour', 'n' || g "
        "FROM generate_series(1, 12) g",
    )
    specs = {}
    for source, data_format in (("viacsv", "csv"), ("viaparquet", "parquet")):
        slot = f"{pg.name}_{data_format}"
        try:
            snapshot(pg.url, [t], store, source, slot=slot, options=DmsOptions(data_format=data_format))
        finally:
            drop_slot(pg.url, slot)
        specs[data_format] = CdcTableSpec(source, "public", t, ("customer_id",), buckets=2)
        assert run(lake_root, specs[data_format], [today()]).success
    catalog = pyiceberg_catalog(lake_root)
    schemas = {
        f: {
            c.name: str(c.field_type)
            for c in catalog.load_table(f"intermediate.cdc_{s.source}_{t}").schema().columns
        }
        for f, s in specs.items()
    }
    assert schemas["csv"] == schemas["parquet"]
    assert {
        c: schemas["csv"][c] for c in ("customer_id", "big", "score", "ratio", "active", "born", "note")
    } == {
        "customer_id": "int",
        "big": "long",
        "score": "float",
        "ratio": "double",
        "active": "boolean",
        "born": "date",
        "note": "string",
    }
    data = {  # the two loads ran at different times: commit_ts and position differ, the values may not
        f: sorted(
            (
                tuple(r[c] for c in schemas[f] if c not in ("commit_ts", "position"))
                for r in table(lake_root, spec)
            ),
            key=repr,
        )
        for f, spec in specs.items()
    }
    assert len(data["csv"]) == 12 and data["csv"] == data["parquet"]
    con = query.connect(LocalObjectStore(lake_root))
    for source in ("viacsv", "viaparquet"):
        picked = con.sql(
            f"SELECT customer_id, active, born FROM intermediate.cdc_{source}_{t} "
            "WHERE customer_id <= 5 AND customer_id >= 2 AND active ORDER BY customer_id"
        ).fetchall()
        assert picked == [(2, True, dt.date(2000, 1, 3)), (4, True, dt.date(2000, 1, 5))]


# ------------------------------------------------------------------------------------------ DMS fixtures


def land_fixture(root: Path, *names: str, rename: dict[str, str] | None = None) -> None:
    target = root / "landing" / "cdc" / "sales" / "sales" / "orders"
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(
            FIXTURES / "with_header" / "sales" / "orders" / name, target / (rename or {}).get(name, name)
        )


ALL = ["LOAD00000001.csv", "20261124-221530123.csv", "20261124-221600000.csv"]
DAY = ["2026-11-24"]


def test_dms_files_twice_and_out_of_order_give_the_same_state(tmp_path: Path, spark) -> None:
    columns = ["order_id", "customer", "note", "amount"]
    in_order = tmp_path / "a"
    land_fixture(in_order, *ALL)
    assert run(in_order, ORDERS, DAY).success
    expected = current(in_order, ORDERS, columns)
    assert sorted(expected) == [("1",), ("2",), ("4",)]

    late = tmp_path / "b"
    land_fixture(late, ALL[0], ALL[2])  # the newer change file arrives first
    assert run(late, ORDERS, DAY).success
    land_fixture(late, ALL[1])
    # ... and a re-delivered copy of a file under another name (same changes, same positions)
    land_fixture(late, ALL[1], rename={ALL[1]: "20261124-221530124.csv"})
    assert run(late, ORDERS, DAY).success
    assert current(late, ORDERS, columns) == expected
    history = sorted(table(late, ORDERS, "_history"), key=lambda r: (r["order_id"], r["position"]))
    assert len(history) == 7  # 3 loaded + 4 changes; the re-delivered file added nothing
    order1 = [
        (r["amount"], r["valid_from"], r["valid_to"], r["is_current"])
        for r in history
        if r["order_id"] == "1"
    ]
    load_ts = dt.datetime(2026, 11, 24, 22, 0, 0, 1, tzinfo=dt.UTC)
    update_ts = dt.datetime(2026, 11, 24, 22, 15, 30, 123456, tzinfo=dt.UTC)
    assert order1 == [("10.50", load_ts, update_ts, False), ("11.00", update_ts, None, True)]
    order3 = [(r["Op"], r["is_current"], r["is_deleted"]) for r in history if r["order_id"] == "3"]
    assert order3 == [("I", False, False), ("D", False, True)]


def test_default_dms_layout_without_header_needs_the_columns_of_the_spec(tmp_path: Path, spark) -> None:
    spec = CdcTableSpec(
        "hr",
        "hr",
        "employee",
        ("emp_id",),
        columns=("emp_id", "last_name", "first_name", "hire_date", "city"),
        timestamp_column=None,
    )
    target = tmp_path / "landing" / "cdc" / "hr" / "hr" / "employee"
    target.mkdir(parents=True)
    for path in (FIXTURES / "default" / "hr" / "employee").iterdir():
        # Moved from 2014 into the lake's partition range (daily partitions start in 2024); content unchanged.
        shutil.copy(path, target / path.name.replace("2014", "2026"))
    days = ["2026-10-29", "2026-10-30", today()]  # the full load has no timestamp: its arrival day
    result = run(tmp_path, spec, sorted(days))
    assert result.success, failure_text(result)
    state = current(tmp_path, spec, ["emp_id", "city", "hire_date"])
    assert state == {
        ("101",): {"emp_id": "101", "city": "Dallas", "hire_date": "2017-03-13"},
        ("102",): {"emp_id": "102", "city": "Seattle", "hire_date": "2015-01-12"},
        ("104",): {"emp_id": "104", "city": "Austin", "hire_date": "2016-05-05"},
    }


def _parquet_orders(
    store: LocalObjectStore, amount_type: pa.DataType, amount: object, when: dt.datetime
) -> None:
    options = DmsOptions(data_format="parquet")
    row = ChangeRow("I", when, f"{int(when.timestamp()):035d}", {"order_id": 1, "amount": amount})
    types = {"order_id": pa.int64(), "amount": amount_type}
    if not store.list_keys("landing/cdc/sales/sales/orders/LOAD"):
        write_full_load(store, "sales", "sales", "orders", ["order_id", "amount"], [row], options, types)
    else:
        write_changes(store, "sales", "sales", "orders", ["order_id", "amount"], [row], options, types)


def test_a_type_change_stops_the_run_with_what_changed(tmp_path: Path, spark) -> None:
    store = LocalObjectStore(tmp_path)
    when = dt.datetime(2026, 11, 24, 10)
    _parquet_orders(store, pa.int64(), 5, when)
    assert run(tmp_path, ORDERS, DAY).success
    _parquet_orders(store, pa.string(), "five", when + dt.timedelta(hours=1))
    result = run(tmp_path, ORDERS, DAY)
    assert not result.success
    message = failure_text(result)
    assert 'column amount changed type from "long" to "string"' in message
    assert "not FULL compatible with cdc/sales/orders:v1" in message and "Nothing was published" in message
    assert not (tmp_path / "_system" / "schemas" / "cdc" / "sales" / "orders" / "v2.avsc").exists()


def test_a_dropped_column_stops_the_run(tmp_path: Path, spark) -> None:
    land_fixture(tmp_path, *ALL)
    assert run(tmp_path, ORDERS, DAY).success
    target = tmp_path / "landing" / "cdc" / "sales" / "sales" / "orders" / "20261124-230000000.csv"
    target.write_text(
        "Op,dms_commit_ts,order_id,customer,amount,AR_H_CHANGE_SEQ\n"
        "U,2026-11-24 23:00:00.000000,1,acme,12.00,20261124230000000000000000000000001\n"
    )
    result = run(tmp_path, ORDERS, DAY)
    assert not result.success
    assert "column note dropped" in failure_text(result)


def _load_orders(root: Path, spec: CdcTableSpec, rows: int) -> dt.datetime:
    """A full load of orders 1..rows (``v`` = "a") landed and merged; returns the load's commit time."""
    when = dt.datetime(2026, 11, 24, 9)
    load = [ChangeRow("I", when, f"{i:035d}", {"order_id": str(i), "v": "a"}) for i in range(1, rows + 1)]
    write_full_load(LocalObjectStore(root), "sales", "sales", "orders", ["order_id", "v"], load)
    assert run(root, spec, DAY).success
    return when


def test_a_merge_writes_in_proportion_to_its_changes(tmp_path: Path, spark) -> None:
    """One changed key of 200: the merge adds a small data file and a position delete; the other data files
    stay as they are (merge-on-read), and every reader gets the changed row."""
    store = LocalObjectStore(tmp_path)
    spec = CdcTableSpec("sales", "sales", "orders", ("order_id",), buckets=16)
    when = _load_orders(tmp_path, spec, 200)
    iceberg = pyiceberg_catalog(tmp_path).load_table("intermediate.cdc_sales_orders")
    before = {task.file.file_path for task in iceberg.scan().plan_files()}
    assert [str(f.transform) for f in iceberg.spec().fields] == ["bucket[16]"]
    change = [ChangeRow("U", when + dt.timedelta(hours=1), f"{999:035d}", {"order_id": "7", "v": "b"})]
    write_changes(store, "sales", "sales", "orders", ["order_id", "v"], change)
    result = run(tmp_path, spec, DAY)
    assert result.success
    meta = result.asset_materializations_for_node("merge_cdc_sales")[0].metadata
    assert meta["keys_touched"].value == 1 and meta["changes"].value == 1
    iceberg = pyiceberg_catalog(tmp_path).load_table("intermediate.cdc_sales_orders")
    summary = iceberg.current_snapshot().summary.additional_properties
    assert summary["added-data-files"] == "1" and summary.get("added-position-delete-files") == "1"
    after = {task.file.file_path for task in iceberg.scan().plan_files()}
    assert len(after - before) == 1 and before - after <= before  # old files kept, one small file added
    assert {r["order_id"]: r["v"] for r in table(tmp_path, spec)}["7"] == "b"
    assert len(table(tmp_path, spec)) == 200


def _lake_rows(df, columns: list[str]) -> list[tuple]:
    return sorted(
        (tuple(None if r[c] is None else str(r[c]) for c in columns) for r in df.collect()), key=repr
    )


def _duck_rows(root: Path, view: str, columns: list[str]) -> list[tuple]:
    con = query.connect(LocalObjectStore(root))
    names = ", ".join(f'"{c}"' for c in columns)
    rows = con.sql(f"SELECT {names} FROM {view}").fetchall()

    def text(v: object) -> str | None:  # DuckDB gives aware UTC timestamps, Spark naive ones in UTC
        if isinstance(v, dt.datetime) and v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return None if v is None else str(v)

    return sorted((tuple(text(v) for v in r) for r in rows), key=repr)


def test_merges_with_late_and_redelivered_changes_read_alike_in_spark_pyiceberg_and_duckdb(
    tmp_path: Path, spark
) -> None:
    """Updates, a delete, a value the log did not carry, a late change older than its delete and a file
    delivered twice: Spark, pyiceberg and DuckDB (lake query) read the same current state and history."""
    store = LocalObjectStore(tmp_path)
    spec = CdcTableSpec("sales", "sales", "orders", ("order_id",), buckets=8)
    columns = ["order_id", "v", "note"]
    when = dt.datetime(2026, 11, 24, 9)
    load = [
        ChangeRow("I", when, f"{i:035d}", {"order_id": str(i), "v": "a", "note": f"n{i}"})
        for i in range(1, 101)
    ]
    write_full_load(store, "sales", "sales", "orders", columns, load)
    assert run(tmp_path, spec, DAY).success

    def change(op: str, key: int, seq: int, minute: int, **values: object) -> ChangeRow:
        return ChangeRow(
            op, when + dt.timedelta(minutes=minute), f"{seq:035d}", {"order_id": str(key), **values}
        )

    first = [
        change("U", 7, 1001, 10, v="b", note="n7-new"),
        change("D", 8, 1002, 11),
        change("U", 9, 1003, 12, v="c", note=UNCHANGED),
        change("I", 500, 1004, 13, v="new", note=None),
    ]
    write_changes(store, "sales", "sales", "orders", columns, first)
    result = run(tmp_path, spec, DAY)
    assert result.success, failure_text(result)
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"primary_key_unique": True, "history_versions_unique": True}
    write_changes(store, "sales", "sales", "orders", columns, [change("U", 8, 1000, 9, v="late", note="x")])
    again = tmp_path / "landing/cdc/sales/sales/orders"
    first_file = sorted(again.glob("2026*.csv"))[0]
    (again / "20261124-235959999.csv").write_bytes(first_file.read_bytes())
    assert run(tmp_path, spec, DAY).success

    expected = {str(i): ("a", f"n{i}") for i in range(1, 101)}
    expected.update({"7": ("b", "n7-new"), "9": ("c", "n9"), "500": ("new", None)})
    del expected["8"]
    want = sorted(((k, *v) for k, v in expected.items()), key=repr)
    session = catalog_session(spark, CatalogConfig.for_lake(str(tmp_path)))
    assert _lake_rows(read_current(session, spec), columns) == want
    history_columns = [*columns, "Op", "position", "valid_to", "is_current", "is_deleted"]
    history = _lake_rows(read_history(session, spec), history_columns)
    assert len(history) == 100 + 5  # the re-delivered file added nothing
    assert sorted(((r["order_id"], r["v"], r["note"]) for r in table(tmp_path, spec)), key=repr) == want
    assert _duck_rows(tmp_path, "intermediate_cdc_sales_orders", columns) == want
    assert _duck_rows(tmp_path, "intermediate.cdc_sales_orders_history", history_columns) == history


def test_the_maintenance_job_folds_the_position_deletes_in(tmp_path: Path, spark) -> None:
    store = LocalObjectStore(tmp_path)
    spec = CdcTableSpec("sales", "sales", "orders", ("order_id",), buckets=4)
    when = _load_orders(tmp_path, spec, 50)
    update = ChangeRow("U", when + dt.timedelta(hours=1), f"{999:035d}", {"order_id": "3", "v": "b"})
    write_changes(store, "sales", "sales", "orders", ["order_id", "v"], [update])
    assert run(tmp_path, spec, DAY).success
    deletes = pyiceberg_catalog(tmp_path).load_table("intermediate.cdc_sales_orders").current_snapshot()
    assert deletes.summary.additional_properties["total-position-deletes"] == "1"
    result = iceberg_maintenance.execute_in_process(
        resources={"lake": lake_resource(tmp_path), "spark": SparkResource()}
    )
    assert result.success
    compacted = pyiceberg_catalog(tmp_path).load_table("intermediate.cdc_sales_orders").current_snapshot()
    assert compacted.summary.additional_properties["total-position-deletes"] == "0"
    assert {r["order_id"]: r["v"] for r in table(tmp_path, spec)}["3"] == "b"
    assert len(table(tmp_path, spec)) == 50


def test_a_re_snapshot_ends_the_keys_deleted_while_nothing_was_captured(
    pg: PgTest, lake_root: Path, spark
) -> None:
    """Slot dropped, rows deleted and changed at the source, a new full load: the lake follows the source."""
    store = LocalObjectStore(lake_root)
    spec = make_customers(pg, rows=40)
    t, columns = spec.table, ["customer_id", "email", "tier", "active"]
    snapshot(pg.url, [t], store, "shop", slot=pg.name)
    pg.execute(f"UPDATE {t} SET tier = 'gold' WHERE customer_id = 1")
    stream(pg.url, pg.name, store, "shop")
    assert run(lake_root, spec, [today()]).success

    drop_slot(pg.url, pg.name)
    pg.execute(
        f"DELETE FROM {t} WHERE customer_id IN (5, 6, 7)",
        f"UPDATE {t} SET tier = 'silver' WHERE customer_id = 8",
        f"INSERT INTO {t} VALUES (300, 'gap@x', 'std', true)",
    )
    snapshot(pg.url, [t], store, "shop", slot=pg.name)
    result = run(lake_root, spec, [today()], checks=True)
    assert result.success, failure_text(result)
    meta = result.asset_materializations_for_node("merge_cdc_shop")[0].metadata
    assert meta["reload"].value is True
    assert meta["dagster/row_count"].value == len(table(lake_root, spec))
    assert current(lake_root, spec, columns) == pg.rows(t, ["customer_id"])
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {
        "primary_key_unique": True,
        "history_versions_unique": True,
        "reconciles_with_source": True,
    }
    ended = [r for r in table(lake_root, spec, "_history") if r["customer_id"] in ("5", 5)]
    assert [
        (r["Op"], r["is_current"], r["is_deleted"]) for r in sorted(ended, key=lambda r: r["position"])
    ] == [
        ("I", False, False),
        ("D", False, True),
    ]

    # After the reload the stream goes on; a small change merges as usual (not a reload).
    pg.execute(
        f"DELETE FROM {t} WHERE customer_id = 9", f"UPDATE {t} SET email = NULL WHERE customer_id = 10"
    )
    stream(pg.url, pg.name, store, "shop")
    result = run(lake_root, spec, [today()], checks=True)
    assert result.success, failure_text(result)
    meta = result.asset_materializations_for_node("merge_cdc_shop")[0].metadata
    assert meta["reload"].value is False and meta["keys_touched"].value == 2
    # The row count comes from the snapshot summary (records minus position deletes): what readers see.
    assert meta["dagster/row_count"].value == len(table(lake_root, spec)) == len(pg.rows(t, ["customer_id"]))
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {
        "primary_key_unique": True,
        "history_versions_unique": True,
        "reconciles_with_source": True,
    }
    merged = read_current(catalog_session(spark, CatalogConfig.for_lake(str(lake_root))), spec).collect()
    lake = {(r["customer_id"],): {c: r[c] for c in columns} for r in merged}
    assert lake == pg.rows(t, ["customer_id"])


def _random_changes(seed: int, keys: int = 6, count: int = 30) -> list[ChangeRow]:
    """Inserts, updates (some not carrying ``v``), deletes and re-inserts of a few keys, in log order."""
    rng = random.Random(seed)
    live: set[str] = set()
    rows = []
    when = dt.datetime(2026, 11, 24, 9)
    for n in range(count):
        key = str(rng.randrange(keys))
        at, position = when + dt.timedelta(minutes=n), f"{1000 + n:035d}"
        if key not in live:
            rows.append(ChangeRow("I", at, position, {"order_id": key, "v": f"v{n}"}))
            live.add(key)
        elif rng.random() < 0.25:
            rows.append(ChangeRow("D", at, position, {"order_id": key}))
            live.discard(key)
        elif rng.random() < 0.3:
            rows.append(ChangeRow("U", at, position, {"order_id": key, "v": UNCHANGED}))  # TOASTed
        else:
            rows.append(ChangeRow("U", at, position, {"order_id": key, "v": f"v{n}"}))
    return rows


def test_any_split_of_merges_gives_the_tables_of_one_merge(tmp_path: Path, spark) -> None:
    """The property of the merge, on the Iceberg tables: changes merged in parts that arrive out of order,
    one of them twice, give the same history and current state as all changes merged at once."""
    spec = CdcTableSpec("sales", "sales", "orders", ("order_id",), buckets=4)
    history_columns = ["order_id", "v", "Op", "position", "valid_to", "is_current", "is_deleted"]

    def tables(root: Path) -> tuple[list, list]:
        history = sorted(
            (tuple(r[c] for c in history_columns) for r in table(root, spec, "_history")), key=repr
        )
        return history, sorted(((r["order_id"], r["v"]) for r in table(root, spec)), key=repr)

    for seed in range(2):
        rows = _random_changes(seed)
        whole = tmp_path / f"whole{seed}"
        write_changes(LocalObjectStore(whole), "sales", "sales", "orders", ["order_id", "v"], rows)
        assert run(whole, spec, DAY).success
        rng = random.Random(seed)
        cuts = sorted(rng.sample(range(1, len(rows)), 2))
        parts = [rows[: cuts[0]], rows[cuts[0] : cuts[1]], rows[cuts[1] :]]
        rng.shuffle(parts)  # the files arrive out of order ...
        split = tmp_path / f"split{seed}"
        store = LocalObjectStore(split)
        for part in parts:
            key = write_changes(store, "sales", "sales", "orders", ["order_id", "v"], part)
            result = run(split, spec, DAY)
            assert result.success, failure_text(result)
        # ... and the last one again, under another name (a re-delivery)
        store.put_bytes(key.rsplit("/", 1)[0] + "/20261124-235959999.csv", store.get_bytes(key))
        assert run(split, spec, DAY).success
        assert tables(split) == tables(whole), seed


def _land_raw(store: LocalObjectStore, spec: CdcTableSpec) -> None:
    """raw Avro of everything landed for DAY, published (what the raw asset does), schemas registered."""
    with store.staging_dir() as stage:
        result = build_cdc_raw(store, spec, DAY, stage)
        store.publish_dir(stage / f"dt={DAY[0]}", partition_prefix(Zone.RAW, "cdc", spec.name, DAY[0]))
    for version in result.resolver.new_versions:
        register_version(store, spec, version)


def test_two_merges_of_one_table_at_once_both_land(tmp_path: Path, spark, monkeypatch) -> None:
    """A second merge commits while the first is being audited: the first's fast-forward finds main moved,
    rebuilds on top of it and publishes; every change of both is in the tables, none twice."""
    store = LocalObjectStore(tmp_path)
    spec = CdcTableSpec("sales", "sales", "orders", ("order_id",), buckets=4)
    when = _load_orders(tmp_path, spec, 20)
    first = [ChangeRow("U", when + dt.timedelta(hours=1), f"{100:035d}", {"order_id": "3", "v": "first"})]
    write_changes(store, "sales", "sales", "orders", ["order_id", "v"], first)
    _land_raw(store, spec)
    catalog = CatalogConfig.for_lake(str(tmp_path))
    session = catalog_session(spark, catalog)
    real_checks, raced = cdc_merge.merge_checks, []

    def checks_while_another_merge_lands(key):  # noqa: ANN001, ANN202 - same shape as merge_checks
        history_checks, current_checks = real_checks(key)
        first = history_checks[0]

        def evaluate(frame):  # noqa: ANN001, ANN202 - the first check of the first attempt lets another land
            if not raced:
                raced.append(True)
                second = [
                    ChangeRow(
                        "U", when + dt.timedelta(hours=2), f"{200:035d}", {"order_id": "4", "v": "second"}
                    ),
                    ChangeRow("D", when + dt.timedelta(hours=2), f"{201:035d}", {"order_id": "5"}),
                ]
                write_changes(store, "sales", "sales", "orders", ["order_id", "v"], second)
                _land_raw(store, spec)
                monkeypatch.setattr(cdc_merge, "merge_checks", real_checks)
                other = cdc_merge.merge_new_changes(session, store, catalog, spec)
                assert other["mode"] == "merged" and other["changes"] == 3  # it saw both files
            return first.evaluate(frame)

        return [dataclasses.replace(first, evaluate=evaluate)], current_checks

    monkeypatch.setattr(cdc_merge, "merge_checks", checks_while_another_merge_lands)
    report = cdc_merge.merge_new_changes(session, store, catalog, spec)
    assert raced and report["mode"] == "merged" and report["attempts"] == 2
    state = {r["order_id"]: r["v"] for r in table(tmp_path, spec)}
    assert (state["3"], state["4"], "5" in state, len(state)) == ("first", "second", False, 19)
    history = table(tmp_path, spec, "_history")
    assert len(history) == 20 + 3  # each change once
    monkeypatch.setattr(cdc_merge, "merge_checks", real_checks)
    again = cdc_merge.merge_new_changes(session, store, catalog, spec)  # the file the loser's manifest lacks
    assert len(table(tmp_path, spec, "_history")) == 23 and again["mode"] in ("merged", "none")


def test_tables_of_one_source_merge_side_by_side_and_one_failure_leaves_the_others_published(
    tmp_path: Path, spark, monkeypatch
) -> None:
    """Four tables of one source in one run: the merge step runs their merges at once (threads in the one
    Spark session, seen overlapping); one table whose raw schema is missing fails with its message, the
    other three are published and correct; a run selecting one table merges only that one."""
    store = LocalObjectStore(tmp_path)
    specs = [CdcTableSpec("sales", "sales", f"t{i}", ("order_id",), buckets=2) for i in range(4)]
    when = dt.datetime(2026, 11, 24, 9)
    for n, spec in enumerate(specs):
        load = [ChangeRow("I", when, f"{i:035d}", {"order_id": str(i), "v": f"{n}"}) for i in range(1, 6)]
        write_full_load(store, "sales", "sales", spec.table, ["order_id", "v"], load)
    defs = build_cdc_assets(specs)
    resources = {"lake": lake_resource(tmp_path), "spark": SparkResource(merge_workers=4)}
    for spec in specs:
        assert dg.materialize(
            defs, selection=f"raw/cdc/{spec.name}", partition_key=DAY[0], resources=resources
        ).success

    shutil.rmtree(tmp_path / "_system" / "schemas" / "cdc" / "sales" / "t3")  # raw there, its schema gone
    active: list[int] = [0, 0]  # merges running now, most at once
    calls: list[str] = []
    lock = threading.Lock()
    real = cdc_merge.merge_new_changes

    def observed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        with lock:
            calls.append(args[3].name)
            active[0] += 1
            active[1] = max(active)
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(cdc_merge, "merge_new_changes", observed)
    merged = [f"intermediate/cdc/{s.name}" for s in specs] + [
        f"intermediate/cdc/{s.name}_history" for s in specs
    ]
    result = dg.materialize(defs, selection=merged, resources=resources, raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert "1 of 4 CDC table(s) of sales did not merge (3 published)" in text
    assert "raw/cdc/sales/t3 has no registered schema" in text
    assert active[1] > 1, "the merges ran one after another"
    published = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert published == {f"intermediate/cdc/sales/t{i}{h}" for i in range(3) for h in ("", "_history")}
    for n, spec in enumerate(specs[:3]):
        assert sorted((r["order_id"], r["v"]) for r in table(tmp_path, spec)) == [
            (str(i), str(n)) for i in range(1, 6)
        ]
    assert table(tmp_path, specs[3]) == []

    change = [ChangeRow("U", when + dt.timedelta(hours=1), f"{999:035d}", {"order_id": "2", "v": "new"})]
    write_changes(store, "sales", "sales", "t1", ["order_id", "v"], change)
    assert dg.materialize(
        defs, selection="raw/cdc/sales/t1", partition_key=DAY[0], resources=resources
    ).success
    calls.clear()
    one = dg.materialize(defs, selection=["intermediate/cdc/sales/t1"], resources=resources)
    assert {e.asset_key.to_user_string() for e in one.get_asset_materialization_events()} == {
        "intermediate/cdc/sales/t1"
    }
    assert {r["order_id"]: r["v"] for r in table(tmp_path, specs[1])}["2"] == "new"
    assert {r["order_id"]: r["v"] for r in table(tmp_path, specs[1], "_history") if r["is_current"]}[
        "2"
    ] == "new"
    assert calls == ["sales/t1"]
