"""The access policy on AWS: Lake Formation grants and data cells filters (``lake access plan`` / ``apply``).

What a grant of the policy becomes (named-resource grants only: Athena applies data cells filters only to
grants made on named resources, never to LF-tag grants):

- ``database: D``: SELECT on every table of D (a ``Table`` resource with ``TableWildcard``);
- ``tables: [D.T]`` without column or row rules: SELECT on the ``Table`` D.T;
- ``tables: [D.T]`` with ``columns`` and/or ``row_filter``: a data cells filter on D.T named
  ``lake_<principal>_<D>_<T>`` (``ColumnNames`` for include, ``ColumnWildcard.ExcludedColumnNames`` for
  exclude, ``ColumnWildcard: {}`` for all columns; ``RowFilter.FilterExpression``, or ``AllRowsWildcard`` for
  all rows) and SELECT on that ``DataCellsFilter``;
- DESCRIBE on each database D that a principal reads a table of (so Athena lists the database).

What the lake manages: the SELECT and DESCRIBE permissions (without grant option) that the policy's principals
(by ARN) hold on the lake's databases (``raw``, ``intermediate``, ``final``: database, all tables, tables,
columns of tables, data cells filters): whatever the policy does not say there is revoked. And the data cells
filters named ``lake_...`` on those databases, with every grant made on them, whoever holds it.

What it leaves alone: principals outside the policy (data lake administrators, the pipeline's roles,
``IAM_ALLOWED_PRINCIPALS``), other permissions (ALL, ALTER, INSERT, DELETE, DROP, CREATE_TABLE, ...) and grant
options, LF-tag grants, other databases and catalogs, filters not named ``lake_...``. The plan names what it
leaves alone where that matters (a policy principal's extra permissions, ``IAM_ALLOWED_PRINCIPALS`` on a lake
database, which stops Lake Formation from enforcing anything there). It keeps no state: a principal removed
from the policy keeps its grants, so remove its grants and apply first, then remove the principal.
A principal with grants needs an ``arn`` (the IAM role or user Lake Formation grants to).

Reading: one paged ListPermissions over the whole catalog (a ``Resource`` filter names one database or table
per call, so listing the lake's tables one by one would take a call per table) and one paged
ListDataCellsFilter. ListPermissions shows only what the caller may see: run as a data lake administrator.
Lake Formation lists SELECT on a table as ``TableWithColumns`` with a ``ColumnWildcard``, and SELECT on all
tables as ``TableWithColumns`` named ``ALL_TABLES``; both are read as the ``Table`` grant they came from.

Applying: filters first (create, update), then grants (BatchGrantPermissions, 20 entries a call), then
revokes (BatchRevokePermissions), then filter deletes (a filter goes only once its grants are revoked).
Applying a plan makes Lake Formation equal to the policy: a second plan is empty, a second apply changes
nothing.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lake_assets.access.policy import DATABASES, Policy, PolicyError

if TYPE_CHECKING:
    from lake_assets.settings import LakeSettings

MANAGED = frozenset({"SELECT", "DESCRIBE"})  # the permissions the lake grants and revokes
FILTER_PREFIX = "lake_"  # data cells filters with this name on the lake's databases are the lake's own
BATCH_LIMIT = 20  # entries per BatchGrantPermissions / BatchRevokePermissions call (the API's limit)
PAGE_SIZE = 1000  # MaxResults of ListPermissions and ListDataCellsFilter (the API's largest page)
ALL_TABLES = "ALL_TABLES"  # how Lake Formation names the table wildcard when it lists permissions
IAM_ALLOWED = "IAM_ALLOWED_PRINCIPALS"
_NAME_MAX = 255  # Lake Formation's longest filter (and table) name


class LakeFormationError(RuntimeError):
    """Reading or changing Lake Formation failed; the message names the call, the principal, the resource and
    the policy line."""


@dataclass(frozen=True)
class Target:
    """One Lake Formation resource on a lake database, as the plan compares them.

    ``kind``: ``database``; ``table`` (``table`` "*" = every table, the ``TableWildcard``); ``filter`` (a data
    cells filter, ``name``); ``columns`` (SELECT on some columns of a table, granted by hand: never wanted,
    ``name`` describes the columns).
    """

    kind: str
    database: str
    table: str = ""
    name: str = ""

    def label(self) -> str:
        if self.kind == "database":
            return f"database {self.database}"
        where = f"{self.database}.{self.table}" if self.table != "*" else f"every table of {self.database}"
        if self.kind == "filter":
            return f"filter {self.name} on {where}"
        if self.kind == "columns":
            return f"{self.name} of {where}"
        return f"all tables of {self.database}" if self.table == "*" else f"table {where}"

    def resource(self, catalog_id: str) -> dict[str, Any]:
        """The ``Resource`` of a grant on this target (the shape the lake grants)."""
        if self.kind == "database":
            return {"Database": {"CatalogId": catalog_id, "Name": self.database}}
        if self.kind == "table" and self.table == "*":
            return {"Table": {"CatalogId": catalog_id, "DatabaseName": self.database, "TableWildcard": {}}}
        if self.kind == "table":
            return {"Table": {"CatalogId": catalog_id, "DatabaseName": self.database, "Name": self.table}}
        if self.kind == "filter":
            return {
                "DataCellsFilter": {
                    "TableCatalogId": catalog_id,
                    "DatabaseName": self.database,
                    "TableName": self.table,
                    "Name": self.name,
                }
            }
        raise ValueError(f"the lake never grants on {self.label()}")

    def order(self) -> tuple[str, str, int, str]:
        kinds = ("database", "table", "filter", "columns")
        return (self.database, "" if self.table == "*" else self.table, kinds.index(self.kind), self.name)


@dataclass(frozen=True)
class FilterSpec:
    """A data cells filter: ``include`` (ColumnNames) or ``exclude`` (ColumnWildcard.ExcludedColumnNames;
    empty: every column), and ``row_filter`` (None: every row). ``version``: the VersionId as listed."""

    database: str
    table: str
    name: str
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    row_filter: str | None = None
    version: str | None = None
    line: int | None = None  # the policy grant that wants it

    @property
    def target(self) -> Target:
        return Target("filter", self.database, self.table, self.name)

    def table_data(self, catalog_id: str, version: str | None = None) -> dict[str, Any]:
        """The ``TableData`` of CreateDataCellsFilter / UpdateDataCellsFilter."""
        data: dict[str, Any] = {
            "TableCatalogId": catalog_id,
            "DatabaseName": self.database,
            "TableName": self.table,
            "Name": self.name,
            "RowFilter": (
                {"FilterExpression": self.row_filter}
                if self.row_filter is not None
                else {"AllRowsWildcard": {}}
            ),
        }
        if self.include is not None:
            data["ColumnNames"] = list(self.include)
        else:
            data["ColumnWildcard"] = {"ExcludedColumnNames": list(self.exclude)} if self.exclude else {}
        if version is not None:
            data["VersionId"] = version
        return data

    @staticmethod
    def from_api(data: dict[str, Any]) -> FilterSpec:
        """A filter as ListDataCellsFilter returns it."""
        row = data.get("RowFilter") or {}
        expression = row.get("FilterExpression")
        include = None
        if "ColumnWildcard" not in data:
            include = tuple(data.get("ColumnNames") or ())
        return FilterSpec(
            data["DatabaseName"],
            data["TableName"],
            data["Name"],
            include,
            tuple((data.get("ColumnWildcard") or {}).get("ExcludedColumnNames") or ()),
            expression.strip() if expression is not None and "AllRowsWildcard" not in row else None,
            data.get("VersionId"),
        )

    def columns_text(self) -> str:
        if self.include is not None:
            return f"columns {', '.join(self.include)}"
        return f"all columns but {', '.join(self.exclude)}" if self.exclude else "all columns"

    def rows_text(self) -> str:
        return f"rows where {self.row_filter}" if self.row_filter is not None else "all rows"

    def describe(self) -> str:
        return f"{self.columns_text()}; {self.rows_text()}"

    def same_as(self, other: FilterSpec) -> bool:
        """The same columns and rows (column order aside: it does not change what is read)."""
        return (
            (self.include is None) == (other.include is None)
            and set(self.include or ()) == set(other.include or ())
            and set(self.exclude) == set(other.exclude)
            and self.row_filter == other.row_filter
        )

    def changes_from(self, current: FilterSpec) -> str:
        parts = []
        if not (
            (self.include is None) == (current.include is None)
            and set(self.include or ()) == set(current.include or ())
            and set(self.exclude) == set(current.exclude)
        ):
            parts.append(f"{current.columns_text()} -> {self.columns_text()}")
        if self.row_filter != current.row_filter:
            parts.append(f"{current.rows_text()} -> {self.rows_text()}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Change:
    """One grant or revoke: ``permissions`` of ``principal`` (the policy's name; the ARN for a principal
    outside the policy) on ``target``; ``resource`` is what the API call sends."""

    principal: str
    arn: str
    target: Target
    permissions: tuple[str, ...]
    resource: dict[str, Any] = field(compare=False, hash=False)
    line: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class Plan:
    """What ``apply`` would change, in the order it changes it."""

    catalog_id: str
    policy_path: Path
    to_create: tuple[FilterSpec, ...] = ()
    to_update: tuple[tuple[FilterSpec, FilterSpec], ...] = ()  # (as it is, as the policy wants it)
    to_grant: tuple[Change, ...] = ()
    to_revoke: tuple[Change, ...] = ()
    to_delete: tuple[FilterSpec, ...] = ()
    notes: tuple[str, ...] = ()  # what is left alone, where it matters
    calls: dict[str, int] = field(default_factory=dict, compare=False)  # API calls made to read the state

    @property
    def empty(self) -> bool:
        return not (self.to_create or self.to_update or self.to_grant or self.to_revoke or self.to_delete)

    def _at(self, line: int | None) -> str:
        return f"  [{_short(self.policy_path)}:{line}]" if line else ""

    def create_line(self, spec: FilterSpec) -> str:
        return f"+ filter {spec.name} on {spec.database}.{spec.table}: {spec.describe()}{self._at(spec.line)}"

    def update_line(self, current: FilterSpec, wanted: FilterSpec) -> str:
        return (
            f"~ filter {wanted.name} on {wanted.database}.{wanted.table}: {wanted.changes_from(current)}"
            f"{self._at(wanted.line)}"
        )

    def grant_line(self, change: Change) -> str:
        return (
            f"+ {', '.join(change.permissions)} on {change.target.label()} to {change.principal}"
            f"{self._at(change.line)}"
        )

    def revoke_line(self, change: Change) -> str:
        permissions = ", ".join(change.permissions)
        return f"- {permissions} on {change.target.label()} from {change.principal}: {change.reason}"

    def delete_line(self, spec: FilterSpec) -> str:
        return f"- filter {spec.name} on {spec.database}.{spec.table}: no grant of the policy wants it"

    def lines(self) -> list[str]:
        """One line per change, in the order ``apply`` makes them (+ grant or create, ~ update, - revoke or
        delete)."""
        return [
            *(self.create_line(s) for s in self.to_create),
            *(self.update_line(c, w) for c, w in self.to_update),
            *(self.grant_line(c) for c in self.to_grant),
            *(self.revoke_line(c) for c in self.to_revoke),
            *(self.delete_line(s) for s in self.to_delete),
        ]

    def summary(self) -> str:
        if self.empty:
            return "No changes: Lake Formation matches the policy."
        return (
            f"Plan: {len(self.to_grant)} to grant, {len(self.to_revoke)} to revoke; data cells filters: "
            f"{len(self.to_create)} to create, {len(self.to_update)} to update, "
            f"{len(self.to_delete)} to delete."
        )

    def render(self) -> str:
        """A reviewable diff like ``terraform plan``: a header, the changes, what is left alone, a summary."""
        head = f"Lake Formation, catalog {self.catalog_id}, against {_short(self.policy_path)}:"
        notes = [f"! left alone: {note}" for note in self.notes]
        return "\n".join([head, *(f"  {line}" for line in [*self.lines(), *notes]), self.summary()])


def filter_name(principal: str, database: str, table: str) -> str:
    """The lake's data cells filter for one principal and table (filter names are unique per table)."""
    return f"{FILTER_PREFIX}{principal}_{database}_{table}"


