"""The SageMaker ``CreateTrainingJob`` request for the exported data sets: built, validated, submitted.

Built from the manifest (the split prefixes SageMaker reads) and ``SageMakerSettings``; the built-in XGBoost
container for the region, ``text/csv`` channels ``train`` and ``validation`` (XGBoost takes no ``test``
channel: test stays for evaluating the trained model), the model written under the lake. Validated against
botocore's own model of the API (required members, types, lengths, and the patterns botocore carries but
does not check), so a request that prints with ``--dry-run`` is one the service accepts in form.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import boto3
import botocore.session
from botocore.model import OperationModel, Shape
from botocore.validate import ParamValidator

from lake_assets.ml.datasets import CONTENT_TYPE, Manifest, dataset_prefix
from lake_assets.settings import SageMakerSettings

# The AWS accounts of the built-in XGBoost containers (``sagemaker-xgboost``, versions 1.0-1 and later), per
# region: AWS's "Docker registry paths" pages and the SageMaker Python SDK's image_uri_config/xgboost.json.
XGBOOST_ACCOUNTS = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ca-central-1": "341280168497",
    "eu-central-1": "492215442770",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}
TRAINING_CHANNELS = ("train", "validation")
HYPERPARAMETERS = {
    "objective": "binary:logistic",
    "eval_metric": "auc",
    "num_round": "200",
    "max_depth": "5",
    "eta": "0.2",
    "early_stopping_rounds": "20",
}


class TrainingRequestError(ValueError):
    """The request cannot be built or does not match the API's model; the message says what to change."""


def xgboost_image(region: str, version: str) -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com/sagemaker-xgboost:<version>``."""
    account = XGBOOST_ACCOUNTS.get(region)
    if account is None:
        raise TrainingRequestError(
            f"no built-in XGBoost image known for region {region!r} "
            f"(known: {', '.join(sorted(XGBOOST_ACCOUNTS))})"
        )
    return f"{account}.dkr.ecr.{region}.amazonaws.com/sagemaker-xgboost:{version}"


def job_name(manifest: Manifest) -> str:
    """Named after the data it trains on: the same export gives the same name (SageMaker refuses a second
    job of that name, so a data set is not trained twice by accident)."""
    digest = hashlib.sha256(manifest.to_json()).hexdigest()[:10]
    return re.sub(r"[^a-zA-Z0-9]+", "-", f"lake-{manifest.dataset}-{digest}")[:63].strip("-")


def build_training_request(
    manifest: Manifest, settings: SageMakerSettings, region: str, lake_root_uri: str
) -> dict[str, Any]:
    """The ``CreateTrainingJob`` body for the manifest's splits."""
    if not settings.role_arn:
        raise TrainingRequestError(
            "LAKE_SAGEMAKER_ROLE_ARN is not set: the IAM role SageMaker assumes to read the splits and write "
            "the model (arn:aws:iam::<account>:role/<name>)"
        )
    missing = [c for c in TRAINING_CHANNELS if c not in manifest.splits]
    if missing:
        raise TrainingRequestError(
            f"the manifest has no {', '.join(missing)} split: export the data sets again"
        )
    uris = {c: manifest.splits[c].uri for c in TRAINING_CHANNELS}
    local = [u for u in uris.values() if not u.startswith("s3://")]
    if local:
        raise TrainingRequestError(
            f"SageMaker reads its channels from S3, but the data sets are at {local[0]}: export them on a "
            "lake on S3 (LAKE_ENV=aws or s3, LAKE_ROOT=s3://bucket/prefix)"
        )
    output = (
        settings.output_uri or f"{lake_root_uri.rstrip('/')}/{dataset_prefix(manifest.dataset)}sagemaker/"
    )
    return {
        "TrainingJobName": job_name(manifest),
        "AlgorithmSpecification": {
            "TrainingImage": xgboost_image(region, settings.xgboost_version),
            "TrainingInputMode": "File",
        },
        "RoleArn": settings.role_arn,
        "HyperParameters": dict(HYPERPARAMETERS),
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": uris[channel],
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": CONTENT_TYPE,
                "CompressionType": "None",
            }
            for channel in TRAINING_CHANNELS
        ],
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {
            "InstanceType": settings.instance_type,
            "InstanceCount": settings.instance_count,
            "VolumeSizeInGB": settings.volume_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.max_runtime_seconds},
        "Tags": [
            {"Key": "lake:dataset", "Value": manifest.dataset},
            {"Key": "lake:features-snapshot", "Value": str(manifest.snapshot_id)},
        ],
    }


def _operation() -> OperationModel:
    service = botocore.session.get_session().get_service_model("sagemaker")
    return service.operation_model("CreateTrainingJob")


def _pattern_problems(value: Any, shape: Shape, path: str) -> list[str]:
    """Strings that miss their shape's ``pattern`` (botocore's validator does not check patterns)."""
    if shape.type_name == "structure" and isinstance(value, dict):
        return [
            p
            for name, v in value.items()
            if name in shape.members
            for p in _pattern_problems(v, shape.members[name], f"{path}.{name}")
        ]
    if shape.type_name == "list" and isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _pattern_problems(v, shape.member, f"{path}[{i}]")]
    if shape.type_name == "map" and isinstance(value, dict):
        return [p for k, v in value.items() for p in _pattern_problems(v, shape.value, f"{path}.{k}")]
    pattern = _compiled(shape.metadata.get("pattern"))
    if shape.type_name == "string" and isinstance(value, str) and pattern and not pattern.fullmatch(value):
        return [f"{path}: {value!r} does not match {pattern.pattern}"]
    return []


def _compiled(pattern: str | None) -> re.Pattern[str] | None:
    """The pattern, or None for the few in Java's dialect (``\\p{...}``) that Python's ``re`` cannot read."""
    try:
        return re.compile(pattern) if pattern else None
    except re.error:
        return None


def validate_training_request(request: dict[str, Any]) -> None:
    """Raise ``TrainingRequestError`` listing every problem botocore's model of the API finds."""
    shape = _operation().input_shape
    report = ParamValidator().validate(request, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    problems += _pattern_problems(request, shape, "CreateTrainingJob")
    if problems:
        raise TrainingRequestError("invalid CreateTrainingJob request:\n" + "\n".join(problems))


def submit_training_job(
    request: dict[str, Any], region: str, endpoint_url: str | None = None
) -> dict[str, Any]:
    """Validate, submit, and return ``DescribeTrainingJob`` of the new job."""
    validate_training_request(request)
    client = boto3.client("sagemaker", region_name=region, endpoint_url=endpoint_url)
    name = request["TrainingJobName"]
    try:
        existing = client.describe_training_job(TrainingJobName=name)
    except client.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("ValidationException", "ResourceNotFound"):
            raise
    else:  # asked before creating, so the answer is the same on SageMaker and on a stand-in
        raise TrainingRequestError(
            f"training job {name} exists ({existing['TrainingJobStatus']}): this export was submitted "
            "already; export the data sets again to train on newer data"
        )
    client.create_training_job(**request)
    return client.describe_training_job(TrainingJobName=request["TrainingJobName"])
