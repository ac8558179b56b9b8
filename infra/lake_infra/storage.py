"""Storage: the lake's one bucket (zones as prefixes of the lake root), its KMS key and its access-log bucket.

The bucket is the one ``LAKE_ROOT`` names; the zones are prefixes under the root (``storage/zones.py``).
Encrypted with a customer-managed key (rotated yearly, bucket keys on), versioned, public access blocked,
TLS 1.2+ only (a bucket policy denies anything else), access logged. Lifecycle: landing is never deleted
(raw is rebuilt from it) but moves to cheaper classes as it ages; quarantine moves and then expires; old
versions expire; Dagster's compute logs and Pipes' exchange files expire.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.region_info import RegionInfo
from constructs import Construct

from lake_infra.common import LakeStack, skip_checks

COMPUTE_LOGS_PREFIX = "_system/dagster/compute-logs/"  # deploy/dagster.production.yaml (bucket-relative)


class StorageStack(LakeStack):
    concern = "storage"

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        d = self.deployment
        lake = self.lake

        self.key = kms.Key(
            self,
            "LakeKey",
            alias="alias/lake",
            description="The lake's data, queues, logs and secrets",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        # CloudWatch Logs encrypts the lake's log groups with this key (only log groups of this account).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:*"
                        )
                    }
                },
            )
        )

        self.log_bucket = self.expiring_bucket(
            "AccessLogs",
            "expire-access-logs",
            d.log_retention_days,
            encryption=s3.BucketEncryption.S3_MANAGED,
        )
        # Server access logs of the lake's other buckets (the Athena results) and the Dagster load balancer's
        # logs: granted here, so the stacks that log need not change this bucket's policy (a cycle).
        self.log_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[self.log_bucket.arn_for_objects("s3/*")],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        elb_account = RegionInfo.get(d.region).elbv2_account
        self.log_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[
                    iam.AccountPrincipal(elb_account)
                    if elb_account
                    else iam.ServicePrincipal("logdelivery.elasticloadbalancing.amazonaws.com")
                ],
                actions=["s3:PutObject"],
                resources=[self.log_bucket.arn_for_objects(f"alb/AWSLogs/{self.account}/*")],
            )
        )
        skip_checks(
            self.log_bucket,
            ("CKV_AWS_18", "This is the access-log bucket; logging it into itself would loop."),
        )

        def rule(rule_id: str, relative: str, **kwargs: Any) -> s3.LifecycleRule:
            return s3.LifecycleRule(id=rule_id, prefix=relative, **kwargs)

        landing = lake.key("landing", where=self.where)
        quarantine = lake.key("quarantine", where=self.where)
        pipes = lake.settings.glue.pipes_folder
        self.bucket = s3.Bucket(
            self,
            "Lake",
            bucket_name=lake.bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix=f"s3/{lake.bucket_name}/",
            lifecycle_rules=[
                rule(
                    "landing-to-colder-storage",
                    landing,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=cdk.Duration.days(d.landing_infrequent_access_days),
                        ),
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=cdk.Duration.days(d.landing_glacier_ir_days),
                        ),
                    ],
                ),
                rule(
                    "quarantine-expiry",
                    quarantine,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=cdk.Duration.days(d.quarantine_infrequent_access_days),
                        )
                    ],
                    expiration=cdk.Duration.days(d.quarantine_expire_days),
                ),
                rule(
                    "compute-logs-expiry",
                    COMPUTE_LOGS_PREFIX,
                    expiration=cdk.Duration.days(d.compute_log_days),
                ),
                rule("pipes-expiry", pipes, expiration=cdk.Duration.days(d.pipes_days)),
                s3.LifecycleRule(
                    id="old-versions-and-uploads",
                    noncurrent_version_expiration=cdk.Duration.days(d.noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                    expired_object_delete_marker=True,
                ),
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        cdk.CfnOutput(self, "LakeRoot", value=lake.uri, description="LAKE_ROOT of the deployed lake")
        cdk.CfnOutput(self, "LakeKeyArn", value=self.key.key_arn)
        cdk.CfnOutput(self, "AccessLogBucket", value=self.log_bucket.bucket_name)
