"""The governance stack: the lake's Glue databases, Lake Formation settings, the policy checked at synth."""

from __future__ import annotations

from pathlib import Path

import pytest

from lake_assets.access.lakeformation import desired_state
from lake_assets.access.policy import DATABASES, PolicyError, load_policy
from lake_assets_tests.infra.conftest import ACCOUNT, REGION, Synth, app_context

STACK = "LakeGovernance"


def test_one_database_per_catalog_zone_located_at_the_zone_without_iam_defaults(synth: Synth) -> None:
    databases = {
        v["Properties"]["DatabaseInput"]["Name"]: v["Properties"]["DatabaseInput"]
        for v in synth.resources(STACK, "AWS::Glue::Database").values()
    }
    assert sorted(databases) == sorted(DATABASES)
    for name, database in databases.items():
        assert database["LocationUri"] == f"s3://lake-test-bucket/lake/{name}/"
        assert database["CreateTableDefaultPermissions"] == []


def test_lake_formation_settings_keep_iam_out_and_cloudformation_in(synth: Synth) -> None:
    (settings,) = synth.resources(STACK, "AWS::LakeFormation::DataLakeSettings").values()
    props = settings["Properties"]
    admins = [a["DataLakePrincipalIdentifier"] for a in props["Admins"]]
    assert admins == [
        f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}",
        f"arn:aws:iam::{ACCOUNT}:role/lake-admin",
    ]
    assert props["CreateDatabaseDefaultPermissions"] == [] and props["CreateTableDefaultPermissions"] == []
    assert props["MutationType"] == "APPEND"
    (location,) = synth.resources(STACK, "AWS::LakeFormation::Resource").values()
    assert location["Properties"]["ResourceArn"] == "arn:aws:s3:::lake-test-bucket/lake"
    assert location["Properties"]["UseServiceLinkedRole"] is False


def test_the_policy_grants_are_left_to_lake_access_apply_and_counted(synth: Synth) -> None:
    policy = load_policy()
    desired = desired_state(policy)
    assert synth.resources(STACK, "AWS::LakeFormation::PrincipalPermissions") == {}
    assert synth.resources(STACK, "AWS::LakeFormation::DataCellsFilter") == {}
    outputs = synth.templates[STACK]["Outputs"]
    assert outputs["PolicyGrants"]["Value"] == str(len(desired.grants))
    assert outputs["PolicyFilters"]["Value"] == str(len(desired.filters))


def test_a_policy_lake_access_apply_would_refuse_fails_synth_naming_its_line(
    infra_inputs, tmp_path: Path
) -> None:
    from lake_infra.app import build_app

    bad = tmp_path / "policy.yaml"
    bad.write_text(
        "principals:\n  analyst:\n    description: no arn\n"
        "grants:\n  - principal: analyst\n    database: final\n",
        encoding="utf-8",
    )
    context = app_context(*infra_inputs)
    context["lake:settings"]["LAKE_ACCESS_POLICY"] = str(bad)
    with pytest.raises(PolicyError, match=rf"{bad}:2: principals.analyst: analyst has no arn"):
        build_app(context, outdir=str(tmp_path / "out"), only=["LakeGovernance"])
