"""The SageMaker training job request: built from the manifest, validated against botocore's model, and
submitted through ``lake ml train`` to moto.

moto stands in for SageMaker's control plane (CreateTrainingJob / DescribeTrainingJob record and return the
job; nothing is trained) and for S3 (the lake holding the exported splits). Each test uses its own bucket,
hence its own job name, and removes the bucket; the job record stays in the session's moto server, since
SageMaker has no API to delete a training job (and moto 5.2's StopTrainingJob answers 500).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import replace

import pytest

from lake_assets.ml.datasets import PART, Manifest, SplitInfo, manifest_key, split_prefix
from lake_assets.ml.sagemaker import (
    TrainingRequestError,
    build_training_request,
    job_name,
    validate_training_request,
    xgboost_image,
)
from lake_assets.settings import SageMakerSettings, load_sagemaker_settings
from lake_assets.transforms.features import MATRIX_COLUMNS, SPLITS
from lake_assets_tests.fixtures.moto import moto_client, moto_env

ROLE = "arn:aws:iam::123456789012:role/lake-sagemaker"


def _manifest(root: str) -> Manifest:
    manifest = Manifest("customer_orders_7d", "final.ml_customer_day_features", 42, "text/csv", "label",
                        list(MATRIX_COLUMNS), 7)  # fmt: skip
    for n, name in enumerate(SPLITS):
        prefix = split_prefix(name)
        manifest.splits[name] = SplitInfo(prefix, f"{root}/{prefix}", 10 + n, 3, "2026-10-01", "2026-10-05")
    return manifest


def test_the_request_has_the_layout_sagemaker_xgboost_reads() -> None:
    settings = SageMakerSettings(role_arn=ROLE, instance_type="ml.m5.xlarge", volume_gb=20)
    request = build_training_request(
        _manifest("s3://lake-bucket/lake"), settings, "eu-west-1", "s3://lake-bucket/lake"
    )
    validate_training_request(request)
    assert request["AlgorithmSpecification"]["TrainingImage"] == (
        "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    )
    channels = {c["ChannelName"]: c for c in request["InputDataConfig"]}
    assert list(channels) == ["train", "validation"]
    assert channels["train"]["DataSource"]["S3DataSource"]["S3Uri"] == (
        "s3://lake-bucket/lake/final/ml/customer_orders_7d/train/"
    )
    assert {c["ContentType"] for c in channels.values()} == {"text/csv"}
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 20,
    }
    assert (
        request["OutputDataConfig"]["S3OutputPath"]
        == "s3://lake-bucket/lake/final/ml/customer_orders_7d/sagemaker/"
    )
    assert request["HyperParameters"]["objective"] == "binary:logistic"


def test_the_same_export_gives_the_same_job_name_and_another_a_new_one() -> None:
    manifest = _manifest("s3://b/l")
    assert job_name(manifest) == job_name(_manifest("s3://b/l"))
    assert job_name(manifest) != job_name(replace(manifest, snapshot_id=43))


def test_settings_from_the_environment() -> None:
    settings = load_sagemaker_settings(
        {"LAKE_SAGEMAKER_ROLE_ARN": ROLE, "LAKE_SAGEMAKER_INSTANCE_COUNT": "2"}
    )
    assert settings.role_arn == ROLE and settings.instance_count == 2
    with pytest.raises(ValueError, match="LAKE_SAGEMAKER_OUTPUT"):
        load_sagemaker_settings({"LAKE_SAGEMAKER_OUTPUT": "/tmp/out"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("RoleArn"), "Missing required parameter"),
        (lambda r: r["ResourceConfig"].update(InstanceCount="1"), "Invalid type"),
        (lambda r: r.update(RoleArn="lake-sagemaker-role"), "RoleArn: 'lake-sagemaker-role' does not match"),
        (lambda r: r.update(TrainingJobName="lake_job"), "TrainingJobName"),
    ],
)
def test_validation_names_what_is_wrong(change, message: str) -> None:
    request = build_training_request(
        _manifest("s3://b/l"), SageMakerSettings(role_arn=ROLE), "us-east-1", "s3://b/l"
    )
    change(request)
    with pytest.raises(TrainingRequestError, match=message):
        validate_training_request(request)


def test_bad_inputs_are_refused_with_the_fix() -> None:
    with pytest.raises(TrainingRequestError, match="LAKE_SAGEMAKER_ROLE_ARN is not set"):
        build_training_request(_manifest("s3://b/l"), SageMakerSettings(), "us-east-1", "s3://b/l")
    with pytest.raises(TrainingRequestError, match="reads its channels from S3"):
        build_training_request(
            _manifest("/tmp/lake"), SageMakerSettings(role_arn=ROLE), "us-east-1", "/tmp/lake"
        )
    with pytest.raises(TrainingRequestError, match="no built-in XGBoost image known for region 'mars-1'"):
        xgboost_image("mars-1", "1.7-1")


@pytest.fixture
def s3_lake(moto_server: str):
    """A bucket on moto's S3 holding an export (manifest and split files), removed afterwards."""
    s3 = moto_client("s3", moto_server)
    bucket = f"lake-ml-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    root = f"s3://{bucket}/lake"
    manifest = _manifest(root)
    for name in SPLITS:
        s3.put_object(Bucket=bucket, Key=f"lake/{split_prefix(name)}{PART}", Body=b"1,0.5\n0,0.1\n")
    s3.put_object(Bucket=bucket, Key=f"lake/{manifest_key()}", Body=manifest.to_json())
    yield root, manifest
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])
    s3.delete_bucket(Bucket=bucket)


def _lake(args: list[str], root: str, moto_server: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **moto_env(),
        "LAKE_ENV": "s3",
        "LAKE_ROOT": root,
        "LAKE_S3_ENDPOINT_URL": moto_server,
        "LAKE_AWS_ENDPOINT_URL": moto_server,
        "LAKE_SAGEMAKER_ROLE_ARN": ROLE,
    }
    return subprocess.run(
        [sys.executable, "-m", "lake_assets.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_lake_ml_train_dry_run_prints_then_submits_to_the_stand_in(s3_lake, moto_server: str) -> None:
    root, manifest = s3_lake
    dry = _lake(["ml", "train", "--dry-run"], root, moto_server)
    assert dry.returncode == 0, dry.stderr
    request = json.loads(dry.stdout)
    assert request["TrainingJobName"] == job_name(manifest)
    assert (
        request["InputDataConfig"][1]["DataSource"]["S3DataSource"]["S3Uri"]
        == manifest.splits["validation"].uri
    )
    sagemaker = moto_client("sagemaker", moto_server)
    with pytest.raises(sagemaker.exceptions.ClientError):  # --dry-run submitted nothing
        sagemaker.describe_training_job(TrainingJobName=request["TrainingJobName"])

    submitted = _lake(["ml", "train"], root, moto_server)
    assert submitted.returncode == 0, submitted.stderr
    assert f"submitted {request['TrainingJobName']}" in submitted.stdout
    job = sagemaker.describe_training_job(TrainingJobName=request["TrainingJobName"])
    assert (
        job["AlgorithmSpecification"]["TrainingImage"] == request["AlgorithmSpecification"]["TrainingImage"]
    )
    assert job["RoleArn"] == ROLE
    assert [c["ChannelName"] for c in job["InputDataConfig"]] == ["train", "validation"]
    assert job["ResourceConfig"]["InstanceType"] == "ml.m5.large"
    again = _lake(["ml", "train"], root, moto_server)  # the same export: the same name, refused
    assert again.returncode == 2 and "submitted already" in again.stderr
