"""Processing: the Glue 6.0 jobs that run the lake's Spark layers through Dagster Pipes, one role per job.

By default one job named ``LAKE_GLUE_JOB`` (the name ``resources/glue.py`` starts) runs every layer; a
deployment that wants tighter roles lists its jobs (``glue_jobs``: name -> layers) and gives each the same
name in its ``LAKE_GLUE_JOB``. A job's role may read and write exactly the key prefixes and catalog tables of
its layers (``lake.LAYERS``), read the job's artifacts (``lake package glue``), exchange Pipes messages, and
write its logs; Lake Formation grants it the same databases. Everything it writes is encrypted with the lake
key (a Glue security configuration for S3, logs and bookmarks).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lakeformation as lakeformation
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lake_assets.deploy.glue_package import SCRIPT, job_modules
from lake_infra.common import ArtifactMissing, LakeStack, after_policy, read_prefix_statements
from lake_infra.lake import LAYERS, Layer

GLUE_VERSION = "6.0"  # Spark 4.1.1, Python 3.13, Iceberg 1.11 (the local runtime matches it)
PACKAGE_ZIP = "lake_assets.zip"  # lake_assets/deploy/glue_package.py: the package for --extra-py-files
READ_TABLE = ["SELECT", "DESCRIBE"]
WRITE_TABLE = ["SELECT", "INSERT", "DELETE", "DESCRIBE", "ALTER", "DROP"]


@dataclass(frozen=True)
class GlueArtifacts:
    """``lake package glue``'s output, and the content-addressed folder ``--upload`` puts it in."""

    folder: Path
    sha256: str
    modules: tuple[str, ...]

    @property
    def upload_folder(self) -> str:
        return self.sha256[:16]  # glue_package.upload: <prefix>/<sha256[:16]>/


def glue_artifacts(folder: Path) -> GlueArtifacts:
    missing = [str(folder / name) for name in (SCRIPT, PACKAGE_ZIP) if not (folder / name).is_file()]
    if missing:
        raise ArtifactMissing(
            f"processing: the Glue job artifact(s) {', '.join(missing)} do not exist: build them with "
            f'`lake package glue --out {folder}` or pass -c lake:deployment=\'{{"glue_package": "FOLDER"}}\''
        )
    digest = hashlib.sha256((folder / PACKAGE_ZIP).read_bytes()).hexdigest()
    return GlueArtifacts(folder, digest, job_modules())


