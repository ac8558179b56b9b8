"""Governance: the Glue databases (one per zone the catalog holds) and Lake Formation's settings.

The databases are the lake's (``raw``, ``intermediate``, ``final``), each located at its zone under the lake
root, with no ``IAM_ALLOWED_PRINCIPALS`` default grant: Lake Formation, not IAM alone, decides who reads a
table. The lake root is registered with Lake Formation through a role of its own, so Athena and Glue read
the files with credentials Lake Formation vends. The administrators are CloudFormation's execution role (it
makes the Glue jobs' and Dagster's grants in their stacks) and the deployment's ``lake_formation_admins``.

The access policy's grants (``lake_assets/access/policy.yaml``) are not CloudFormation resources: they are
made by ``lake access apply`` (``access/lakeformation.py``), which grants what the policy says and revokes
the rest. Three reasons: most of them name tables and data cells filters on tables that the pipeline creates
after these stacks are deployed (a grant on a missing table fails the stack); CloudFormation would never
revoke a grant made by hand, while ``apply`` does; and two owners of one grant undo each other (deleting a
stack would revoke grants ``apply`` relies on). Synth still reads the policy with the same ``desired_state``
``apply`` uses, so a policy ``apply`` would refuse (a principal without an ARN, two grants on one table, a
database the lake does not have) fails synth naming the line, and the number of grants is an output.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lakeformation as lakeformation
from constructs import Construct

from lake_assets.access.lakeformation import desired_state
from lake_infra.common import LakeStack, after_policy

DESCRIPTIONS = {
    "raw": "raw Avro files, as landed, one table per source table (lake_assets/tables/raw_catalog.py)",
    "intermediate": "typed, deduplicated Iceberg tables; CDC current state and history",
    "final": "business tables, reports and feature sets (Iceberg)",
}


class GovernanceStack(LakeStack):
    concern = "governance (Glue catalog, Lake Formation)"

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        """``kwargs``: ``LakeStack``'s, with the storage stack's ``key`` and ``bucket``."""
        super().__init__(scope, construct_id, **kwargs)
        key, bucket = self.key, self.bucket
        d = self.deployment
        lake = self.lake

        desired = desired_state(lake.policy, lake.databases)  # PolicyError naming file and line
        for arn in sorted(desired.principals):
            account = arn.split(":")[4]
            if account != d.account:
                cdk.Annotations.of(self).add_warning_v2(
                    "lake:policy-account",
                    f"{lake.policy.path}: principal {desired.principals[arn]} ({arn}) is in account "
                    f"{account}, "
                    f"not {d.account}: `lake access apply` will grant to it there",
                )

        self.databases: dict[str, glue.CfnDatabase] = {}
        for name in lake.databases:
            database = glue.CfnDatabase(
                self,
                f"Database-{name}",
                catalog_id=self.account,
                database_input=glue.CfnDatabase.DatabaseInputProperty(
                    name=lake.database(name, self.where),
                    description=DESCRIPTIONS.get(name, name),
                    location_uri=f"s3://{lake.bucket_name}/{lake.database_location(name, self.where)}",
                    create_table_default_permissions=[],  # no IAM_ALLOWED_PRINCIPALS: Lake Formation decides
                ),
            )
            self.databases[name] = database

        cfn_execution_role = (
            f"arn:{self.partition}:iam::{self.account}:role/"
            f"cdk-{d.cfn_execution_role_qualifier}-cfn-exec-role-{self.account}-{self.region}"
        )
        admins = [cfn_execution_role, *d.lake_formation_admins]
        self.settings = lakeformation.CfnDataLakeSettings(
            self,
            "DataLakeSettings",
            admins=[
                lakeformation.CfnDataLakeSettings.DataLakePrincipalProperty(data_lake_principal_identifier=a)
                for a in admins
            ],
            create_database_default_permissions=[],
            create_table_default_permissions=[],
            mutation_type="APPEND",  # keep administrators someone else added (the account is shared)
        )
        for database in self.databases.values():
            database.node.add_dependency(self.settings)

        # Lake Formation reads and writes the lake's files with this role when it vends credentials.
        self.location_role = iam.Role(
            self,
            "LocationRole",
            assumed_by=iam.ServicePrincipal("lakeformation.amazonaws.com"),
            description="Lake Formation's access to the lake root",
        )
        root = lake.root
        self.location_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[bucket.arn_for_objects(root + "*")],
            )
        )
        self.location_role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [root + "*"]}} if root else None,
            )
        )
        self.location_role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources=[key.key_arn]
            )
        )
        location = lakeformation.CfnResource(
            self,
            "LakeLocation",
            resource_arn=bucket.bucket_arn + (f"/{root.rstrip('/')}" if root else ""),
            use_service_linked_role=False,
            role_arn=self.location_role.role_arn,
            hybrid_access_enabled=False,
        )
        after_policy(location, self.location_role)

        cdk.CfnOutput(
            self,
            "PolicyGrants",
            value=str(len(desired.grants)),
            description=(
                f"grants of {lake.policy.path.name}: make them with `lake access apply` once the tables exist"
            ),
        )
        cdk.CfnOutput(
            self, "PolicyFilters", value=str(len(desired.filters)), description="data cells filters"
        )
