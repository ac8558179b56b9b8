"""The landing files sensor with build_sensor_context: runs per (source, day), restart, re-delivery."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from pathlib import Path

import dagster as dg

from lake_assets.samples import files as file_samples
from lake_assets.sensors.landing import build_landing_sensor
from lake_assets.sources.files.index import partition_objects
from lake_assets.sources.files.kind import FileSourceKind
from lake_assets.sources.specs import load_specs
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.lake_helpers import lake_resource

SPECS = load_specs()
SENSOR = build_landing_sensor(FileSourceKind(SPECS))


def evaluate(root: Path | str, cursor: str | None) -> dg.SensorResult:
    return SENSOR(dg.build_sensor_context(cursor=cursor, resources={"lake": lake_resource(root)}))


def requested(result: dg.SensorResult) -> set[tuple[str, str | None]]:
    return {(r.asset_selection[0].to_user_string(), r.partition_key) for r in result.run_requests}


def test_new_files_request_one_run_per_source_and_event_day(local_store: LocalObjectStore) -> None:
    paths = file_samples.write_samples(local_store.base, seed=2)
    result = evaluate(local_store.root, None)
    got = requested(result)
    # Independent of the lake's readers: the days in the sample files themselves.
    with open(paths["products"], encoding="utf-8") as handle:
        product_days = {row["updated_at"][:10] for row in csv.DictReader(handle)}
    with open(paths["reviews"], encoding="utf-8") as handle:
        review_days = {
            dt.datetime.fromisoformat(json.loads(line)["created_at"]).astimezone(dt.UTC).date().isoformat()
            for line in handle
        }
    assert {d for s, d in got if s == "raw/files/products"} == product_days
    assert {d for s, d in got if s == "raw/files/reviews"} == review_days
    assert ("raw/files/stores", None) in got  # unpartitioned: one run for the table
    assert {s for s, _ in got} == {
        f"raw/files/{n}" for n in ("products", "stores", "reviews", "inventory", "web_access")
    }
    assert "2026-11-19" in {d for s, d in got if s == "raw/files/inventory"}  # Berlin midnight is 23:00 UTC
    assert all(r.run_key and r.run_key.startswith("raw-files-") for r in result.run_requests)
    # the index a raw run reads: every products day lists the file
    for day in product_days:
        assert partition_objects(local_store, SPECS[[s.name for s in SPECS].index("products")], day) == [
            "landing/files/products/2026/11/20/products-0001.csv"
        ]


def test_restart_with_the_stored_cursor_requests_only_new_files(local_store: LocalObjectStore) -> None:
    file_samples.write_samples(local_store.base, seed=2)
    first = evaluate(local_store.root, None)
    again = evaluate(local_store.root, first.cursor)  # a restarted daemon reads the cursor back
    assert again.run_requests == [] and again.skip_reason
    # A new file whose name sorts *before* every key seen: a key cursor would miss it.
    key = "landing/files/products/2026/01/01/aaa.csv"
    path = local_store.base / key
    path.parent.mkdir(parents=True)
    file_samples.products_csv(path, rows=5, seed=9, days=1)
    later = evaluate(local_store.root, again.cursor)
    assert {s for s, _ in requested(later)} == {"raw/files/products"}
    assert {r.run_key for r in later.run_requests}.isdisjoint({r.run_key for r in first.run_requests})
    assert evaluate(local_store.root, later.cursor).run_requests == []


def test_redelivery_gives_the_same_run_keys_and_a_changed_file_a_new_one(
    local_store: LocalObjectStore,
) -> None:
    paths = file_samples.write_samples(local_store.base, seed=4)
    first = evaluate(local_store.root, None)
    lost_cursor = evaluate(local_store.root, None)  # everything re-listed: Dagster skips known run keys
    assert sorted(r.run_key for r in first.run_requests) == sorted(
        r.run_key for r in lost_cursor.run_requests
    )
    stat = paths["stores"].stat()
    file_samples.stores_tsv(paths["stores"], rows=41, seed=4)  # the export is replaced
    os.utime(paths["stores"], (stat.st_atime, stat.st_mtime + 5))
    changed = evaluate(local_store.root, first.cursor)
    assert requested(changed) == {("raw/files/stores", None)}
    assert changed.run_requests[0].run_key not in {r.run_key for r in first.run_requests}


def test_a_file_of_no_source_and_a_file_without_usable_rows(local_store: LocalObjectStore) -> None:
    local_store.put_bytes("landing/files/unknown_source/x.csv", b"a,b\n1,2\n")
    local_store.put_bytes("landing/files/products/2026/11/24/broken.csv", b"product_id;updated_at\n1;x\n")
    result = evaluate(local_store.root, None)
    # No event time parses: the object goes to its arrival day, so a raw run still quarantines its rows.
    arrival = (
        dt.datetime.fromtimestamp(
            (local_store.base / "landing/files/products/2026/11/24/broken.csv").stat().st_mtime, dt.UTC
        )
        .date()
        .isoformat()
    )
    assert requested(result) == {("raw/files/products", arrival)}
