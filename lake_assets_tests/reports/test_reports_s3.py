"""Reports on a lake on S3 (a real SeaweedFS server): the quarantine read and the files written through the
object store, nothing on the local disk."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lake_assets.access.policy import load_policy
from lake_assets.reports.build import build_report
from lake_assets.reports.charts import HEIGHT, WIDTH
from lake_assets.reports.render import HTML_FILE, PNG_FILE, page_location, png_size, report_files
from lake_assets.sources.quarantine import quarantine_record
from lake_assets.storage.s3 import S3ObjectStore
from lake_assets.tables.catalog import CatalogConfig


def test_a_report_of_a_lake_on_s3_is_written_to_s3(s3_store: S3ObjectStore, tmp_path: Path) -> None:
    received = dt.datetime(2026, 11, 21, 9, tzinfo=dt.UTC).timestamp()
    records = [quarantine_record(b"{", "malformed JSON", "malformed_json", "t", received, n) for n in (1, 2)]
    s3_store.put_bytes("quarantine/events/2026/11/21/09/shop-1-a.jsonl", b"\n".join(records) + b"\n")
    # No table committed yet (the catalog file does not exist): the table reports draw empty charts.
    catalog = CatalogConfig.for_lake(s3_store.uri(), f"sqlite:///{tmp_path}/catalog.db")
    built = build_report("quarantine", s3_store, catalog, load_policy())
    assert built.rows.to_dict("records") == [{"day": "2026-11-21", "kind": "malformed_json", "records": 2}]
    assert build_report("daily_sales", s3_store, catalog, load_policy()).rows.empty
    prefix = "final/reports/quarantine/"
    assert png_size(s3_store.get_bytes(prefix + PNG_FILE)) == (WIDTH, HEIGHT)
    assert b"malformed_json" in s3_store.get_bytes(prefix + HTML_FILE)
    assert page_location(s3_store, "quarantine") == f"{s3_store.uri()}/{prefix}{HTML_FILE}"
    assert sorted(report_files(s3_store)) == ["daily_sales", "quarantine"]
