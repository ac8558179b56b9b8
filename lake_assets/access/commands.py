"""``lake access ...`` and ``lake query --as``: the access policy from the command line.

Kept out of ``cli.py`` so that file wires commands and this one knows the access room.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import time
import warnings
from collections.abc import Callable
from typing import Any

from lake_assets.access.audit import new_record, read_records, write_record
from lake_assets.access.enforce import named_tables
from lake_assets.access.policy import AccessDenied, PolicyError, check_policy, load_policy
from lake_assets.storage import ObjectStore, StorageError

Command = Callable[[argparse.Namespace, Any], int]


def _definitions() -> Any:
    with warnings.catch_warnings():  # Dagster's beta notices are for authors of definitions, not here
        warnings.simplefilter("ignore")
        from lake_assets.definitions import defs  # the asset graph names every table, built or not
    return defs


def spec_descriptions() -> dict[str, str]:
    """Each table's own description, as its asset (built from the source, CDC and table specs) gives it."""
    return {
        str(spec.metadata["dagster/table_name"]): spec.description or ""
        for spec in _definitions().resolve_all_asset_specs()
        if "dagster/table_name" in spec.metadata
    }


def lake_consumers() -> list[str]:
    """The reports and ML data sets (asset keys ``final/reports/*``, ``final/ml/<data set>``): what reads
    as a principal of the policy (``read_as``)."""
    from lake_assets.ml import DATASET

    keys = ["/".join(spec.key.path) for spec in _definitions().resolve_all_asset_specs()]
    return [k for k in keys if k.startswith("final/reports/") or k == f"final/ml/{DATASET}"]


def lake_tables(store: ObjectStore, catalog: Any) -> dict[str, list[str] | None]:
    """Every table the lake declares (its assets' ``dagster/table_name``) -> its columns, read from the
    table where it exists already (None: not created yet, columns unknown)."""
    from lake_assets.query import connect

    declared = set(spec_descriptions())
    tables: dict[str, list[str] | None] = dict.fromkeys(declared)
    con = connect(store, catalog=catalog)
    try:
        rows = con.sql(
            "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal AND schema_name <> 'main'"
        ).fetchall()
        for schema, view in rows:
            tables[f"{schema}.{view}"] = [c[0] for c in con.sql(f'DESCRIBE "{schema}"."{view}"').fetchall()]
    finally:
        con.close()
    return dict(sorted(tables.items()))


def cmd_query(
    args: argparse.Namespace,
    store: ObjectStore,
    catalog: Any,
    athena: Callable[[str, str | None], str] | None = None,
) -> int:
    """One ``lake query``: run it (as a principal when ``--as`` is given; on Athena when ``athena`` is given)
    and write its audit record, whatever the outcome."""
    from lake_assets.query import run_sql

    engine = "athena" if athena else "duckdb"
    record = new_record(args.sql, principal=args.principal, engine=engine, as_of=args.as_of)
    started = time.monotonic()
    given: list[str] = []

    def audit(outcome: str, message: str = "") -> None:
        tables = given if args.principal else named_tables(args.sql)
        seconds = round(time.monotonic() - started, 3)
        write_record(
            store,
            dataclasses.replace(record, outcome=outcome, message=message, tables=tables, seconds=seconds),
        )

    try:
        if athena and args.principal:
            raise AccessDenied(
                "--as applies the lake's access policy in the embedded engine; on Athena the caller's IAM "
                "role and its Lake Formation grants apply (lake access apply): drop --as, or use "
                "--engine duckdb"
            )
        policy = load_policy(args.policy) if args.principal else None
        out = (
            athena(args.sql, args.as_of)
            if athena
            else run_sql(
                store,
                args.sql,
                catalog=catalog,
                as_of=args.as_of,
                principal=args.principal,
                policy=policy,
                tables=given,
            )
        )
    except (AccessDenied, PolicyError) as exc:
        audit("denied", str(exc))
        raise StorageError(f"access denied: {exc}") from None
    except StorageError as exc:
        audit("failed", str(exc).splitlines()[0])
        raise
    audit("ok")
    print(out)
    return 0


def cmd_check(args: argparse.Namespace, store: ObjectStore, catalog: Any) -> int:
    policy = load_policy(args.policy)
    tables = lake_tables(store, catalog)
    consumers = lake_consumers()
    problems = check_policy(policy, tables, consumers)
    unbuilt = sorted(t for t, columns in tables.items() if columns is None)
    if problems:
        raise PolicyError("\n".join(problems))
    print(
        f"{policy.path}: ok ({len(policy.principals)} principals, {len(policy.grants)} grants, "
        f"{len(tables)} tables, {len(consumers)} reports and data sets reading as a principal)"
    )
    if unbuilt:
        print(f"not created yet, so their columns were not checked: {', '.join(unbuilt)}")
    return 0


