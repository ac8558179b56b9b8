"""The browser suite's steps, timed, against the same checks through Dagster's GraphQL API in the same run.

``lake_assets_tests/e2e/test_ui_browser.py`` checks the UI after the demo in Chromium. This bench runs its
step functions once (one small demo, one ``dagster dev``, one browser, as the suite does) and, for each step,
the GraphQL query or mutation that answers the same question without a browser: what the browser costs on
top of asking the webserver directly. The backfill is run twice (UI, then GraphQL) on the same two days, each
time after wiping the asset, with declarative automation stopped so nothing else materializes it.

    .venv/bin/python bench/bench_ui_browser.py [--events 3000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lake_assets_tests.e2e import test_ui_browser as ui  # noqa: E402 - after the path is set
from lake_assets_tests.fixtures.dagster_dev import graphql, running_dagster_dev  # noqa: E402
from lake_assets_tests.fixtures.demo import run_demo  # noqa: E402

SENSORS_QUERY = """{ sensorsOrError(repositorySelector: {repositoryName: "__repository__",
  repositoryLocationName: "lake_assets.definitions"}) { ... on Sensors { results { name
  sensorState { status } } } } }"""


def timed(label: str, figures: dict[str, float], fn: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    result = fn()
    figures[label] = time.perf_counter() - start
    print(f"  {label:<34} {figures[label]:7.2f} s", flush=True)
    return result


def graphql_lineage(url: str) -> None:
    graph = ui.asset_graph(url)
    for raw_key in ui.CHAINS.values():
        layers = {graph[k]["group"] for k in {raw_key} | ui.downstream(graph, raw_key)}
        assert set(ui.LAYERS) <= layers, (raw_key, layers)


def graphql_sensors(url: str) -> None:
    states = {
        s["name"]: s["sensorState"]["status"]
        for s in graphql(url, SENSORS_QUERY)["sensorsOrError"]["results"]
    }
    assert all(states[name] == "RUNNING" for name in ui.LANDING_SENSORS), states


def graphql_backfill(url: str, days: list[str]) -> None:
    ui.wipe(url, ui.BACKFILL_ASSET)
    backfill = ui.wait_backfill(url, ui.launch_backfill(url, ui.BACKFILL_ASSET, days))
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    assert ui.materialized_days(url, ui.BACKFILL_ASSET) == days


def browser_backfill(page: Any, url: str, days: list[str]) -> None:
    ui.wipe(url, ui.BACKFILL_ASSET)
    ui.launch_backfill_in_ui(page, url, ui.BACKFILL_ASSET, days[0], days[1])
    ui.click_launch_backfill(page)
    backfill = ui.wait_backfill(url, ui.find_backfill(url, ui.BACKFILL_ASSET, days))
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    assert ui.partition_counts(page, url, ui.BACKFILL_ASSET)[0] == 2
    ui.check_partition_run(page, url, ui.BACKFILL_ASSET, days[0], backfill["runs"][0]["runId"])


def graphql_check(url: str) -> None:
    variables = {"key": ui.key_input(ui.CHECKED_ASSET), "check": ui.FAILED_CHECK}
    assert graphql(url, ui.CHECK_QUERY, variables)["assetCheckExecutions"][0]["status"] == "FAILED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    path = ui.chromium_path()
    assert path, "Chromium not found (apt-get install chromium)"
    setup: dict[str, float] = {}
    browser_s: dict[str, float] = {}
    graphql_s: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp, sync_playwright() as playwright:
        base = Path(tmp)
        print("setup")
        ran = timed("lake demo", setup, lambda: run_demo(base, args.events))
        env, link = ran.env, ran.link
        start = time.perf_counter()
        with running_dagster_dev(env, base / "dagster-dev.log") as url:
            setup["dagster dev ready"] = time.perf_counter() - start
            print(f"  {'dagster dev ready':<34} {setup['dagster dev ready']:7.2f} s")
            browser = timed(
                "Chromium launch",
                setup,
                lambda: playwright.chromium.launch(executable_path=path, args=ui.CHROMIUM_ARGS),
            )
            page = browser.new_context(viewport=ui.VIEWPORT).new_page()
            page.set_default_timeout(30_000)
            demo = ui.DemoUI(url, link, base / "lake", base / "shots")
            demo.shots.mkdir()
            days = ui.materialized_days(url, ui.BACKFILL_ASSET)[:2]
            ui.stop_sensor(url, "automation_condition_sensor")

            print("browser steps")
            graph = ui.asset_graph(url)

            def lineage() -> None:
                ui.open_lineage(page, demo, graph)
                for raw_key in ui.CHAINS.values():
                    ui.check_chain(page, demo, graph, raw_key)

            def sensors() -> None:
                ui.check_sensors_running(page, url)
                for name in ui.LANDING_SENSORS:
                    ui.check_sensor_page(page, url, name)

            timed("lineage (5 views)", browser_s, lineage)
            timed("sensors (list + 3 pages)", browser_s, sensors)
            timed("two-day backfill (launch + wait)", browser_s, lambda: browser_backfill(page, url, days))
            ui.land_changed_object(demo.lake_root, days[0])
            failed = ui.wait_backfill(url, ui.launch_backfill(url, ui.CHECKED_ASSET, days[:1]))
            run_id = failed["runs"][0]["runId"]
            variables = {"key": ui.key_input(ui.CHECKED_ASSET), "check": ui.FAILED_CHECK}
            execution = graphql(url, ui.CHECK_QUERY, variables)["assetCheckExecutions"][0]
            assert (execution["status"], execution["runId"]) == ("FAILED", run_id), execution
            try:
                timed(
                    "failed check on its asset",
                    browser_s,
                    lambda: ui.check_failed_in_ui(page, url, ui.CHECKED_ASSET, ui.FAILED_CHECK),
                )
            except Exception:
                left = Path(tempfile.gettempdir()) / "bench-ui-failure.png"
                page.screenshot(path=left)
                print(f"the page as it was left: {left} ({page.url})")
                raise

            print("the same through GraphQL (baseline)")
            timed("lineage (5 views)", graphql_s, lambda: graphql_lineage(url))
            timed("sensors (list + 3 pages)", graphql_s, lambda: graphql_sensors(url))
            timed("two-day backfill (launch + wait)", graphql_s, lambda: graphql_backfill(url, days))
            timed("failed check on its asset", graphql_s, lambda: graphql_check(url))
            browser.close()

    print(f"\n{'step':<34} {'browser':>9} {'GraphQL':>9} {'ratio':>8}")
    for label, seconds in browser_s.items():
        base_s = graphql_s[label]
        print(f"{label:<34} {seconds:8.2f}s {base_s:8.3f}s {seconds / base_s:7.1f}x")
    total_b, total_g = sum(browser_s.values()), sum(graphql_s.values())
    print(f"{'all steps':<34} {total_b:8.2f}s {total_g:8.3f}s {total_b / total_g:7.1f}x")
    print(f"setup: {', '.join(f'{k} {v:.1f} s' for k, v in setup.items())}")


if __name__ == "__main__":
    main()
