"""The landing CDC sensor with build_sensor_context: hand-made DMS files -> runs per (table, change day)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from pathlib import Path

import dagster as dg

from lake_assets.sensors.landing import build_landing_sensor
from lake_assets.sources.cdc.kind import CdcSourceKind
from lake_assets.sources.cdc.raw import build_cdc_raw
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.lake_helpers import lake_resource

FIXTURES = Path(__file__).parents[1] / "sources" / "cdc" / "dms_fixtures"
ORDERS = CdcTableSpec("sales", "sales", "orders", ("order_id",), buckets=4)
EMPLOYEE = CdcTableSpec(
    "hr",
    "hr",
    "employee",
    ("emp_id",),
    columns=("emp_id", "last_name", "first_name", "hire_date", "city"),
    timestamp_column=None,
)
SENSOR = build_landing_sensor(CdcSourceKind([ORDERS, EMPLOYEE]))
ORDERS_FILES = ["LOAD00000001.csv", "20261124-221530123.csv", "20261124-221600000.csv"]
HEADER = b"Op,dms_commit_ts,order_id,customer,note,amount,AR_H_CHANGE_SEQ\n"


class Warnings(logging.Handler):
    """Collects the tick's warnings from the sensor's own logger."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.messages)


def evaluate(root: Path, cursor: str | None, warnings: Warnings | None = None) -> dg.SensorResult:
    assert SENSOR is not None
    context = dg.build_sensor_context(cursor=cursor, resources={"lake": lake_resource(root)})
    if warnings is not None:
        context.log.addHandler(warnings)
    return SENSOR(context)


def requested(result: dg.SensorResult) -> set[tuple[str, str | None]]:
    return {(r.asset_selection[0].to_user_string(), r.partition_key) for r in result.run_requests}


def land_orders(root: Path, *names: str) -> Path:
    target = root / "landing" / "cdc" / "sales" / "sales" / "orders"
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(FIXTURES / "with_header" / "sales" / "orders" / name, target / name)
    return target


def land_employee(root: Path, year: str) -> Path:
    """The header-less DMS default layout; ``year`` replaces 2014 in the change files' names."""
    target = root / "landing" / "cdc" / "hr" / "hr" / "employee"
    target.mkdir(parents=True)
    for path in (FIXTURES / "default" / "hr" / "employee").iterdir():
        shutil.copy(path, target / path.name.replace("2014", year))
    return target


def mtime_day(path: Path) -> str:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).date().isoformat()


def test_dms_files_request_one_run_per_table_and_day_of_change(lake_root: Path) -> None:
    land_orders(lake_root, *ORDERS_FILES)
    employee = land_employee(lake_root, "2026")
    result = evaluate(lake_root, None)
    # From the fixtures themselves: orders carry commit times of 2026-11-24; the employee change files have
    # no timestamp column, so their names give the day; its full loads go to their arrival day.
    loads = {mtime_day(employee / n) for n in ("LOAD00000001.csv", "LOAD00000002.csv")}
    assert requested(result) == {
        ("raw/cdc/sales/orders", "2026-11-24"),
        ("raw/cdc/hr/employee", "2026-10-29"),
        ("raw/cdc/hr/employee", "2026-10-30"),
        *{("raw/cdc/hr/employee", day) for day in loads},
    }
    by_partition = {(r.asset_selection[0].to_user_string(), r.partition_key): r for r in result.run_requests}
    assert by_partition[("raw/cdc/sales/orders", "2026-11-24")].tags["lake/landing_objects"] == "3"
    assert by_partition[("raw/cdc/hr/employee", "2026-10-29")].tags["lake/landing_objects"] == "2"
    assert len({r.run_key for r in result.run_requests}) == len(result.run_requests)
    assert all(r.run_key and r.run_key.startswith("raw-cdc-") for r in result.run_requests)


def test_each_requested_day_has_rows_for_the_raw_run(lake_root: Path, tmp_path: Path) -> None:
    """The sensor and the raw asset agree on the days: no run is requested for a day raw finds empty."""
    land_orders(lake_root, *ORDERS_FILES)
    land_employee(lake_root, "2026")
    store = LocalObjectStore(lake_root)
    result = evaluate(lake_root, None)
    specs = {"raw/cdc/sales/orders": ORDERS, "raw/cdc/hr/employee": EMPLOYEE}
    for asset, day in requested(result):
        assert day is not None
        built = build_cdc_raw(store, specs[asset], [day], tmp_path / "stage" / asset / day)
        assert built.days[day] > 0, (asset, day)


def test_restart_with_the_cursor_requests_nothing_and_a_new_file_only_its_day(lake_root: Path) -> None:
    target = land_orders(lake_root, *ORDERS_FILES)
    first = evaluate(lake_root, None)
    again = evaluate(lake_root, first.cursor)  # a restarted daemon reads the cursor back
    assert again.run_requests == [] and again.skip_reason
    # A change file whose name sorts before every file seen (DMS names by time; a late batch of an older
    # day, or a name moved on by a millisecond, need not sort last): a key cursor would miss it.
    (target / "20261120-101010000.csv").write_bytes(
        HEADER + b"U,2026-11-20 10:10:10.000000,2,globex,late,9.00,20261120101010000000000000000000301\n"
    )
    later = evaluate(lake_root, again.cursor)
    assert requested(later) == {("raw/cdc/sales/orders", "2026-11-20")}
    assert later.run_requests[0].tags["lake/landing_objects"] == "1"
    assert evaluate(lake_root, later.cursor).run_requests == []


