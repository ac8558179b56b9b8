"""An unchanged TOASTed value through Parquet and CSV landing, raw and the merge: the current state keeps it;
and the text ``<unchanged>`` (DMS's csvNoSupValue) as a source value lands as that text, not as a mark.

Real PostgreSQL capture (pgoutput leaves an unchanged out-of-line value out of an UPDATE), then the raw and
intermediate assets via dagster.materialize on a temporary lake, as in ``test_cdc_assets.py``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import fastavro

from lake_assets.sources.cdc.dms_format import DmsOptions, in_landing_order, not_carried_key
from lake_assets.sources.cdc.postgres import snapshot, stream
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.assets.cdc_helpers import failure_text, run, table, today
from lake_assets_tests.sources.cdc.conftest import PgTest


def make_documents(pg: PgTest) -> tuple[CdcTableSpec, dict[int, str]]:
    """Rows whose ``body`` is 10 kB of random text: incompressible and too big for the row, so TOASTed."""
    name = f"{pg.name}_documents"
    bodies = {1: secrets.token_urlsafe(7500), 2: secrets.token_urlsafe(7500)}
    pg.execute(f"CREATE TABLE {name} (doc_id int PRIMARY KEY, body text, version int)")
    with pg.conn.cursor() as cur:
        for doc_id, body in bodies.items():
            cur.execute(f"INSERT INTO {name} VALUES (%s, %s, 1)", (doc_id, body))
        cur.execute("SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = %s::regclass", (name,))
        cur.execute(f"SELECT count(DISTINCT chunk_id) FROM {cur.fetchone()[0]}")
        assert cur.fetchone()[0] == 2, "both bodies should live in the TOAST table"
    return CdcTableSpec("docs", "public", name, ("doc_id",), buckets=4, url=pg.url), bodies


def test_parquet_landing_keeps_an_unchanged_toasted_value(pg: PgTest, lake_root: Path, spark) -> None:
    store = LocalObjectStore(lake_root)
    spec, bodies = make_documents(pg)
    t = spec.table
    options = DmsOptions(data_format="parquet")
    snapshot(pg.url, [t], store, "docs", slot=pg.name, options=options)
    pg.execute(
        f"UPDATE {t} SET version = 2 WHERE doc_id = 1",  # body not sent: it must keep its value
        f"UPDATE {t} SET body = NULL, version = NULL WHERE doc_id = 2",  # real NULLs must stay NULL
    )
    assert stream(pg.url, pg.name, store, "docs", options=options).changes == 2
    result = run(lake_root, spec, [today()], checks=True)
    assert result.success, failure_text(result)

    # raw: the parser's report became the _unchanged list, and no column beyond the table's own was added.
    records = [
        r
        for path in sorted((lake_root / "raw" / "cdc" / "docs" / t).glob("dt=*/*.avro"))
        for r in _avro(path)
    ]
    updates = {r["doc_id"]: r for r in records if r["Op"] == "U"}
    assert updates[1]["_unchanged"] == ["body"] and updates[1]["body"] is None
    assert updates[2]["_unchanged"] is None and updates[2]["body"] is None
    assert set(records[0]) == {"Op", "commit_ts", "position", "_unchanged", "doc_id", "body", "version"}

    current = {r["doc_id"]: (r["body"], r["version"]) for r in table(lake_root, spec)}
    assert current == {1: (bodies[1], 2), 2: (None, None)}
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {
        "primary_key_unique": True,
        "history_versions_unique": True,
        "reconciles_with_source": True,
    }


def test_csv_landing_keeps_the_text_unchanged_as_data_and_an_unchanged_toasted_value(
    pg: PgTest, lake_root: Path, spark
) -> None:
    """CSV full load and update with the text ``<unchanged>`` in ``note`` (a value) next to an unchanged
    TOASTed ``body`` (not carried): raw and the current state hold the text, and keep the body."""
    store = LocalObjectStore(lake_root)
    spec, bodies = make_documents(pg)
    t = spec.table
    pg.execute(
        f"ALTER TABLE {t} ADD COLUMN note text", f"UPDATE {t} SET note = '<unchanged>' WHERE doc_id = 1"
    )
    snapshot(pg.url, [t], store, "docs", slot=pg.name)  # CSV: the default
    pg.execute(
        f"UPDATE {t} SET version = 2 WHERE doc_id = 1",  # body not sent; note sent, as the text
        f"UPDATE {t} SET note = '<unchanged>', version = 2 WHERE doc_id = 2",  # body not sent
        f"INSERT INTO {t} VALUES (3, 'short', 1, '<unchanged>')",
    )
    assert stream(pg.url, pg.name, store, "docs").changes == 3
    landed = in_landing_order(store.list_keys(f"landing/cdc/docs/public/{t}/"))
    assert [k.rsplit(".", 1)[1] for k in landed] == ["csv", "csv"]
    assert all(store.exists(not_carried_key(k)) for k in landed)
    result = run(lake_root, spec, [today()], checks=True)
    assert result.success, failure_text(result)

    records = [
        r
        for path in sorted((lake_root / "raw" / "cdc" / "docs" / t).glob("dt=*/*.avro"))
        for r in _avro(path)
    ]
    by_op = {(r["Op"], r["doc_id"]): r for r in records}
    assert len(by_op) == len(records) == 5
    assert by_op["I", 1]["note"] == "<unchanged>" and by_op["I", 1]["_unchanged"] is None
    assert by_op["I", 1]["body"] == bodies[1]
    for doc_id in (1, 2):
        update = by_op["U", doc_id]
        assert (update["note"], update["_unchanged"], update["body"]) == ("<unchanged>", ["body"], None)
    assert (by_op["I", 3]["note"], by_op["I", 3]["_unchanged"]) == ("<unchanged>", None)

    current = {r["doc_id"]: (r["body"], r["note"], r["version"]) for r in table(lake_root, spec)}
    assert current == {
        1: (bodies[1], "<unchanged>", 2),
        2: (bodies[2], "<unchanged>", 2),
        3: ("short", "<unchanged>", 1),
    }
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {
        "primary_key_unique": True,
        "history_versions_unique": True,
        "reconciles_with_source": True,
    }


def _avro(path: Path) -> list[dict]:
    with open(path, "rb") as stream_:
        return list(fastavro.reader(stream_))