@dataclass
class _Wanted:
    principal: str
    permissions: set[str] = field(default_factory=set)
    line: int | None = None


@dataclass(frozen=True)
class Desired:
    """What the policy wants in Lake Formation: permissions per (principal ARN, target) and the filters."""

    grants: dict[tuple[str, Target], _Wanted]
    filters: dict[Target, FilterSpec]
    principals: dict[str, str]  # ARN -> the policy's name, for every principal with an ARN


def desired_state(policy: Policy, databases: Sequence[str] = DATABASES) -> Desired:
    """The grants and filters ``policy`` means; raises ``PolicyError`` listing every grant that cannot be
    applied (a principal without an ARN, two grants covering one table, a name too long for a filter)."""
    problems: list[str] = []

    def say(line: int | None, at: str, what: str, fix: str) -> None:
        where = f"{policy.path}:{line}" if line else str(policy.path)
        problems.append(f"{where}: {at}: {what}. Fix: {fix}.")

    principals: dict[str, str] = {}
    for name, principal in policy.principals.items():
        if principal.arn is None:
            lines = [g.line for g in policy.grants_of(name) if g.line]
            if lines:
                say(
                    policy.line("principals", name),
                    f"principals.{name}",
                    f"{name} has no arn, so Lake Formation cannot grant to it "
                    f"(its grants: line {', '.join(map(str, lines))})",
                    f"add arn: arn:aws:iam::<account>:role/<role> under principals.{name}",
                )
        elif principal.arn in principals:
            other = principals[principal.arn]
            say(
                policy.line("principals", name),
                f"principals.{name}",
                f"{name} has the arn of {other} ({principal.arn}): Lake Formation would give both the grants "
                "of either",
                f"give {name} its own role, or merge it into {other}",
            )
        else:
            principals[principal.arn] = name

    grants: dict[tuple[str, Target], _Wanted] = {}
    filters: dict[Target, FilterSpec] = {}
    covered: dict[tuple[str, str, str], int | None] = {}  # (principal, database, table or *) -> line

    def want(arn: str, name: str, target: Target, permission: str, line: int | None) -> None:
        wanted = grants.setdefault((arn, target), _Wanted(name, line=line))
        wanted.permissions.add(permission)

    def cover(name: str, database: str, table: str, line: int | None, at: str) -> bool:
        """Refuse a second grant of one principal covering one table (Lake Formation would take the union)."""
        if table == "*":
            clash = [ln for (p, d, _t), ln in covered.items() if p == name and d == database]
        else:
            clash = [covered[k] for k in ((name, database, table), (name, database, "*")) if k in covered]
        if clash:
            say(
                line,
                at,
                f"{name} already has a grant covering {database}.{table} (line {clash[0]})",
                "write one grant per principal and table",
            )
            return False
        covered[(name, database, table)] = line
        return True

    for i, grant in enumerate(policy.grants):
        at = f"grants[{i}]"
        principal = policy.principals.get(grant.principal)
        if principal is None:
            say(
                grant.line,
                f"{at}.principal",
                f"{grant.principal!r} is not declared",
                "add it under principals",
            )
            continue
        arn = principal.arn
        if arn is None or principals.get(arn) != grant.principal:
            continue  # said above
        name = grant.principal
        if grant.database is not None:
            if grant.database not in databases:
                say(grant.line, at, f"{grant.database} is not a lake database", f"use one of {databases}")
                continue
            if cover(name, grant.database, "*", grant.line, at):
                want(arn, name, Target("database", grant.database), "DESCRIBE", grant.line)
                want(arn, name, Target("table", grant.database, "*"), "SELECT", grant.line)
        for table_name in grant.tables:
            database, table = table_name.split(".", 1)
            if database not in databases:
                say(grant.line, at, f"{table_name} is not in a lake database", f"use one of {databases}")
                continue
            if not cover(name, database, table, grant.line, at):
                continue
            want(arn, name, Target("database", database), "DESCRIBE", grant.line)
            if grant.include is None and not grant.exclude and grant.row_filter is None:
                want(arn, name, Target("table", database, table), "SELECT", grant.line)
                continue
            spec = FilterSpec(
                database,
                table,
                filter_name(name, database, table),
                grant.include,
                grant.exclude,
                grant.row_filter.strip() if grant.row_filter is not None else None,
                line=grant.line,
            )
            if len(spec.name) > _NAME_MAX:
                say(
                    grant.line,
                    at,
                    f"the data cells filter name {spec.name[:40]}... is longer than {_NAME_MAX} characters",
                    "use a shorter principal name",
                )
                continue
            filters[spec.target] = spec
            want(arn, name, spec.target, "SELECT", grant.line)
    if problems:
        raise PolicyError("\n".join(problems))
    return Desired(grants, filters, principals)


