"""lake: the project's command line: demo, intake, sources, SQL, catalog, access, reports, ML, health.

Installed into the project's virtual environment: run it as .venv/bin/lake (or activate .venv first).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lake_assets.access import commands as access_commands
from lake_assets.access.lakeformation import LakeFormationError
from lake_assets.access.policy import PolicyError
from lake_assets.ml import commands as ml_commands
from lake_assets.operations import commands as operations_commands
from lake_assets.reports import commands as reports_commands
from lake_assets.settings import REPO_ROOT, LakeSettings, SettingsError, load_settings
from lake_assets.storage import ObjectStore, StorageError, open_lake_store
from lake_assets.tables.catalog import CatalogError
from lake_assets.tables.errors import TableCommitError
from lake_assets.tables.specs import TableSpecError

DEMO_HOME = REPO_ROOT / ".dagster_home"
MODULE = "lake_assets.definitions"
# The event stream's final tables and everything upstream of them (the daily-partitioned events graph).
DEMO_EVENT_SELECTION = "*final/shop/daily_product_sales,*final/shop/daily_funnel"


class CliError(RuntimeError):
    """A user-facing failure: printed as one line, exit status 2."""


_store = open_lake_store  # the lake, checked reachable (storage.open_lake_store)


def _aws_client(settings: LakeSettings, service: str, endpoint_url: str | None) -> Any:
    """A boto3 client: region and credentials from the settings or the standard AWS chain."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        region_name=settings.aws_region,
    )
    config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})
    return session.client(service, endpoint_url=endpoint_url, config=config)