def cmd_describe(args: argparse.Namespace, store: ObjectStore, catalog: Any) -> int:
    from lake_assets.access.descriptions import describe_tables

    policy = load_policy(args.policy)
    changed = describe_tables(policy, catalog, spec_descriptions())
    for line in changed:
        print(line)
    print(f"{len(changed)} table(s) changed; the catalog now says what {policy.path} and the specs say")
    return 0


def cmd_audit(args: argparse.Namespace, store: ObjectStore, catalog: Any) -> int:
    since = dt.date.fromisoformat(args.since) if args.since else None
    shown = 0
    for record in read_records(store, since=since, principal=args.principal):
        who = record.principal or "(unrestricted)"
        tables = ", ".join(record.tables) or "-"
        line = f"{record.time}  {record.user} as {who}  {record.engine}  {record.outcome}  [{tables}]  "
        line += record.sql
        print(line + (f"  -- {record.message}" if record.message else ""))
        shown += 1
    print(f"{shown} record(s)")
    return 0


def _lake_formation(args: argparse.Namespace, store: ObjectStore, catalog: Any) -> tuple[Any, Any, str]:
    """The policy (checked against the lake's tables first, as ``lake access check`` does), a Lake Formation
    client and the catalog id, the caller's account (``LAKE_AWS_ENDPOINT_URL``, AWS_REGION, credentials)."""
    from lake_assets.access.lakeformation import connect
    from lake_assets.settings import load_settings

    policy = load_policy(args.policy)
    problems = check_policy(policy, lake_tables(store, catalog))
    if problems:
        raise PolicyError("\n".join(problems))
    client, catalog_id = connect(load_settings())
    return policy, client, catalog_id


def cmd_plan(args: argparse.Namespace, store: ObjectStore, catalog: Any) -> int:
    """``lake access plan``: Lake Formation's grants and data cells filters against the policy, as a diff."""
    from lake_assets.access.lakeformation import plan

    policy, client, catalog_id = _lake_formation(args, store, catalog)
    print(plan(policy, client, catalog_id).render())
    return 0


def cmd_apply(args: argparse.Namespace, store: ObjectStore, catalog: Any) -> int:
    """``lake access apply``: make Lake Formation equal to the policy; asks nothing, prints each change."""
    from lake_assets.access.lakeformation import apply, plan

    policy, client, catalog_id = _lake_formation(args, store, catalog)
    planned = plan(policy, client, catalog_id)
    if planned.empty:
        print(planned.render())
        return 0
    print(f"Applying {policy.path} to Lake Formation, catalog {catalog_id}:")
    done = apply(planned, client, echo=lambda line: print(f"  {line}", flush=True))
    for note in planned.notes:
        print(f"  ! left alone: {note}")
    print(f"Applied {len(done)} change(s); `lake access plan` now shows no changes.")
    return 0


def add_commands(sub: Any, run: Callable[[Command], Callable[[argparse.Namespace, Any], int]]) -> None:
    """``lake access check|describe|audit|plan|apply``; ``run`` adapts a command to the CLI's (args, settings)
    calling."""
    access = sub.add_parser(
        "access", help="the access policy: check, describe, audit, plan and apply it"
    ).add_subparsers(dest="access_command", required=True)
    check = access.add_parser("check", help="the policy against the lake's tables, columns and principals")
    check.add_argument("--policy", default=None, help="the policy file (default: LAKE_ACCESS_POLICY)")
    check.set_defaults(func=run(cmd_check))
    describe = access.add_parser(
        "describe",
        help="the policy's table and column descriptions and owners into the catalog (Glue on AWS)",
    )
    describe.add_argument("--policy", default=None, help="the policy file (default: LAKE_ACCESS_POLICY)")
    describe.set_defaults(func=run(cmd_describe))
    audit = access.add_parser("audit", help="who ran which query against which tables")
    audit.add_argument("--since", default=None, metavar="YYYY-MM-DD", help="from this UTC day on")
    audit.add_argument("--principal", default=None, help="only the queries run as this principal")
    audit.set_defaults(func=run(cmd_audit))
    for name, func, text in (
        ("plan", cmd_plan, "Lake Formation's grants and data cells filters against the policy, as a diff"),
        ("apply", cmd_apply, "make Lake Formation's grants and filters equal to the policy (asks nothing)"),
    ):
        command = access.add_parser(name, help=text)
        command.add_argument("--policy", default=None, help="the policy file (default: LAKE_ACCESS_POLICY)")
        command.set_defaults(func=run(func))


def query_arguments(query: argparse.ArgumentParser) -> None:
    query.add_argument(
        "--as",
        dest="principal",
        default=None,
        metavar="PRINCIPAL",
        help="run as this principal of the access policy: only its tables, columns and rows",
    )
    query.add_argument("--policy", default=None, help="the policy file (default: LAKE_ACCESS_POLICY)")