def plan(
    policy: Policy,
    client: Any,
    catalog_id: str,
    databases: Sequence[str] = DATABASES,
    *,
    page_size: int = PAGE_SIZE,
) -> Plan:
    """Read Lake Formation's permissions and data cells filters (``client``: a boto3 ``lakeformation`` client)
    and compare them with ``policy``: what ``apply`` must grant, revoke, create, update and delete."""
    desired = desired_state(policy, databases)
    calls: dict[str, int] = defaultdict(int)
    permissions = list(
        _pages(
            client, "list_permissions", "PrincipalResourcePermissions", calls, page_size, CatalogId=catalog_id
        )
    )
    listed = [
        FilterSpec.from_api(f)
        for f in _pages(client, "list_data_cells_filter", "DataCellsFilters", calls, page_size)
        if f.get("TableCatalogId") in (None, catalog_id)
        and f.get("DatabaseName") in databases
        and str(f.get("Name", "")).startswith(FILTER_PREFIX)
    ]
    filters = {f.target: f for f in listed}

    # Current: (arn, target) -> permission -> the resource to revoke it with (as Lake Formation listed it).
    current: dict[tuple[str, Target], dict[str, dict[str, Any]]] = defaultdict(dict)
    notes: list[str] = []
    outsiders: dict[str, int] = defaultdict(int)
    for entry in permissions:
        arn = entry.get("Principal", {}).get("DataLakePrincipalIdentifier", "")
        resource = entry.get("Resource") or {}
        held = set(entry.get("Permissions") or ())
        grantable = set(entry.get("PermissionsWithGrantOption") or ())
        target = _target(resource, catalog_id, databases)
        name = desired.principals.get(arn)
        if target is None:
            if name and ({"LFTagPolicy", "LFTagExpression"} & resource.keys()) and held & {"SELECT", "ALL"}:
                notes.append(
                    f"{name} holds {', '.join(sorted(held))} through LF-tags (tag-based grants are not "
                    "managed here, and Athena applies no data cells filter to them)"
                )
            continue
        if name is None and not (target.kind == "filter" and target.name.startswith(FILTER_PREFIX)):
            if arn == IAM_ALLOWED and held & {"ALL", "SELECT"} and target.kind in ("database", "table"):
                notes.append(
                    f"{IAM_ALLOWED} holds {', '.join(sorted(held))} on {target.label()}: Lake Formation does "
                    "not enforce these grants there until that is revoked"
                )
            elif held or grantable:
                outsiders[arn] += 1
            continue
        for permission in held & MANAGED:
            current[(arn, target)][permission] = _revocable(resource)
        others = sorted(held - MANAGED) + [f"{p} with grant option" for p in sorted(grantable)]
        if others:
            who = name or arn
            notes.append(
                f"{who} holds {', '.join(others)} on {target.label()} (only SELECT and DESCRIBE are managed)"
            )
    if outsiders:
        shown = ", ".join(sorted(outsiders)[:3]) + (
            f" and {len(outsiders) - 3} more" if len(outsiders) > 3 else ""
        )
        notes.append(
            f"{sum(outsiders.values())} permission(s) on the lake's databases held by {len(outsiders)} "
            f"principal(s) outside the policy ({shown})"
        )

    to_grant: list[Change] = []
    to_revoke: list[Change] = []
    for key in sorted(desired.grants.keys() | current.keys(), key=lambda k: (k[1].order(), k[0])):
        arn, target = key
        wanted = desired.grants.get(key)
        have = current.get(key, {})
        missing = sorted((wanted.permissions if wanted else set()) - have.keys())
        if wanted and missing:
            to_grant.append(
                Change(
                    wanted.principal, arn, target, tuple(missing), target.resource(catalog_id), wanted.line
                )
            )
        extra = sorted(have.keys() - (wanted.permissions if wanted else set()))
        by_resource: dict[str, list[str]] = defaultdict(list)
        for permission in extra:
            by_resource[json.dumps(have[permission], sort_keys=True)].append(permission)
        principal = desired.principals.get(arn, arn)
        for resource, perms in by_resource.items():
            reason = "not in the policy"
            if target.kind == "filter" and target not in desired.filters:
                reason = "its filter is to be deleted"
            elif target.kind == "filter" and arn not in desired.principals:
                reason = "a principal outside the policy, on the lake's filter"
            elif target.kind == "columns":
                reason = "a column grant made by hand (the lake uses data cells filters)"
            to_revoke.append(
                Change(principal, arn, target, tuple(perms), json.loads(resource), reason=reason)
            )

    to_create, to_update = [], []
    for target, spec in sorted(desired.filters.items(), key=lambda kv: kv[0].order()):
        existing = filters.get(target)
        if existing is None:
            to_create.append(spec)
        elif not spec.same_as(existing):
            to_update.append((existing, spec))
    to_delete = [
        f for t, f in sorted(filters.items(), key=lambda kv: kv[0].order()) if t not in desired.filters
    ]
    return Plan(
        catalog_id,
        policy.path,
        tuple(to_create),
        tuple(to_update),
        tuple(to_grant),
        tuple(to_revoke),
        tuple(to_delete),
        tuple(notes),
        dict(calls),
    )


