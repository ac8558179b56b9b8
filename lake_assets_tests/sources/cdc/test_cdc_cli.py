"""`lake cdc snapshot` then `lake cdc stream` through the real command line, against the real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lake_assets.settings import REPO_ROOT
from lake_assets.sources.cdc.dms_format import current_state, in_landing_order, read_dms_file
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.sources.cdc.conftest import MyTest, PgTest

LAKE = str(Path(sys.executable).with_name("lake"))


def lake(args: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKE_")} | {"LAKE_ROOT": str(root)}
    return subprocess.run([LAKE, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_snapshot_then_stream_lands_dms_files_that_merge_to_the_table(pg: PgTest, tmp_path: Path) -> None:
    table = f"{pg.name}_customers"
    pg.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, name text)", f"INSERT INTO {table} VALUES (1, 'a')"
    )
    common = ["--url", pg.url, "--source", "shopdb", "--slot", pg.name]
    snap = lake(["cdc", "snapshot", *common, f"public.{table}"], tmp_path)
    assert snap.returncode == 0, snap.stderr
    assert f"public.{table}: 1 rows" in snap.stdout
    pg.execute(f"UPDATE {table} SET name = 'b' WHERE id = 1", f"INSERT INTO {table} VALUES (2, 'c')")
    pg.execute(f"DELETE FROM {table} WHERE id = 2")
    streamed = lake(["cdc", "stream", *common], tmp_path)
    assert streamed.returncode == 0, streamed.stderr
    assert "3 changes" in streamed.stdout
    store = LocalObjectStore(tmp_path)
    keys = in_landing_order(store.list_keys(f"landing/cdc/shopdb/public/{table}/"))
    assert keys[0].endswith("LOAD00000001.csv") and len(keys) == 2
    rows = [row for key in keys for row in read_dms_file(store, key)]
    assert current_state(rows, ["id"]) == pg.rows(table, ["id"])
    again = lake(["cdc", "snapshot", *common, f"public.{table}"], tmp_path)
    assert again.returncode == 2 and "lake:" in again.stderr and "Traceback" not in again.stderr


def test_mariadb_snapshot_stream_and_reset_through_the_cli(my: MyTest, tmp_path: Path) -> None:
    table = f"{my.name}_items"
    my.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(20)) ENGINE=InnoDB")
    my.execute(f"INSERT INTO {table} VALUES (1, 'a')")
    common = ["--url", my.url, "--source", "erp"]
    snap = lake(["cdc", "snapshot", *common, f"test.{table}"], tmp_path)
    assert snap.returncode == 0, snap.stderr
    my.execute(f"UPDATE {table} SET name = 'b' WHERE id = 1", f"INSERT INTO {table} VALUES (2, 'c')")
    streamed = lake(["cdc", "stream", *common], tmp_path)
    assert streamed.returncode == 0, streamed.stderr
    assert "2 changes" in streamed.stdout
    store = LocalObjectStore(tmp_path)
    keys = in_landing_order(store.list_keys(f"landing/cdc/erp/test/{table}/"))
    rows = [row for key in keys for row in read_dms_file(store, key)]
    assert current_state(rows, ["id"]) == my.rows(table, ["id"])
    refused = lake(["cdc", "snapshot", *common, f"test.{table}"], tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert lake(["cdc", "reset", "--source", "erp"], tmp_path).returncode == 0
    assert lake(["cdc", "snapshot", *common, f"test.{table}"], tmp_path).returncode == 0
