"""The Dagster UI after the demo, checked in a real browser: Playwright driving Debian's Chromium.

One small demo, one `dagster dev` on its instance and one browser serve the whole module; the tests run in
file order and the later ones change the instance (the backfill first wipes one final table's
materializations and stops declarative automation; the failed check is provoked last). Each step leaves a
screenshot in ``$UI_SCREENSHOTS`` (``docs/ui`` refreshes the committed ones, see docs/UI.md) or else in a
temporary folder. ``UI_HEADED=1`` shows the browser (a display is needed), ``UI_SLOW_MO=MS`` slows each
action down and ``UI_CHROMIUM`` names another Chromium binary. The module is skipped, saying why, only when
Chromium cannot be found or launched; everything else that goes wrong fails.

The step functions take a page and the webserver's URL so ``bench/bench_ui_browser.py`` times the same steps.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from lake_assets.registry import SchemaRegistry
from lake_assets.sources.events.landing_index import index_object, write_index
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets_tests.fixtures.dagster_dev import graphql, running_dagster_dev
from lake_assets_tests.fixtures.demo import SmallDemo
from lake_assets_tests.lake_helpers import event

LOCATION = "lake_assets.definitions"
REPOSITORY = {"repositoryName": "__repository__", "repositoryLocationName": LOCATION}
VIEWPORT = {"width": 1400, "height": 900}
CHROMIUM_ARGS = [
    "--no-sandbox",  # root in CI containers
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# One raw table per source kind: the lineage view of everything downstream of it must reach final.
CHAINS = {
    "events": "raw/events/order_placed",
    "files": "raw/files/products",
    "api": "raw/api/shop_orders_api",
    "cdc": "raw/cdc/shop/customers",
}
LAYERS = ("raw", "intermediate", "final")
LANDING_SENSORS = ("landing_events_sensor", "landing_files_sensor", "landing_cdc_sensor")
BACKFILL_ASSET = "final/shop/daily_funnel"
CHECKED_ASSET = "raw/events/page_view"
FAILED_CHECK = "counts_reconcile_with_landing"
RUN_SECONDS = 420  # a backfill's Spark run on a loaded 2-core machine, with room to spare

GRAPH_QUERY = "{ assetNodes { assetKey { path } groupName dependedByKeys { path } } }"
STATUS_QUERY = """query ($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
  assetPartitionStatuses { ... on TimePartitionStatuses { ranges { startKey endKey status } } } } } }"""
BACKFILLS_QUERY = """{ partitionBackfillsOrError(limit: 20) { ... on PartitionBackfills { results {
  id status partitionNames assetSelection { path } } } } }"""
BACKFILL_QUERY = """query ($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { id status runs(limit: 20) { runId status } } } }"""
LAUNCH_BACKFILL = """mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) { __typename ... on LaunchBackfillSuccess { backfillId }
  ... on PythonError { message } } }"""
WIPE = """mutation ($ranges: [PartitionsByAssetSelector!]!) { wipeAssets(assetPartitionRanges: $ranges) {
  __typename ... on PythonError { message } ... on UnsupportedOperationError { message } } }"""
SENSOR_QUERY = """query ($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  ... on Sensor { name sensorState { id status } } } }"""
STOP_SENSOR = """mutation ($id: String!) { stopSensor(id: $id) { __typename
  ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }"""
CHECK_QUERY = """query ($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 1) {
  runId status evaluation { success } } }"""
# The asset graph's boxes in graph coordinates: asset nodes (their name in the tooltip) and group boxes.
GRAPH_SCRIPT = """els => els.map(e => {
  const tip = e.querySelector('[data-tooltip]');
  return {x: +e.getAttribute('x'), y: +e.getAttribute('y'), w: +e.getAttribute('width'),
          h: +e.getAttribute('height'), tip: tip ? tip.getAttribute('data-tooltip') : null,
          text: e.textContent.trim()};
})"""
# The switch on an automation's row (the row holds its link, a select box, then the switch once its state has
# loaded): null until then.
SWITCH_SCRIPT = """a => {
  const boxes = a.parentElement.querySelectorAll('input[type=checkbox]');
  return boxes.length < 2 ? null : boxes[boxes.length - 1].checked;
}"""


def key_input(key: str) -> dict[str, list[str]]:
    return {"path": key.split("/")}


def chromium_path() -> str | None:
    """``$UI_CHROMIUM``, else Debian's Chromium (``apt-get install chromium``): never a downloaded browser."""
    if chosen := os.environ.get("UI_CHROMIUM"):
        return chosen if Path(chosen).is_file() else None
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@dataclass
class DemoUI:
    """The webserver after the demo, the link the demo printed, and where the lake is."""

    url: str
    lineage_link: str
    lake_root: Path
    shots: Path

    def shot(self, page: Any, name: str) -> Path:
        path = self.shots / f"{name}.png"
        page.screenshot(path=path)
        return path