def test_a_lost_cursor_gives_the_same_run_keys(lake_root: Path) -> None:
    land_orders(lake_root, *ORDERS_FILES)
    land_employee(lake_root, "2026")
    first = evaluate(lake_root, None)
    lost = evaluate(lake_root, None)  # everything re-listed: Dagster skips the run keys it knows
    assert sorted(r.run_key for r in lost.run_requests) == sorted(r.run_key for r in first.run_requests)


def test_a_rewritten_full_load_requests_its_new_day_and_its_old_one_and_the_raw_runs_land_it(
    lake_root: Path, tmp_path: Path
) -> None:
    target = land_orders(lake_root, "LOAD00000001.csv")
    store = LocalObjectStore(lake_root)
    first = evaluate(lake_root, None)
    assert requested(first) == {("raw/cdc/sales/orders", "2026-11-24")}
    build_cdc_raw(store, ORDERS, ["2026-11-24"], tmp_path / "a")  # the raw run indexes the file
    # A reload (DMS task reload, or a re-snapshot) rewrites LOAD00000001 with another snapshot time: same
    # name, same size, new modification time.
    load = target / "LOAD00000001.csv"
    old = load.read_bytes()
    new = old.replace(b"2026-11-24 22:00:00.000001", b"2026-11-23 06:00:00.000001")
    assert len(new) == len(old) and new != old
    stat = load.stat()
    load.write_bytes(new)
    os.utime(load, (stat.st_atime, stat.st_mtime + 5))
    changed = evaluate(lake_root, first.cursor)
    # The old day too: raw's dt=2026-11-24 still holds the old load's rows until it is rebuilt.
    assert requested(changed) == {
        ("raw/cdc/sales/orders", "2026-11-23"),
        ("raw/cdc/sales/orders", "2026-11-24"),
    }
    assert not {r.run_key for r in changed.run_requests} & {r.run_key for r in first.run_requests}
    built = build_cdc_raw(store, ORDERS, ["2026-11-23", "2026-11-24"], tmp_path / "b")
    assert built.days == {"2026-11-23": 3, "2026-11-24": 0} and built.expected["2026-11-23"] == 3


def test_a_file_of_an_unknown_table_is_left_alone(lake_root: Path) -> None:
    key = "landing/cdc/sales/sales/refunds/LOAD00000001.csv"
    path = lake_root / key
    path.parent.mkdir(parents=True)
    shutil.copy(FIXTURES / "with_header" / "sales" / "orders" / "LOAD00000001.csv", path)
    before = path.read_bytes()
    warnings = Warnings()
    result = evaluate(lake_root, None, warnings)
    assert result.run_requests == [] and result.skip_reason
    assert key in warnings.text and "no CDC table spec" in warnings.text
    assert path.read_bytes() == before
    assert not (lake_root / "_system").exists()  # nothing indexed for it
    land_orders(lake_root, "20261124-221600000.csv")  # the known table next to it still runs
    assert requested(evaluate(lake_root, result.cursor)) == {("raw/cdc/sales/orders", "2026-11-24")}


def test_days_outside_the_partitions_are_not_run(lake_root: Path) -> None:
    employee = land_employee(lake_root, "2014")  # the DMS guide's own dates, before the partitions start
    warnings = Warnings()
    result = evaluate(lake_root, None, warnings)
    loads = {mtime_day(employee / n) for n in ("LOAD00000001.csv", "LOAD00000002.csv")}
    assert requested(result) == {("raw/cdc/hr/employee", day) for day in loads}
    assert "(2014-10-29, 2014-10-30): set LAKE_PARTITIONS_START to 2014-10-29 or earlier" in warnings.text


def test_an_unreadable_file_requests_its_arrival_day_so_the_raw_run_reports_it(lake_root: Path) -> None:
    target = land_orders(lake_root)
    (target / "20261124-230000000.csv").write_bytes(HEADER + b"X,not a time,1,acme,,1.00,1\n")
    warnings = Warnings()
    result = evaluate(lake_root, None, warnings)
    assert requested(result) == {("raw/cdc/sales/orders", mtime_day(target / "20261124-230000000.csv"))}
    assert "cannot be read as DMS output" in warnings.text


def test_files_not_named_as_dms_are_logged_once_and_run_nothing(lake_root: Path) -> None:
    target = land_orders(lake_root)
    strays = ["notes.txt", "LOAD1.csv", "20261124-221530123.json", "old/LOAD00000001.csv"]
    for name in strays:
        (target / name).parent.mkdir(exist_ok=True)
        (target / name).write_bytes(b"not DMS output\n")
    (target / ".DS_Store").write_bytes(b"\x00")  # hidden: the listing skips it (the raw check names it)
    warnings = Warnings()
    result = evaluate(lake_root, None, warnings)
    assert result.run_requests == [] and result.skip_reason
    [message] = [m for m in warnings.messages if "not DMS file names" in m]  # one line for the tick
    for name in strays:
        assert f"landing/cdc/sales/sales/orders/{name}" in message
    assert "LOADxxxxxxxx" in message and "left in landing" in message
    assert "no CDC table spec" not in warnings.text  # old/ is inside a known table's folder
    # Next tick: not logged again, nothing run; a real DMS file next to them runs as usual.
    land_orders(lake_root, "20261124-221600000.csv")
    quiet = Warnings()
    later = evaluate(lake_root, result.cursor, quiet)
    assert requested(later) == {("raw/cdc/sales/orders", "2026-11-24")}
    assert later.run_requests[0].tags["lake/landing_objects"] == "1"
    assert quiet.messages == []
    for name in strays:
        assert (target / name).read_bytes() == b"not DMS output\n"
