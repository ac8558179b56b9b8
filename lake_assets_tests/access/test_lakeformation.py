"""``lake access plan`` / ``apply`` (``access/lakeformation.py``): the policy as Lake Formation grants
and data cells filters.

What stands in for AWS: grants and revokes (BatchGrantPermissions, BatchRevokePermissions, ListPermissions)
go to moto's Lake Formation API on a moto server (one per test session; each test uses a catalog id of its
own, so tests do not see each other's grants). moto does not implement data cells filters, so
CreateDataCellsFilter, ListDataCellsFilter, UpdateDataCellsFilter and DeleteDataCellsFilter go to an
in-process stand-in of that part of the API (``lakeformation_standin.py``: the real request and response
shapes, checked against botocore's model of the API and the service's rules). The stand-in also pages
ListPermissions (moto answers everything at once), fails a grant on a filter that does not exist, and refuses
to delete a filter that still has grants. Neither checks a row filter's PartiQL, nor that tables and columns
exist in Glue: real Lake Formation does.
"""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from lake_assets.access.lakeformation import (
    LakeFormationError,
    apply,
    desired_state,
    filter_name,
    plan,
)
from lake_assets.access.policy import DEFAULT_POLICY, PolicyError, load_policy, parse_policy
from lake_assets.settings import REPO_ROOT
from lake_assets_tests.access.lakeformation_standin import LakeFormationStandIn
from lake_assets_tests.fixtures.moto import moto_client, moto_env

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lake-"
WHERE = os.path.relpath(DEFAULT_POLICY)  # how the plan names the policy file
WRITES = ("create_data_cells_filter", "update_data_cells_filter", "delete_data_cells_filter")
WRITES += ("batch_grant_permissions", "batch_revoke_permissions")
ARNS = {name: str(p.arn) for name, p in load_policy().principals.items()}
NAMES = {arn: name for name, arn in ARNS.items()}
MARKETING_GRANT = """  - principal: marketing
    tables: [final.shop_daily_product_sales]
    columns: {exclude: [revenue_cents]}
    row_filter: "dt >= DATE '2026-11-01'"
"""


@pytest.fixture
def catalog() -> str:
    """A catalog id of this test's own: moto keeps grants per catalog id."""
    return str(random.randrange(10**11, 10**12))


@pytest.fixture
def lf(moto_server: str) -> LakeFormationStandIn:
    return LakeFormationStandIn(moto_client("lakeformation", moto_server))