@contextmanager
def _aws_errors(what: str) -> Iterator[None]:
    """botocore's exceptions as one line naming the operation (no traceback for a wrong URL or key)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CliError(f"{what}: {error.get('Code', '?')}: {error.get('Message', '')}") from None
    except BotoCoreError as exc:
        raise CliError(f"{what}: {exc}") from None


def cmd_schemas_publish(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.registry import RegistryError, SchemaRegistry
    from lake_assets.registry.glue import publish_registry

    if args.cdc:
        from lake_assets.registry.cdc import cdc_registry
        from lake_assets.sources.cdc.specs import load_specs

        registry = cdc_registry(_store(settings), load_specs(settings.cdc_tables))
        if not registry.subjects():
            raise CliError(f"no CDC schema in {settings.lake_root} yet: run the raw CDC assets first")
    else:
        registry = (
            SchemaRegistry.from_directory(args.registry) if args.registry else SchemaRegistry.from_directory()
        )
    registry_name = args.registry_name or ("lake-cdc" if args.cdc else "lake-events")
    glue = _aws_client(settings, "glue", args.endpoint_url)
    try:
        with _aws_errors(f"publishing to Glue registry {registry_name}"):
            changes = publish_registry(glue, registry, registry_name=registry_name)
    except RegistryError as exc:
        raise CliError(str(exc)) from None
    for change in changes:
        print(f"published {change}")
    print(f"Glue registry {registry_name}: {len(changes)} change(s), {len(registry.subjects())} subject(s)")
    return 0


def _refuse_foreign_encoding(path: Path) -> None:
    """A UTF-16/32 file split on newline bytes would reach the queue as broken pieces: refuse it whole,
    before anything is sent (the intake quarantines such a file line by line with the same reason)."""
    from lake_assets.registry.validation import foreign_bom, wrong_encoding

    with path.open("rb") as handle:
        bom = foreign_bom(handle.read(4))
    if bom is not None:
        raise CliError(f"{path}: {wrong_encoding(bom).reason}; nothing was sent")


def cmd_events_send(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.sources.events.sqs import DEFAULT_PACK_BYTES, EventSender

    pack_bytes = DEFAULT_PACK_BYTES if args.pack_bytes is None else args.pack_bytes
    if pack_bytes < 0:
        raise CliError(f"--pack-bytes {pack_bytes}: must be 0 (one event per message) or more")
    if args.source != "-":
        if not Path(args.source).is_file():
            raise CliError(f"no such file: {args.source}")
        _refuse_foreign_encoding(Path(args.source))
    sqs = _aws_client(settings, "sqs", args.endpoint_url)
    with _aws_errors(f"sending to {args.queue_url}"):
        sender = EventSender(
            sqs,
            args.queue_url,
            rejects_path=args.rejects,
            failed_path=args.failed,
            max_event_bytes=settings.max_event_bytes,
            pack_bytes=pack_bytes,
        )
        report = sender.send_file(args.source)
    print(report.summary())
    return 1 if report.failed else 0


def cmd_events_drain_dlq(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.sources.events.sqs import DlqDrainer

    store = _store(settings)
    sqs = _aws_client(settings, "sqs", args.endpoint_url)
    drainer = DlqDrainer(
        sqs, args.queue_url, store, stream_name=settings.stream_name, wait_seconds=args.wait_seconds
    )
    with _aws_errors(f"draining {args.queue_url}"):
        report = drainer.drain(max_messages=args.max_messages)
    print(report.summary())
    return 0


def cmd_schemas_check(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.registry import SchemaRegistry
    from lake_assets.registry.compatibility import check_registry

    registry = (
        SchemaRegistry.from_directory(args.registry) if args.registry else SchemaRegistry.from_directory()
    )
    problems = check_registry(registry)
    for subject in registry.subjects():
        s = registry.subject(subject)
        print(f"{subject}: {len(s.versions)} version(s), latest {s.latest.schema_id}, {s.compatibility}")
    for problem in problems:
        print(f"INCOMPATIBLE: {problem}", file=sys.stderr)
    print("schemas: ok" if not problems else f"schemas: {len(problems)} incompatible change(s)")
    return 1 if problems else 0


def _ingest(settings: LakeSettings, store: ObjectStore, source: str):  # noqa: ANN202 - IntakeReport
    from lake_assets.registry import SchemaRegistry
    from lake_assets.registry.validation import EventDecoder
    from lake_assets.sources.events.intake import EventIntake

    decoder = EventDecoder(SchemaRegistry.from_directory(), max_event_bytes=settings.max_event_bytes)
    intake = EventIntake(store, decoder, settings.batch, stream_name=settings.stream_name)
    if source != "-" and not Path(source).is_file():
        raise CliError(f"no such file: {source}")
    return intake.ingest_file(source)


def cmd_events_ingest(args: argparse.Namespace, settings: LakeSettings) -> int:
    store = _store(settings)
    report = _ingest(settings, store, args.source)
    print(report.summary())
    return 0


def cmd_index(args: argparse.Namespace, settings: LakeSettings) -> int:
    partitions, _ = _index(settings)
    for (subject, day), keys in partitions.items():
        print(f"raw/events/{subject} dt={day}: {len(keys)} new landing object(s)")
    print(f"{len(partitions)} partition(s) to materialize")
    return 0


def _index(settings: LakeSettings) -> tuple[dict[tuple[str, str], list[str]], str]:
    """Run the events landing sensor's indexing once, with its cursor kept in the lake; returns the cursor
    too. Unbounded: a catch-up from the command line reads everything new at once."""
    from lake_assets.registry import SchemaRegistry
    from lake_assets.resources.lake import LakeResource
    from lake_assets.sensors.landing import plan_new_objects
    from lake_assets.sources.events.kind import EventSourceKind
    from lake_assets.sources.landing_cursor import LandingCursor

    lake = LakeResource.from_settings(settings)
    cursor_key = "_system/cli/landing_cursor.json"
    store = lake.store
    cursor = LandingCursor.from_json(
        store.get_bytes(cursor_key).decode() if store.exists(cursor_key) else None
    )
    plan, found = plan_new_objects(
        lake, EventSourceKind(SchemaRegistry.from_directory()), cursor, bounded=False
    )
    store.put_bytes(cursor_key, found.cursor.to_json().encode())
    partitions = {k: sorted(o.key for o in v) for k, v in sorted(plan.partitions.items())}
    return partitions, found.cursor.to_json()


def _dagster_env(settings: LakeSettings, home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = dict(os.environ)
    env.update({"DAGSTER_HOME": str(home), "LAKE_ROOT": settings.lake_root, "LAKE_ENV": settings.env})
    return env


def _dagster(settings: LakeSettings, home: Path, *args: str) -> None:
    """The real Dagster CLI against the lake's module, with a lasting DAGSTER_HOME."""
    command = [str(Path(sys.executable).with_name("dagster")), *args]
    done = subprocess.run(
        command, cwd=REPO_ROOT, env=_dagster_env(settings, home), capture_output=True, text=True
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise CliError(f"dagster {' '.join(args[:2])} failed (exit {done.returncode}):\n{tail}")


def materialize(settings: LakeSettings, select: str, first: str, last: str, home: Path) -> None:
    """One run for the whole range (single-run backfill policy)."""
    partition = ["--partition", first] if first == last else ["--partition-range", f"{first}...{last}"]
    _dagster(settings, home, "asset", "materialize", "-m", MODULE, "--select", select, *partition)


def _replace_lake(root: Path, *, assume_yes: bool) -> None:
    """The demo starts from an empty lake: say what goes, ask when a person is at the terminal."""
    sizes = [p.stat().st_size for p in root.rglob("*") if p.is_file()]
    files, size = len(sizes), sum(sizes)
    what = f"the lake at {root} ({files:,} files, {size / 1e6:,.1f} MB: landing, raw, tables, catalog)"
    if not assume_yes and sys.stdin.isatty():
        answer = input(f"lake demo starts afresh and deletes {what}. Delete it? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise CliError("nothing deleted; run `lake demo --keep` to add the demo to the existing lake")
    print(f"removing {what} (lake demo --keep keeps it)")
    shutil.rmtree(root)


def cmd_demo(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.query import lake_summary, run_sql
    from lake_assets.samples.events import write_sample_file
    from lake_assets.sources.cdc.specs import load_specs as load_cdc_specs

    started = time.monotonic()
    if settings.env != "local":
        raise CliError(f"lake demo runs the embedded local lake; unset LAKE_ENV (it is {settings.env!r})")
    root = Path(settings.lake_root)
    if root.exists() and not args.keep:
        _replace_lake(root, assume_yes=args.yes)
    store = _store(settings)
    last_day = dt.date.today() - dt.timedelta(days=1)
    first_day = last_day - dt.timedelta(days=args.days - 1)
    sample = root / "_system" / "demo" / "events.jsonl"  # beside the lake it feeds, not in the repo
    sample.parent.mkdir(parents=True, exist_ok=True)
    stats = write_sample_file(sample, n_events=args.events, days=args.days, start=first_day, seed=args.seed)
    print(f"generated {args.events:,} events over {args.days} days into {sample}")
    report = _ingest(settings, store, str(sample))
    print(report.summary())
    partitions, cursor = _index(settings)
    days = sorted({day for _, day in partitions})
    print(f"indexed {len(partitions)} raw partitions over {len(days)} days ({days[0]} .. {days[-1]})")
    step = time.monotonic()
    materialize(settings, DEMO_EVENT_SELECTION, days[0], days[-1], args.dagster_home)
    print(
        f"dagster asset materialize (raw -> intermediate -> final, one run): {time.monotonic() - step:.1f} s"
    )
    cdc_specs = load_cdc_specs(settings.cdc_tables)
    cdc = _demo_cdc(settings, cdc_specs, args.seed, last_day)
    cursors = _demo_sources(settings, args.seed, args.dagster_home, cdc)
    # The sensors take over where the demo stopped: `dagster dev` next picks up new landing objects and does
    # not re-run what the demo ran.
    hand_over_sensors(settings, args.dagster_home, {"landing_events_sensor": cursor, **cursors})
    demo_cdc = cdc is not None
    print(lake_summary(store, _catalog(settings)))
    queries = [
        "SELECT product_id, sum(units) AS units, sum(revenue_cents) / 100.0 AS revenue "
        "FROM final.shop_daily_product_sales GROUP BY product_id ORDER BY revenue DESC LIMIT 5"
    ]
    if demo_cdc:
        queries.append(
            "SELECT tier, count(*) AS customers FROM intermediate.cdc_shop_customers "
            "GROUP BY tier ORDER BY tier"
        )
    for query in queries:
        print(f"\nSQL> {query}")
        print(run_sql(store, query, catalog=_catalog(settings)))
    # Governance: the policy's words go to the catalog; a principal reads only what it is granted.
    from lake_assets.access.descriptions import describe_tables
    from lake_assets.access.policy import load_policy

    policy = load_policy(settings.access_policy)
    described = describe_tables(policy, _catalog(settings))
    print(f"\ncatalog: descriptions and owners from {policy.path} written to {len(described)} table(s)")
    restricted = "SELECT * FROM final.shop_daily_product_sales ORDER BY dt DESC, units DESC LIMIT 3"
    print(
        f"SQL as marketing (no revenue_cents, days from 2026-11-01; lake query --as marketing)> {restricted}"
    )
    print(run_sql(store, restricted, catalog=_catalog(settings), principal="marketing", policy=policy))
    print(
        f"\nthe sample held {stats.valid:,} valid events ({stats.duplicates:,} re-sent duplicates, "
        f"{stats.late:,} late) and {stats.invalid_total:,} invalid ones; {stats.sessions:,} sessions, "
        f"{stats.orders:,} orders"
    )
    print(f"demo finished in {time.monotonic() - started:.1f} s. DAGSTER_HOME={args.dagster_home}")

    print(
        f"Next: cd {REPO_ROOT} && DAGSTER_HOME={args.dagster_home} .venv/bin/dagster dev, then open one "
        "source's path, the order events from raw to final:"
    )
    print(lineage_link('key:"raw/events/order_placed"+'))
    print("or the whole asset lineage with every group expanded:")
    print(lineage_link())
    return 0


def lineage_link(selection: str | None = None) -> str:
    """The UI's lineage page with every layer's group expanded (it opens with all collapsed; ``expanded``
    lists the UI's group ids, as in the README), showing only ``selection`` (Dagster's selection syntax)
    when given."""
    from urllib.parse import quote

    groups = ",".join(f"global@global:{group}" for group in ("raw", "intermediate", "final", "ml"))
    page = "asset-groups" if selection is None else f"asset-groups~{quote(selection, safe='')}/"
    return f"http://127.0.0.1:3000/{page}?expanded={quote(groups, safe='')}"


@dataclasses.dataclass
class _DemoRuns:
    """What a demo step landed and which runs it needs: raw selections by day, unpartitioned ones after."""

    daily: dict[str, set[str]]
    whole: set[str]
    sensor: str
    cursor: str
    summary: str


def _demo_cdc(settings: LakeSettings, specs: Sequence[Any], seed: int, day: dt.date) -> _DemoRuns | None:
    """The shipped CDC tables from sample DMS output (no database needed): a full load, then changes.

    The way production goes: one tick of the real CDC sensor decides the raw runs; the merge into current
    state and history follows. The runs join the sources' runs (one Dagster run per kind, to spare JVM
    starts). None when LAKE_CDC_TABLES does not name the shop tables.
    """
    import dagster as dg

    from lake_assets.resources.lake import LakeResource
    from lake_assets.samples.cdc import SOURCE, write_sample_changes, write_sample_load
    from lake_assets.sensors.landing import build_landing_sensor
    from lake_assets.sources.cdc.kind import CdcSourceKind

    shop = [s for s in specs if s.source == SOURCE and s.table in ("customers", "orders")]
    if len(shop) != 2:
        print("CDC sample skipped: LAKE_CDC_TABLES does not name shop.customers and shop.orders")
        return None
    store = _store(settings)
    when = dt.datetime.combine(day, dt.time(8), tzinfo=dt.UTC)
    sample, _ = write_sample_load(store, when, seed=seed)
    loaded = len(sample.customers) + len(sample.orders)
    changed, _ = write_sample_changes(store, sample, when + dt.timedelta(hours=1))
    sensor = build_landing_sensor(CdcSourceKind(shop))
    assert sensor is not None
    tick = sensor(dg.build_sensor_context(resources={"lake": LakeResource.from_settings(settings)}))
    daily: dict[str, set[str]] = {}
    for request in tick.run_requests:
        daily.setdefault(request.asset_selection[0].to_user_string(), set()).add(str(request.partition_key))
    whole = {f"intermediate/cdc/{s.name},intermediate/cdc/{s.name}_history" for s in shop}
    summary = f"CDC from sample DMS output: {loaded:,} rows loaded, then {changed} changes"
    unchecked = [s.qualified for s in shop if not s.url]
    if unchecked:  # the sample files stand in for a database, so there is none to reconcile with
        summary += (
            f"; reconciles_with_source is not defined for {', '.join(unchecked)} (no url in "
            f"{settings.cdc_tables}: the input is sample files, not a database)"
        )
    return _DemoRuns(daily, whole, sensor.name, tick.cursor or "", summary)


def _demo_sources(
    settings: LakeSettings, seed: int, home: Path, extra: _DemoRuns | None = None
) -> dict[str, str]:
    """Every shipped file and API source: sample inputs land, get indexed, then raw -> intermediate.

    Files: one tick of the real files sensor. API: the spec's URL points at the partner, so the pull runs
    here against a loopback stand-in; the Dagster run then rebuilds raw from the landed pages, as a backfill
    does, without calling the API. All daily sources go in one run, the unpartitioned ones in another.
    """

    import dagster as dg

    from lake_assets.resources.lake import LakeResource
    from lake_assets.samples.api import sample_orders, serve_orders
    from lake_assets.samples.files import write_samples
    from lake_assets.sensors.landing import build_landing_sensor
    from lake_assets.sources.api.pull import pull_api
    from lake_assets.sources.files.index import index_object
    from lake_assets.sources.files.kind import FileSourceKind
    from lake_assets.sources.specs import load_specs

    step = time.monotonic()
    store = _store(settings)
    specs = load_specs()
    written = write_samples(Path(settings.lake_root), seed=seed)
    sensor = build_landing_sensor(FileSourceKind(specs))
    assert sensor is not None
    tick = sensor(dg.build_sensor_context(resources={"lake": LakeResource.from_settings(settings)}))
    daily: dict[str, set[str]] = {}
    whole: set[str] = set()
    for request in tick.run_requests:
        raw_key = request.asset_selection[0].to_user_string()
        pair = f"{raw_key},intermediate/{raw_key.split('/', 1)[1]}"
        if request.partition_key:
            daily.setdefault(pair, set()).add(request.partition_key)
        else:
            whole.add(pair)
    api = next(s for s in specs if s.name == "shop_orders_api")
    with serve_orders(sample_orders(600, dt.date(2026, 11, 20), days=3, seed=seed), token="demo") as url:
        local = dataclasses.replace(api, api=dataclasses.replace(api.api, url=url))
        pulled = pull_api(store, local, run_id="demo", token="demo")
    api_pair = "raw/api/shop_orders_api,intermediate/api/shop_orders_api"
    for key in pulled.landed_keys:
        days = {day for day in index_object(store, api, next(store.list(key))) if day}
        daily.setdefault(api_pair, set()).update(days)
    cursors = {sensor.name: tick.cursor or ""}
    if extra is not None:
        for selection, days in extra.daily.items():
            daily.setdefault(selection, set()).update(days)
        whole |= extra.whole
        cursors[extra.sensor] = extra.cursor
    all_days = sorted(set().union(*daily.values()))
    materialize(settings, ",".join(sorted(daily)), all_days[0], all_days[-1], home)
    if whole:
        _dagster(settings, home, "asset", "materialize", "-m", MODULE, "--select", ",".join(sorted(whole)))
    if extra is not None:
        print(f"{extra.summary} -> sensor -> raw -> current state and history")
    print(
        f"sources: {len(written)} sample files ({', '.join(sorted(written))}) and {pulled.records} orders in "
        f"{pulled.pages} pages from a local stand-in of the orders API"
        f"{' and the CDC sample' if extra is not None else ''} -> raw -> intermediate in "
        f"{time.monotonic() - step:.1f} s"
    )
    return cursors


# Dagster's own CLI commands, run in one process so the code location is imported once, not per command.
_DAGSTER_COMMANDS = """
import json, sys
import click
from dagster._cli import cli
for args in json.loads(sys.argv[1]):
    try:
        cli.main(args=args, standalone_mode=False, auto_envvar_prefix="DAGSTER_CLI")
    except click.UsageError as exc:
        if "already running" not in str(exc):
            raise
"""


def hand_over_sensors(settings: LakeSettings, home: Path, cursors: dict[str, str]) -> None:
    """Give each landing sensor the demo's cursor and leave it RUNNING.

    ``dagster sensor cursor --set`` stores the sensor's state as STOPPED when it had none, so each is started
    explicitly afterwards (``dagster sensor start``).
    """
    commands = []
    for name, cursor in cursors.items():
        commands.append(["sensor", "cursor", name, "-m", MODULE, "--set", cursor])
        commands.append(["sensor", "start", name, "-m", MODULE])
    done = subprocess.run(
        [sys.executable, "-c", _DAGSTER_COMMANDS, json.dumps(commands)],
        cwd=REPO_ROOT,
        env=_dagster_env(settings, home),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise CliError(f"handing the cursors to the sensors failed (exit {done.returncode}):\n{tail}")


def cmd_query(args: argparse.Namespace, settings: LakeSettings) -> int:
    """``lake query``: the embedded engine (access policy) or, with --engine athena, Athena; audited."""
    athena = None
    if args.engine == "athena":
        from lake_assets.athena import run_athena

        def athena(sql: str, as_of: str | None) -> str:
            return run_athena(sql, settings, as_of=as_of)

    args.policy = args.policy or settings.access_policy
    return access_commands.cmd_query(args, _store(settings), _catalog(settings), athena)


def _with_lake(command):  # noqa: ANN001, ANN202 - adapts an access command to (args, settings)
    def run(args: argparse.Namespace, settings: LakeSettings) -> int:
        if "policy" in args:
            args.policy = args.policy or settings.access_policy
        return command(args, _store(settings), _catalog(settings))

    return run


def _catalog(settings: LakeSettings):  # noqa: ANN202 - a CatalogConfig (imported lazily)
    from lake_assets.tables.catalog import CatalogConfig

    return CatalogConfig.for_settings(settings)


def cmd_catalog_list(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.tables.inspect import list_tables

    catalog = _catalog(settings)
    entries = list_tables(catalog)
    print(f"{catalog.describe()}: {len(entries)} table(s)")
    for entry in entries:
        print(f"  {entry.identifier}")
    return 0


def cmd_catalog_show(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.tables.inspect import describe_table

    print(describe_table(_catalog(settings), args.table))
    return 0


def cmd_catalog_drop(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.tables.inspect import list_tables
    from lake_assets.tables.maintenance import drop_tables

    catalog = _catalog(settings)
    names = [e.identifier for e in list_tables(catalog) if e.identifier.split(".")[0] in args.zone]
    names += [t for t in args.tables if t not in names]
    if not names:
        raise CliError("name the tables to drop (lake catalog list), or --zone intermediate/final")
    for name in drop_tables(catalog, names):
        print(f"dropped {name} (its files too); rebuild it from raw with dagster asset materialize")
    return 0


def cmd_catalog_history(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.tables.inspect import table_history

    print(table_history(_catalog(settings), args.table))
    return 0


def cmd_package_lambda(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.deploy.lambda_package import ARCHITECTURE, HANDLER, RUNTIME, build_lambda_zip

    package = build_lambda_zip(args.out)
    print(
        f"{package.path}: {package.size_bytes:,} bytes, {len(package.files)} files, sha256 {package.sha256}"
    )
    print(f"handler {HANDLER}, runtime {RUNTIME} on {ARCHITECTURE}")
    return 0


def cmd_package_image(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.deploy.image import ImageContextError, build_image_context

    try:
        context = build_image_context(args.out)
    except ImageContextError as exc:
        print(f"lake: {exc}", file=sys.stderr)
        return 2
    size = f"{context.size_bytes:,} bytes, {len(context.files)} files"
    print(f"{context.archive}: {size}, sha256 {context.sha256}")
    print(f"{context.folder}/: the same files, unpacked")
    print("build and push it (REPO: the LakeImages stack's output ImageRepository; docs/DEPLOY.md):")
    print(f"  {context.build_command()}")
    print(f"  docker push $REPO:{context.tag}")
    return 0


def cmd_package_glue(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.deploy.glue_package import build_glue_package, upload

    package = build_glue_package(args.out)
    print(f"{package.script}")
    zipped = f"{package.size_bytes:,} bytes, {len(package.files)} files, sha256 {package.sha256}"
    print(f"{package.zip_path}: {zipped}")
    print(f"--additional-python-modules {','.join(package.modules)}")
    if args.upload:
        if not args.upload.startswith("s3://"):
            raise CliError(f"--upload {args.upload!r}: write s3://bucket/prefix")
        bucket, _, prefix = args.upload.removeprefix("s3://").partition("/")
        try:
            s3 = _aws_client(settings, "s3", settings.s3_endpoint_url)
            where = upload(package, s3, bucket, prefix or "glue")
        except Exception as exc:  # noqa: BLE001 - a missing bucket or no credentials: one line
            raise CliError(f"uploading the Glue artifacts to {args.upload} failed: {exc}") from None
        print(f"uploaded to {where}/: set the job's script to {where}/{package.script.name} and its")
        print(f"--extra-py-files to {where}/{package.zip_path.name}")
    return 0


def _cdc_options(args: argparse.Namespace):  # noqa: ANN202 - DmsOptions, imported lazily
    from lake_assets.sources.cdc.dms_format import DmsOptions

    return DmsOptions(data_format=args.format)


def _cdc_engine(args: argparse.Namespace):  # noqa: ANN202 - the capture module for the URL's scheme
    """``postgresql://`` captures through a replication slot, ``mysql://`` / ``mariadb://`` the binlog."""
    scheme = args.url.split("://", 1)[0]
    if scheme in ("postgresql", "postgres"):
        if not args.slot:
            raise CliError("PostgreSQL capture needs --slot (the replication slot and publication name)")
        from lake_assets.sources.cdc import postgres

        return postgres
    if scheme in ("mysql", "mariadb"):
        from lake_assets.sources.cdc import mariadb

        return mariadb
    raise CliError(f"--url {args.url!r}: use postgresql://... or mysql://...")


def _cdc_keys(args: argparse.Namespace) -> dict[str, list[str]] | None:
    keys = {}
    for item in args.key or []:
        table, _, columns = item.partition("=")
        if not columns:
            raise CliError(f"--key {item!r}: write schema.table=col1,col2")
        keys[table] = columns.split(",")
    return keys or None


def cmd_cdc_snapshot(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.sources.cdc.capture import CdcError

    engine = _cdc_engine(args)
    tables = args.tables[0] if len(args.tables) == 1 and "%" in args.tables[0] else args.tables
    extra = {"slot": args.slot} if engine.__name__.endswith("postgres") else {}
    try:
        result = engine.snapshot(
            args.url,
            tables,
            _store(settings),
            args.source,
            keys=_cdc_keys(args),
            options=_cdc_options(args),
            **extra,
        )
    except CdcError as exc:
        raise CliError(str(exc)) from None
    for table, rows in sorted(result.tables.items()):
        print(f"{table}: {rows:,} rows in the full load")
    print(f"consistent at {result.position}; {len(result.files)} file(s) landed")
    return 0


def cmd_cdc_stream(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.sources.cdc.capture import CdcError

    engine = _cdc_engine(args)
    common = {"max_changes": args.max_changes, "timeout": args.timeout, "options": _cdc_options(args)}
    try:
        if engine.__name__.endswith("postgres"):
            result = engine.stream(args.url, args.slot, _store(settings), args.source, **common)
        else:
            result = engine.stream(args.url, _store(settings), args.source, **common)
    except CdcError as exc:
        raise CliError(str(exc)) from None
    print(
        f"{result.changes:,} changes in {result.transactions:,} transactions, {len(result.files)} file(s) "
        f"landed; confirmed at {result.position}"
    )
    return 0


def cmd_cdc_reset(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.sources.cdc import mariadb

    mariadb.reset(_store(settings), args.source)
    print(f"forgot the stored binlog position of {args.source}; the next snapshot starts over")
    return 0


def cmd_sources_list(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.sources.specs import SpecError, load_specs

    try:
        specs = load_specs(args.specs) if args.specs else load_specs()
    except SpecError as exc:
        raise CliError(str(exc)) from None
    for spec in specs:
        schema = spec.schema_subject or "inferred"
        print(
            f"{spec.name:<18} {spec.kind:<10} {spec.landing_prefix:<32} "
            f"schema {schema:<12} {spec.trigger.kind}"
        )
    return 0


def cmd_sources_check(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.registry import SchemaRegistry
    from lake_assets.sources.specs import check_specs

    registry = SchemaRegistry.from_directory()
    problems = check_specs(args.specs, registry) if args.specs else check_specs(registry=registry)
    for problem in problems:
        print(problem, file=sys.stderr)
    print("sources: ok" if not problems else f"sources: {len(problems)} problem(s)")
    return 1 if problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lake", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="generate sample events and run the whole lake locally")
    demo.add_argument("--events", type=int, default=120_000)
    demo.add_argument("--days", type=int, default=3)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument(
        "--keep", action="store_true", help="add to the existing local lake instead of deleting it first"
    )
    demo.add_argument(
        "--yes", action="store_true", help="delete the existing local lake without asking (it is said first)"
    )
    demo.add_argument("--dagster-home", type=Path, default=DEMO_HOME)
    demo.set_defaults(func=cmd_demo)

    events = sub.add_parser("events", help="event intake").add_subparsers(
        dest="events_command", required=True
    )
    ingest = events.add_parser("ingest", help="validate JSON lines and land them (FILE or - for stdin)")
    ingest.add_argument("source")
    ingest.set_defaults(func=cmd_events_ingest)
    send = events.add_parser("send", help="send JSON lines to the AWS intake queue (FILE or - for stdin)")
    send.add_argument("source")
    send.add_argument("--queue-url", required=True)
    send.add_argument("--endpoint-url", default=None, help="SQS endpoint (default: AWS)")
    send.add_argument(
        "--rejects",
        type=Path,
        default=Path("send-rejects.jsonl"),
        help="where lines too large for SQS go, as quarantine records (appended)",
    )
    send.add_argument(
        "--failed",
        type=Path,
        default=Path("send-failed.jsonl"),
        help="where lines SQS still refused after retries go, unchanged, to send again (appended)",
    )
    send.add_argument(
        "--pack-bytes",
        type=int,
        default=None,
        metavar="N",
        help="pack consecutive lines into messages of up to N bytes, never over the queue's maximum "
        "message size (default: the sender's, 64 KiB: SQS bills each 64 KiB as a request); "
        "0: one event per message",
    )
    send.set_defaults(func=cmd_events_send)
    drain = events.add_parser("drain-dlq", help="move dead-letter messages into the lake's quarantine zone")
    drain.add_argument("--queue-url", required=True)
    drain.add_argument("--endpoint-url", default=None, help="SQS endpoint (default: AWS)")
    drain.add_argument("--max-messages", type=int, default=None, help="stop after this many (default: all)")
    drain.add_argument("--wait-seconds", type=int, default=10, help="long-poll wait; empty after this = done")
    drain.set_defaults(func=cmd_events_drain_dlq)

    schemas = sub.add_parser("schemas", help="schema registry").add_subparsers(
        dest="schemas_command", required=True
    )
    check = schemas.add_parser("check", help="exit 1 when a subject's versions break its compatibility mode")
    check.add_argument(
        "--registry", type=Path, default=None, help="registry folder (default: the shipped one)"
    )
    check.set_defaults(func=cmd_schemas_check)
    publish = schemas.add_parser(
        "publish", help="register every subject's versions in the Glue Schema Registry"
    )
    publish.add_argument(
        "--registry-name", default=None, help="Glue registry (default lake-events; with --cdc lake-cdc)"
    )
    publish.add_argument("--endpoint-url", default=None, help="Glue endpoint (default: AWS)")
    publish.add_argument(
        "--registry", type=Path, default=None, help="registry folder (default: the shipped one)"
    )
    publish.add_argument(
        "--cdc",
        action="store_true",
        help="publish the CDC tables' schemas the lake registered (LAKE_ROOT, LAKE_CDC_TABLES) instead",
    )
    publish.set_defaults(func=cmd_schemas_publish)

    package = sub.add_parser("package", help="build deployment artifacts").add_subparsers(
        dest="package_command", required=True
    )
    lambda_zip = package.add_parser("lambda", help="the intake Lambda's deployment zip (reproducible)")
    lambda_zip.add_argument("--out", type=Path, default=REPO_ROOT / "dist" / "intake-lambda.zip")
    lambda_zip.set_defaults(func=cmd_package_lambda)
    image = package.add_parser(
        "image", help="the Dagster image's build context for docker build (reproducible; deploy/Dockerfile)"
    )
    image.add_argument("--out", type=Path, default=REPO_ROOT / "dist" / "image")
    image.set_defaults(func=cmd_package_image)
    glue = package.add_parser("glue", help="the Glue job's script, package zip and modules (reproducible)")
    glue.add_argument("--out", type=Path, default=REPO_ROOT / "dist" / "glue")
    glue.add_argument("--upload", default=None, metavar="s3://BUCKET/PREFIX", help="upload them there")
    glue.set_defaults(func=cmd_package_glue)

    cdc = sub.add_parser(
        "cdc", help="change data capture (PostgreSQL, MariaDB) into landing/cdc/ (AWS DMS layout)"
    )
    cdc_sub = cdc.add_subparsers(dest="cdc_command", required=True)
    for name, func, text in (
        ("snapshot", cmd_cdc_snapshot, "full load consistent with the change stream that follows"),
        ("stream", cmd_cdc_stream, "land the changes, then confirm the position"),
    ):
        command = cdc_sub.add_parser(name, help=text)
        command.add_argument(
            "--url", required=True, help="postgresql://user@host:5432/db or mysql://user@host/db"
        )
        command.add_argument("--source", required=True, help="source name: landing/cdc/<source>/...")
        command.add_argument(
            "--slot", default=None, help="PostgreSQL: replication slot (and publication) name"
        )
        command.add_argument("--format", choices=["csv", "parquet"], default="csv")
        command.set_defaults(func=func)
        if name == "snapshot":
            command.add_argument(
                "tables", nargs="+", help="schema.table ..., or one pattern like public.shop_%%"
            )
            command.add_argument("--key", action="append", help="declared key: schema.table=col1,col2")
        else:
            command.add_argument("--max-changes", type=int, default=None)
            command.add_argument("--timeout", type=float, default=0.0, help="seconds to wait for new changes")
    reset = cdc_sub.add_parser(
        "reset", help="MariaDB: forget the stored binlog position (before a new snapshot)"
    )
    reset.add_argument("--source", required=True)
    reset.set_defaults(func=cmd_cdc_reset)

    sources = sub.add_parser("sources", help="declarative file, log and API sources").add_subparsers(
        dest="sources_command", required=True
    )
    for name, func, text in (
        ("list", cmd_sources_list, "the source specs: name, kind, landing prefix, schema, trigger"),
        ("check", cmd_sources_check, "validate every spec; exit 1 with file, field and fix on a problem"),
    ):
        command = sources.add_parser(name, help=text)
        command.add_argument(
            "--specs", type=Path, default=None, help="specs folder (default: the shipped one)"
        )
        command.set_defaults(func=func)

    index = sub.add_parser("index", help="index new landing objects once (what the sensor does each tick)")
    index.set_defaults(func=cmd_index)

    query = sub.add_parser("query", help="SQL over the lake's tables: the embedded engine (DuckDB) or Athena")
    query.add_argument(
        "sql", help="tables as on Athena: intermediate.events_page_view, final.shop_daily_funnel"
    )
    query.add_argument(
        "--engine",
        choices=["duckdb", "athena"],
        default="duckdb",
        help="duckdb (default): the embedded engine; athena: the Glue catalog through the workgroup "
        "LAKE_ATHENA_WORKGROUP (LAKE_ENV=aws, LAKE_ATHENA_* settings)",
    )
    query.add_argument(
        "--as-of",
        default=None,
        metavar="SNAPSHOT|TIME",
        help="time travel: a snapshot id (pins its table) or a UTC time like 2026-11-30T08:00:00",
    )
    access_commands.query_arguments(query)
    query.set_defaults(func=cmd_query)
    access_commands.add_commands(sub, _with_lake)
    operations_commands.register(sub)  # lake status, lake quarantine replay
    ml_commands.register(sub)  # lake ml manifest, lake ml train

    catalog = sub.add_parser(
        "catalog", help="the Iceberg catalog: tables, schemas, snapshots"
    ).add_subparsers(dest="catalog_command", required=True)
    catalog.add_parser("list", help="every table, as <database>.<table>").set_defaults(func=cmd_catalog_list)
    for name, func, text in (
        ("show", cmd_catalog_show, "schema, partition spec, sort order, current snapshot, files and size"),
        ("history", cmd_catalog_history, "every snapshot with its operation and row counts"),
    ):
        command = catalog.add_parser(name, help=text)
        command.add_argument("table", help="<database>.<table>, e.g. final.shop_daily_product_sales")
        command.set_defaults(func=func)
    drop = catalog.add_parser("drop", help="drop tables and their files, to rebuild them from raw")
    drop.add_argument("tables", nargs="*", help="<database>.<table> ...")
    drop.add_argument(
        "--zone", action="append", default=[], choices=["intermediate", "final"], help="every table of a zone"
    )
    drop.set_defaults(func=cmd_catalog_drop)
    reports_commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        return int(args.func(args, settings))
    except (
        SettingsError,
        StorageError,
        CliError,
        CatalogError,
        TableSpecError,
        TableCommitError,
        PolicyError,
        LakeFormationError,
    ) as exc:
        print(f"lake: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
