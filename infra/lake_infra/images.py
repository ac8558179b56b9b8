"""Images: the ECR repository the Dagster image is pushed to, in a stack of its own.

Deployed before ``LakeOrchestration``: the services there start their tasks from this repository, so the
image (``lake package image``, then ``docker build`` and ``docker push``) must be in it before that stack is
deployed. With the repository in the services' own stack, its first deployment raced the push (the services'
circuit breaker rolled the stack back when the image came late) and a rollback left a retained repository
that blocked the next attempt.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ecr as ecr
from constructs import Construct

from lake_infra.common import LakeStack

MAX_IMAGES = 50


class ImagesStack(LakeStack):
    concern = "images (the ECR repository of the Dagster image)"

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        """``kwargs``: ``LakeStack``'s, with the storage stack's ``key``."""
        super().__init__(scope, construct_id, **kwargs)
        key = self.key
        self.repository = ecr.Repository(
            self,
            "Repository",
            repository_name=self.deployment.image_repository,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            image_scan_on_push=True,
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
            lifecycle_rules=[
                ecr.LifecycleRule(
                    max_image_count=MAX_IMAGES, description=f"keep the last {MAX_IMAGES} images"
                )
            ],
        )
        cdk.CfnOutput(self, "ImageRepository", value=self.repository.repository_uri)
        cdk.CfnOutput(self, "ImageTag", value=self.deployment.tag)