class ProcessingStack(LakeStack):
    concern = "processing (Glue jobs)"

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        """``kwargs``: ``LakeStack``'s, with the storage stack's ``key`` and ``bucket``."""
        super().__init__(scope, construct_id, **kwargs)
        key, bucket = self.key, self.bucket
        d = self.deployment
        lake = self.lake
        self.pipes_prefix = lake.settings.glue.pipes_folder
        jobs = dict(d.glue_jobs) or {lake.settings.glue.job_name: tuple(LAYERS)}
        self.artifacts = glue_artifacts(d.glue_folder())
        artifacts = lake.rooted(d.glue_artifacts_prefix)
        uploaded = f"s3://{lake.bucket_name}/{artifacts}{self.artifacts.upload_folder}"
        temp = lake.key("_system", "glue-tmp", where=self.where)

        self.security_configuration = glue.CfnSecurityConfiguration(
            self,
            "SecurityConfiguration",
            name="lake-glue",
            encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
                s3_encryptions=[
                    glue.CfnSecurityConfiguration.S3EncryptionProperty(
                        s3_encryption_mode="SSE-KMS", kms_key_arn=key.key_arn
                    )
                ],
                cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                    cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=key.key_arn
                ),
                job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                    job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=key.key_arn
                ),
            ),
        )

        self.jobs: dict[str, glue.CfnJob] = {}
        self.roles: dict[str, iam.Role] = {}
        for name, layer_names in sorted(jobs.items()):
            where = f"{self.where}, Glue job {name}"
            layers = lake.layers(layer_names, where)
            role = self._role(name, layers, bucket, key, artifacts, temp, where)
            job = glue.CfnJob(
                self,
                f"Job-{name}",
                name=name,
                description=f"lake layers {', '.join(layer_names)} (lake_assets/layers/glue_job.py, Pipes)",
                role=role.role_arn,
                glue_version=GLUE_VERSION,
                command=glue.CfnJob.JobCommandProperty(
                    name="glueetl",
                    python_version="3",
                    script_location=f"{uploaded}/{SCRIPT}",
                ),
                worker_type=d.glue_worker_type,
                number_of_workers=d.glue_workers,
                timeout=d.glue_timeout_minutes,
                max_retries=0,  # Dagster decides about retries (run_retries), not Glue
                execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=10),
                security_configuration=self.security_configuration.ref,
                default_arguments={
                    "--job-language": "python",
                    "--datalake-formats": "iceberg",
                    "--enable-glue-datacatalog": "true",
                    "--enable-metrics": "true",
                    "--enable-continuous-cloudwatch-log": "true",
                    "--TempDir": f"s3://{lake.bucket_name}/{temp}",
                    "--extra-py-files": f"{uploaded}/{PACKAGE_ZIP}",
                    "--additional-python-modules": ",".join(self.artifacts.modules),
                },
            )
            after_policy(job, role)
            self.jobs[name] = job
            self.roles[name] = role
            self._lake_formation(name, role, layers, where)
            cdk.CfnOutput(
                self, f"JobRole-{name}", value=role.role_arn, description=f"the role of Glue job {name}"
            )
        cdk.CfnOutput(
            self,
            "GlueUpload",
            value=f"lake package glue --out {d.glue_package} --upload s3://{lake.bucket_name}/{artifacts.rstrip('/')}",
            description=f"puts the artifacts the jobs run in {uploaded}/ (before the first job run)",
        )

    def _role(
        self,
        name: str,
        layers: tuple[Layer, ...],
        bucket: s3.IBucket,
        key: kms.IKey,
        artifacts: str,
        temp: str,
        where: str,
    ) -> iam.Role:
        lake = self.lake
        role = iam.Role(
            self,
            f"Role-{name}",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description=f"Glue job {name}: layers {', '.join(layer.name for layer in layers)}",
        )
        reads = sorted(
            {p for layer in layers for p in layer.reads} - {p for layer in layers for p in layer.writes}
        )
        writes = sorted({p for layer in layers for p in layer.writes})
        for statement in read_prefix_statements(bucket.bucket_arn, lake.root, reads, write=False):
            role.add_to_policy(statement)
        for statement in read_prefix_statements(bucket.bucket_arn, lake.root, writes, write=True):
            role.add_to_policy(statement)
        # The job's artifacts (read), its temporary folder and Pipes' context and messages (bucket-relative).
        for statement in read_prefix_statements(bucket.bucket_arn, "", [artifacts + "*"], write=False):
            role.add_to_policy(statement)
        for statement in read_prefix_statements(
            bucket.bucket_arn, "", [temp + "*", self.pipes_prefix + "*"], write=True
        ):
            role.add_to_policy(statement)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "kms:Decrypt",
                    "kms:Encrypt",
                    "kms:GenerateDataKey",
                    "kms:ReEncrypt*",
                    "kms:DescribeKey",
                ],
                resources=[key.key_arn],
            )
        )

        catalog = f"arn:{self.partition}:glue:{self.region}:{self.account}"
        read_tables = sorted({t for layer in layers for t in layer.read_tables})
        write_tables = sorted({t for layer in layers for t in layer.write_tables})
        databases = sorted({lake.table_pattern(t, where)[0] for t in read_tables + write_tables})
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["glue:GetDatabase", "glue:GetDatabases"],
                resources=[f"{catalog}:catalog", *(f"{catalog}:database/{db}" for db in databases)],
            )
        )
        read_actions = [
            "glue:GetTable",
            "glue:GetTables",
            "glue:GetPartition",
            "glue:GetPartitions",
            "glue:BatchGetPartition",
        ]
        write_actions = ["glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable"]
        for tables, actions in ((read_tables, read_actions), (write_tables, read_actions + write_actions)):
            if not tables:
                continue
            resources = [f"{catalog}:catalog"]
            for pattern in tables:
                database, table = lake.table_pattern(pattern, where)
                resources += [f"{catalog}:database/{database}", f"{catalog}:table/{database}/{table}"]
            role.add_to_policy(iam.PolicyStatement(actions=actions, resources=sorted(set(resources))))
        role.add_to_policy(iam.PolicyStatement(actions=["lakeformation:GetDataAccess"], resources=["*"]))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:AssociateKmsKey",
                ],
                resources=[f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:/aws-glue/*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": "Glue"}},
            )
        )
        return role

    def _lake_formation(self, name: str, role: iam.Role, layers: tuple[Layer, ...], where: str) -> None:
        """Lake Formation grants the job the databases of its layers (IAM narrows them to its tables)."""
        lake = self.lake
        written = {lake.table_pattern(t, where)[0] for layer in layers for t in layer.write_tables}
        read = {lake.table_pattern(t, where)[0] for layer in layers for t in layer.read_tables} - written
        P = lakeformation.CfnPrincipalPermissions  # the construct's long name, shortened here
        principal = P.DataLakePrincipalProperty(data_lake_principal_identifier=role.role_arn)

        def grant(construct_id: str, permissions: list[str], **resource: Any) -> None:
            P(
                self,
                construct_id,
                principal=principal,
                resource=P.ResourceProperty(**resource),
                permissions=permissions,
                permissions_with_grant_option=[],
            )

        for database in sorted(read | written):
            is_written = database in written
            grant(
                f"LfDatabase-{name}-{database}",
                ["DESCRIBE", "CREATE_TABLE"] if is_written else ["DESCRIBE"],
                database=P.DatabaseResourceProperty(catalog_id=self.account, name=database),
            )
            grant(
                f"LfTables-{name}-{database}",
                WRITE_TABLE if is_written else READ_TABLE,
                table=P.TableResourceProperty(
                    catalog_id=self.account, database_name=database, table_wildcard={}
                ),
            )
            if is_written:
                location = lake.database_location(database, where).rstrip("/")
                grant(
                    f"LfLocation-{name}-{database}",
                    ["DATA_LOCATION_ACCESS"],
                    data_location=P.DataLocationResourceProperty(
                        catalog_id=self.account,
                        resource_arn=f"{self.bucket_arn(lake.bucket_name)}/{location}",
                    ),
                )