def apply(plan: Plan, client: Any, *, echo: Callable[[str], None] | None = None) -> list[str]:
    """Make Lake Formation what ``plan`` says: filters, then grants, then revokes, then filter deletes.

    Returns the plan's lines of what it changed (``echo`` gets each as it is done). A failure raises
    ``LakeFormationError`` naming the principal, the resource, the policy line and what was done before.
    """
    done: list[str] = []

    def did(line: str) -> None:
        done.append(line)
        if echo:
            echo(line)

    def failed(what: str, code: str, message: str) -> LakeFormationError:
        before = (
            f" ({len(done)} change(s) made before this one; `lake access plan` shows what is left)"
            if done
            else ""
        )
        return LakeFormationError(f"{what}: {code}: {message}{before}")

    catalog_id = plan.catalog_id
    for spec in plan.to_create:
        with _api(f"creating {plan.create_line(spec)[2:]}", failed):
            client.create_data_cells_filter(TableData=spec.table_data(catalog_id))
        did(plan.create_line(spec))
    for current, wanted in plan.to_update:
        with _api(f"updating {plan.update_line(current, wanted)[2:]}", failed):
            client.update_data_cells_filter(TableData=wanted.table_data(catalog_id, current.version))
        did(plan.update_line(current, wanted))
    for operation, changes, line, verb in (
        ("batch_grant_permissions", plan.to_grant, plan.grant_line, "granting"),
        ("batch_revoke_permissions", plan.to_revoke, plan.revoke_line, "revoking"),
    ):
        for chunk in _chunks(changes, BATCH_LIMIT):
            entries = [
                {
                    "Id": str(i),
                    "Principal": {"DataLakePrincipalIdentifier": c.arn},
                    "Resource": c.resource,
                    "Permissions": list(c.permissions),
                }
                for i, c in enumerate(chunk)
            ]
            with _api(f"{verb} {len(chunk)} permission(s) ({line(chunk[0])[2:]} ...)", failed):
                response = getattr(client, operation)(CatalogId=catalog_id, Entries=entries)
            failures = {
                f.get("RequestEntry", {}).get("Id"): f.get("Error", {})
                for f in response.get("Failures") or ()
            }
            for i, change in enumerate(chunk):
                if str(i) not in failures:
                    did(line(change))
            if failures:
                problems = [
                    f"{verb} {', '.join(c.permissions)} on {c.target.label()} "
                    f"{'to' if verb == 'granting' else 'from'} {c.principal} ({c.arn}){plan._at(c.line)}: "
                    f"{failures[str(i)].get('ErrorCode', '?')}: {failures[str(i)].get('ErrorMessage', '')}"
                    for i, c in enumerate(chunk)
                    if str(i) in failures
                ]
                raise LakeFormationError(
                    f"{_camel(operation)}: {len(problems)} of {len(chunk)} entries failed:\n  "
                    + "\n  ".join(problems)
                    + (
                        f"\n{len(done)} change(s) were made; `lake access plan` shows what is left"
                        if done
                        else ""
                    )
                )
    for spec in plan.to_delete:
        with _api(f"deleting {plan.delete_line(spec)[2:]}", failed):
            client.delete_data_cells_filter(
                TableCatalogId=catalog_id, DatabaseName=spec.database, TableName=spec.table, Name=spec.name
            )
        did(plan.delete_line(spec))
    return done


