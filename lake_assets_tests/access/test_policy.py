"""The policy file: its shape (file, line, field, fix), its meaning against the lake's tables, the shipped one."""
# ruff: noqa: E501 - each expected message is one exact line, kept whole so it reads as the user sees it

from __future__ import annotations

from pathlib import Path

import pytest

from lake_assets.access.policy import (
    DEFAULT_POLICY,
    PolicyError,
    TableAccess,
    check_policy,
    load_policy,
    parse_policy,
)

P = Path("access/policy.yaml")
TABLES: dict[str, list[str] | None] = {
    "final.shop_daily_product_sales": ["dt", "product_id", "units", "orders", "revenue_cents"],
    "final.shop_daily_funnel": ["dt", "sessions"],
    "intermediate.cdc_shop_customers": ["customer_id", "email", "tier", "active"],
    "raw.events_page_view": None,  # declared, not built yet
    "final.ml_customer_day_features": None,
}
CONSUMERS = ["final/reports/daily_sales", "final/ml/customer_orders_7d"]
HEAD = "principals:\n  analyst: {}\n  marketing: {arn: 'arn:aws:iam::123456789012:role/marketing'}\n"


def problems(text: str) -> list[str]:
    try:
        policy = parse_policy(text, P)
    except PolicyError as exc:
        return str(exc).splitlines()
    return check_policy(policy, TABLES)


def test_the_shipped_policy_is_valid_for_the_lake_s_tables() -> None:
    policy = load_policy(DEFAULT_POLICY)
    assert check_policy(policy, TABLES) == []
    assert policy.reader("final/reports/daily_sales") == "analyst"
    assert policy.access("marketing", "final.shop_daily_product_sales") == TableAccess(
        "final.shop_daily_product_sales", None, ("revenue_cents",), "dt >= DATE '2026-11-01'"
    )
    assert policy.access("marketing", "final.shop_daily_funnel") is None
    assert policy.access("analyst", "final.shop_daily_funnel") == TableAccess("final.shop_daily_funnel")
    assert policy.access("analyst", "raw.events_page_view") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "principal: {}\n",
            "access/policy.yaml:1: principal: unknown field. Fix: remove it (did you mean 'principals'?).",
        ),
        (
            HEAD + "grants:\n  - principal: analyst\n    databse: final\n",
            "access/policy.yaml:6: grants[0].databse: unknown field. Fix: remove it (did you mean 'database'?).",
        ),
        (
            "principals:\n  Analyst: {}\n",
            "access/policy.yaml:2: principals.Analyst: 'Analyst' is not a principal name. Fix: use lower case letters",
        ),
        (
            "principals:\n  a: {arn: 'arn:aws:s3:::bucket'}\n",
            "access/policy.yaml:2: principals.a.arn: 'arn:aws:s3:::bucket' is not an IAM role or user ARN. Fix:",
        ),
        (
            HEAD + "grants:\n  - principal: analyst\n    database: warehouse\n",
            "access/policy.yaml:6: grants[0].database: 'warehouse' is not a database. Fix: use one of raw, intermediate, final.",
        ),
        (
            HEAD + "grants:\n  - principal: analyst\n    tables: [shop_daily_funnel]\n",
            "access/policy.yaml:6: grants[0].tables[0]: 'shop_daily_funnel' is not a table name. Fix: write <database>.<table>",
        ),
        (
            HEAD + "grants:\n  - principal: analyst\n",
            "access/policy.yaml:5: grants[0]: grant a database or tables, not both or neither. Fix: write tables: [final.x].",
        ),
        (
            HEAD + "grants:\n  - {principal: analyst, database: final, row_filter: 'dt > 1'}\n",
            "access/policy.yaml:5: grants[0]: column and row rules need tables. Fix: list the tables instead of the database.",
        ),
        (
            HEAD
            + "grants:\n  - principal: analyst\n    tables: [final.shop_daily_funnel]\n"
            + "    columns: {include: [dt], exclude: [sessions]}\n",
            "access/policy.yaml:7: grants[0].columns: give include or exclude, not both or neither.",
        ),
        (
            HEAD + "read_as:\n  reports/daily_sales: analyst\n",
            "access/policy.yaml:5: read_as.reports/daily_sales: 'reports/daily_sales' is not a report or ML data set. Fix: write its asset key",
        ),
        (
            "- just a list\n",
            "access/policy.yaml:1: <top>: a policy must be a mapping. Fix: start with principals:.",
        ),
        (
            "grants: []\n",
            "access/policy.yaml:1: principals: missing. Fix: write principals: {analyst: {description: ...}}.",
        ),
    ],
)
def test_a_malformed_policy_names_file_line_field_and_fix(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    ("grants", "expected"),
    [
        (
            "  - {principal: intern, database: final}\n",
            "access/policy.yaml:5: grants[0].principal: 'intern' is not declared. Fix: add it under principals.",
        ),
        (
            "  - principal: analyst\n    tables: [final.shop_daily_fun]\n",
            "access/policy.yaml:6: grants[0].tables[0]: 'final.shop_daily_fun' is not a table of the lake. Fix: use one of",
        ),
        (
            "  - principal: analyst\n    tables: [final.shop_daily_funnel]\n    columns: {exclude: [session]}\n",
            "access/policy.yaml:7: grants[0].columns.exclude: final.shop_daily_funnel has no column 'session'. "
            "Fix: use its columns: dt, sessions.",
        ),
        (
            "  - principal: analyst\n    tables: [final.shop_daily_funnel]\n    row_filter: 'dt >='\n",
            "access/policy.yaml:7: grants[0].row_filter: 'dt >=' does not parse:",
        ),
        (
            "  - principal: analyst\n    tables: [final.shop_daily_funnel]\n    row_filter: 'day > 3'\n",
            "access/policy.yaml:7: grants[0].row_filter: 'day > 3' Referenced column \"day\" not found",
        ),
        (
            "  - principal: analyst\n    tables: [final.shop_daily_funnel]\n"
            "    row_filter: 'dt IN (SELECT dt FROM final.shop_daily_product_sales)'\n",
            "access/policy.yaml:7: grants[0].row_filter: 'dt IN (SELECT dt FROM final.shop_daily_product_sales)' "
            "reads other data (a subquery)",
        ),
        (
            "  - principal: analyst\n    tables: [final.shop_daily_funnel]\n    row_filter: 'true; DROP TABLE x'\n",
            "access/policy.yaml:7: grants[0].row_filter: 'true; DROP TABLE x'",
        ),
        (
            "  - {principal: analyst, database: final}\n  - {principal: analyst, tables: [final.shop_daily_funnel]}\n",
            "access/policy.yaml:6: grants[1]: analyst already has a grant covering final.shop_daily_funnel (line 5).",
        ),
    ],
)
def test_a_policy_that_means_something_the_lake_does_not_have_is_refused(grants: str, expected: str) -> None:
    found = problems(HEAD + "grants:\n" + grants)
    assert any(p.startswith(expected) for p in found), found


