"""The processing stack: Glue 6.0 jobs through Pipes, each role limited to its layers' prefixes and tables."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lake_assets import settings as lake_settings
from lake_assets.deploy.glue_package import job_modules
from lake_assets_tests.infra.conftest import Synth, app_context

STACK = "LakeProcessing"


def statements(policy: dict) -> list[dict]:
    return policy["Properties"]["PolicyDocument"]["Statement"]


def actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def resources(statement: dict) -> list:
    return statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]


def test_one_glue_6_job_named_as_the_lake_starts_it(synth: Synth) -> None:
    (job,) = synth.resources(STACK, "AWS::Glue::Job").values()
    props = job["Properties"]
    # what resources/glue.py starts (LAKE_GLUE_JOB, default GlueSettings.job_name)
    assert props["Name"] == getattr(getattr(lake_settings, "GlueSettings", None), "job_name", "lake-layers")
    assert props["GlueVersion"] == "6.0" and props["Command"]["Name"] == "glueetl"
    artifacts = synth.context["lake:deployment"]["glue_package"]
    package_zip = Path(artifacts) / "lake_assets.zip"
    folder = (
        f"s3://lake-test-bucket/lake/_system/glue/{hashlib.sha256(package_zip.read_bytes()).hexdigest()[:16]}"
    )
    assert (
        props["Command"]["ScriptLocation"] == f"{folder}/glue_job.py"
    )  # where `lake package glue --upload` puts it
    assert props["MaxRetries"] == 0
    arguments = props["DefaultArguments"]
    assert arguments["--datalake-formats"] == "iceberg"
    assert arguments["--extra-py-files"] == f"{folder}/lake_assets.zip"
    assert arguments["--additional-python-modules"] == ",".join(job_modules())
    upload = synth.templates[STACK]["Outputs"]["GlueUpload"]["Value"]
    assert upload.endswith("--upload s3://lake-test-bucket/lake/_system/glue")
    assert props["SecurityConfiguration"] == {"Ref": "SecurityConfiguration"}
    synth.template(STACK).has_resource_properties(
        "AWS::Glue::SecurityConfiguration",
        {
            "EncryptionConfiguration": {
                "S3Encryptions": [
                    {"S3EncryptionMode": "SSE-KMS", "KmsKeyArn": {"Fn::ImportValue": _any_import(synth)}}
                ],
                "CloudWatchEncryption": {
                    "CloudWatchEncryptionMode": "SSE-KMS",
                    "KmsKeyArn": {"Fn::ImportValue": _any_import(synth)},
                },
                "JobBookmarksEncryption": {
                    "JobBookmarksEncryptionMode": "CSE-KMS",
                    "KmsKeyArn": {"Fn::ImportValue": _any_import(synth)},
                },
            }
        },
    )


def _any_import(synth: Synth) -> str:
    (config,) = synth.resources(STACK, "AWS::Glue::SecurityConfiguration").values()
    return config["Properties"]["EncryptionConfiguration"]["S3Encryptions"][0]["KmsKeyArn"]["Fn::ImportValue"]


def test_the_role_reaches_only_the_layers_prefixes_never_landing_or_the_whole_bucket(synth: Synth) -> None:
    (policy,) = [
        p for k, p in synth.resources(STACK, "AWS::IAM::Policy").items() if k.startswith("Rolelakelayers")
    ]
    objects = {
        r: set(actions(s))
        for s in statements(policy)
        for r in resources(s)
        if isinstance(r, str) and r.startswith("arn:aws:s3:::lake-test-bucket/")
    }
    writable = {
        r.removeprefix("arn:aws:s3:::lake-test-bucket/") for r, a in objects.items() if "s3:PutObject" in a
    }
    readable = {
        r.removeprefix("arn:aws:s3:::lake-test-bucket/")
        for r, a in objects.items()
        if a == {"s3:GetObject", "s3:GetObjectVersion"}
    }
    assert writable == {
        "lake/intermediate/events_*",
        "lake/intermediate/files_*",
        "lake/intermediate/api_*",
        "lake/intermediate/cdc_*",
        "lake/final/*",
        "lake/_system/cdc/*",
        "lake/_system/glue-tmp/*",
        "_system/pipes/*",  # GlueSettings.pipes_prefix: bucket-relative
    }
    assert readable == {
        "lake/raw/events/*",
        "lake/raw/files/*",
        "lake/raw/api/*",
        "lake/_system/schemas/*",
        "lake/raw/cdc/*",
        "lake/_system/index/events/*",
        "lake/intermediate/*",
        "lake/_system/glue/*",
    }
    assert not any(
        p.startswith(("lake/landing", "lake/quarantine")) or p in ("*", "lake/*") for p in writable | readable
    )
    glue = [r for s in statements(policy) if "glue:CreateTable" in actions(s) for r in resources(s)]
    assert sorted(r.rsplit(":", 1)[-1] for r in glue) == sorted(
        [
            "catalog",
            "database/final",
            "database/intermediate",
            "table/final/*",
            "table/intermediate/cdc_*",
            "table/intermediate/events_*",
            "table/intermediate/files_*",
            "table/intermediate/api_*",
        ]
    )


def test_split_jobs_get_roles_of_their_own_layers(infra_inputs, tmp_path: Path) -> None:
    from lake_infra.app import build_app

    jobs = {"lake-final": ["final"], "lake-cdc": ["cdc_merge"]}
    app = build_app(app_context(*infra_inputs, glue_jobs=jobs), outdir=str(tmp_path), only=["LakeProcessing"])
    template = app.synth().get_stack_by_name(STACK).template
    names = sorted(
        v["Properties"]["Name"] for v in template["Resources"].values() if v["Type"] == "AWS::Glue::Job"
    )
    assert names == ["lake-cdc", "lake-final"]
    final = next(
        v
        for k, v in template["Resources"].items()
        if k.startswith("Rolelakefinal") and v["Type"] == "AWS::IAM::Policy"
    )
    written = {r for s in statements(final) if "s3:PutObject" in actions(s) for r in resources(s)}
    assert "arn:aws:s3:::lake-test-bucket/lake/final/*" in written
    assert not any("intermediate" in r or "cdc" in r for r in written)
    grants = [
        v["Properties"]
        for v in template["Resources"].values()
        if v["Type"] == "AWS::LakeFormation::PrincipalPermissions"
    ]
    final_grants = [g for g in grants if "Rolelakefinal" in str(g["Principal"])]
    tables = {
        g["Resource"]["Table"]["DatabaseName"]: g["Permissions"]
        for g in final_grants
        if "Table" in g["Resource"]
    }
    assert tables == {
        "final": ["SELECT", "INSERT", "DELETE", "DESCRIBE", "ALTER", "DROP"],
        "intermediate": ["SELECT", "DESCRIBE"],
    }


def test_missing_glue_artifacts_fail_synth_with_one_line_naming_them(infra_inputs, tmp_path: Path) -> None:
    from lake_infra.app import build_app
    from lake_infra.common import ArtifactMissing

    context = app_context(*infra_inputs, glue_package=str(tmp_path / "nowhere"))
    with pytest.raises(ArtifactMissing) as failure:
        build_app(context, outdir=str(tmp_path / "out"), only=["LakeProcessing"])
    message = str(failure.value)
    assert "\n" not in message and str(tmp_path / "nowhere" / "glue_job.py") in message
    assert "lake package glue" in message


def test_a_job_naming_a_layer_the_lake_does_not_define_fails_synth_naming_it(
    infra_inputs, tmp_path: Path
) -> None:
    from lake_infra.app import build_app
    from lake_infra.lake import UndefinedResource

    context = app_context(*infra_inputs, glue_jobs={"lake-gold": ["gold"]})
    with pytest.raises(
        UndefinedResource,
        match=(
            r"^LakeProcessing stack, Glue job lake-gold: layer 'gold' is not defined by the lake "
            r"\(.*: cdc_merge, final, intermediate\)$"
        ),
    ):
        build_app(context, outdir=str(tmp_path), only=["LakeProcessing"])


def test_lake_formation_grants_the_job_its_databases_and_locations(synth: Synth) -> None:
    grants = [
        v["Properties"] for v in synth.resources(STACK, "AWS::LakeFormation::PrincipalPermissions").values()
    ]
    locations = sorted(
        g["Resource"]["DataLocation"]["ResourceArn"] for g in grants if "DataLocation" in g["Resource"]
    )
    assert locations == [
        "arn:aws:s3:::lake-test-bucket/lake/final",
        "arn:aws:s3:::lake-test-bucket/lake/intermediate",
    ]
    databases = {
        g["Resource"]["Database"]["Name"]: g["Permissions"] for g in grants if "Database" in g["Resource"]
    }
    assert databases == {
        "final": ["DESCRIBE", "CREATE_TABLE"],
        "intermediate": ["DESCRIBE", "CREATE_TABLE"],
        "raw": ["DESCRIBE"],
    }
    assert all(g["PermissionsWithGrantOption"] == [] for g in grants)
