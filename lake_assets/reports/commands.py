"""``lake report``: the reports written under the lake, their pages, and publishing them to QuickSight.

Kept light at import (the CLI loads it on every call): Altair, vl-convert and boto3 load only when a
command needs them.
"""

from __future__ import annotations

import argparse
import json
import sys
import webbrowser
from typing import Any

from lake_assets.settings import LakeSettings, SettingsError, load_quicksight_settings
from lake_assets.storage import open_lake_store

SELECTION = 'key:"final/reports/*"'  # every report (Dagster's selection syntax, wildcard key)


def cmd_report_list(args: argparse.Namespace, settings: LakeSettings) -> int:
    """Every report, whether it is written yet, and its files."""
    from lake_assets.reports.render import report_files
    from lake_assets.reports.specs import REPORTS

    store = open_lake_store(settings)
    files = report_files(store)
    print(f"reports in {store.uri()}:")
    for name, spec in REPORTS.items():
        keys = sorted(files.get(name, []))
        state = f"{len(keys)} file(s)" if keys else "not written yet"
        print(f"  {name:<16} {spec.title} ({state})")
        for key in keys:
            print(f"    {store.uri(key)}")
    others = sorted(set(files) - set(REPORTS))
    if others:
        print(f"  (also found, not a known report: {', '.join(others)})")
    if not files:
        print(
            f"materialize them: dagster asset materialize -m lake_assets.definitions --select '{SELECTION}'"
        )
    return 0


def cmd_report_open(args: argparse.Namespace, settings: LakeSettings) -> int:
    """Print the page's location; with ``--browser`` also open it (a local lake's page only)."""
    from lake_assets.reports.render import ReportError, page_location
    from lake_assets.reports.specs import REPORTS

    if args.name not in REPORTS:
        print(f"lake: no report {args.name!r} (reports: {', '.join(REPORTS)})", file=sys.stderr)
        return 2
    try:
        location = page_location(open_lake_store(settings), args.name)
    except ReportError as exc:
        print(f"lake: {exc}", file=sys.stderr)
        return 2
    print(location)
    if args.browser:
        if "://" in location:
            print(f"lake: {location} is not on this machine; download it first", file=sys.stderr)
            return 2
        webbrowser.open(f"file://{location}")
    return 0


def _account(settings: LakeSettings, configured: str | None) -> str:
    """The QuickSight account: the configured one, or the caller's (STS GetCallerIdentity)."""
    if configured:
        return configured
    from lake_assets.cli import _aws_client

    return str(_aws_client(settings, "sts", settings.aws_endpoint_url).get_caller_identity()["Account"])


def cmd_report_publish(args: argparse.Namespace, settings: LakeSettings) -> int:
    """Create or update the QuickSight data source, data sets, analysis and dashboard of the table reports."""
    from lake_assets.access.policy import PolicyError, load_policy
    from lake_assets.reports import quicksight as qs_api

    qs = load_quicksight_settings()
    workgroup = settings.athena.workgroup
    try:
        policy = load_policy(settings.access_policy)
        if args.dry_run:
            account = qs.account_id or "123456789012"
            planned = qs_api.requests(account, settings.aws_region, qs, workgroup, policy)
            print(json.dumps(planned.by_operation(), indent=1))
            return 0
    except (qs_api.QuickSightError, PolicyError) as exc:
        print(f"lake: {exc}", file=sys.stderr)
        return 2
    if settings.catalog_uri != "glue":
        print(
            "lake: QuickSight reads the lake through Athena and the Glue catalog: run it with LAKE_ENV=aws "
            "(or LAKE_CATALOG_URI=glue); --dry-run prints the requests without AWS",
            file=sys.stderr,
        )
        return 2
    from lake_assets.cli import _aws_client

    try:
        account = _account(settings, qs.account_id)
        client = _aws_client(settings, "quicksight", settings.aws_endpoint_url)
        result = qs_api.publish(client, account, qs, workgroup, policy)
    except (qs_api.QuickSightError, SettingsError) as exc:
        print(f"lake: {exc}", file=sys.stderr)
        return 2
    for kind, ident, action in result.done:
        print(f"{action:<8} {kind:<12} {ident}")
    print(f"dashboard {result.dashboard_arn}")
    if not qs.principal_arn:
        print("note: LAKE_QUICKSIGHT_PRINCIPAL_ARN is not set: no QuickSight user or group was given access")
    return 0


def register(sub: Any) -> None:
    """``lake report [list]``, ``lake report open NAME``, ``lake report publish``."""
    report = sub.add_parser("report", help="the dashboards: charts under final/reports/, QuickSight")
    report.set_defaults(func=cmd_report_list)
    commands = report.add_subparsers(dest="report_command")
    commands.add_parser("list", help="every report and its files (the default)").set_defaults(
        func=cmd_report_list
    )
    open_ = commands.add_parser("open", help="print where a report's interactive page is")
    open_.add_argument("name", help="daily_sales, daily_funnel, quarantine or cdc_freshness")
    open_.add_argument("--browser", action="store_true", help="also open it in the default browser")
    open_.set_defaults(func=cmd_report_open)
    publish = commands.add_parser(
        "publish", help="create or update the QuickSight data sets and dashboard over Athena (LAKE_ENV=aws)"
    )
    publish.add_argument(
        "--dry-run", action="store_true", help="print the validated request bodies; call nothing"
    )
    publish.set_defaults(func=cmd_report_publish)