def policy_with(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return load_policy(path)


def held(lf: LakeFormationStandIn, catalog: str) -> set[tuple[str, str, tuple[str, ...]]]:
    """What moto holds: (principal, resource, permissions)."""
    listed = lf.moto.list_permissions(CatalogId=catalog)["PrincipalResourcePermissions"]
    return {
        (
            NAMES.get(
                p["Principal"]["DataLakePrincipalIdentifier"], p["Principal"]["DataLakePrincipalIdentifier"]
            ),
            str(p["Resource"]),
            tuple(sorted(p["Permissions"])),
        )
        for p in listed
    }


def hand_grant(lf: LakeFormationStandIn, catalog: str, who: str, resource: dict, *permissions: str) -> None:
    lf.moto.grant_permissions(
        CatalogId=catalog,
        Principal={"DataLakePrincipalIdentifier": ARNS.get(who, who)},
        Resource=resource,
        Permissions=list(permissions),
    )


def test_the_shipped_policy_means_named_grants_and_one_filter_per_restricted_grant() -> None:
    desired = desired_state(load_policy())
    grants = {
        (desired.principals[arn], target.label(), tuple(sorted(w.permissions)), w.line)
        for (arn, target), w in desired.grants.items()
    }
    assert grants == {
        ("data_engineer", "database raw", ("DESCRIBE",), 24),
        ("data_engineer", "all tables of raw", ("SELECT",), 24),
        ("data_engineer", "database intermediate", ("DESCRIBE",), 26),
        ("data_engineer", "all tables of intermediate", ("SELECT",), 26),
        ("data_engineer", "database final", ("DESCRIBE",), 28),
        ("data_engineer", "all tables of final", ("SELECT",), 28),
        ("analyst", "database final", ("DESCRIBE",), 30),
        ("analyst", "all tables of final", ("SELECT",), 30),
        ("analyst", "database intermediate", ("DESCRIBE",), 32),
        (
            "analyst",
            "filter lake_analyst_intermediate_cdc_shop_customers on intermediate.cdc_shop_customers",
            ("SELECT",),
            32,
        ),
        ("marketing", "database final", ("DESCRIBE",), 35),
        (
            "marketing",
            "filter lake_marketing_final_shop_daily_product_sales on final.shop_daily_product_sales",
            ("SELECT",),
            35,
        ),
        ("support", "database intermediate", ("DESCRIBE",), 39),
        (
            "support",
            "filter lake_support_intermediate_cdc_shop_customers on intermediate.cdc_shop_customers",
            ("SELECT",),
            39,
        ),
    }
    assert {t.name: f.table_data("111122223333") for t, f in desired.filters.items()} == {
        "lake_analyst_intermediate_cdc_shop_customers": {
            "TableCatalogId": "111122223333",
            "DatabaseName": "intermediate",
            "TableName": "cdc_shop_customers",
            "Name": "lake_analyst_intermediate_cdc_shop_customers",
            "ColumnWildcard": {"ExcludedColumnNames": ["email"]},
            "RowFilter": {"AllRowsWildcard": {}},
        },
        "lake_marketing_final_shop_daily_product_sales": {
            "TableCatalogId": "111122223333",
            "DatabaseName": "final",
            "TableName": "shop_daily_product_sales",
            "Name": "lake_marketing_final_shop_daily_product_sales",
            "ColumnWildcard": {"ExcludedColumnNames": ["revenue_cents"]},
            "RowFilter": {"FilterExpression": "dt >= DATE '2026-11-01'"},
        },
        "lake_support_intermediate_cdc_shop_customers": {
            "TableCatalogId": "111122223333",
            "DatabaseName": "intermediate",
            "TableName": "cdc_shop_customers",
            "Name": "lake_support_intermediate_cdc_shop_customers",
            "ColumnWildcard": {},
            "RowFilter": {"FilterExpression": "active = true"},
        },
    }
    assert filter_name("analyst", "final", "x") == "lake_analyst_final_x"


def test_a_plan_on_an_empty_account_lists_everything_and_apply_then_plan_has_no_changes(
    lf: LakeFormationStandIn, catalog: str
) -> None:
    policy = load_policy()
    first = plan(policy, lf, catalog)
    assert (len(first.to_create), len(first.to_grant), first.to_update, first.to_revoke, first.to_delete) == (
        3,
        14,
        (),
        (),
        (),
    )
    text = first.render()
    assert text.splitlines()[0] == f"Lake Formation, catalog {catalog}, against {WHERE}:"
    assert (
        "  + filter lake_marketing_final_shop_daily_product_sales on final.shop_daily_product_sales: "
        f"all columns but revenue_cents; rows where dt >= DATE '2026-11-01'  [{WHERE}:35]"
    ) in text
    assert (
        "  + filter lake_support_intermediate_cdc_shop_customers on intermediate.cdc_shop_customers: "
        f"all columns; rows where active = true  [{WHERE}:39]"
    ) in text
    assert f"  + SELECT on all tables of final to analyst  [{WHERE}:30]" in text
    assert f"  + DESCRIBE on database final to marketing  [{WHERE}:35]" in text
    assert text.splitlines()[-1] == (
        "Plan: 14 to grant, 0 to revoke; data cells filters: 3 to create, 0 to update, 0 to delete."
    )
    lines = text.splitlines()[1:-1]
    assert len(lines) == 17 and all(line.startswith("  + ") for line in lines)  # one line per change

    done = apply(first, lf)
    assert done == first.lines()
    assert lf.calls["batch_grant_permissions"] == 1  # 14 entries: one call (the API takes 20)
    assert len(held(lf, catalog)) == 14
    assert {k[3]: f["ColumnWildcard"] for k, f in lf.filters.filters.items()} == {
        "lake_analyst_intermediate_cdc_shop_customers": {"ExcludedColumnNames": ["email"]},
        "lake_marketing_final_shop_daily_product_sales": {"ExcludedColumnNames": ["revenue_cents"]},
        "lake_support_intermediate_cdc_shop_customers": {},
    }

    second = plan(policy, lf, catalog)
    assert second.empty and second.notes == ()
    assert second.render() == (
        f"Lake Formation, catalog {catalog}, against {WHERE}:\nNo changes: Lake Formation matches the policy."
    )
    writes = {w: lf.calls[w] for w in WRITES}
    assert apply(second, lf) == []  # a second apply changes nothing
    assert {w: lf.calls[w] for w in WRITES} == writes
    assert plan(policy, lf, catalog).empty


def test_drift_grants_made_by_hand_are_revoked_and_what_is_not_the_lakes_is_left_alone(
    lf: LakeFormationStandIn, catalog: str
) -> None:
    policy = load_policy()
    apply(plan(policy, lf, catalog), lf)
    table = {"Table": {"DatabaseName": "final", "Name": "shop_daily_funnel"}}  # as a console user would
    hand_grant(lf, catalog, "marketing", table, "SELECT")
    columns = {
        "TableWithColumns": {
            "CatalogId": catalog,
            "DatabaseName": "intermediate",
            "Name": "cdc_shop_customers",
            "ColumnNames": ["customer_id", "email"],
        }
    }
    hand_grant(lf, catalog, "support", columns, "SELECT")
    admin = f"arn:aws:iam::{ACCOUNT}:role/admin"
    hand_grant(lf, catalog, admin, {"Database": {"Name": "final"}}, "ALL")  # outside the policy
    hand_grant(
        lf, catalog, "analyst", {"Table": {"DatabaseName": "sandbox", "Name": "x"}}, "SELECT"
    )  # not lake
    hand_grant(lf, catalog, "IAM_ALLOWED_PRINCIPALS", {"Database": {"Name": "raw"}}, "ALL")
    wildcard = {"Table": {"CatalogId": catalog, "DatabaseName": "raw", "TableWildcard": {}}}
    hand_grant(lf, catalog, "data_engineer", wildcard, "ALTER")  # joins the policy's SELECT there

    drift = plan(policy, lf, catalog)
    assert (drift.to_grant, drift.to_create, drift.to_update, drift.to_delete) == ((), (), (), ())
    assert drift.lines() == [
        "- SELECT on table final.shop_daily_funnel from marketing: not in the policy",
        "- SELECT on columns customer_id, email of intermediate.cdc_shop_customers from support: "
        "a column grant made by hand (the lake uses data cells filters)",
    ]
    assert [c.resource for c in drift.to_revoke] == [table, columns]  # revoked as Lake Formation listed them
    assert drift.notes == (
        "IAM_ALLOWED_PRINCIPALS holds ALL on database raw: Lake Formation does not enforce these grants "
        "there until that is revoked",
        "data_engineer holds ALTER on all tables of raw (only SELECT and DESCRIBE are managed)",
        f"1 permission(s) on the lake's databases held by 1 principal(s) outside the policy ({admin})",
    )
    assert "  ! left alone: data_engineer holds ALTER on all tables of raw" in drift.render()

    assert apply(drift, lf) == drift.lines()
    after = plan(policy, lf, catalog)
    assert after.empty and after.notes == drift.notes
    still = held(lf, catalog)
    assert ("analyst", str({"Table": {"DatabaseName": "sandbox", "Name": "x"}}), ("SELECT",)) in still
    assert ("data_engineer", str(wildcard), ("ALTER", "SELECT")) in still
    assert not any(who == "marketing" and "shop_daily_funnel" in what for who, what, _ in still)


def test_a_filter_edited_by_hand_is_planned_for_update_and_apply_uses_its_version(
    lf: LakeFormationStandIn, catalog: str
) -> None:
    policy = load_policy()
    apply(plan(policy, lf, catalog), lf)
    key = (catalog, "intermediate", "cdc_shop_customers", "lake_support_intermediate_cdc_shop_customers")
    edited = {**lf.filters.filters[key], "RowFilter": {"FilterExpression": "active AND tier = 'gold'"}}
    lf.update_data_cells_filter(TableData=edited)

    drift = plan(policy, lf, catalog)
    assert drift.lines() == [
        "~ filter lake_support_intermediate_cdc_shop_customers on intermediate.cdc_shop_customers: "
        f"rows where active AND tier = 'gold' -> rows where active = true  [{WHERE}:39]"
    ]
    assert "data cells filters: 0 to create, 1 to update, 0 to delete." in drift.render()

    # Edited again between plan and apply: the update names the version it read, so it fails, saying so.
    again = {**lf.filters.filters[key], "ColumnNames": ["customer_id"]}
    del again["ColumnWildcard"]
    lf.update_data_cells_filter(TableData=again)
    with pytest.raises(LakeFormationError) as failed:
        apply(drift, lf)
    assert str(failed.value).startswith(
        "updating filter lake_support_intermediate_cdc_shop_customers on intermediate.cdc_shop_customers: "
    )
    assert "ConcurrentModificationException" in str(failed.value)

    fresh = plan(policy, lf, catalog)
    assert fresh.lines() == [
        "~ filter lake_support_intermediate_cdc_shop_customers on intermediate.cdc_shop_customers: columns "
        "customer_id -> all columns; rows where active AND tier = 'gold' -> rows where active = true  "
        f"[{WHERE}:39]"
    ]
    apply(fresh, lf)
    assert plan(policy, lf, catalog).empty
    assert lf.filters.filters[key]["RowFilter"] == {"FilterExpression": "active = true"}
    assert lf.filters.filters[key]["ColumnWildcard"] == {}


def test_removing_a_grant_from_the_policy_plans_its_revokes_and_its_filters_delete(
    lf: LakeFormationStandIn, catalog: str, tmp_path: Path
) -> None:
    apply(plan(load_policy(), lf, catalog), lf)
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    assert MARKETING_GRANT in text
    smaller = policy_with(tmp_path, text.replace(MARKETING_GRANT, ""))

    removed = plan(smaller, lf, catalog)
    assert removed.lines() == [
        "- DESCRIBE on database final from marketing: not in the policy",
        "- SELECT on filter lake_marketing_final_shop_daily_product_sales on final.shop_daily_product_sales "
        "from marketing: its filter is to be deleted",
        "- filter lake_marketing_final_shop_daily_product_sales on final.shop_daily_product_sales: "
        "no grant of the policy wants it",
    ]
    apply(removed, lf)  # the stand-in refuses to delete a filter with grants: the revokes went first
    assert plan(smaller, lf, catalog).empty
    assert not any(who == "marketing" for who, _, _ in held(lf, catalog))
    assert [k[3] for k in lf.filters.filters] == [
        "lake_analyst_intermediate_cdc_shop_customers",
        "lake_support_intermediate_cdc_shop_customers",
    ]


def test_a_principal_without_an_arn_cannot_be_applied_and_says_where(
    lf: LakeFormationStandIn, catalog: str, tmp_path: Path
) -> None:
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    no_arn = policy_with(tmp_path, text.replace("    arn: arn:aws:iam::123456789012:role/lake-analyst\n", ""))
    with pytest.raises(PolicyError) as refused:
        plan(no_arn, lf, catalog)
    assert str(refused.value) == (
        f"{no_arn.path}:13: principals.analyst: analyst has no arn, so Lake Formation cannot grant to it "
        "(its grants: line 29, 31). "
        "Fix: add arn: arn:aws:iam::<account>:role/<role> under principals.analyst."
    )
    assert lf.calls == {}  # refused before reading anything


def test_overlapping_grants_and_shared_arns_are_refused_before_reading(tmp_path: Path) -> None:
    text = DEFAULT_POLICY.read_text(encoding="utf-8")
    overlap = text.replace(
        "  - principal: analyst\n    tables: [intermediate.cdc_shop_customers]",
        "  - principal: analyst\n    tables: [final.shop_daily_funnel]",
    )
    with pytest.raises(
        PolicyError, match=r"policy.yaml:32: grants\[4\]: analyst already has a grant covering "
    ):
        desired_state(parse_policy(overlap, tmp_path / "policy.yaml"))
    shared = text.replace("role/lake-support", "role/lake-analyst")
    with pytest.raises(PolicyError, match="support has the arn of analyst"):
        desired_state(parse_policy(shared, tmp_path / "policy.yaml"))


def test_paging_reads_every_page_of_permissions_and_filters(lf: LakeFormationStandIn, catalog: str) -> None:
    principals = "".join(f"  p{i:02d}:\n    arn: {ROLE}p{i:02d}\n" for i in range(30))
    grants = "".join(
        f"  - principal: p{i:02d}\n    database: raw\n"
        f"  - principal: p{i:02d}\n    tables: [final.shop_daily_funnel]\n    row_filter: sessions > {i}\n"
        for i in range(30)
    )
    policy = parse_policy(f"principals:\n{principals}grants:\n{grants}", Path("many.yaml"))
    first = plan(policy, lf, catalog, page_size=16)
    assert (len(first.to_grant), len(first.to_create)) == (120, 30)  # 4 permissions a principal, 1 filter
    apply(first, lf)
    assert lf.calls["batch_grant_permissions"] == 6  # 20 entries a call
    lf.calls.clear()
    again = plan(policy, lf, catalog, page_size=16)
    assert again.empty, again.render()
    assert again.calls == {"list_permissions": 8, "list_data_cells_filter": 2}  # 120 / 16, 30 / 16
    assert lf.calls["list_permissions"] == 8
    assert plan(policy, lf, catalog).calls == {"list_permissions": 1, "list_data_cells_filter": 1}


def test_a_failed_grant_names_the_principal_the_resource_and_the_policy_line(
    lf: LakeFormationStandIn, catalog: str
) -> None:
    first = plan(load_policy(), lf, catalog)
    without_filters = dataclasses.replace(first, to_create=())  # the grants on filters find none
    with pytest.raises(LakeFormationError) as failed:
        apply(without_filters, lf)
    message = str(failed.value)
    assert message.startswith("BatchGrantPermissions: 3 of 14 entries failed:\n")
    assert (
        "  granting SELECT on filter lake_marketing_final_shop_daily_product_sales on "
        "final.shop_daily_product_sales to marketing (arn:aws:iam::123456789012:role/lake-marketing)  "
        f"[{WHERE}:35]: EntityNotFoundException: "
        "Data cells filter lake_marketing_final_shop_daily_product_sales not found."
    ) in message.splitlines()
    assert message.splitlines()[-1] == "11 change(s) were made; `lake access plan` shows what is left"
    rest = plan(load_policy(), lf, catalog)
    assert (len(rest.to_create), len(rest.to_grant)) == (3, 3)  # what is left, and nothing else


def test_lake_formations_own_listing_shapes_are_read_as_the_grants_they_came_from() -> None:
    """Lake Formation lists SELECT on a table as TableWithColumns with a ColumnWildcard, and SELECT on every
    table as TableWithColumns named ALL_TABLES (moto lists grants as made: this fakes the listing)."""
    catalog = "111122223333"
    desired = desired_state(load_policy())
    listed: list[dict[str, Any]] = []
    for (arn, target), wanted in desired.grants.items():
        resource = target.resource(catalog)
        if target.kind == "table":
            name = "ALL_TABLES" if target.table == "*" else target.table
            resource = {
                "TableWithColumns": {
                    "CatalogId": catalog,
                    "DatabaseName": target.database,
                    "Name": name,
                    "ColumnWildcard": {},
                }
            }
        listed.append(
            {
                "Principal": {"DataLakePrincipalIdentifier": arn},
                "Resource": resource,
                "Permissions": sorted(wanted.permissions),
                "PermissionsWithGrantOption": [],
            }
        )
    extra = {
        "TableWithColumns": {
            "CatalogId": catalog,
            "DatabaseName": "intermediate",
            "Name": "ALL_TABLES",
            "ColumnWildcard": {},
        }
    }
    listed.append(
        {
            "Principal": {"DataLakePrincipalIdentifier": ROLE + "marketing"},
            "Resource": extra,
            "Permissions": ["SELECT"],
            "PermissionsWithGrantOption": [],
        }
    )
    filters = [{**f.table_data(catalog), "VersionId": "1"} for f in desired.filters.values()]

    class Listing:
        def list_permissions(self, **params: Any) -> dict[str, Any]:
            return {"PrincipalResourcePermissions": listed}

        def list_data_cells_filter(self, **params: Any) -> dict[str, Any]:
            return {"DataCellsFilters": filters}

    seen = plan(load_policy(), Listing(), catalog)
    assert seen.lines() == ["- SELECT on all tables of intermediate from marketing: not in the policy"]
    assert seen.to_revoke[0].resource == {
        "Table": {"CatalogId": catalog, "DatabaseName": "intermediate", "TableWildcard": {}}
    }


def test_the_stand_in_checks_requests_as_the_api_does(lf: LakeFormationStandIn, catalog: str) -> None:
    data = {
        "TableCatalogId": catalog,
        "DatabaseName": "final",
        "TableName": "t",
        "Name": "f",
        "RowFilter": {"AllRowsWildcard": {}},
        "ColumnWildcard": {},
    }
    with pytest.raises(ParamValidationError, match='Missing required parameter in TableData: "Name"'):
        lf.create_data_cells_filter(TableData={k: v for k, v in data.items() if k != "Name"})
    for bad in ({"ColumnNames": ["a"]}, {"RowFilter": {}}, {"Name": "bad\nname"}):
        with pytest.raises(ClientError) as refused:
            lf.create_data_cells_filter(TableData={**data, **bad})
        assert refused.value.response["Error"]["Code"] == "InvalidInputException"
    lf.create_data_cells_filter(TableData=data)
    with pytest.raises(ClientError, match="AlreadyExistsException"):
        lf.create_data_cells_filter(TableData=data)
    with pytest.raises(ClientError, match="EntityNotFoundException"):
        lf.update_data_cells_filter(TableData={**data, "Name": "other"})
    assert lf.list_data_cells_filter(MaxResults=1)["DataCellsFilters"][0]["VersionId"]
    resource = {
        "DataCellsFilter": {k: data[k] for k in ("TableCatalogId", "DatabaseName", "TableName", "Name")}
    }
    hand_grant(lf, catalog, "analyst", resource, "SELECT")
    with pytest.raises(ClientError, match="still has grants"):
        lf.delete_data_cells_filter(**resource["DataCellsFilter"])


def test_lake_access_plan_and_apply_through_the_real_command_line(tmp_path: Path, moto_server: str) -> None:
    """``lake access plan`` / ``apply`` as subprocesses against moto's Lake Formation (the account's grants)
    and Glue (the lake's catalog). A policy of database and table grants only: moto has no data cells filters,
    which the tests above cover with the in-process stand-in."""
    bucket = f"lake-lf-{uuid.uuid4().hex[:8]}"
    moto_client("s3", moto_server).create_bucket(Bucket=bucket)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "principals:\n"
        "  analyst: {arn: 'arn:aws:iam::123456789012:role/cli-analyst'}\n"
        "grants:\n"
        "  - {principal: analyst, database: final}\n"
        "  - {principal: analyst, tables: [intermediate.cdc_shop_customers]}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKE_", "AWS_"))}
    env |= moto_env() | {
        "LAKE_ENV": "aws",
        "LAKE_ROOT": f"s3://{bucket}/lake",
        "LAKE_S3_ENDPOINT_URL": moto_server,
        "LAKE_AWS_ENDPOINT_URL": moto_server,
        "LAKE_ACCESS_POLICY": str(policy),
    }
    lake = str(Path(sys.executable).with_name("lake"))

    def access(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [lake, "access", command], env=env, capture_output=True, text=True, cwd=REPO_ROOT
        )

    planned = access("plan")
    assert planned.returncode == 0, planned.stderr
    assert "analyst" in planned.stdout and "Plan: 4 to grant, 0 to revoke" in planned.stdout
    applied = access("apply")
    assert applied.returncode == 0, applied.stderr
    assert "Applied " in applied.stdout
    again = access("plan")
    assert again.returncode == 0 and "No changes: Lake Formation matches the policy." in again.stdout
    policy.write_text(policy.read_text().replace("cli-analyst'}", "cli-analyst'}\n  intern: {}"))
    policy.write_text(policy.read_text() + "  - {principal: intern, database: final}\n")
    refused = access("plan")
    assert refused.returncode == 2 and "intern" in refused.stderr and "arn" in refused.stderr
