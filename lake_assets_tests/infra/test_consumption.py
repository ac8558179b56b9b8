"""The consumption stack: the Athena workgroup lake query --engine athena uses, encrypted and limited."""

from __future__ import annotations

from pathlib import Path

import pytest

from lake_assets.settings import load_athena_settings
from lake_assets_tests.infra.conftest import Synth, app_context

STACK = "LakeConsumption"


def test_the_workgroup_is_the_lakes_enforced_encrypted_and_limited(synth: Synth, settings_env) -> None:
    (workgroup,) = synth.resources(STACK, "AWS::Athena::WorkGroup").values()
    props = workgroup["Properties"]
    assert props["Name"] == load_athena_settings(settings_env).workgroup == "lake-test"
    config = props["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == 1024**3
    assert config["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    result = config["ResultConfiguration"]
    assert result["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert "KmsKey" in result["EncryptionConfiguration"]
    (bucket_id,) = synth.resources(STACK, "AWS::S3::Bucket")
    assert result["OutputLocation"] == {"Fn::Join": ["", ["s3://", {"Ref": bucket_id}, "/results/"]]}


def test_results_are_kept_in_an_encrypted_bucket_and_expire(synth: Synth) -> None:
    (bucket,) = synth.resources(STACK, "AWS::S3::Bucket").values()
    props = bucket["Properties"]
    assert (
        props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "aws:kms"
    )
    assert props["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 30


def test_a_scan_limit_below_athenas_minimum_fails_synth(infra_inputs, tmp_path: Path) -> None:
    from lake_infra.app import build_app
    from lake_infra.config import ConfigError

    with pytest.raises(ConfigError, match="athena_bytes_scanned_cutoff=1000 is below Athena's minimum"):
        build_app(
            app_context(*infra_inputs, athena_bytes_scanned_cutoff=1000),
            outdir=str(tmp_path),
            only=["LakeConsumption"],
        )