def test_columns_of_a_table_not_built_yet_are_not_checked_but_its_name_is() -> None:
    text = (
        HEAD
        + "grants:\n  - principal: analyst\n    tables: [raw.events_page_view]\n    columns: {exclude: [x]}\n"
    )
    assert problems(text) == []


def test_descriptions_must_name_real_tables_and_columns() -> None:
    text = HEAD + "tables:\n  final.shop_daily_funnel:\n    columns: {visits: Sessions}\n  final.nope: {}\n"
    assert problems(text) == [
        "access/policy.yaml:6: tables.final.shop_daily_funnel.columns.visits: final.shop_daily_funnel has no column "
        "'visits'. Fix: use its columns: dt, sessions.",
        "access/policy.yaml:7: tables.final.nope: is not a table of the lake. Fix: use one of "
        + ", ".join(sorted(TABLES))
        + ".",
    ]


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = (
        HEAD
        + "grants:\n  - {principal: intern, database: final}\n  - {principal: analyst, tables: [final.x]}\n"
    )
    assert len(problems(text)) == 2


def test_every_report_and_data_set_reads_as_a_declared_principal() -> None:
    """read_as against the lake's consumers: an unknown key, an undeclared principal, one left out."""
    text = HEAD + "read_as:\n  final/reports/daily_sales: intern\n  final/reports/old_chart: analyst\n"
    found = check_policy(parse_policy(text, P), TABLES, CONSUMERS)
    assert found == [
        "access/policy.yaml:5: read_as.final/reports/daily_sales: 'intern' is not declared. Fix: add it under principals.",
        "access/policy.yaml:6: read_as.final/reports/old_chart: is not a report or ML data set of the lake. Fix: use one of final/reports/daily_sales, final/ml/customer_orders_7d.",
        "access/policy.yaml:4: read_as: final/ml/customer_orders_7d reads as nobody. Fix: add 'final/ml/customer_orders_7d: <principal>' (it holds only what that principal may read).",
    ]
