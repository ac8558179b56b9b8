"""The Spark layers as AWS Glue job runs, through Dagster Pipes (``LAKE_SPARK_ENGINE=glue``).

One Glue job (``LAKE_GLUE_JOB``; its script is ``lake_assets/layers/glue_job.py``, built by ``lake package
glue``) runs any layer: the asset passes the layer and table as job arguments, Pipes passes the run's context
(asset key, partition range) through S3 and reads back what the job reports: the check results and the
materialization, the same ones the local engine reports. A job that fails makes the Dagster run fail with the
job's error message; a staged commit whose blocking check fails is reported as those failed checks and a
failure, nothing published, as locally.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import dagster as dg

from lake_assets.layers import FAILED
from lake_assets.settings import LakeSettings


class GlueResource(dg.ConfigurableResource):
    job_name: str = "lake-layers"
    pipes_bucket: str | None = None
    pipes_prefix: str = "_system/pipes"
    region: str = "us-east-1"
    aws_endpoint_url: str | None = None  # a stand-in for Glue (tests)
    s3_endpoint_url: str | None = None
    settings_env: dict[str, str] = {}  # the lake's settings, handed to the job (its only way to know them)
    poll_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings: LakeSettings, env: Mapping[str, str]) -> GlueResource:
        return cls(
            job_name=settings.glue.job_name,
            pipes_bucket=settings.glue.pipes_bucket,
            pipes_prefix=settings.glue.pipes_prefix,
            region=settings.aws_region,
            aws_endpoint_url=settings.aws_endpoint_url,
            s3_endpoint_url=settings.s3_endpoint_url,
            settings_env=dict(env),
        )

    def glue_client(self) -> Any:
        """Glue's API (a test replaces this with a stand-in that runs the job script in its process)."""
        return boto3.client("glue", region_name=self.region, endpoint_url=self.aws_endpoint_url)

    def _clients(self) -> tuple[Any, Any]:
        s3 = boto3.client("s3", region_name=self.region, endpoint_url=self.s3_endpoint_url)
        return self.glue_client(), s3

    def run_job(self, context: dg.AssetExecutionContext, arguments: Mapping[str, str]) -> Any:
        """One Glue job run through Pipes, to its end; a run that did not succeed fails the step with the
        job's state and error message (nothing was committed by it)."""
        if not self.pipes_bucket:
            raise dg.Failure(description="LAKE_SPARK_ENGINE=glue needs LAKE_PIPES_BUCKET (an S3 bucket)")
        # Loaded here: dagster_aws.pipes took 0.5 s of every definitions load; most processes never run Glue.
        from dagster_aws.pipes import PipesGlueClient, PipesS3ContextInjector, PipesS3MessageReader

        glue, s3 = self._clients()
        client = PipesGlueClient(
            context_injector=PipesS3ContextInjector(
                bucket=self.pipes_bucket, client=s3, key_prefix=self.pipes_prefix
            ),
            message_reader=PipesS3MessageReader(
                bucket=self.pipes_bucket, client=s3, interval=self.poll_seconds
            ),
            client=glue,
        )
        if (
            context.has_partition_key or context.has_partition_key_range
        ):  # the job's days (Pipes' context lacks a range of several)
            span = context.partition_key_range
            arguments = {**arguments, "--lake-partitions": f"{span.start}/{span.end}"}
        params = {
            "JobName": self.job_name,
            "Arguments": {**arguments, "--lake-settings": json.dumps(self.settings_env, sort_keys=True)},
        }
        try:
            return client.run(context=context, start_job_run_params=params)
        except RuntimeError as exc:  # the job run did not succeed: its state and error message
            raise dg.Failure(description=" ".join(str(exc).replace(" :\n", ": ").split())) from None
        except Exception as exc:  # noqa: BLE001 - a missing job, role or artifact: one line naming it
            raise dg.Failure(description=f"Glue job {self.job_name}: {' '.join(str(exc).split())}") from None

    def custom_message(self, invocation: Any, name: str) -> Any:
        """The value of the job's custom Pipes message ``{name: value}`` (None when it sent none)."""
        found = [m[name] for m in invocation.get_custom_messages() if isinstance(m, dict) and name in m]
        return found[0] if found else None

    def run_layer(
        self, context: dg.AssetExecutionContext, arguments: Mapping[str, str]
    ) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
        """Run one table's layer as a Glue job run; yield what it reported, or fail as the local engine
        would."""
        invocation = self.run_job(context, arguments)
        results = invocation.get_results()
        failed = self.custom_message(invocation, FAILED)
        if failed:
            yield from (r for r in results if isinstance(r, dg.AssetCheckResult))
            raise dg.Failure(description=str(failed))
        materialized = [r for r in results if isinstance(r, dg.MaterializeResult)]
        checks = [r for r in results if isinstance(r, dg.AssetCheckResult)]
        if not materialized:
            raise dg.Failure(description=f"Glue job {self.job_name} reported no materialization")
        yield dg.MaterializeResult(
            asset_key=materialized[0].asset_key,
            metadata={**(materialized[0].metadata or {}), "engine": "glue"},
            check_results=checks,
        )
