"""CDC: AWS DMS capturing each configured source database into ``landing/cdc/<source>/`` in the lake's layout.

One replication instance; per source (a ``cdc_sources`` entry of the deployment, which must be a source of
``tables.yaml``): a source endpoint whose credentials are in Secrets Manager, an S3 target endpoint and a
full-load-and-CDC task over exactly the source's tables in ``tables.yaml``.

The target settings are the lake's own (``dms_format.DmsOptions``, the parser's defaults): folder
``<root>landing/cdc/<source>`` so DMS writes ``.../<schema>/<table>/LOAD00000001.csv`` and change files named
by time in the same folder (no ``CdcPath``, no date partitions), ``Op`` on full loads too, the commit
timestamp column of the source's tables (``timestamp_column``), a header line, NULL as an empty field and the
``<unchanged>`` text for values the log did not carry, CSV or Parquet. The table mapping adds the change
sequence ``AR_H_CHANGE_SEQ`` as the last column, which orders changes and drops re-deliveries in the merge.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dms as dms
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from lake_assets.sources.cdc.dms_format import POSITION_COLUMN, DmsOptions
from lake_assets.sources.cdc.specs import CdcTableSpec
from lake_infra.common import LakeStack, after_policy
from lake_infra.config import CdcSource
from lake_infra.lake import UndefinedResource

CHANGE_SEQ_EXPRESSION = "$AR_H_CHANGE_SEQ"  # the DMS header column, a 35-digit string in commit order


def s3_settings(
    options: DmsOptions, bucket_name: str, folder: str, role_arn: str, key_arn: str
) -> dms.CfnEndpoint.S3SettingsProperty:
    """The S3 target settings that make DMS write what ``parse_dms_file`` reads with ``options``."""
    return dms.CfnEndpoint.S3SettingsProperty(
        bucket_name=bucket_name,
        bucket_folder=folder.rstrip("/"),
        service_access_role_arn=role_arn,
        data_format=options.data_format,
        compression_type="NONE",
        encryption_mode="SSE_KMS",
        server_side_encryption_kms_key_id=key_arn,
        include_op_for_full_load=options.include_op_for_full_load,
        timestamp_column_name=options.timestamp_column_name,
        add_column_name=options.add_column_name,
        csv_delimiter=",",
        csv_row_delimiter="\n",
        csv_null_value=options.csv_null_value,
        use_csv_no_sup_value=True,
        csv_no_sup_value=options.csv_nosup_value,
        rfc4180=True,
        date_partition_enabled=False,
        preserve_transactions=False,
        cdc_inserts_only=False,
        cdc_inserts_and_updates=False,
        use_task_start_time_for_full_load_timestamp=False,
        parquet_version="parquet-2-0" if options.data_format == "parquet" else None,
        enable_statistics=True if options.data_format == "parquet" else None,
    )


def table_mappings(tables: tuple[CdcTableSpec, ...], position_column: str) -> dict[str, Any]:
    """Selection of exactly the spec's tables, and the change sequence column added to each."""
    rules: list[dict[str, Any]] = []
    for i, spec in enumerate(tables):
        locator = {"schema-name": spec.schema, "table-name": spec.table}
        rules.append(
            {
                "rule-type": "selection",
                "rule-id": str(2 * i + 1),
                "rule-name": f"select-{spec.schema}-{spec.table}",
                "object-locator": locator,
                "rule-action": "include",
            }
        )
        rules.append(
            {
                "rule-type": "transformation",
                "rule-id": str(2 * i + 2),
                "rule-name": f"change-seq-{spec.schema}-{spec.table}",
                "rule-target": "column",
                "object-locator": locator,
                "rule-action": "add-column",
                "value": position_column,
                "expression": CHANGE_SEQ_EXPRESSION,
                "data-type": {"type": "string", "length": 50},
            }
        )
    return {"rules": rules}


TASK_SETTINGS = {
    "TargetMetadata": {"SupportLobs": True, "FullLobMode": False, "LobMaxSize": 64},
    "FullLoadSettings": {"TargetTablePrepMode": "DO_NOTHING"},
    "Logging": {"EnableLogging": True},
    "ChangeProcessingTuning": {"BatchApplyEnabled": False},
}


