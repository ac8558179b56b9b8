"""CDC end to end through the real command lines: `lake cdc`, `dagster asset materialize`, `lake query`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lake_assets_tests.e2e.test_cli import BIN, cli_env, run  # noqa: F401 - cli_env is a fixture
from lake_assets_tests.sources.cdc.conftest import PgTest, pg, pg_url  # noqa: F401 - fixtures


def materialize(selection: str, env: dict[str, str], partition: str | None = None) -> str:
    args = [
        str(BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        "lake_assets.definitions",
        "--select",
        selection,
    ]
    done = run([*args, *(["--partition", partition] if partition else [])], env)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "RUN_SUCCESS" in out, out[-4000:]
    return out


def lake_rows(sql: str, env: dict[str, str]) -> list[str]:
    done = run([str(BIN / "lake"), "query", sql], env)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if "row=" in line]


@pytest.mark.e2e
def test_capture_merge_and_query_a_postgres_table_through_the_clis(
    pg: PgTest,  # noqa: F811
    tmp_path: Path,
    cli_env: dict[str, str],  # noqa: F811
) -> None:
    table = f"{pg.name}_accounts"
    pg.execute(
        f"CREATE TABLE {table} (id int PRIMARY KEY, owner text, balance numeric(12,2))",
        f"INSERT INTO {table} SELECT g, 'o' || g, g * 1.5 FROM generate_series(1, 200) g",
    )
    specs = tmp_path / "tables.yaml"
    specs.write_text(
        "tables:\n"
        f"  - {{source: e2e, schema: public, table: {table}, primary_key: [id], buckets: 4,\n"
        f"     url: '{pg.url}'}}\n"
    )
    env = {**cli_env, "LAKE_CDC_TABLES": str(specs)}
    common = ["--url", pg.url, "--source", "e2e", "--slot", pg.name]
    snap = run([str(BIN / "lake"), "cdc", "snapshot", *common, f"public.{table}"], env)
    assert snap.returncode == 0, snap.stderr
    today = dt.datetime.now(dt.UTC).date().isoformat()
    current = f"intermediate/cdc/e2e/{table}"
    merge = f"{current},{current}_history"
    materialize(f"raw/cdc/e2e/{table}", env, today)
    materialize(merge, env)

    pg.execute(
        f"UPDATE {table} SET balance = 0 WHERE id = 7",
        f"DELETE FROM {table} WHERE id = 8",
        f"INSERT INTO {table} VALUES (900, 'new', 1.25)",
    )
    streamed = run([str(BIN / "lake"), "cdc", "stream", *common], env)
    assert streamed.returncode == 0, streamed.stderr
    materialize(f"raw/cdc/e2e/{table}", env, today)
    out = materialize(merge, env)
    assert "'mode': 'merged'" in out and "'keys_touched': 3" in out  # 3 changes into 200 rows

    view = f"intermediate.cdc_e2e_{table}"  # the Athena name
    rows = lake_rows(
        f"SELECT 'row=' || count(*) || '/' || sum(CAST(balance AS DECIMAL(12,2))) || '/' "
        f"|| count(*) FILTER (WHERE id = 8) || '/' || max(CASE WHEN id = 7 THEN balance END) AS r "
        f"FROM {view}",
        env,
    )
    with pg.conn.cursor() as cur:
        cur.execute(f"SELECT count(*), sum(balance) FROM {table}")
        count, total = cur.fetchone()
    assert rows and f"row={count}/{total}/0/0.00" in rows[0]
    history = lake_rows(
        f"SELECT 'row=' || count(*) AS r FROM {view}_history WHERE id = 8 AND is_deleted", env
    )
    assert history and "row=1" in history[0]
