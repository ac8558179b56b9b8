"""Consumption: the Athena workgroup ``lake query --engine athena`` runs in (``LAKE_ATHENA_WORKGROUP``).

Engine version 3, settings enforced on every query (clients cannot choose another result location or turn
encryption off), results in a bucket of their own encrypted with the lake key and expired after
``athena_results_days``, and a per-query scan limit (``BytesScannedCutoffPerQuery``). Results are kept out of
the lake bucket: they hold what the policy's filters let one principal see, and no zone is theirs.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_athena as athena
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lake_infra.common import LakeStack
from lake_infra.config import ConfigError

ATHENA_MIN_CUTOFF = 10 * 1024 * 1024  # Athena refuses a smaller BytesScannedCutoffPerQuery


class ConsumptionStack(LakeStack):
    concern = "consumption (Athena)"

    def __init__(self, scope: Construct, construct_id: str, *, log_bucket: s3.IBucket, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)  # with the storage stack's key
        key = self.key
        log_bucket = s3.Bucket.from_bucket_name(self, "AccessLogsRef", log_bucket.bucket_name)
        d = self.deployment
        settings = self.lake.settings.athena
        if d.athena_bytes_scanned_cutoff < ATHENA_MIN_CUTOFF:
            raise ConfigError(
                f"{self.where}: athena_bytes_scanned_cutoff={d.athena_bytes_scanned_cutoff} is below "
                "Athena's "
                f"minimum of {ATHENA_MIN_CUTOFF} bytes"
            )
        self.results = self.expiring_bucket(
            "AthenaResults",
            "expire-results",
            d.athena_results_days,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            server_access_logs_bucket=log_bucket,
            server_access_logs_prefix="s3/athena-results/",
        )

        output = settings.output_location or f"s3://{self.results.bucket_name}/results/"
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=settings.workgroup,
            description="lake query --engine athena (LAKE_ATHENA_WORKGROUP)",
            state="ENABLED",
            recursive_delete_option=False,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=d.athena_bytes_scanned_cutoff,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=output,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                    expected_bucket_owner=self.account,
                ),
            ),
        )
        cdk.CfnOutput(self, "WorkGroupName", value=settings.workgroup, description="LAKE_ATHENA_WORKGROUP")
        cdk.CfnOutput(self, "ResultsLocation", value=output)
