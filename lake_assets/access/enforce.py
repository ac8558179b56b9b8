"""``lake query --as PRINCIPAL``: the access policy enforced on the embedded engine.

DuckDB runs in this process, so a restricted session must not be able to reach files or settings on its own.
Three layers, each enough on its own for what it covers:

1. The statement is read with DuckDB's own parser (``json_serialize_sql``): one SELECT (or DESCRIBE/SHOW)
   only, no table functions (``read_parquet``, ``glob``, ``duckdb_settings``...), no file scans
   (``FROM 'x.parquet'``), no three-part names, no ``AT (...)`` time travel (``--as-of`` is the way, and it
   keeps the rules), no functions that read settings or the environment.
2. The tables it names are resolved against the policy: a table not granted does not exist for the
   principal. Each granted table is read by a privileged connection with the principal's columns and row
   filter applied, and handed over as Arrow data to a **fresh** connection that never had a file-backed view,
   an extension or a path: the rules hold through views, CTEs, joins, subqueries and time travel because the
   rows that break them are never there.
3. That fresh connection is locked before the query runs: ``enable_external_access = false`` (no file,
   network, ATTACH, INSTALL or LOAD) and ``lock_configuration = true`` (no setting can be changed back).

Every denial is one line naming the principal and what to change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from lake_assets.access.policy import AccessDenied, Policy
from lake_assets.access.views import ident as _ident
from lake_assets.access.views import select_sql

_DENIED_FUNCTIONS = {"current_setting", "getenv", "getvariable", "current_query", "current_database"}
_SELECT_ONLY = "Only SELECT statements can be serialized"


@dataclass(frozen=True)
class TableRef:
    database: str
    table: str

    @property
    def name(self) -> str:
        return f"{self.database}.{self.table}" if self.database else self.table


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _serialized(sql: str, con: duckdb.DuckDBPyConnection | None) -> dict[str, Any]:
    """DuckDB's own parse tree of ``sql`` (it serializes SELECT statements only)."""
    own = con is None
    con = con or duckdb.connect()
    try:
        return json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    finally:
        if own:
            con.close()


def statement_tables(
    sql: str, principal: str, strict: bool = True, con: duckdb.DuckDBPyConnection | None = None
) -> list[TableRef]:
    """The lake tables one read-only statement names; raises ``AccessDenied`` for anything else
    (``strict=False``: only when it cannot be read at all)."""
    return _read(_serialized(sql, con), sql, principal, strict)


def _lists_tables(body: dict[str, Any]) -> bool:
    """A SHOW TABLES / SHOW ALL TABLES statement (its answer depends on every table there is)."""
    return any(n.get("type") == "SHOW_REF" and not n.get("query") for n in _nodes(body.get("statements")))


def _read(body: dict[str, Any], sql: str, principal: str, strict: bool) -> list[TableRef]:
    if body.get("error"):
        message = body.get("error_message", "")
        if _SELECT_ONLY in message:
            raise AccessDenied(
                f"{principal} may run only SELECT, DESCRIBE and SHOW statements, not {_verb(sql)}"
            )
        raise AccessDenied(f"the query does not parse: {message.splitlines()[0]}")
    if len(body["statements"]) != 1:
        raise AccessDenied(f"{principal} may run one statement at a time, got {len(body['statements'])}")
    ctes: set[str] = set()
    refs: list[TableRef] = []
    for node in _nodes(body["statements"][0]):
        for entry in (
            (node.get("cte_map") or {}).get("map", []) if isinstance(node.get("cte_map"), dict) else []
        ):
            ctes.add(entry["key"].lower())
    for node in _nodes(body["statements"][0]):
        kind = node.get("type")
        if not strict:
            if kind == "BASE_TABLE" and not node.get("catalog_name"):
                refs.append(TableRef(node.get("schema_name", "").lower(), node["table_name"].lower()))
            continue
        if kind == "TABLE_FUNCTION":
            name = (node.get("function") or {}).get("function_name", "a table function")
            raise AccessDenied(f"{principal} may not call table functions ({name}): query the lake's tables")
        if node.get("class") == "FUNCTION" and node.get("function_name", "").lower() in _DENIED_FUNCTIONS:
            raise AccessDenied(f"{principal} may not call {node['function_name']}()")
        if kind != "BASE_TABLE":
            continue
        catalog, schema, table = node.get("catalog_name", ""), node.get("schema_name", ""), node["table_name"]
        if catalog:
            raise AccessDenied(f"{principal} may not use three-part names ({catalog}.{schema}.{table})")
        if node.get("at_clause"):
            raise AccessDenied(
                f"{principal} may not use AT (...): time travel is lake query --as-of, with the rules"
            )
        if not schema and ("/" in table or "." in table or ":" in table):
            raise AccessDenied(f"{principal} may not read files ({table!r}): query the lake's tables")
        if not schema and table.lower() in ctes:
            continue
        refs.append(TableRef(schema.lower(), table.lower()))
    return refs


