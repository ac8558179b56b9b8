"""What every stack shares: the base class, checkov suppressions with their reasons, encrypted log groups."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lake_infra.config import Config
from lake_infra.lake import Lake

CHECKOV_MIN_REASON = 20  # characters: a suppression without a real reason fails test_checkov


class ArtifactMissing(FileNotFoundError):
    """A build artifact the stacks deploy is not there; the message names it and how to build it."""


class LakeStack(cdk.Stack):
    """A stack of the lake: knows the deployment's config and the lake's names; ``where`` prefixes errors.

    ``key`` (and ``bucket``): the storage stack's KMS key and lake bucket, which the other stacks use; given,
    they are available as references in this stack as ``self.key`` and ``self.bucket`` (``imported``).
    """

    concern = "lake"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: Config,
        lake: Lake,
        key: kms.IKey | None = None,
        bucket: s3.IBucket | None = None,
        **kwargs: Any,
    ):
        deployment = config.deployment
        super().__init__(
            scope,
            construct_id,
            env=cdk.Environment(account=deployment.account, region=deployment.region),
            description=f"lake_assets: {self.concern} (infra/lake_infra/{_module(self)}.py)",
            **kwargs,
        )
        self.config = config
        self.deployment = deployment
        self.lake = lake
        self.where = f"{construct_id} stack"
        cdk.Tags.of(self).add("lake:stack", _module(self))
        if key is not None:
            self.key, self.bucket = self.imported(key, bucket)

    def imported(self, key: kms.IKey, bucket: s3.IBucket | None = None) -> tuple[kms.IKey, s3.IBucket]:
        """The storage stack's key and the lake bucket as references in this stack.

        Grants on references change only this stack's roles: granting on the key object itself would add the
        other stack's roles to the key policy, making storage depend on every stack that uses it (a cycle).
        The bucket is referenced by the name ``LAKE_ROOT`` gives it (the storage stack names it so), so
        templates show the lake's bucket by name.
        """
        imported_key = kms.Key.from_key_arn(self, "LakeKeyRef", key.key_arn)
        imported_bucket = s3.Bucket.from_bucket_attributes(
            self, "LakeBucketRef", bucket_name=self.lake.bucket_name, encryption_key=imported_key
        )
        del bucket  # the storage stack's object: the key's ARN already makes this stack depend on it
        return imported_key, imported_bucket

    def log_group(self, construct_id: str, key: kms.IKey, name: str | None = None) -> logs.LogGroup:
        """A log group encrypted with the lake key, kept ``log_retention_days``."""
        return logs.LogGroup(
            self,
            construct_id,
            log_group_name=name,
            encryption_key=key,
            retention=_retention(self.deployment.log_retention_days),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def expiring_bucket(self, construct_id: str, rule_id: str, days: int, **props: Any) -> s3.Bucket:
        """A versioned, private, TLS-only bucket whose objects expire after ``days`` (old versions and
        unfinished uploads after a day) and which outlives its stack: the lake's working buckets (access logs,
        Athena results). ``props``: encryption and logging, which differ."""
        return s3.Bucket(
            self,
            construct_id,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id=rule_id,
                    expiration=cdk.Duration.days(days),
                    noncurrent_version_expiration=cdk.Duration.days(1),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
            **props,
        )

    def bucket_objects(self, bucket_name: str, *keys: str) -> list[str]:
        return [f"arn:{self.partition}:s3:::{bucket_name}/{k}" for k in keys]

    def bucket_arn(self, bucket_name: str) -> str:
        return f"arn:{self.partition}:s3:::{bucket_name}"


# CloudWatch Logs' retention choices in days, in the order of logs.RetentionDays (jsii enums carry no days).
_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def _module(stack: cdk.Stack) -> str:
    return type(stack).__module__.rsplit(".", 1)[-1]


def _retention(days: int) -> logs.RetentionDays:
    """The shortest retention CloudWatch offers that keeps ``days``."""
    choices = [r for r in logs.RetentionDays if r.name != "INFINITE"]
    for retention, allowed in zip(choices, _RETENTION_DAYS, strict=True):
        if allowed >= days:
            return retention
    return choices[-1]


def skip_checks(construct: Construct, *checks: tuple[str, str]) -> None:
    """checkov suppressions on the construct's CloudFormation resource, each ``(check id, reason)``.

    checkov reads ``Metadata.checkov.skip[].{id, comment}``; the reason is the justification the review
    reads, and test_checkov refuses one shorter than ``CHECKOV_MIN_REASON`` characters.
    """
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    assert isinstance(resource, cdk.CfnResource), f"{construct.node.path} has no CloudFormation resource"
    existing = resource.get_metadata("checkov") or {"skip": []}
    skips = list(existing.get("skip", [])) + [{"id": check, "comment": reason} for check, reason in checks]
    resource.add_metadata("checkov", {"skip": skips})


def lint_ignore(construct: Construct, *rules: tuple[str, str]) -> None:
    """cfn-lint rules ignored on the construct's resource, each ``(rule, reason)`` (the reason stays here)."""
    resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
    assert isinstance(resource, cdk.CfnResource), f"{construct.node.path} has no CloudFormation resource"
    resource.add_metadata("cfn-lint", {"config": {"ignore_checks": [rule for rule, _ in rules]}})


def after_policy(resource: Construct, role: iam.Role) -> None:
    """``resource`` is created after ``role``'s policy (services check their role's access at creation).

    Only the policy: the role itself is already referenced by ARN (cfn-lint W3005 on a redundant DependsOn).
    """
    policy = role.node.try_find_child("DefaultPolicy")
    if policy is not None:
        resource.node.add_dependency(policy)


def read_prefix_statements(bucket_arn: str, root: str, prefixes: list[str], *, write: bool) -> list[Any]:
    """S3 statements for key prefixes (``raw/events/*``): objects, and listing limited to those prefixes."""
    objects = [f"{bucket_arn}/{root}{p}" for p in prefixes]
    actions = ["s3:GetObject", "s3:GetObjectVersion"]
    if write:
        actions += ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    listed = sorted({f"{root}{p}" for p in prefixes})
    return [
        iam.PolicyStatement(actions=actions, resources=objects),
        iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[bucket_arn],
            conditions={"StringLike": {"s3:prefix": listed}},
        ),
    ]
