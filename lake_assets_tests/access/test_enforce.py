"""lake query --as: the policy enforced on the embedded engine, and a suite of hostile queries.

The lake is real (Iceberg tables written by pyiceberg, read by DuckDB's Iceberg extension); the policy is the
shipped one (lake_assets/access/policy.yaml), so these tests also pin what it grants.
"""

# ruff: noqa: E501 - each expected message is one exact line, kept whole so it reads as the user sees it

from __future__ import annotations

import duckdb
import pytest

from lake_assets.access.enforce import restricted_connection
from lake_assets.access.policy import AccessDenied, load_policy, parse_policy
from lake_assets.query import connect, run_sql
from lake_assets.storage import StorageError
from lake_assets_tests.access.conftest import Lake

POLICY = load_policy()
SALES = "final.shop_daily_product_sales"
NOT_FOR_MARKETING = f"does not exist for marketing (not in the lake, or not granted in {POLICY.path})"
ONLY_SELECT = "marketing may run only SELECT, DESCRIBE and SHOW statements, not "


def rows(lake: Lake, sql: str, principal: str | None = "marketing", as_of: str | None = None) -> list[tuple]:
    """The query's rows as the principal sees them (the printed box, parsed back)."""
    con = connect(lake.store, catalog=lake.catalog, as_of=as_of)
    if principal is not None:
        con, _ = restricted_connection(POLICY, principal, sql, con)
    return con.sql(sql).fetchall()


def denial(lake: Lake, sql: str, principal: str = "marketing") -> str:
    with pytest.raises(AccessDenied) as caught:
        run_sql(lake.store, sql, catalog=lake.catalog, principal=principal, policy=POLICY)
    message = str(caught.value)
    assert "\n" not in message  # every denial is one line
    return message


