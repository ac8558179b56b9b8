"""The access policy: who may read which tables, columns and rows, kept as code (``access/policy.yaml``).

One file holds the principals (plain names locally, IAM role or user ARNs for Lake Formation), the grants
(a whole database, or tables with an include or exclude list of columns and a row filter, a SQL predicate),
each table's owner and descriptions, and whom each report and ML data set reads as (``read_as``: a chart or
an export holds only what that principal may read, whoever opens it). The same file means the same thing
on a laptop (``lake query --as``, ``access/enforce.py``, ``access/views.py``) and on AWS (Lake Formation
grants and data cells filters, ``access/lakeformation.py``; QuickSight's data sources query as the reader).
Table names are the catalog's, ``<database>.<table>``.

A grant gives SELECT. Two grants of one principal covering one table are refused: Lake Formation would
take their union, which is rarely what the second author meant; write one grant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import duckdb
import yaml
from pydantic import Field, ValidationError, model_validator

from lake_assets.spec_model import Problems, Section, checked, explain, line_of

DEFAULT_POLICY = Path(__file__).parent / "policy.yaml"
DATABASES = ("raw", "intermediate", "final")
_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+")
_TABLE = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")
_CONSUMER = re.compile(r"final/(reports|ml)/[a-z][a-z0-9_]*")

_Name = checked(
    re.compile(r"[a-z][a-z0-9_-]{0,62}").fullmatch,
    "{v!r} is not a principal name",
    "use lower case letters, digits, - and _ (e.g. analyst)",
)
_Arn = checked(
    _ARN.fullmatch,
    "{v!r} is not an IAM role or user ARN",
    "write e.g. arn:aws:iam::123456789012:role/analyst",
)
_TableName = checked(
    _TABLE.fullmatch, "{v!r} is not a table name", "write <database>.<table>, e.g. final.shop_daily_funnel"
)
_Consumer = checked(
    _CONSUMER.fullmatch,
    "{v!r} is not a report or ML data set",
    "write its asset key, e.g. final/reports/daily_sales or final/ml/customer_orders_7d",
)
_Database = checked(lambda v: v in DATABASES, "{v!r} is not a database", f"use one of {', '.join(DATABASES)}")
_Columns = Annotated[tuple[Annotated[str, Field(min_length=1)], ...], Field(strict=False, min_length=1)]


class PolicyError(ValueError):
    """The policy is invalid; the message lists every problem with file, line, field and fix."""


class AccessDenied(PermissionError):
    """A principal may not run this query; the message is one line saying why and what to change."""


class _Principal(Section):
    description: str = ""
    arn: _Arn | None = None  # the IAM role or user Lake Formation grants to; locally only the name counts


class _TableEntry(Section):
    owner: str | None = None
    description: str = ""
    columns: dict[str, str] = Field(default_factory=dict)  # column -> description


class _ColumnRule(Section):
    include: _Columns | None = None
    exclude: _Columns | None = None

    @model_validator(mode="after")
    def _one(self) -> _ColumnRule:
        if (self.include is None) == (self.exclude is None):
            raise Problems(("", "give include or exclude, not both or neither", "write {exclude: [email]}"))
        return self


class _Grant(Section):
    principal: _Name
    database: _Database | None = None
    tables: Annotated[tuple[_TableName, ...], Field(strict=False)] = ()
    columns: _ColumnRule | None = None
    row_filter: str | None = None

    @model_validator(mode="after")
    def _target(self) -> _Grant:
        if (self.database is None) == (not self.tables):
            raise Problems(("", "grant a database or tables, not both or neither", "write tables: [final.x]"))
        if self.database and (self.columns or self.row_filter):
            raise Problems(
                ("", "column and row rules need tables", "list the tables instead of the database")
            )
        return self


class _PolicyFile(Section):
    principals: dict[_Name, _Principal]
    tables: dict[_TableName, _TableEntry] = Field(default_factory=dict)
    grants: Annotated[tuple[_Grant, ...], Field(strict=False)] = ()
    read_as: dict[_Consumer, _Name] = Field(default_factory=dict)


_HINTS = {
    "principals": "write principals: {analyst: {description: ...}}",
    "grants": "write grants: [{principal: analyst, database: final}]",
    "grants.principal": "name a principal declared under principals",
    "read_as": "write read_as: {final/reports/daily_sales: analyst}",
}


@dataclass(frozen=True)
class TableAccess:
    """What one principal may read of one table: columns (None = all but ``exclude``) and rows."""

    table: str
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    row_filter: str | None = None

    def columns(self, available: Sequence[str]) -> list[str]:
        """The table's columns this principal sees, in the table's order."""
        if self.include is not None:
            return [c for c in available if c in self.include]
        return [c for c in available if c not in self.exclude]

    @property
    def restricted(self) -> bool:
        return self.include is not None or bool(self.exclude) or self.row_filter is not None

    def hidden(self, wanted: Sequence[str]) -> list[str]:
        """The columns of ``wanted`` this principal may not read."""
        if self.include is not None:
            return [c for c in wanted if c not in self.include]
        return [c for c in wanted if c in self.exclude]


@dataclass(frozen=True)
class Grant:
    principal: str
    database: str | None
    tables: tuple[str, ...]
    include: tuple[str, ...] | None
    exclude: tuple[str, ...]
    row_filter: str | None
    line: int | None


@dataclass(frozen=True)
class Principal:
    name: str
    arn: str | None
    description: str


@dataclass(frozen=True)
class TableInfo:
    name: str
    owner: str | None
    description: str
    columns: Mapping[str, str]


@dataclass(frozen=True)
class Policy:
    path: Path
    principals: Mapping[str, Principal]
    grants: tuple[Grant, ...]
    tables: Mapping[str, TableInfo]
    text: str = ""
    read_as: Mapping[str, str] = field(default_factory=dict)  # report or ML data set -> principal

    def access(self, principal: str, table: str) -> TableAccess | None:
        """What ``principal`` may read of ``table`` (``<database>.<table>``), or None: nothing."""
        for grant in self.grants:
            if grant.principal != principal:
                continue
            if grant.database is not None and table.split(".", 1)[0] == grant.database:
                return TableAccess(table)
            if table in grant.tables:
                return TableAccess(table, grant.include, grant.exclude, grant.row_filter)
        return None

    def grants_of(self, principal: str) -> list[Grant]:
        return [g for g in self.grants if g.principal == principal]

    def reads_database(self, principal: str, database: str) -> bool:
        return any(g.database == database for g in self.grants_of(principal))

    def reader(self, consumer: str) -> str:
        """The principal report or ML data set ``consumer`` (its asset key) reads as."""
        principal = self.read_as.get(consumer)
        if principal is None:
            raise AccessDenied(
                f"{consumer} reads as nobody: add it under read_as in {self.path}, e.g. "
                f"'{consumer}: analyst' (a chart or export holds only what that principal may read)"
            )
        if principal not in self.principals:
            line = self.line("read_as", consumer)
            where = f"{self.path}:{line}" if line else str(self.path)
            raise AccessDenied(f"{consumer} reads as {principal!r}, not a principal of {where}: declare it")
        return principal

    def consumer_view(self, consumer: str, table: str, wanted: Sequence[str]) -> tuple[str, TableAccess]:
        """The reader of ``consumer`` and what it may read of ``table``, refused as ``reader`` and ``view``
        refuse: a report's chart, its QuickSight data set and the ML export are judged alike."""
        principal = self.reader(consumer)
        return principal, self.view(principal, table, wanted, consumer)

    def view(self, principal: str, table: str, wanted: Sequence[str], purpose: str) -> TableAccess:
        """What ``principal`` may read of ``table``, refused (naming the grant to change) when it may not read
        the table or one of the ``wanted`` columns ``purpose`` needs."""
        access = self.access(principal, table)
        if access is None:
            raise AccessDenied(
                f"{purpose} reads as {principal}, who is not granted {table} in {self.path}: grant it, or "
                "read as another principal (read_as)"
            )
        hidden = access.hidden(wanted)
        if hidden:
            raise AccessDenied(
                f"{purpose} reads as {principal}, who may not read {', '.join(hidden)} of {table} "
                f"({self.path}): read as a principal granted those columns (read_as), or grant them"
            )
        return access

    def line(self, *path: Any) -> int | None:
        return line_of(self.text, path)


