"""The raw CDC asset against an untidy landing folder: stray files and reloads that rewrite the LOAD files.

Only the raw asset runs (``dagster.materialize``); the sensor (``build_sensor_context``) decides which days to
run, as the daemon would. No Spark: the merge is not part of these tests.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
from pathlib import Path

import dagster as dg
import fastavro
import pyarrow as pa
import pytest

from lake_assets.assets.raw import build_raw_asset
from lake_assets.sensors.landing import build_landing_sensor
from lake_assets.sources.cdc.dms_format import (
    UNCHANGED,
    ChangeRow,
    DmsOptions,
    format_lsn_position,
    in_landing_order,
    is_not_carried_name,
    not_carried_key,
    parse_dms_file,
    read_dms_file,
    write_changes,
    write_full_load,
)
from lake_assets.sources.cdc.kind import LANDING_NAMES, CdcSourceKind
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.lake_helpers import lake_resource

FIXTURES = Path(__file__).parents[1] / "sources" / "cdc" / "dms_fixtures"
ORDERS = CdcTableSpec("sales", "sales", "orders", ("order_id",), buckets=4)
RAW = build_raw_asset(CdcSourceKind([ORDERS]), ORDERS)
SENSOR = build_landing_sensor(CdcSourceKind([ORDERS]))
LANDING = Path("landing/cdc/sales/sales/orders")
DAY = "2026-11-24"  # the fixtures' commit day
HEADER = b"Op,dms_commit_ts,order_id,customer,note,amount,AR_H_CHANGE_SEQ\n"


def materialize(root: Path, day: str) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [RAW], partition_key=day, resources={"lake": lake_resource(root)}, raise_on_error=False
    )


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    return " ".join(str(e.event_specific_data.error) for e in result.all_events if e.is_step_failure)


def raw_files(root: Path) -> dict[str, set[str]]:
    """dt=<day> -> Avro file names under raw/cdc/sales/orders (empty days left out)."""
    out: dict[str, set[str]] = {}
    for path in (root / "raw" / "cdc" / "sales" / "orders").glob("dt=*/*.avro"):
        out.setdefault(path.parent.name, set()).add(path.name)
    return out


def raw_rows(root: Path) -> list[tuple[str, str, str]]:
    """(day, position, order_id) of every raw record."""
    rows = []
    for path in (root / "raw" / "cdc" / "sales" / "orders").glob("dt=*/*.avro"):
        with open(path, "rb") as handle:
            rows += [(path.parent.name[3:], r["position"], r["order_id"]) for r in fastavro.reader(handle)]
    return sorted(rows)


def landing_rows(root: Path) -> list[tuple[str, str, str]]:
    """The same triples parsed straight from the landing files (with their sidecars): what raw must hold."""
    rows = []
    store = LocalObjectStore(root)
    for key in in_landing_order(store.list_keys(f"{LANDING}/")):
        for row in read_dms_file(store, key):
            assert row.commit_ts is not None
            rows.append((row.commit_ts.date().isoformat(), row.position, str(row.values["order_id"])))
    return sorted(rows)


# ------------------------------------------------------------------------------------------ stray files


STRAYS = {
    "notes.txt": b"who put this here\n",
    "LOAD1.csv": b"Op,order_id\nI,1\n",  # looks like a load, is not a DMS name (8 hex digits)
    ".DS_Store": b"\x00\x00\x00\x01Bud1",
    "20261124-221530123.json": b'{"sidecar": true}\n',
    "old/LOAD00000001.csv": (FIXTURES / "with_header" / "sales" / "orders" / "LOAD00000001.csv").read_bytes(),
}


def land_orders(root: Path, *names: str) -> Path:
    target = root / LANDING
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(FIXTURES / "with_header" / "sales" / "orders" / name, target / name)
    return target


def test_files_not_named_as_dms_are_left_in_landing_reported_and_do_not_block_the_table(
    lake_root: Path,
) -> None:
    target = land_orders(lake_root, "LOAD00000001.csv", "20261124-221530123.csv", "20261124-221600000.csv")
    for name, data in STRAYS.items():
        (target / name).parent.mkdir(exist_ok=True)
        (target / name).write_bytes(data)

    result = materialize(lake_root, DAY)

    assert result.success, failure_text(result)
    assert raw_files(lake_root) == {
        f"dt={DAY}": {"LOAD00000001.avro", "20261124-221530123.avro", "20261124-221600000.avro"}
    }
    assert raw_rows(lake_root) == landing_rows_of_dms(lake_root)
    strays = sorted(f"{LANDING}/{name}" for name in STRAYS)
    for name, data in STRAYS.items():  # nothing moved, nothing rewritten
        assert (target / name).read_bytes() == data
    [event] = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["unrecognised_landing_objects"].value == strays
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == LANDING_NAMES]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description is not None
    for key in strays:
        assert key in check.description
    assert "LOADxxxxxxxx" in check.description and "YYYYMMDD-HHMMSSsss" in check.description
    assert "move it out of the table's landing folder" in check.description
    assert not (lake_root / "_system" / "index" / "cdc" / "sales" / "orders" / "notes.txt.json").exists()

    # Moved away: the next run passes the check.
    shutil.rmtree(target / "old")
    for name in STRAYS:
        (target / name).unlink(missing_ok=True)
    again = materialize(lake_root, DAY)
    assert again.success, failure_text(again)
    [check] = [c for c in again.get_asset_check_evaluations() if c.check_name == LANDING_NAMES]
    assert check.passed


def landing_rows_of_dms(root: Path) -> list[tuple[str, str, str]]:
    """``landing_rows`` over the DMS-named files only (the strays are not raw's business)."""
    rows = []
    for name in ("LOAD00000001.csv", "20261124-221530123.csv", "20261124-221600000.csv"):
        data = (root / LANDING / name).read_bytes()
        for row in parse_dms_file(f"{LANDING}/{name}", data):
            assert row.commit_ts is not None
            rows.append((row.commit_ts.date().isoformat(), row.position, str(row.values["order_id"])))
    return sorted(rows)


def test_a_dms_named_file_with_bad_content_still_fails_the_run_naming_it(lake_root: Path) -> None:
    target = land_orders(lake_root, "LOAD00000001.csv")
    (target / "20261124-230000000.csv").write_bytes(HEADER + b"X,not a time,1,acme,,1.00,1\n")
    (target / "notes.txt").write_bytes(b"a stray next to it changes nothing here\n")

    result = materialize(lake_root, DAY)

    assert not result.success
    text = failure_text(result)
    assert "20261124-230000000.csv" in text and "cannot be read as DMS output" in text
    assert "fix or move it" in text
    assert raw_files(lake_root) == {}  # nothing published


# ------------------------------------------------------------------------------------------ reloads


DAY1, DAY2 = dt.datetime(2026, 11, 20, 8, 0), dt.datetime(2026, 11, 23, 9, 30)
COLUMNS = ["order_id", "customer", "note", "amount"]


def load_rows(when: dt.datetime, ids: range, lsn: int) -> list[ChangeRow]:
    return [
        ChangeRow(
            "I",
            when,
            format_lsn_position(lsn, n),
            {"order_id": str(n), "customer": f"c{n}", "note": "", "amount": f"{n}.00"},
        )
        for n in ids
    ]


def evaluate(root: Path, cursor: str | None) -> dg.SensorResult:
    assert SENSOR is not None
    return SENSOR(dg.build_sensor_context(cursor=cursor, resources={"lake": lake_resource(root)}))


def run_requested(root: Path, result: dg.SensorResult) -> list[str]:
    days = []
    for request in result.run_requests:
        assert request.partition_key is not None
        run = materialize(root, request.partition_key)
        assert run.success, failure_text(run)
        days.append(request.partition_key)
    return sorted(days)


def bump_load_mtimes(folder: Path, seconds: float) -> None:
    """Make the rewrite visibly later than the first load, whatever the file system's clock resolution."""
    for path in folder.glob("LOAD*"):
        stat = path.stat()
        os.utime(path, (stat.st_atime, stat.st_mtime + seconds))


@pytest.mark.parametrize("run_between", [False, True], ids=["sensor-first", "raw-run-before-the-tick"])
def test_a_reload_on_another_day_with_fewer_files_leaves_only_the_new_load_in_raw(
    lake_root: Path, run_between: bool
) -> None:
    store = LocalObjectStore(lake_root)
    options = DmsOptions(max_rows_per_load_file=4)
    # The first load ran over midnight (as DMS stamps each file with its own transfer time): its last file,
    # LOAD00000003, is the only one dated the next day, so only the deleted file's index points at that day.
    midnight = DAY1.replace(hour=23, minute=59, second=59) + dt.timedelta(seconds=2)
    rows = load_rows(DAY1, range(1, 9), 100) + load_rows(midnight, range(9, 11), 100)
    first = write_full_load(store, "sales", "sales", "orders", COLUMNS, rows, options)
    assert len(first) == 3  # LOAD00000001..3
    update = {"order_id": "2", "customer": "c2b", "note": "", "amount": "2.50"}
    write_changes(
        store,
        "sales",
        "sales",
        "orders",
        COLUMNS,
        [ChangeRow("U", DAY1.replace(hour=9), format_lsn_position(150, 1), update)],
    )
    tick = evaluate(lake_root, None)
    assert run_requested(lake_root, tick) == ["2026-11-20", "2026-11-21"]
    assert raw_files(lake_root) == {
        "dt=2026-11-20": {"LOAD00000001.avro", "LOAD00000002.avro", "20261120-090000000.avro"},
        "dt=2026-11-21": {"LOAD00000003.avro"},
    }

    # A re-snapshot three days later: 6 rows, so 2 LOAD files; LOAD00000003 is deleted by the writer.
    second = write_full_load(
        store, "sales", "sales", "orders", COLUMNS, load_rows(DAY2, range(1, 7), 200), options
    )
    assert len(second) == 2 and not (lake_root / first[2]).exists()
    bump_load_mtimes(lake_root / LANDING, 5)  # the change file is untouched: only the reload is new
    if run_between:
        # A run of the new day (queued for other changes, say) re-indexes the LOAD files before the tick.
        assert materialize(lake_root, "2026-11-23").success

    tick = evaluate(lake_root, tick.cursor)

    assert {r.partition_key for r in tick.run_requests} == {"2026-11-20", "2026-11-21", "2026-11-23"}
    run_requested(lake_root, tick)
    assert raw_files(lake_root) == {
        "dt=2026-11-20": {"20261120-090000000.avro"},  # the change file is still in landing
        "dt=2026-11-23": {"LOAD00000001.avro", "LOAD00000002.avro"},
    }  # and dt=2026-11-21 is empty: its only file is gone from landing
    assert raw_rows(lake_root) == landing_rows(lake_root)
    assert [r for r in raw_rows(lake_root) if r[0] == "2026-11-23"] == [
        ("2026-11-23", format_lsn_position(200, n), str(n)) for n in range(1, 7)
    ]
    # The index forgets what it no longer needs: no stale days, no marker of the deleted LOAD file.
    index = lake_root / "_system" / "index" / "cdc" / "sales" / "orders"
    markers = {p.name: json.loads(p.read_text()) for p in index.iterdir()}
    assert sorted(markers) == [
        "20261120-090000000.csv.json",
        "LOAD00000001.csv.json",
        "LOAD00000002.csv.json",
    ]
    assert all(m["stale"] == [] for m in markers.values())
    # Nothing new: the next tick asks for nothing.
    assert evaluate(lake_root, tick.cursor).run_requests == []


# ------------------------------------------------------------------------------------------ sidecars


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_csv_sidecars_are_neither_strays_nor_landing_files_and_carry_the_text_unchanged_as_data(
    lake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capture's CSV files with their sidecars, and one stray: the sensor and raw name only the stray,
    and raw holds the text ``<unchanged>`` as a value and the value not carried as ``_unchanged``."""
    store = LocalObjectStore(lake_root)
    load = load_rows(DAY1, range(1, 3), 100)
    load[0].values["note"] = "<unchanged>"
    [load_key] = write_full_load(store, "sales", "sales", "orders", COLUMNS, load)
    values = {"order_id": "1", "customer": "c1", "amount": "9.00"}
    update = [
        ChangeRow(
            "U", DAY1 + dt.timedelta(hours=1), format_lsn_position(200, 1), {**values, "note": UNCHANGED}
        ),
        ChangeRow(
            "U", DAY1 + dt.timedelta(hours=1), format_lsn_position(200, 2), {**values, "note": "<unchanged>"}
        ),
    ]
    change_key = write_changes(store, "sales", "sales", "orders", COLUMNS, update)
    stray = f"{LANDING}/notes.txt"
    store.put_bytes(stray, b"a stray\n")
    sidecars = {not_carried_key(load_key), not_carried_key(change_key)}
    assert all(store.exists(k) for k in sidecars)

    # The sensor's listing skips "_" names; the sensor must not take a sidecar for a stray even if listed.
    import lake_assets.sensors.landing as sensor_module

    real = sensor_module.find_new

    def with_sidecars(store_, cursor, prefix, **kwargs):  # noqa: ANN001, ANN202
        found = real(store_, cursor, prefix, **kwargs)
        extra = [i for i in store_.list(prefix) if is_not_carried_name(i.key.rsplit("/", 1)[-1])]
        return dataclasses.replace(found, objects=found.objects + extra)

    monkeypatch.setattr(sensor_module, "find_new", with_sidecars)
    assert SENSOR is not None
    context = dg.build_sensor_context(resources={"lake": lake_resource(lake_root)})
    warnings = Warnings()
    context.log.addHandler(warnings)
    tick = SENSOR(context)
    [message] = [m for m in warnings.messages if "not DMS file names" in m]
    assert stray in message and not any(k in message for k in sidecars)
    assert len(warnings.messages) == 1, warnings.messages
    assert {r.partition_key for r in tick.run_requests} == {DAY1.date().isoformat()}
    [request] = tick.run_requests
    assert request.tags["lake/landing_objects"] == "2"  # the two CSV files, not their sidecars

    result = materialize(lake_root, DAY1.date().isoformat())
    assert result.success, failure_text(result)
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["unrecognised_landing_objects"].value == [stray]
    assert raw_files(lake_root) == {
        f"dt={DAY1.date()}": {"LOAD00000001.avro", change_key.rsplit("/", 1)[1][:-4] + ".avro"}
    }
    store.delete(stray)
    assert raw_rows(lake_root) == landing_rows(lake_root)
    records = []
    for path in sorted((lake_root / "raw" / "cdc" / "sales" / "orders").glob("dt=*/*.avro")):
        with open(path, "rb") as handle:
            records += [(r["Op"], r["order_id"], r["note"], r["_unchanged"]) for r in fastavro.reader(handle)]
    expected = [
        ("I", "1", "<unchanged>", None),  # the text, as a value
        ("I", "2", "", None),
        ("U", "1", None, ["note"]),  # not carried
        ("U", "1", "<unchanged>", None),  # the text again, in an update
    ]
    assert sorted(records, key=repr) == sorted(expected, key=repr)
    index = lake_root / "_system" / "index" / "cdc" / "sales" / "orders"
    assert sorted(p.name for p in index.iterdir()) == sorted(
        [f"{load_key.rsplit('/', 1)[1]}.json", f"{change_key.rsplit('/', 1)[1]}.json"]
    )


def test_typed_csv_after_text_csv_stops_raw_with_the_type_change_and_publishes_nothing(
    lake_root: Path,
) -> None:
    """A lake whose CSV files were landed before sidecars carried column types (raw has text columns): the
    first typed file stops the raw run naming the column and the change, and raw keeps what it had."""
    store = LocalObjectStore(lake_root)
    [load_key] = write_full_load(
        store, "sales", "sales", "orders", COLUMNS, load_rows(DAY1, range(1, 3), 100)
    )
    sidecar = json.loads(store.get_bytes(not_carried_key(load_key)))
    assert sidecar["column_types"] == {}  # no types given: text, as before column types existed
    assert materialize(lake_root, DAY1.date().isoformat()).success
    before = raw_rows(lake_root)
    change = ChangeRow(
        "U",
        DAY1 + dt.timedelta(hours=2),
        format_lsn_position(300, 1),
        {"order_id": "1", "customer": "c1", "note": "n", "amount": "9.00"},
    )
    write_changes(
        store, "sales", "sales", "orders", COLUMNS, [change], DmsOptions(), {"order_id": pa.int64()}
    )
    result = materialize(lake_root, DAY1.date().isoformat())
    assert not result.success
    text = failure_text(result)
    assert 'column order_id changed type from "string" to "long"' in text
    assert "not FULL compatible" in text and "start the table afresh" in text
    assert raw_rows(lake_root) == before
    versions = lake_root / "_system" / "schemas" / "cdc" / "sales" / "orders"
    assert sorted(p.name for p in versions.iterdir()) == ["v1.avsc"]


def test_a_staged_day_that_fails_verification_reports_both_checks_and_publishes_nothing(
    lake_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The raw checks are judged on the staging folder: a failed count is reported as a failed check result
    (the schema check passed) and raw stays as it was. The verification is forced to fail here."""
    import lake_assets.assets.raw as raw_assets
    from lake_assets.sources.raw_avro import RawVerification

    store = LocalObjectStore(lake_root)
    write_full_load(store, "sales", "sales", "orders", COLUMNS, load_rows(DAY1, range(1, 3), 100))
    monkeypatch.setattr(
        raw_assets,
        "verify_staged",
        lambda *args: RawVerification(2, [], ["landing has 3 records, staged 2"]),
    )
    result = materialize(lake_root, DAY1.date().isoformat())
    assert not result.success and "failed its checks; nothing published" in failure_text(result)
    checks = {c.check_name: (c.passed, c.metadata) for c in result.get_asset_check_evaluations()}
    assert checks["conforms_to_schema"][0] is True
    assert checks["counts_reconcile_with_landing"][0] is False
    assert "landing has 3 records" in checks["counts_reconcile_with_landing"][1]["problems"].value
    assert raw_files(lake_root) == {}