HOSTILE = [
    # statements other than one SELECT
    (f"COPY {SALES} TO '/tmp/out.csv'", ONLY_SELECT + "COPY"),
    ("ATTACH '/tmp/other.db' AS other", ONLY_SELECT + "ATTACH"),
    ("INSTALL httpfs", ONLY_SELECT + "INSTALL"),
    ("LOAD httpfs", ONLY_SELECT + "LOAD"),
    ("EXPORT DATABASE '/tmp/dump'", ONLY_SELECT + "EXPORT"),
    ("PRAGMA database_list", ONLY_SELECT + "PRAGMA"),
    ("SET enable_external_access = true", ONLY_SELECT + "SET"),
    ("RESET lock_configuration", ONLY_SELECT + "RESET"),
    ("CREATE TABLE copy AS SELECT 1", ONLY_SELECT + "CREATE"),
    (f"CREATE VIEW v AS SELECT * FROM {SALES}", ONLY_SELECT + "CREATE"),
    ("CALL duckdb_settings()", ONLY_SELECT + "CALL"),
    ("DETACH memory", ONLY_SELECT + "DETACH"),
    (f"PIVOT {SALES} ON product_id USING sum(units)", ONLY_SELECT + "PIVOT"),
    (f"DELETE FROM {SALES}", ONLY_SELECT + "DELETE"),
    ("SELECT 1; SELECT 2", "marketing may run one statement at a time, got 2"),
    # table functions and file scans
    (
        "SELECT * FROM read_parquet('/lake/final/*/*.parquet')",
        "marketing may not call table functions (read_parquet): query the lake's tables",
    ),
    (
        "SELECT * FROM read_csv('/etc/passwd')",
        "marketing may not call table functions (read_csv): query the lake's tables",
    ),
    (
        "SELECT * FROM read_json('/tmp/x.json')",
        "marketing may not call table functions (read_json): query the lake's tables",
    ),
    ("SELECT * FROM glob('/**')", "marketing may not call table functions (glob): query the lake's tables"),
    (
        "SELECT * FROM read_text('/etc/hostname')",
        "marketing may not call table functions (read_text): query the lake's tables",
    ),
    (
        "SELECT * FROM duckdb_settings()",
        "marketing may not call table functions (duckdb_settings): query the lake's tables",
    ),
    (
        "SELECT * FROM duckdb_tables()",
        "marketing may not call table functions (duckdb_tables): query the lake's tables",
    ),
    (
        "SELECT * FROM iceberg_scan('/lake/final/shop_daily_product_sales')",
        "marketing may not call table functions (iceberg_scan): query the lake's tables",
    ),
    (
        f"SELECT * FROM {SALES} s, LATERAL read_csv('/etc/passwd')",
        "marketing may not call table functions (read_csv): query the lake's tables",
    ),
    ("SELECT * FROM '/etc/passwd'", "marketing may not read files ('/etc/passwd'): query the lake's tables"),
    (
        "SELECT * FROM 'final/shop_daily_product_sales/data/x.parquet'",
        "marketing may not read files ('final/shop_daily_product_sales/data/x.parquet'): query the lake's tables",
    ),
    (
        "SELECT * FROM 's3://bucket/final/x.parquet'",
        "marketing may not read files ('s3://bucket/final/x.parquet'): query the lake's tables",
    ),
    # other names for things
    (f"SELECT * FROM memory.{SALES}", f"marketing may not use three-part names (memory.{SALES})"),
    ("SELECT current_setting('enable_external_access')", "marketing may not call current_setting()"),
    ("SELECT getenv('AWS_SECRET_ACCESS_KEY')", "marketing may not call getenv()"),
    (
        f"SELECT * FROM {SALES} AT (VERSION => 1)",
        "marketing may not use AT (...): time travel is lake query --as-of, with the rules",
    ),
    # tables not granted, reached every way
    (
        "SELECT * FROM intermediate.cdc_shop_customers",
        f"table intermediate.cdc_shop_customers {NOT_FOR_MARKETING}",
    ),
    ("SELECT * FROM final.shop_daily_funnel", f"table final.shop_daily_funnel {NOT_FOR_MARKETING}"),
    ("SELECT * FROM final_shop_daily_funnel", f"table final_shop_daily_funnel {NOT_FOR_MARKETING}"),
    ("DESCRIBE final.shop_daily_funnel", f"table final.shop_daily_funnel {NOT_FOR_MARKETING}"),
    (
        f"SELECT (SELECT count(*) FROM intermediate.cdc_shop_customers) AS n FROM {SALES}",
        f"table intermediate.cdc_shop_customers {NOT_FOR_MARKETING}",
    ),
    (
        "WITH c AS (SELECT * FROM intermediate.cdc_shop_customers) SELECT * FROM c",
        f"table intermediate.cdc_shop_customers {NOT_FOR_MARKETING}",
    ),
    (
        f"SELECT * FROM {SALES} JOIN final.shop_daily_funnel USING (dt)",
        f"table final.shop_daily_funnel {NOT_FOR_MARKETING}",
    ),
    (
        f"SELECT dt FROM {SALES} UNION ALL SELECT dt FROM final.shop_daily_funnel",
        f"table final.shop_daily_funnel {NOT_FOR_MARKETING}",
    ),
    ("SELECT * FROM information_schema.tables", f"table information_schema.tables {NOT_FOR_MARKETING}"),
    ("SELECT * FROM pg_catalog.pg_class", f"table pg_catalog.pg_class {NOT_FOR_MARKETING}"),
    ("SELECT * FROM final.no_such_table", f"table final.no_such_table {NOT_FOR_MARKETING}"),
]


@pytest.mark.parametrize(("sql", "expected"), HOSTILE, ids=[sql[:40] for sql, _ in HOSTILE])
def test_each_hostile_query_is_denied_with_its_exact_reason(lake: Lake, sql: str, expected: str) -> None:
    assert denial(lake, sql) == expected


def test_the_suite_is_large_enough() -> None:
    assert len(HOSTILE) >= 30


def test_an_unknown_principal_and_one_without_grants_read_nothing(lake: Lake) -> None:
    assert denial(lake, f"SELECT 1 FROM {SALES}", "intern") == (
        f"'intern' is not a principal of {POLICY.path}: add it there, with its grants"
    )
    policy = parse_policy("principals: {intern: {}}\n", POLICY.path)
    with pytest.raises(AccessDenied, match=f"intern has no grants: it reads nothing until {POLICY.path}"):
        run_sql(lake.store, f"SELECT 1 FROM {SALES}", catalog=lake.catalog, principal="intern", policy=policy)