def connect(settings: LakeSettings) -> tuple[Any, str]:
    """A ``lakeformation`` client for ``settings`` (region, credentials, ``LAKE_AWS_ENDPOINT_URL``) and the
    catalog id (the caller's account, from STS)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session(
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        region_name=settings.aws_region,
    )
    config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 5, "mode": "adaptive"})
    client = session.client("lakeformation", endpoint_url=settings.aws_endpoint_url, config=config)
    try:
        sts = session.client("sts", endpoint_url=settings.aws_endpoint_url, config=config)
        account = str(sts.get_caller_identity()["Account"])
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise LakeFormationError(
            f"sts GetCallerIdentity: {error.get('Code')}: {error.get('Message')}"
        ) from None
    except BotoCoreError as exc:
        raise LakeFormationError(f"sts GetCallerIdentity: {exc}") from None
    return client, account


# -- reading


def _pages(
    client: Any, operation: str, key: str, calls: dict[str, int], page_size: int, **params: Any
) -> Iterator[dict[str, Any]]:
    """Every item of a paged List call (``NextToken``)."""
    token = None
    while True:
        with _api(
            _camel(operation), lambda what, code, message: LakeFormationError(f"{what}: {code}: {message}")
        ):
            response = getattr(client, operation)(
                **params, MaxResults=page_size, **({"NextToken": token} if token else {})
            )
        calls[operation] += 1
        yield from response.get(key) or ()
        token = response.get("NextToken")
        if not token:
            return


def _target(resource: dict[str, Any], catalog_id: str, databases: Sequence[str]) -> Target | None:
    """The lake's target a listed ``Resource`` is on; None when it is not on a lake database of this catalog
    (or is an LF-tag, a data location, the catalog)."""

    def ours(value: Any) -> bool:
        return value in (None, catalog_id)

    if "Database" in resource:
        db = resource["Database"]
        if db.get("Name") in databases and ours(db.get("CatalogId")):
            return Target("database", db["Name"])
    elif "Table" in resource:
        table = resource["Table"]
        if table.get("DatabaseName") in databases and ours(table.get("CatalogId")):
            if "TableWildcard" in table or not table.get("Name"):
                return Target("table", table["DatabaseName"], "*")
            return Target("table", table["DatabaseName"], table["Name"])
    elif "TableWithColumns" in resource:
        twc = resource["TableWithColumns"]
        if twc.get("DatabaseName") in databases and ours(twc.get("CatalogId")):
            name = "*" if twc.get("Name") == ALL_TABLES else str(twc.get("Name"))
            excluded = list((twc.get("ColumnWildcard") or {}).get("ExcludedColumnNames") or ())
            if "ColumnWildcard" in twc and not excluded:
                return Target("table", twc["DatabaseName"], name)
            what = (
                f"all columns but {', '.join(excluded)}"
                if "ColumnWildcard" in twc
                else f"columns {', '.join(twc.get('ColumnNames') or ())}"
            )
            return Target("columns", twc["DatabaseName"], name, what)
    elif "DataCellsFilter" in resource:
        cells = resource["DataCellsFilter"]
        if cells.get("DatabaseName") in databases and ours(cells.get("TableCatalogId")):
            return Target(
                "filter", cells["DatabaseName"], str(cells.get("TableName")), str(cells.get("Name"))
            )
    return None


def _revocable(resource: dict[str, Any]) -> dict[str, Any]:
    """The ``Resource`` to revoke a listed permission with: as listed, except the table wildcard, which Lake
    Formation lists under the name ``ALL_TABLES`` but takes back only as ``TableWildcard``."""
    resource = json.loads(json.dumps(resource))
    twc = resource.get("TableWithColumns")
    if (
        twc is not None
        and twc.get("Name") == ALL_TABLES
        and "ColumnWildcard" in twc
        and not (twc["ColumnWildcard"] or {}).get("ExcludedColumnNames")
    ):
        table = {"DatabaseName": twc["DatabaseName"], "TableWildcard": {}}
        if "CatalogId" in twc:
            table = {"CatalogId": twc["CatalogId"], **table}
        return {"Table": table}
    table = resource.get("Table")
    if table is not None and "TableWildcard" in table:
        table.pop("Name", None)
    return resource


# -- helpers


@contextmanager
def _api(what: str, make: Callable[[str, str, str], LakeFormationError]) -> Iterator[None]:
    """botocore's errors as ``LakeFormationError`` saying what was being done."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise make(what, str(error.get("Code", "?")), _one_line(error.get("Message", ""))) from None
    except BotoCoreError as exc:
        raise make(what, type(exc).__name__, _one_line(exc)) from None


def _one_line(message: Any) -> str:
    """An error message on one line, not too long (an endpoint without the call answers a whole HTML page)."""
    text = " ".join(str(message).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _chunks(items: Sequence[Change], size: int) -> Iterable[Sequence[Change]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _camel(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_"))


def _short(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
