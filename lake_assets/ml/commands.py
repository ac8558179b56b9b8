"""``lake ml``: the exported data sets' manifest, and the SageMaker training job for them."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lake_assets.ml import DATASET
from lake_assets.settings import LakeSettings, load_sagemaker_settings
from lake_assets.storage import open_lake_store


def _fail(message: str) -> int:
    print(f"lake: {message}", file=sys.stderr)
    return 2


def cmd_manifest(args: argparse.Namespace, settings: LakeSettings) -> int:
    from lake_assets.ml.datasets import DatasetError, read_manifest

    try:
        manifest = read_manifest(open_lake_store(settings), args.dataset)
    except DatasetError as exc:
        return _fail(str(exc))
    print(manifest.to_json().decode(), end="")
    return 0


def cmd_train(args: argparse.Namespace, settings: LakeSettings) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from lake_assets.ml.datasets import DatasetError, read_manifest
    from lake_assets.ml.sagemaker import (
        TrainingRequestError,
        build_training_request,
        submit_training_job,
        validate_training_request,
    )

    store = open_lake_store(settings)
    try:
        manifest = read_manifest(store, args.dataset)
        request = build_training_request(
            manifest, load_sagemaker_settings(), settings.aws_region, store.uri()
        )
        validate_training_request(request)
    except (DatasetError, TrainingRequestError) as exc:
        return _fail(str(exc))
    if args.dry_run:
        print(json.dumps(request, indent=2, sort_keys=True))
        return 0
    try:
        job = submit_training_job(request, settings.aws_region, settings.aws_endpoint_url)
    except TrainingRequestError as exc:
        return _fail(str(exc))
    except (BotoCoreError, ClientError) as exc:
        return _fail(f"CreateTrainingJob {request['TrainingJobName']}: {exc}")
    print(f"submitted {job['TrainingJobName']}: {job['TrainingJobStatus']} ({job['TrainingJobArn']})")
    print(f"model artifacts go to {request['OutputDataConfig']['S3OutputPath']}")
    return 0


def register(sub: Any) -> None:
    """``lake ml manifest`` and ``lake ml train [--dry-run]``."""
    ml = sub.add_parser("ml", help="ML data sets: manifest, SageMaker training job").add_subparsers(
        dest="ml_command", required=True
    )
    manifest = ml.add_parser("manifest", help="the exported splits: columns, row counts, day ranges")
    manifest.add_argument("--dataset", default=DATASET)
    manifest.set_defaults(func=cmd_manifest)
    train = ml.add_parser(
        "train",
        help="submit the SageMaker XGBoost training job for the exported splits",
        description="Builds the CreateTrainingJob request from the data sets' manifest and LAKE_SAGEMAKER_* "
        "settings, validates it against botocore's model of the API, and submits it (LAKE_AWS_ENDPOINT_URL "
        "points it at a stand-in). --dry-run prints the request instead.",
    )
    train.add_argument("--dataset", default=DATASET)
    train.add_argument("--dry-run", action="store_true", help="print the validated request, submit nothing")
    train.set_defaults(func=cmd_train)