def test_excluded_columns_are_not_there(lake: Lake) -> None:
    columns = [r[0] for r in rows(lake, f"DESCRIBE {SALES}")]
    assert columns == ["dt", "product_id", "units", "orders"]
    with pytest.raises(StorageError, match='Referenced column "revenue_cents" not found'):
        run_sql(
            lake.store,
            f"SELECT revenue_cents FROM {SALES}",
            catalog=lake.catalog,
            principal="marketing",
            policy=POLICY,
        )
    assert [r[0] for r in rows(lake, "DESCRIBE intermediate.cdc_shop_customers", "analyst")] == [
        "customer_id",
        "tier",
        "active",
    ]


def test_row_filters_hold_through_aliases_ctes_joins_and_subqueries(lake: Lake) -> None:
    """marketing sees sales from 2026-11-01 on (4 rows in the table, 3 for marketing), whatever the form."""
    assert rows(lake, f"SELECT count(*) FROM {SALES}", principal=None) == [(4,)]
    expected = [(3, 23)]
    assert rows(lake, f"SELECT count(*), sum(units) FROM {SALES}") == expected
    assert rows(lake, "SELECT count(*), sum(units) FROM final_shop_daily_product_sales") == expected
    assert rows(lake, f"WITH s AS (SELECT * FROM {SALES}) SELECT count(*), sum(units) FROM s") == expected
    assert rows(lake, f"SELECT count(*), sum(units) FROM (SELECT * FROM {SALES} WHERE true) t") == expected
    joined = f"SELECT count(*), sum(a.units) FROM {SALES} a JOIN {SALES} b USING (dt, product_id)"
    assert rows(lake, joined) == expected
    assert rows(lake, f"SELECT min(dt) FROM {SALES} WHERE dt < DATE '2026-11-01' OR true")[0][
        0
    ].isoformat() == ("2026-11-01")
    assert rows(lake, "SELECT count(*) FROM intermediate.cdc_shop_customers", "support") == [(2,)]


def test_time_travel_keeps_the_rules(lake: Lake) -> None:
    """The first snapshot held 2026-10-31 and 2026-11-01; marketing sees only 2026-11-01 of it."""
    old = rows(lake, f"SELECT dt, units FROM {SALES} ORDER BY 1, 2", as_of=str(lake.first_snapshot))
    assert [(d.isoformat(), u) for d, u in old] == [("2026-11-01", 5), ("2026-11-01", 7)]
    everything = rows(lake, f"SELECT count(*) FROM {SALES}", principal=None, as_of=str(lake.first_snapshot))
    assert everything == [(3,)]


def test_show_tables_lists_only_what_is_granted(lake: Lake) -> None:
    shown = {(r[1], r[2]) for r in rows(lake, "SHOW ALL TABLES", "marketing")}
    assert shown == {("final", "shop_daily_product_sales"), ("main", "final_shop_daily_product_sales")}
    analyst = {(r[1], r[2]) for r in rows(lake, "SHOW ALL TABLES", "analyst") if r[1] != "main"}
    assert analyst == {
        ("final", "shop_daily_product_sales"),
        ("final", "shop_daily_funnel"),
        ("intermediate", "cdc_shop_customers"),
    }


def test_an_unrestricted_principal_reads_everything(lake: Lake) -> None:
    assert rows(lake, f"SELECT count(*), sum(revenue_cents) FROM {SALES}", "data_engineer") == [(4, 6500)]


def test_the_restricted_connection_itself_refuses_files_and_settings(lake: Lake) -> None:
    """Layer 3 on its own: were the statement check bypassed, the engine is locked."""
    con, handed = restricted_connection(
        POLICY, "marketing", f"SELECT 1 FROM {SALES}", connect(lake.store, catalog=lake.catalog)
    )
    assert handed == [SALES]
    with pytest.raises(duckdb.PermissionException):
        con.sql("SELECT * FROM read_csv('/etc/hostname')").fetchall()
    with pytest.raises(duckdb.Error, match="lock"):
        con.execute("SET enable_external_access = true")
    with pytest.raises(duckdb.Error):
        con.execute("ATTACH '/tmp/lake-escape.db' AS escape")
    views = dict(con.sql("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall())
    assert set(views) == {"shop_daily_product_sales", "final_shop_daily_product_sales"}
    assert not any(word in str(views) for word in ("iceberg_scan", "read_", "/"))  # no file came along