def named_tables(sql: str) -> list[str]:
    """The tables a statement names, for the audit of an unrestricted query (nothing denied here)."""
    try:
        return sorted({ref.name for ref in statement_tables(sql, "", strict=False)})
    except AccessDenied:
        return []


def _verb(sql: str) -> str:
    words = sql.split()
    return words[0].upper() if words else "an empty statement"


def _resolve(ref: TableRef, lake_tables: set[str]) -> str | None:
    """``final.shop_daily_funnel`` or its one-part alias ``final_shop_daily_funnel``; None when neither."""
    if ref.database:
        return ref.name if ref.name in lake_tables else None
    return next((t for t in lake_tables if t.replace(".", "_", 1) == ref.table), None)


def _hand_over(
    con: duckdb.DuckDBPyConnection,
    privileged: duckdb.DuckDBPyConnection,
    policy: Policy,
    principal: str,
    table: str,
    with_rows: bool,
) -> None:
    """Copy what ``principal`` may read of ``table`` into ``con`` (as Arrow data, never as a file view)."""
    access = policy.access(principal, table)
    assert access is not None
    database, name = table.split(".", 1)
    source = f"{_ident(database)}.{_ident(name)}"
    limit = "" if with_rows else " LIMIT 0"
    try:
        data = privileged.sql(select_sql(access, source) + limit).to_arrow_table()
    except duckdb.BinderException as exc:  # every column excluded, or the table changed under the policy
        why = str(exc).splitlines()[0]
        raise AccessDenied(
            f"{principal} cannot be given {table}: {why}; change its grant in {policy.path}"
        ) from None
    # Registered Arrow data is memory, not a file: the locked connection reads it, and nothing else.
    # It is registered under the table's one-part name (final_shop_daily_funnel), which lake query offers too.
    alias = f"{database}_{name}"
    con.register(alias, data)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(database)}")
    con.execute(f"CREATE VIEW {source} AS SELECT * FROM {_ident(alias)}")


def restricted_connection(
    policy: Policy, principal: str, sql: str, privileged: duckdb.DuckDBPyConnection
) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """A locked connection holding only what ``principal`` may read of the tables ``sql`` names.

    ``privileged``: a connection where every lake table is a view (``query.connect``), at the wanted time.
    Returns the connection and the tables handed over (for the audit log).
    """
    if principal not in policy.principals:
        raise AccessDenied(
            f"{principal!r} is not a principal of {policy.path}: add it there, with its grants"
        )
    if not policy.grants_of(principal):
        raise AccessDenied(
            f"{principal} has no grants: it reads nothing until {policy.path} grants it tables"
        )
    body = _serialized(sql, privileged)
    refs = _read(body, sql, principal, strict=True)
    rows = privileged.sql(
        "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal AND schema_name <> 'main'"
    ).fetchall()
    lake_tables = {f"{s}.{v}" for s, v in rows}
    wanted: dict[str, bool] = {}  # table -> with its rows (False: its shape only, for SHOW TABLES)
    for ref in refs:
        table = _resolve(ref, lake_tables)
        if table is None or policy.access(principal, table) is None:
            raise AccessDenied(
                f"table {ref.name} does not exist for {principal} (not in the lake, or not granted in "
                f"{policy.path})"
            )
        wanted[table] = True
    if _lists_tables(body):  # SHOW TABLES and the like: every granted table, by its shape
        for table in sorted(lake_tables):
            if policy.access(principal, table) is not None:
                wanted.setdefault(table, False)
    con = duckdb.connect()
    try:
        for table, with_rows in wanted.items():
            _hand_over(con, privileged, policy, principal, table, with_rows)
    except AccessDenied:
        con.close()
        raise
    handed = [t for t, with_rows in wanted.items() if with_rows]
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con, handed