# --- steps (also timed by bench/bench_ui_browser.py) -------------------------------------------------------


def asset_graph(url: str) -> dict[str, dict[str, Any]]:
    """key -> group and the keys that depend on it, from the webserver's GraphQL API."""
    nodes = graphql(url, GRAPH_QUERY)["assetNodes"]
    return {
        "/".join(n["assetKey"]["path"]): {
            "group": n["groupName"],
            "children": ["/".join(c["path"]) for c in n["dependedByKeys"]],
        }
        for n in nodes
    }


def downstream(graph: dict[str, dict[str, Any]], key: str) -> set[str]:
    """Every asset below ``key``: what the UI's ``key:"..."+`` selection shows besides it."""
    seen: set[str] = set()
    todo = [key]
    while todo:
        for child in graph[todo.pop()]["children"]:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def shown_nodes(page: Any, groups: set[str]) -> list[tuple[str, str]]:
    """(group, label) of every asset node drawn in the graph, each placed in the expanded group box around it.

    A node's label is its name (its tooltip when drawn in full; the text, maybe shortened with "…", when drawn
    small); a group box is wider than a node and titled with the group's name."""
    drawn = page.locator("svg foreignObject").evaluate_all(GRAPH_SCRIPT)
    boxes = [b for b in drawn if b["text"] in groups and b["w"] > 320]
    shown = []
    for node in drawn:
        label = node["tip"] or node["text"]
        if not label or node["text"] in groups:
            continue
        around = [
            g
            for g in boxes
            if g["x"] <= node["x"] < g["x"] + g["w"] and g["y"] <= node["y"] < g["y"] + g["h"]
        ]
        shown.append((min(around, key=lambda g: g["w"] * g["h"])["text"] if around else "", label))
    return shown


def labelled(name: str, label: str) -> bool:
    """A node label names the asset: the name itself, or its start and end around an ellipsis."""
    head, ellipsis, tail = label.partition("…")
    return label == name or bool(ellipsis) and name.startswith(head) and name.endswith(tail)