class CdcStack(LakeStack):
    concern = "CDC (AWS DMS)"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # with the storage stack's key and bucket
        key, bucket = self.key, self.bucket
        d = self.deployment
        lake = self.lake
        sources = dict(d.cdc_sources)
        for name in sources:
            lake.cdc_source(name, f"{self.where}, cdc_sources.{name}")  # UndefinedResource naming it
        unused = sorted(set(lake.cdc_sources) - set(sources))
        if unused:
            cdk.Annotations.of(self).add_info(
                "CDC sources of tables.yaml without a DMS endpoint here (captured by `lake cdc` instead?): "
                f"{unused}"
            )

        service_roles: list[iam.Role] = []
        if d.create_dms_service_roles:
            # DMS looks these two roles up by name, once per account (skip when the account has them).
            vpc_role = iam.Role(
                self,
                "DmsVpcRole",
                role_name="dms-vpc-role",
                assumed_by=iam.ServicePrincipal("dms.amazonaws.com"),
                managed_policies=[
                    iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonDMSVPCManagementRole")
                ],
            )
            logs_role = iam.Role(
                self,
                "DmsLogsRole",
                role_name="dms-cloudwatch-logs-role",
                assumed_by=iam.ServicePrincipal("dms.amazonaws.com"),
                managed_policies=[
                    iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AmazonDMSCloudWatchLogsRole")
                ],
            )
            service_roles = [vpc_role, logs_role]

        subnets = vpc.select_subnets(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        subnet_group = dms.CfnReplicationSubnetGroup(
            self,
            "SubnetGroup",
            replication_subnet_group_description="lake DMS: private subnets",
            subnet_ids=subnets.subnet_ids,
        )
        # DMS checks dms-vpc-role when the subnet group is created: created side by side, the check could
        # come first and fail the stack; so the group (and the instance after it) waits for both roles.
        for role in service_roles:
            subnet_group.node.add_dependency(role)
        self.security_group = ec2.SecurityGroup(
            self,
            "DmsSecurityGroup",
            vpc=vpc,
            description="lake DMS replication instance: egress to the sources",
        )
        self.instance = dms.CfnReplicationInstance(
            self,
            "ReplicationInstance",
            replication_instance_class=d.dms_instance_class,
            engine_version=d.dms_engine_version,
            allocated_storage=50,
            publicly_accessible=False,
            multi_az=False,
            auto_minor_version_upgrade=True,
            kms_key_id=key.key_arn,
            replication_subnet_group_identifier=subnet_group.ref,
            vpc_security_group_ids=[self.security_group.security_group_id],
        )
        self.endpoints: dict[str, tuple[dms.CfnEndpoint, dms.CfnEndpoint, dms.CfnReplicationTask]] = {}
        for name, source in sorted(sources.items()):
            self.endpoints[name] = self._source(name, source, bucket, key)

    def _source(
        self, name: str, source: CdcSource, bucket: s3.IBucket, key: kms.IKey
    ) -> tuple[dms.CfnEndpoint, dms.CfnEndpoint, dms.CfnReplicationTask]:
        lake = self.lake
        where = f"{self.where}, cdc_sources.{name}"
        tables = lake.cdc_source(name, where)
        columns = {t.timestamp_column for t in tables}
        if len(columns) != 1:
            raise UndefinedResource(
                f"{where}: one DMS endpoint has one TimestampColumnName, but the tables of {name} in "
                f"{lake.settings.cdc_tables} name {sorted(map(str, columns))}: give them the same "
                "timestamp_column"
            )
        options = DmsOptions(data_format=source.data_format, timestamp_column_name=columns.pop())  # type: ignore[arg-type]
        folder = lake.key("landing", "cdc", name, where=where)
        safe = "".join(c if c.isalnum() else "-" for c in name)

        # -- target: landing/cdc/<source>/ ---------------------------------------------------------------
        target_role = iam.Role(self, f"S3Target-{safe}", assumed_by=iam.ServicePrincipal("dms.amazonaws.com"))
        target_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging"],
                resources=[bucket.arn_for_objects(folder + "*")],
            )
        )
        target_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [folder + "*"]}},
            )
        )
        target_role.add_to_policy(
            iam.PolicyStatement(actions=["kms:GenerateDataKey", "kms:Decrypt"], resources=[key.key_arn])
        )
        target = dms.CfnEndpoint(
            self,
            f"Target-{safe}",
            endpoint_type="target",
            engine_name="s3",
            s3_settings=s3_settings(options, lake.bucket_name, folder, target_role.role_arn, key.key_arn),
        )
        after_policy(target, target_role)

        # -- source: the database, credentials in Secrets Manager ------------------------------------------
        if source.secret_arn:
            secret: secretsmanager.ISecret = secretsmanager.Secret.from_secret_complete_arn(
                self, f"Credentials-{safe}", source.secret_arn
            )
        else:
            created = secretsmanager.Secret(
                self,
                f"Credentials-{safe}",
                secret_name=f"lake/cdc/{name}",
                description=f"DMS capture user of {name}: set username and password before starting the task",
                encryption_key=key,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    secret_string_template=json.dumps({"username": "lake_cdc"}),
                    generate_string_key="password",
                ),
            )
            secret = created
        access_role = iam.Role(
            self,
            f"SecretAccess-{safe}",
            assumed_by=iam.ServicePrincipal(f"dms.{self.region}.amazonaws.com"),
        )
        secret.grant_read(access_role)
        engine = "postgres" if source.engine == "postgres" else "mariadb"
        endpoint_props: dict[str, Any] = {
            "endpoint_type": "source",
            "engine_name": engine,
            "server_name": source.server,
            "port": source.port,
            "ssl_mode": source.ssl_mode,
        }
        if source.engine == "postgres":
            endpoint_props["database_name"] = source.database  # MariaDB sources name no database
            endpoint_props["postgre_sql_settings"] = dms.CfnEndpoint.PostgreSqlSettingsProperty(
                secrets_manager_secret_id=secret.secret_arn,
                secrets_manager_access_role_arn=access_role.role_arn,
                slot_name=source.slot_name or f"lake_{name}",
                heartbeat_enable=True,
            )
        else:
            endpoint_props["my_sql_settings"] = dms.CfnEndpoint.MySqlSettingsProperty(
                secrets_manager_secret_id=secret.secret_arn,
                secrets_manager_access_role_arn=access_role.role_arn,
                server_timezone="UTC",
            )
        endpoint = dms.CfnEndpoint(self, f"Source-{safe}", **endpoint_props)
        after_policy(endpoint, access_role)

        task = dms.CfnReplicationTask(
            self,
            f"Task-{safe}",
            migration_type="full-load-and-cdc",
            replication_instance_arn=self.instance.ref,
            source_endpoint_arn=endpoint.ref,
            target_endpoint_arn=target.ref,
            table_mappings=json.dumps(table_mappings(tables, options.position_column or POSITION_COLUMN)),
            replication_task_settings=json.dumps(TASK_SETTINGS),
        )
        cdk.CfnOutput(self, f"TaskArn-{safe}", value=task.ref, description=f"DMS task of {name}")
        return endpoint, target, task
