"""End to end through the real command lines: ``lake`` and ``dagster asset materialize`` as subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lake_assets.samples.events import write_sample_file
from lake_assets.settings import REPO_ROOT
from lake_assets_tests.lake_helpers import START

BIN = Path(sys.executable).parent


def run(args: list[str], env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKE_", "AWS_"))}
    env.update(
        {"LAKE_ROOT": str(tmp_path / "lake"), "DAGSTER_HOME": str(home), "LAKE_BATCH_MAX_EVENTS": "500"}
    )
    return env


FINALS = 'key:"final/shop/*"'  # the two final tables (Dagster's selection syntax)


def _materialize_day(cli_env: dict[str, str], select: str = "*") -> None:
    """One day through ``dagster asset materialize``: the whole graph (``*``), or a selection."""
    done = run(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "lake_assets.definitions",
            "--select",
            select,
            "--partition",
            START.isoformat(),
        ],
        cli_env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "RUN_SUCCESS" in done.stdout + done.stderr


def _lake(cli_env: dict[str, str], *args: str) -> str:
    done = run([str(BIN / "lake"), *args], cli_env)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.e2e
def test_ingest_index_materialize_query_catalog_and_time_travel(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    sample = tmp_path / "events.jsonl"
    write_sample_file(sample, n_events=2000, days=1, start=START, seed=3)
    ingested = run([str(BIN / "lake"), "events", "ingest", str(sample)], cli_env)
    assert ingested.returncode == 0, ingested.stderr
    assert "quarantined" in ingested.stdout
    indexed = run([str(BIN / "lake"), "index"], cli_env)
    assert indexed.returncode == 0, indexed.stderr
    assert f"raw/events/page_view dt={START}" in indexed.stdout
    _materialize_day(cli_env)
    count = "SELECT 'sessions=' || sum(sessions) AS r FROM final.shop_daily_funnel"
    first = _lake(cli_env, "query", count)
    assert "sessions=" in first
    # The flat name of earlier releases reads the same table.
    assert "days=1" in _lake(cli_env, "query", "SELECT 'days=' || count(*) FROM final_shop_daily_funnel")

    listed = _lake(cli_env, "catalog", "list")
    assert "6 table(s)" in listed and "final.shop_daily_funnel" in listed  # + final.ml_customer_day_features
    shown = _lake(cli_env, "catalog", "show", "final.shop_daily_product_sales")
    assert "partition  identity(dt)" in shown and "sort order dt ASC, product_id ASC" in shown
    history = _lake(cli_env, "catalog", "history", "final.shop_daily_funnel").splitlines()
    published = [line.split()[0] for line in history[1:] if "never main's" not in line]
    assert len(published) == 1

    # More events of the same day: the re-run replaces the day in one new snapshot; --as-of reads the old one.
    more = tmp_path / "more.jsonl"
    write_sample_file(more, n_events=1000, days=1, start=START, seed=4)
    assert run([str(BIN / "lake"), "events", "ingest", str(more)], cli_env).returncode == 0
    assert run([str(BIN / "lake"), "index"], cli_env).returncode == 0
    _materialize_day(cli_env, "+" + FINALS)  # the final tables and everything upstream of them
    second = _lake(cli_env, "query", count)
    assert second != first
    assert _lake(cli_env, "query", count, "--as-of", published[0]) == first
    history = _lake(cli_env, "catalog", "history", "final.shop_daily_funnel").splitlines()
    assert len([line for line in history[1:] if "never main's" not in line]) == 2

    # Rebuilding from raw (docs/OPERATIONS.md): drop the tables, materialize again: the same rows.
    unknown = run([str(BIN / "lake"), "catalog", "drop", "final.nope"], cli_env)
    assert unknown.returncode == 2 and "no table final.nope" in unknown.stderr
    dropped = _lake(cli_env, "catalog", "drop", "--zone", "final")
    assert (
        "dropped final.shop_daily_funnel" in dropped and "dropped final.shop_daily_product_sales" in dropped
    )
    assert "3 table(s)" in _lake(cli_env, "catalog", "list")
    # The final tables only, from the intermediate tables, which are still there.
    _materialize_day(cli_env, FINALS)
    assert _lake(cli_env, "query", count) == second

    before = run([str(BIN / "lake"), "query", count, "--as-of", "2000-01-01T00:00:00"], cli_env)
    assert before.returncode == 2 and "Traceback" not in before.stderr
    assert "final.shop_daily_funnel" in before.stderr  # the table did not exist then

    catalog = Path(cli_env["LAKE_ROOT"]) / "_system" / "catalog.db"
    catalog.write_bytes(b"not a database at all" * 100)
    broken = run([str(BIN / "lake"), "catalog", "list"], cli_env)
    assert broken.returncode == 2 and "Traceback" not in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1 and str(catalog) in broken.stderr


def test_a_bad_setting_is_one_clear_line(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "LAKE_ENV": "cloud"}
    done = run([str(BIN / "lake"), "index"], env)
    assert done.returncode == 2
    assert "LAKE_ENV='cloud' is not one of local, s3, aws" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_s3_endpoint_is_a_clear_error_at_start(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    sample = tmp_path / "one.jsonl"
    sample.write_text(json.dumps({"event_type": "page_view"}) + "\n")
    env = {
        **cli_env,
        "LAKE_ENV": "s3",
        "LAKE_ROOT": "s3://lake/prefix",
        "LAKE_S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
    }
    done = run([str(BIN / "lake"), "events", "ingest", str(sample)], env, timeout=60)
    assert done.returncode == 2
    assert "http://127.0.0.1:9" in done.stderr
    assert "Traceback" not in done.stderr


def test_schemas_check_gates_an_incompatible_version(tmp_path: Path, cli_env: dict[str, str]) -> None:
    registry = tmp_path / "registry"
    shutil.copytree(REPO_ROOT / "lake_assets" / "registry" / "schemas", registry)
    ok = run([str(BIN / "lake"), "schemas", "check", "--registry", str(registry)], cli_env)
    assert ok.returncode == 0, ok.stderr
    subject = registry / "events" / "cart_update"
    v2 = json.loads((subject / "v1.avsc").read_text())
    for field in v2["fields"]:
        if field["name"] == "quantity":
            field["type"] = "string"  # int -> string cannot be read by the new schema
    (subject / "v2.avsc").write_text(json.dumps(v2))
    bad = run([str(BIN / "lake"), "schemas", "check", "--registry", str(registry)], cli_env)
    assert bad.returncode == 1
    assert "cart_update v2 is not BACKWARD compatible with v1" in bad.stderr
    assert "quantity" in bad.stderr


def test_ingest_from_stdin_reports_every_event(cli_env: dict[str, str]) -> None:
    good = json.dumps(
        {
            "event_id": "e1",
            "event_type": "page_view",
            "event_time": "2026-11-20T10:00:00Z",
            "session_id": "s1",
            "page_url": "/",
            "page_type": "home",
            "device": "mobile",
        }
    )
    stdin = (good + "\n" + "{not json\n" + '{"event_type": "refund"}\n').encode() + b"\xff\xfe\n"
    done = subprocess.run(
        [str(BIN / "lake"), "events", "ingest", "-"],
        cwd=REPO_ROOT,
        env=cli_env,
        input=stdin,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.decode()
    assert "read 4 events" in out and "landed 1" in out and "quarantined 3" in out
    quarantine = list((Path(cli_env["LAKE_ROOT"]) / "quarantine" / "events").rglob("*.jsonl"))
    records = [json.loads(line) for path in quarantine for line in path.read_text().splitlines()]
    assert {r["kind"] for r in records} == {"malformed_json", "unknown_event_type", "invalid_utf8"}
    assert any(r.get("payload_base64") for r in records)  # the undecodable bytes are kept, not lost


def test_package_lambda_is_reproducible_through_the_cli(tmp_path: Path, cli_env: dict[str, str]) -> None:
    outputs = []
    for name in ("a.zip", "b.zip"):
        done = run([str(BIN / "lake"), "package", "lambda", "--out", str(tmp_path / name)], cli_env)
        assert done.returncode == 0, done.stderr
        assert "lake_assets.sources.events.lambda_intake.handler" in done.stdout
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]


def test_sources_list_and_check(tmp_path: Path, cli_env: dict[str, str]) -> None:
    listed = run([str(BIN / "lake"), "sources", "list"], cli_env)
    assert listed.returncode == 0, listed.stderr
    assert {"products", "web_access", "shop_orders_api"} <= {
        line.split()[0] for line in listed.stdout.splitlines()
    }
    assert run([str(BIN / "lake"), "sources", "check"], cli_env).returncode == 0
    (tmp_path / "bad.yaml").write_text("name: x\nkind: csvv\nlanding: landing/files/x/\n")
    bad = run([str(BIN / "lake"), "sources", "check", "--specs", str(tmp_path)], cli_env)
    assert bad.returncode == 1
    assert "bad.yaml: field 'kind': 'csvv' is not a source kind" in bad.stderr


def test_lake_help_is_plain_text_and_says_where_lake_lives(cli_env: dict[str, str]) -> None:
    done = run([str(BIN / "lake"), "--help"], cli_env)
    assert done.returncode == 0 and "``" not in done.stdout
    assert ".venv/bin/lake" in " ".join(done.stdout.split())
    demo = run([str(BIN / "lake"), "demo", "--help"], cli_env)
    assert "--keep" in demo.stdout and "--yes" in demo.stdout


def test_a_second_demo_says_what_it_deletes_and_asks_a_person_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``lake demo`` over an existing lake: at a terminal it asks (no: nothing deleted, a clear error);
    without one, or with --yes, it says what it removes before removing it."""
    from lake_assets import cli

    lake = tmp_path / "lake"
    (lake / "raw").mkdir(parents=True)
    (lake / "raw" / "a.avro").write_bytes(b"x" * 2000)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: (print(prompt), "n")[1])
    with pytest.raises(cli.CliError, match="nothing deleted; run `lake demo --keep`"):
        cli._replace_lake(lake, assume_yes=False)
    assert (lake / "raw" / "a.avro").exists()
    assert f"deletes the lake at {lake} (1 files, 0.0 MB" in capsys.readouterr().out
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    cli._replace_lake(lake, assume_yes=False)
    assert not lake.exists() and f"removing the lake at {lake}" in capsys.readouterr().out
    (lake / "raw").mkdir(parents=True)
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("asked despite --yes"))
    cli._replace_lake(lake, assume_yes=True)
    assert not lake.exists() and "(lake demo --keep keeps it)" in capsys.readouterr().out


def test_events_send_refuses_a_utf16_file_before_sending_anything(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """The queue URL points nowhere: the refusal must come before any AWS call."""
    events = tmp_path / "events.jsonl"
    events.write_bytes('{"event_type": "page_view"}\n'.encode("utf-16"))
    done = run(
        [str(BIN / "lake"), "events", "send", str(events), "--queue-url", "http://127.0.0.1:9/q"], cli_env
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        f"lake: {events}: file is UTF-16LE (byte order mark FF FE), not UTF-8: re-encode it as UTF-8"
        in done.stderr
    )
    assert "nothing was sent" in done.stderr
