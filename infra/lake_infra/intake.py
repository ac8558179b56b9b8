"""Events intake: SQS intake queue and dead-letter queue, the validating Lambda, Firehose into landing.

The Lambda is ``lake package lambda``'s zip (handler, runtime and architecture from
``lake_assets.deploy.lambda_package``), configured by the variables ``load_lambda_settings`` reads. The
event source mapping reports batch item failures, as ``lambda_intake`` answers; messages that keep failing
move to the dead-letter queue by the intake queue's redrive policy, the same queue the Lambda sends invalid
events to (``lake events drain-dlq`` reads both kinds). Firehose delivers under ``landing/events/`` in the
hour folders the landing sensor reads (``YYYY/MM/DD/HH/<stream>-...``, UTC) and puts records it could not
deliver under ``quarantine/firehose/events/`` (outside ``quarantine/events/``, which holds quarantine
records only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lake_assets.deploy.lambda_package import ARCHITECTURE, HANDLER, RUNTIME
from lake_assets.settings import load_lambda_settings
from lake_infra.common import ArtifactMissing, LakeStack, after_policy, lint_ignore, skip_checks

# Firehose's own key layout (UTC hour folders), which the sensor's landing_index._HOUR_FOLDER parses.
HOUR_FOLDERS = "!{timestamp:yyyy/MM/dd/HH}/"
ERROR_FOLDERS = "!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
SQS_MAX_MESSAGE_BYTES = 1024 * 1024


def lambda_zip(path: Path) -> Path:
    if not path.is_file():
        raise ArtifactMissing(
            f"events intake: the Lambda artifact {path} does not exist: build it with "
            f'`lake package lambda --out {path}` or pass -c lake:deployment=\'{{"lambda_zip": "PATH"}}\''
        )
    return path


class IntakeStack(LakeStack):
    concern = "events intake"

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        """``kwargs``: ``LakeStack``'s, with the storage stack's ``key`` and ``bucket``."""
        super().__init__(scope, construct_id, **kwargs)
        key, bucket = self.key, self.bucket
        d = self.deployment
        lake = self.lake
        settings = lake.settings
        zip_path = lambda_zip(d.zip_path())

        # -- queues ----------------------------------------------------------------------------------------
        self.dead_letter = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
            max_message_size_bytes=SQS_MAX_MESSAGE_BYTES,  # a quarantine record wraps a whole event
        )
        self.queue = sqs.Queue(
            self,
            "IntakeQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(4),
            # `lake events send` reads this limit and rejects larger lines itself (the validator's limit).
            max_message_size_bytes=min(SQS_MAX_MESSAGE_BYTES, max(1024, settings.max_event_bytes)),
            # AWS's advice for an SQS event source: at least six times the function's timeout.
            visibility_timeout=cdk.Duration.seconds(6 * d.lambda_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter, max_receive_count=d.intake_max_receive_count
            ),
        )

        for queue in (self.queue, self.dead_letter):
            skip_checks(
                queue,
                (
                    "CKV_AWS_27",
                    "Encrypted at rest with SSE-SQS (SqsManagedSseEnabled), which this check does not "
                    "read; a customer key would make every producer need kms:GenerateDataKey on the "
                    "lake key.",
                ),
            )

        # -- Firehose into landing/events/ -------------------------------------------------------------
        stream_name = settings.stream_name  # object names start with it, as the local intake's do
        log_group = self.log_group("FirehoseLogs", key, name=f"/aws/kinesisfirehose/{stream_name}")
        log_stream = log_group.add_stream("S3Delivery", log_stream_name="S3Delivery")
        self.landing_prefix = lake.events_landing + HOUR_FOLDERS
        self.error_prefix = lake.key("quarantine", "firehose", "events", where=self.where) + ERROR_FOLDERS
        delivery_role = iam.Role(
            self, "FirehoseRole", assumed_by=iam.ServicePrincipal("firehose.amazonaws.com")
        )
        delivery_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[
                    bucket.arn_for_objects(lake.events_landing + "*"),
                    bucket.arn_for_objects(
                        lake.key("quarantine", "firehose", "events", where=self.where) + "*"
                    ),
                ],
            )
        )
        delivery_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn],
            )
        )
        delivery_role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}},
            )
        )
        delivery_role.add_to_policy(
            iam.PolicyStatement(actions=["logs:PutLogEvents"], resources=[log_group.log_group_arn])
        )
        batch = settings.batch
        self.stream = firehose.CfnDeliveryStream(
            self,
            "Firehose",
            delivery_stream_name=stream_name,
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(
                key_type="AWS_OWNED_CMK"
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=bucket.bucket_arn,
                role_arn=delivery_role.role_arn,
                prefix=self.landing_prefix,
                error_output_prefix=self.error_prefix,
                # Newline-delimited JSON exactly as the Lambda sent it: the sensor and raw read plain lines.
                compression_format="UNCOMPRESSED",
                # The lake's batch limits (LAKE_BATCH_MAX_SECONDS / _BYTES) within Firehose's ranges.
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=min(900, max(0, round(batch.max_seconds))),
                    size_in_m_bs=min(128, max(1, batch.max_bytes // (1024 * 1024))),
                ),
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=key.key_arn
                    )
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=log_group.log_group_name,
                    log_stream_name=log_stream.log_stream_name,
                ),
            ),
        )
        after_policy(self.stream, delivery_role)

        # -- the Lambda ------------------------------------------------------------------------------------
        environment = {
            "LAKE_FIREHOSE_STREAM": stream_name,
            "LAKE_DLQ_URL": self.dead_letter.queue_url,
            "LAKE_SCHEMA_SOURCE": d.schema_source,
            "LAKE_MAX_EVENT_BYTES": str(settings.max_event_bytes),
        }
        # The same reader the function runs at cold start, on placeholders for the tokens: a variable it
        # would refuse fails synth here instead of every invocation.
        load_lambda_settings(
            {
                **environment,
                "LAKE_DLQ_URL": f"https://sqs.{d.region}.amazonaws.com/{d.account}/placeholder",
                "AWS_REGION": d.region,
            }
        )
        function_logs = self.log_group("IntakeLogs", key)
        self.function = lambda_.Function(
            self,
            "IntakeFunction",
            description=f"Validates intake events: valid to Firehose {stream_name}, invalid to the DLQ",
            code=lambda_.Code.from_asset(str(zip_path)),
            handler=HANDLER,
            runtime=lambda_.Runtime(RUNTIME, lambda_.RuntimeFamily.PYTHON),
            architecture=lambda_.Architecture.X86_64
            if ARCHITECTURE == "x86_64"
            else lambda_.Architecture.ARM_64,
            timeout=cdk.Duration.seconds(d.lambda_timeout_seconds),
            memory_size=d.lambda_memory_mb,
            environment=environment,
            environment_encryption=key,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=function_logs,
        )
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=d.intake_batch_size,
                report_batch_item_failures=True,
                max_concurrency=max(2, d.intake_max_concurrency),
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["firehose:PutRecordBatch"],
                resources=[self.stream.attr_arn],
            )
        )
        self.dead_letter.grant_send_messages(self.function)
        if d.schema_source == "glue":
            registry = getattr(settings, "glue_registry", "lake-events")
            self.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=[
                        "glue:GetSchema",
                        "glue:GetSchemaVersion",
                        "glue:ListSchemas",
                        "glue:ListSchemaVersions",
                    ],
                    resources=[
                        f"arn:{self.partition}:glue:{self.region}:{self.account}:registry/{registry}",
                        f"arn:{self.partition}:glue:{self.region}:{self.account}:schema/{registry}/*",
                    ],
                )
            )
        lint_ignore(
            self.function,
            (
                "W3005",
                "CDK makes every function depend on its role and the role's policy; the role half is "
                "implied.",
            ),
        )
        skip_checks(
            self.function,
            (
                "CKV_AWS_117",
                "The function calls only the SQS, Firehose and Glue APIs; a VPC would add NAT cost and "
                "protect no resource of its own.",
            ),
            (
                "CKV_AWS_116",
                "Invoked only by the SQS event source mapping: failed messages go to the intake queue's "
                "dead-letter queue by its redrive policy; a function DLQ applies to async invocations only.",
            ),
            (
                "CKV_AWS_115",
                "Concurrency is bounded by the event source mapping's MaximumConcurrency; reserved "
                "concurrency would take from the account's pool and fails on accounts with the default "
                "limit of 10.",
            ),
        )

        cdk.CfnOutput(
            self, "IntakeQueueUrl", value=self.queue.queue_url, description="lake events send --queue-url"
        )
        cdk.CfnOutput(
            self,
            "DeadLetterQueueUrl",
            value=self.dead_letter.queue_url,
            description="lake events drain-dlq --queue-url",
        )
        cdk.CfnOutput(self, "FirehoseStream", value=stream_name)
