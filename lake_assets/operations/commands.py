"""``lake status`` and ``lake quarantine replay``: operator commands (``register`` adds them to ``lake``).

The cores (``status.py``, ``replay.py``) know no Dagster; this module reads what only Dagster knows (the
freshness expectations the definitions declare, the latest check evaluations in the instance) and hands it in.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import warnings
from pathlib import Path
from typing import Any

from lake_assets.settings import LakeSettings, SettingsError

FRESHNESS_PARAMS = "dagster/freshness_params"  # metadata of Dagster's last-update freshness checks


def table_name(asset_key: Any, metadata: Any = None) -> str:
    """The table an asset writes: its ``dagster/table_name``, else ``<zone>.<rest joined by _>``."""
    named = (metadata or {}).get("dagster/table_name")
    if named is not None:
        return str(getattr(named, "value", named))
    path = list(asset_key.path)
    return f"{path[0]}.{'_'.join(path[1:])}"


def _asset_graph() -> Any:
    with warnings.catch_warnings():  # Dagster's beta notices are for authors of definitions, not here
        warnings.simplefilter("ignore")
        from lake_assets.definitions import defs

        return defs.resolve_asset_graph()


def _table_of(graph: Any, key: Any) -> str:
    return table_name(key, graph.get(key).metadata if graph.has(key) else None)


def freshness_expectations(graph: Any) -> dict[str, dt.timedelta]:
    """Each table's expected lag, from the definitions' freshness checks (``checks/freshness.py``)."""
    out = {}
    for check_key in graph.asset_check_keys:
        params = graph.get_check_spec(check_key).metadata.get(FRESHNESS_PARAMS)
        data = getattr(params, "data", params)
        if isinstance(data, dict) and "lower_bound_delta_seconds" in data:
            out[_table_of(graph, check_key.asset_key)] = dt.timedelta(
                seconds=float(data["lower_bound_delta_seconds"])
            )
    return out


def failed_checks(graph: Any, dagster_home: Path | None) -> dict[str, list[str]] | None:
    """Table -> its checks whose latest completed evaluation failed; None when no instance can be read."""
    import dagster as dg
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    if dagster_home is not None and not dagster_home.is_dir():
        raise SettingsError(f"--dagster-home {dagster_home}: no such folder (the Dagster instance's home)")
    try:
        instance = (
            dg.DagsterInstance.from_config(str(dagster_home)) if dagster_home else dg.DagsterInstance.get()
        )
    except Exception:  # DAGSTER_HOME unset (or not a folder): no instance to ask, the checks are unknown
        return None
    with instance:
        keys = list(graph.asset_check_keys)
        summaries = instance.event_log_storage.get_asset_check_summary_records(keys)
    out: dict[str, list[str]] = {}
    for key, summary in summaries.items():
        record = summary.last_completed_check_execution_record
        if record is None or record.status != AssetCheckExecutionRecordStatus.FAILED:
            continue
        evaluation = record.event.dagster_event.event_specific_data if record.event else None
        severity = getattr(getattr(evaluation, "severity", None), "value", "ERROR").lower()
        out.setdefault(_table_of(graph, key.asset_key), []).append(f"{key.name} ({severity})")
    return out


def cmd_status(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.operations.status import lake_status
    from lake_assets.registry import SchemaRegistry
    from lake_assets.resources.lake import LakeResource
    from lake_assets.tables.catalog import CatalogConfig

    lake = LakeResource.from_settings(settings)
    lake.store.check_reachable()
    graph = _asset_graph()
    status = lake_status(
        lake.store,
        CatalogConfig.for_settings(settings),
        subjects=SchemaRegistry.from_directory().subjects("events"),
        expectations=freshness_expectations(graph),
        failed_checks=failed_checks(graph, args.dagster_home),
    )
    print(json.dumps(status.to_json(), indent=2) if args.json else status.render())
    return 1 if status.problems else 0


def cmd_replay(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.operations.replay import replay_quarantine
    from lake_assets.registry import RegistryError, SchemaRegistry
    from lake_assets.registry.validation import EventDecoder
    from lake_assets.resources.lake import LakeResource

    lake = LakeResource.from_settings(settings)
    lake.store.check_reachable()
    try:
        registry = (
            SchemaRegistry.from_directory(args.registry) if args.registry else SchemaRegistry.from_directory()
        )
    except RegistryError as exc:
        raise SettingsError(f"--registry: {exc}") from None
    decoder = EventDecoder(registry, max_event_bytes=settings.max_event_bytes)
    report = replay_quarantine(lake.store, decoder, stream_name=settings.stream_name, dry_run=args.dry_run)
    print(json.dumps(report.to_json(), indent=2) if args.json else report.summary())
    if report.landing_keys and not args.json:
        print("the landing sensor picks the landed objects up on its next tick (or run `lake index`)")
    return 0


def register(sub: Any) -> None:
    """``lake status`` and ``lake quarantine replay``."""
    status = sub.add_parser(
        "status",
        help="per table: last day, snapshot and age, rows, quarantined, failed checks, freshness",
        description="The lake's health per table. Exit status 1 when a table is stale (older than its "
        "freshness check's expectation) or its latest check evaluation failed, 0 otherwise, 2 on an error. "
        "Failed checks come from the Dagster instance (DAGSTER_HOME or --dagster-home), else 'unknown'.",
    )
    status.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    status.add_argument(
        "--dagster-home",
        type=Path,
        default=None,
        help="the Dagster instance to read checks from (DAGSTER_HOME)",
    )
    status.set_defaults(func=cmd_status)
    quarantine = sub.add_parser("quarantine", help="the quarantine zone").add_subparsers(
        dest="quarantine_command", required=True
    )
    replay = quarantine.add_parser(
        "replay",
        help="validate quarantined events again (after a schema fix): land what passes, keep what fails",
        description="Each quarantined event is checked with the current registry; those that pass are landed "
        "as the intake lands them (the landing sensor runs them) and leave quarantine; those that still fail "
        "stay, with the new reason. Safe to interrupt and run again: nothing is lost or landed twice.",
    )
    replay.add_argument("--dry-run", action="store_true", help="count the outcomes, change nothing")
    replay.add_argument(
        "--registry", type=Path, default=None, help="registry folder (default: the shipped one)"
    )
    replay.add_argument("--json", action="store_true", help="the report as JSON")
    replay.set_defaults(func=cmd_replay)