def missing_nodes(expected: list[tuple[str, str]], shown: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The expected (group, name) pairs no drawn node stands for (each drawn node stands for one)."""
    left = list(shown)
    missing = []
    for group, name in sorted(expected, key=lambda e: -len(e[1])):
        match = next((s for s in left if s[0] == group and labelled(name, s[1])), None)
        if match is None:
            missing.append((group, name))
        else:
            left.remove(match)
    return missing


def lineage_link(ui: DemoUI, selection: str | None = None) -> str:
    """The demo's link with every layer expanded, on this webserver, optionally showing one selection."""
    link = ui.lineage_link.replace("http://127.0.0.1:3000", ui.url)
    return (
        link
        if selection is None
        else link.replace("/asset-groups?", f"/asset-groups~{quote(selection, safe='')}/?")
    )


def open_lineage(page: Any, ui: DemoUI, graph: dict[str, dict[str, Any]]) -> None:
    """The link as the demo prints it opens the layers: asset nodes are drawn, not collapsed group boxes (the
    view is centred on part of the graph, so which nodes are in sight depends on the layout)."""
    names = {key.rsplit("/", 1)[-1] for key, node in graph.items() if node["group"] in LAYERS}
    page.goto(lineage_link(ui))
    page.get_by_text("Global asset lineage").wait_for()
    deadline = time.monotonic() + 30
    while True:
        drawn = {b["text"] for b in page.locator("svg foreignObject").evaluate_all(GRAPH_SCRIPT)}
        if drawn & names or time.monotonic() > deadline:
            break
        page.wait_for_timeout(250)
    assert drawn & names, f"no asset node drawn, only {sorted(drawn)}"


def check_chain(page: Any, ui: DemoUI, graph: dict[str, dict[str, Any]], raw_key: str) -> list[str]:
    """The lineage view of everything downstream of one raw table shows it, its intermediate tables and the
    final ones below them, each in its layer's box. Returns the final tables shown."""
    keys = sorted(k for k in {raw_key} | downstream(graph, raw_key) if graph[k]["group"] in LAYERS)
    expected = [(graph[k]["group"], k.rsplit("/", 1)[-1]) for k in keys]
    assert {g for g, _ in expected} == set(LAYERS), (raw_key, expected)
    groups = {node["group"] for node in graph.values()}
    page.goto(lineage_link(ui, f'key:"{raw_key}"+'))
    deadline = time.monotonic() + 30
    while True:  # the graph is laid out, then drawn
        shown = shown_nodes(page, groups)
        missing = missing_nodes(expected, shown)
        if not missing or time.monotonic() > deadline:
            break
        page.wait_for_timeout(250)
    assert not missing, f"{raw_key}: not drawn {missing}; drawn {sorted(shown)}"
    return [k for k in keys if graph[k]["group"] == "final"]


def check_sensors_running(page: Any, url: str) -> None:
    """Automation lists the landing sensors switched on."""
    page.goto(f"{url}/automation")
    for name in LANDING_SENSORS:
        link = page.locator(f'a[href$="/sensors/{name}"]').first
        link.wait_for()
        deadline = time.monotonic() + 30
        while (switched := link.evaluate(SWITCH_SCRIPT)) is not True and time.monotonic() < deadline:
            page.wait_for_timeout(250)  # drawn off (or not at all) while the sensor's state loads
        assert switched is True, f"{name}: switch {'not drawn' if switched is None else 'off'}"


def check_sensor_page(page: Any, url: str, name: str) -> None:
    """The sensor's own page: its "Running" row holds a switch that is on."""
    page.goto(f"{url}/locations/{LOCATION}/sensors/{name}")
    switch = page.get_by_role("row").filter(has_text="Running").locator("input[type=checkbox]").first
    switch.wait_for(state="attached")  # drawn as a picture of a switch; the box itself is hidden
    assert switch.is_checked(), f"{name} is not running"


def materialized_days(url: str, key: str) -> list[str]:
    """The materialized daily partitions of an asset, from Dagster's own partition status."""
    node = graphql(url, STATUS_QUERY, {"key": key_input(key)})["assetNodeOrError"]
    days = []
    for span in node["assetPartitionStatuses"]["ranges"]:
        if span["status"] == "MATERIALIZED":
            day, last = dt.date.fromisoformat(span["startKey"]), dt.date.fromisoformat(span["endKey"])
            while day <= last:
                days.append(day.isoformat())
                day += dt.timedelta(days=1)
    return sorted(days)


def stop_sensor(url: str, name: str) -> None:
    """Switch a sensor off through GraphQL (set-up, not what is under test)."""
    selector = {**REPOSITORY, "sensorName": name}
    state = graphql(url, SENSOR_QUERY, {"selector": selector})["sensorOrError"]["sensorState"]
    done = graphql(url, STOP_SENSOR, {"id": state["id"]})["stopSensor"]
    assert done["instigationState"]["status"] == "STOPPED", done


def wipe(url: str, key: str) -> None:
    """Forget an asset's materializations (Dagster's SQLite storage wipes whole assets, not single days)."""
    done = graphql(url, WIPE, {"ranges": [{"assetKey": key_input(key)}]})["wipeAssets"]
    assert done["__typename"] == "AssetWipeSuccess", done


def partition_counts(page: Any, url: str, key: str) -> tuple[int, int]:
    """(materialized, missing) as the asset's Partitions tab counts them."""
    page.goto(f"{url}/assets/{key}?view=partitions")
    materialized = page.get_by_text("Materialized (", exact=False).first
    materialized.wait_for()
    missing = page.get_by_text("Missing (", exact=False).first.inner_text()
    return int(materialized.inner_text().split("(")[1].rstrip(")")), int(missing.split("(")[1].rstrip(")"))


def launch_backfill_in_ui(page: Any, url: str, key: str, first: str, last: str) -> None:
    """Materialize... -> a custom range of days -> Launch backfill, as a person does it."""
    page.goto(f"{url}/assets/{key}?view=partitions")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Custom").click()
    selection = dialog.locator("input[type=text]").first
    selection.fill(f"[{first}...{last}]")
    selection.press("Enter")
    dialog.get_by_text("2 partitions", exact=True).wait_for()
    dialog.get_by_text("Backfills all partitions in a single run.").wait_for()


def click_launch_backfill(page: Any) -> None:
    """Launch from the open dialog; it closes once the backfill is created."""
    page.get_by_role("dialog").get_by_role("button", name="Launch backfill").click()
    page.get_by_role("dialog").wait_for(state="hidden")


def find_backfill(url: str, key: str, days: list[str], seconds: float = 30) -> str:
    """The id of the newest backfill of exactly these partitions of ``key``."""
    deadline = time.monotonic() + seconds
    while True:
        results = graphql(url, BACKFILLS_QUERY)["partitionBackfillsOrError"]["results"]
        for backfill in results:
            keys = ["/".join(k["path"]) for k in backfill["assetSelection"] or []]
            if keys == [key] and sorted(backfill["partitionNames"] or []) == days:
                return backfill["id"]
        assert time.monotonic() < deadline, f"no backfill of {key} {days} among {results}"
        time.sleep(0.5)


def launch_backfill(url: str, key: str, days: list[str]) -> str:
    """The GraphQL API's way to a backfill (the bench's baseline, and the run that fails a check)."""
    params = {"assetSelection": [key_input(key)], "partitionNames": days}
    done = graphql(url, LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert done["__typename"] == "LaunchBackfillSuccess", done
    return done["backfillId"]


def wait_backfill(url: str, backfill_id: str, seconds: float = RUN_SECONDS) -> dict[str, Any]:
    """Poll the backfill until it ends, within a bounded time."""
    deadline = time.monotonic() + seconds
    while True:
        backfill = graphql(url, BACKFILL_QUERY, {"id": backfill_id})["partitionBackfillOrError"]
        if backfill["status"] not in ("REQUESTED", "CANCELING", "FAILING"):
            return backfill
        assert time.monotonic() < deadline, (
            f"backfill {backfill_id} still {backfill['status']} after {seconds}s"
        )
        time.sleep(2)


def check_partition_run(page: Any, url: str, key: str, day: str, run_id: str) -> None:
    """The day's row on the Partitions tab shows the backfill's run as its latest materialization."""
    page.goto(f"{url}/assets/{key}?view=partitions")
    page.get_by_text(day, exact=True).filter(visible=True).first.click()
    page.wait_for_url(f"**partition={day}*")
    page.get_by_text("Materialized", exact=True).wait_for()  # the day's status, beside its name
    page.get_by_role("link", name=run_id[:8]).first.wait_for()


def land_changed_object(lake_root: Path, day: str) -> str:
    """A landing object the sensor indexed, then changed by its producer (landing must never change): two
    page views of ``day`` indexed, a third appended afterwards. Named for an hour long gone, so the landing
    sensor's look-back never lists it again; raw counts three records where the index says two."""
    store = LocalObjectStore(lake_root)
    key = f"landing/events/{day.replace('-', '/')}/00/shop-1-{day}-00-00-00-changed-after-indexing.jsonl"
    stamp = f"{day}T12:00:00Z"
    indexed = b"".join(event(f"ui-{day}-{n}", event_time=stamp) + b"\n" for n in range(2))
    store.put_bytes(key, indexed)
    write_index(store, index_object(indexed, key, SchemaRegistry.from_directory().subjects("events")))
    store.put_bytes(key, indexed + event(f"ui-{day}-late", event_time=stamp) + b"\n")
    return key


def check_failed_in_ui(page: Any, url: str, key: str, check: str) -> None:
    """The asset's Checks tab lists the check as Failed, and its latest execution shows what failed."""
    page.goto(f"{url}/assets/{key}?view=checks")
    page.locator(f":text-is('Failed'):near(:text-is('{check}'), 30)").first.wait_for()
    page.get_by_text(check, exact=True).first.click()
    page.wait_for_url(f"**checkDetail={check}*")
    page.get_by_text("Evaluation result").wait_for()
    page.get_by_text(re.compile(r"raw holds \d+ records but landing indexed \d+")).wait_for()


# --- fixtures -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        where = os.environ.get("UI_CHROMIUM") or "chromium on PATH or /usr/bin/chromium"
        pytest.skip(f"Chromium not found ({where}): apt-get install chromium (no browser is downloaded)")
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(
                executable_path=path,
                headless=os.environ.get("UI_HEADED") != "1",
                slow_mo=float(os.environ.get("UI_SLOW_MO", "0")),
                args=CHROMIUM_ARGS,
            )
        except Error as exc:
            pytest.skip(f"Chromium at {path} cannot be launched: {str(exc).splitlines()[0]}")
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def demo_ui(browser: Any, small_demo: SmallDemo) -> Iterator[DemoUI]:
    """The session's small `lake demo`, then `dagster dev` on the instance it leaves, as the README says."""
    link = small_demo.link
    assert link.startswith("http://127.0.0.1:3000/asset-groups?expanded="), link
    shots = Path(os.environ.get("UI_SCREENSHOTS") or small_demo.base / "screenshots").resolve()
    shots.mkdir(parents=True, exist_ok=True)
    with running_dagster_dev(small_demo.env, small_demo.base / "dagster-dev.log") as url:
        yield DemoUI(url, link, small_demo.lake_root, shots)


@pytest.fixture(scope="module")
def page(browser: Any, demo_ui: DemoUI) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


# --- tests --------------------------------------------------------------------------------------------------


def test_node_labels_stand_for_whole_and_shortened_asset_names() -> None:
    """The matching behind the lineage test, without a browser: a shortened label stands for one asset."""
    assert labelled("daily_product_sales", "daily_produ…_sales") and labelled("orders", "orders")
    assert not labelled("daily_sales", "daily_produ…_sales") and not labelled("orders", "orders_history")
    shown = [("final", "daily_funnel"), ("final", "daily_produ…_sales"), ("raw", "orders")]
    expected = [("final", "daily_funnel"), ("final", "daily_product_sales"), ("intermediate", "orders")]
    assert missing_nodes(expected, shown) == [("intermediate", "orders")]
    assert missing_nodes([("final", "daily_funnel")] * 2, shown) == [("final", "daily_funnel")]


@pytest.mark.e2e
def test_lineage_shows_raw_intermediate_and_final_for_every_source_kind(page: Any, demo_ui: DemoUI) -> None:
    graph = asset_graph(demo_ui.url)
    open_lineage(page, demo_ui, graph)
    demo_ui.shot(page, "lineage-expanded")
    for kind, raw_key in CHAINS.items():
        finals = check_chain(page, demo_ui, graph, raw_key)
        demo_ui.shot(page, f"lineage-{kind}")
        if kind == "events":  # the shop's tables are built from the events
            assert {"final/shop/daily_funnel", "final/shop/daily_product_sales"} <= set(finals), finals


@pytest.mark.e2e
def test_the_landing_sensors_are_running(page: Any, demo_ui: DemoUI) -> None:
    check_sensors_running(page, demo_ui.url)
    demo_ui.shot(page, "automation")
    for name in LANDING_SENSORS:
        check_sensor_page(page, demo_ui.url, name)
    demo_ui.shot(page, "sensor-landing-cdc")


@pytest.mark.e2e
def test_a_two_day_backfill_launched_from_the_ui_completes_and_turns_green(
    page: Any, demo_ui: DemoUI
) -> None:
    url = demo_ui.url
    days = materialized_days(url, BACKFILL_ASSET)
    assert len(days) >= 2, f"the demo materialized {days} of {BACKFILL_ASSET}"
    first, last = days[0], days[1]
    assert dt.date.fromisoformat(last) - dt.date.fromisoformat(first) == dt.timedelta(days=1), days
    # The demo's days made missing again, so that only the backfill can turn two of them green. Declarative
    # automation would re-request newly missing days by itself, so it is stopped first.
    stop_sensor(url, "automation_condition_sensor")
    wipe(url, BACKFILL_ASSET)
    assert materialized_days(url, BACKFILL_ASSET) == []
    before = partition_counts(page, url, BACKFILL_ASSET)
    assert before[0] == 0
    launch_backfill_in_ui(page, url, BACKFILL_ASSET, first, last)
    demo_ui.shot(page, "backfill-launch")
    click_launch_backfill(page)
    backfill = wait_backfill(url, find_backfill(url, BACKFILL_ASSET, [first, last]))
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    assert [r["status"] for r in backfill["runs"]] == ["SUCCESS"], backfill  # single-run backfill policy
    assert materialized_days(url, BACKFILL_ASSET) == [first, last]  # the demo's other days stay missing
    after = partition_counts(page, url, BACKFILL_ASSET)
    assert after == (before[0] + 2, before[1] - 2)
    check_partition_run(page, url, BACKFILL_ASSET, first, backfill["runs"][0]["runId"])
    demo_ui.shot(page, "backfill-done")


@pytest.mark.e2e
def test_a_failed_blocking_check_shows_on_its_asset(page: Any, demo_ui: DemoUI) -> None:
    url = demo_ui.url
    day = materialized_days(url, CHECKED_ASSET)[0]
    land_changed_object(demo_ui.lake_root, day)
    # A backfill of the one day: a plain run (launchRun) failed the same way, but the Checks tab then showed
    # both checks "Not evaluated" (Dagster 1.13.27; see docs/UI.md).
    backfill = wait_backfill(url, launch_backfill(url, CHECKED_ASSET, [day]))
    assert [r["status"] for r in backfill["runs"]] == ["FAILURE"], backfill
    run_id = backfill["runs"][0]["runId"]
    # The check really ran and failed on that run (what the UI below must show).
    execution = graphql(url, CHECK_QUERY, {"key": key_input(CHECKED_ASSET), "check": FAILED_CHECK})[
        "assetCheckExecutions"
    ][0]
    assert (execution["status"], execution["runId"]) == ("FAILED", run_id), execution
    check_failed_in_ui(page, url, CHECKED_ASSET, FAILED_CHECK)
    demo_ui.shot(page, "check-failed")