def _problem(path: Path, line: int | None, at: str, what: str, fix: str) -> str:
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: {at or '<top>'}: {what}. Fix: {fix}."


def parse_policy(text: str, path: Path) -> Policy:
    """The policy in ``text``; raises ``PolicyError`` listing every problem of its shape at once."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: not YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(_problem(path, 1, "", "a policy must be a mapping", "start with principals:"))
    try:
        model = _PolicyFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for at, what, fix in explain(exc, _PolicyFile, _HINTS):
            loc = tuple(int(p) if p.isdigit() else p for p in re.split(r"\.|\[|\]", at) if p)
            problems.append(_problem(path, line_of(text, loc), at, what, fix))
        raise PolicyError("\n".join(problems)) from None
    grants = tuple(
        Grant(
            g.principal,
            g.database,
            g.tables,
            g.columns.include if g.columns else None,
            g.columns.exclude or () if g.columns else (),
            g.row_filter,
            line_of(text, ("grants", i)),
        )
        for i, g in enumerate(model.grants)
    )
    return Policy(
        path,
        {n: Principal(n, p.arn, p.description) for n, p in model.principals.items()},
        grants,
        {n: TableInfo(n, t.owner, t.description, t.columns) for n, t in model.tables.items()},
        text,
        dict(model.read_as),
    )


def load_policy(path: Path | str = DEFAULT_POLICY) -> Policy:
    path = Path(path)
    if not path.is_file():
        raise PolicyError(f"{path}: no such policy file. Fix: create it (see docs/ACCESS.md) or set --policy")
    return parse_policy(path.read_text(encoding="utf-8"), path)


def filter_problems(row_filter: str, columns: Sequence[str] | None) -> list[str]:
    """Why ``row_filter`` cannot be a row filter: it must parse as one SQL predicate over the table's own
    columns, with no subquery, table function or statement of its own (it would read other data)."""
    con = duckdb.connect()
    try:
        body = json.loads(
            con.execute("SELECT json_serialize_sql(?)", [f"SELECT * FROM t WHERE {row_filter}"]).fetchone()[0]
        )
        if body.get("error"):
            return [f"does not parse: {body.get('error_message', '').splitlines()[0]}"]
        statements = body["statements"]
        if len(statements) != 1:
            return ["holds more than one statement"]
        where = statements[0]["node"].get("where_clause")
        text = json.dumps(where)
        if '"SUBQUERY"' in text or '"TABLE_FUNCTION"' in text:
            return ["reads other data (a subquery): a row filter may use only the table's columns"]
        if columns is not None:
            quoted = ", ".join(f'"{c.replace(chr(34), chr(34) * 2)}" VARCHAR' for c in columns)
            con.execute(f"CREATE TABLE t ({quoted})")
            try:
                con.execute(f"PREPARE check_filter AS SELECT * FROM t WHERE {row_filter}")
            except duckdb.BinderException as exc:
                message = str(exc).splitlines()[0]
                if "not found" in message or "does not have a column" in message:
                    return [message.replace("Binder Error: ", "").rstrip("!.")]
            except duckdb.Error:
                pass  # a type question (VARCHAR stand-ins), not a name one: the real table decides
        return []
    finally:
        con.close()


def check_policy(
    policy: Policy, tables: Mapping[str, Sequence[str] | None], consumers: Sequence[str] = ()
) -> list[str]:
    """Problems of meaning: undeclared principals, tables or columns the lake does not have, row filters
    that do not parse, overlapping grants, reports or ML data sets that read as nobody. ``tables``: every
    table the lake declares -> its columns (None when the table has not been created yet, so its columns
    cannot be checked). ``consumers``: the lake's reports and ML data sets (their asset keys)."""
    problems: list[str] = []

    def say(line: int | None, at: str, what: str, fix: str) -> None:
        problems.append(_problem(policy.path, line, at, what, fix))

    known = ", ".join(sorted(tables)) or "none yet"
    covered: dict[tuple[str, str], int | None] = {}
    for i, grant in enumerate(policy.grants):
        at = f"grants[{i}]"
        if grant.principal not in policy.principals:
            say(
                grant.line,
                f"{at}.principal",
                f"{grant.principal!r} is not declared",
                "add it under principals",
            )
        names = [t for t in tables if grant.database and t.startswith(grant.database + ".")] or []
        for j, table in enumerate(grant.tables):
            if table not in tables:
                say(
                    policy.line("grants", i, "tables", j) or grant.line,
                    f"{at}.tables[{j}]",
                    f"{table!r} is not a table of the lake",
                    f"use one of {known}",
                )
                continue
            names.append(table)
            columns = tables[table]
            for rule in ("include", "exclude"):
                for column in getattr(grant, rule) or ():
                    if columns is not None and column not in columns:
                        say(
                            policy.line("grants", i, "columns", rule) or grant.line,
                            f"{at}.columns.{rule}",
                            f"{table} has no column {column!r}",
                            f"use its columns: {', '.join(columns)}",
                        )
            if grant.row_filter is not None:
                for why in filter_problems(grant.row_filter, columns):
                    say(
                        policy.line("grants", i, "row_filter") or grant.line,
                        f"{at}.row_filter",
                        f"{grant.row_filter!r} {why}",
                        "write a SQL predicate over the table's columns, e.g. dt >= DATE '2026-11-01'",
                    )
        for table in names:
            earlier = covered.setdefault((grant.principal, table), grant.line)
            if earlier != grant.line:
                say(
                    grant.line,
                    at,
                    f"{grant.principal} already has a grant covering {table} (line {earlier})",
                    "write one grant per principal and table",
                )
    for name, info in policy.tables.items():
        if name not in tables:
            say(
                policy.line("tables", name),
                f"tables.{name}",
                "is not a table of the lake",
                f"use one of {known}",
            )
            continue
        columns = tables[name]
        for column in info.columns:
            if columns is not None and column not in columns:
                say(
                    policy.line("tables", name, "columns", column),
                    f"tables.{name}.columns.{column}",
                    f"{name} has no column {column!r}",
                    f"use its columns: {', '.join(columns)}",
                )
    for consumer, principal in policy.read_as.items():
        at = f"read_as.{consumer}"
        if consumers and consumer not in consumers:
            say(
                policy.line("read_as", consumer),
                at,
                "is not a report or ML data set of the lake",
                f"use one of {', '.join(consumers)}",
            )
        if principal not in policy.principals:
            say(
                policy.line("read_as", consumer),
                at,
                f"{principal!r} is not declared",
                "add it under principals",
            )
    for consumer in consumers:
        if consumer not in policy.read_as:
            say(
                policy.line("read_as") if policy.read_as else None,
                "read_as",
                f"{consumer} reads as nobody",
                f"add '{consumer}: <principal>' (it holds only what that principal may read)",
            )
    return problems
