"""Orchestration: Dagster's webserver, daemon and code server on ECS Fargate, its storage on RDS PostgreSQL.

One image (ECR repository ``image_repository`` of the ``LakeImages`` stack, deployed first; tag
``image_tag``: the lake_assets version by default; built from ``deploy/Dockerfile``) runs all three services
and every run. The instance is ``deploy/dagster.production.yaml`` copied to
``$DAGSTER_HOME/dagster.yaml`` in the image: PostgreSQL storage from ``DAGSTER_PG_*`` (the password from
Secrets Manager through the task definition's ``secrets``, never in plain text), runs launched as ECS tasks
copied from the daemon's task (so the daemon's task carries the lake's settings and a run's permissions),
compute logs in the lake bucket. The code server is found at ``code.<namespace>`` (Cloud Map); the webserver
sits behind an internal HTTPS load balancer when a certificate is configured (Dagster's UI has no login:
never expose it to the internet).
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from lake_infra.common import LakeStack, lint_ignore, read_prefix_statements, skip_checks
from lake_infra.storage import COMPUTE_LOGS_PREFIX

DAGSTER_HOME = (
    "/opt/dagster/home"  # the image's: dagster.yaml (deploy/dagster.production.yaml) and workspace.yaml
)
WORKSPACE = f"{DAGSTER_HOME}/workspace.yaml"  # a grpc_server entry reading DAGSTER_CODE_SERVER_HOST/_PORT
CODE_SERVER_PORT = 4000
WEBSERVER_PORT = 3000
PG_PORT = 5432
PG_DATABASE = "dagster"
PG_USER = "dagster"
NAMESPACE = "lake.internal"


class OrchestrationStack(LakeStack):
    concern = "orchestration (Dagster on ECS Fargate, RDS PostgreSQL)"

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        log_bucket: s3.IBucket,
        glue_jobs: list[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # with the storage stack's key and bucket
        key, bucket = self.key, self.bucket
        log_bucket = s3.Bucket.from_bucket_name(self, "AccessLogsRef", log_bucket.bucket_name)
        d = self.deployment
        lake = self.lake

        # -- image and cluster -------------------------------------------------------------------------------
        # The images stack's repository, by name (deployed before this stack, the image pushed in between).
        self.repository = ecr.Repository.from_repository_name(self, "RepositoryRef", d.image_repository)
        image = ecs.ContainerImage.from_ecr_repository(self.repository, d.tag)
        image_uri = self.repository.repository_uri_for_tag(d.tag)
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
            default_cloud_map_namespace=ecs.CloudMapNamespaceOptions(
                name=NAMESPACE, type=servicediscovery.NamespaceType.DNS_PRIVATE, vpc=vpc
            ),
        )

        # -- security groups -------------------------------------------------------------------------------
        def group(name: str, description: str) -> ec2.SecurityGroup:
            return ec2.SecurityGroup(self, name, vpc=vpc, description=description, allow_all_outbound=True)

        web_sg = group("WebserverSg", "Dagster webserver")
        daemon_sg = group("DaemonSg", "Dagster daemon and the run tasks it launches")
        code_sg = group("CodeServerSg", "Dagster code server")
        db_sg = group("DatabaseSg", "Dagster storage - PostgreSQL")
        for client in (web_sg, daemon_sg):
            code_sg.add_ingress_rule(client, ec2.Port.tcp(CODE_SERVER_PORT), "gRPC to the code server")
        for client in (web_sg, daemon_sg, code_sg):
            db_sg.add_ingress_rule(client, ec2.Port.tcp(PG_PORT), "Dagster storage")

        # -- PostgreSQL ------------------------------------------------------------------------------------
        self.database = rds.DatabaseInstance(
            self,
            "Database",
            engine=rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17_6),
            instance_type=ec2.InstanceType(d.db_instance_type),
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            security_groups=[db_sg],
            database_name=PG_DATABASE,
            credentials=rds.Credentials.from_generated_secret(
                PG_USER, secret_name="lake/dagster/postgres", encryption_key=key
            ),
            storage_encrypted=True,
            storage_encryption_key=key,
            allocated_storage=d.db_allocated_storage_gb,
            max_allocated_storage=max(100, d.db_allocated_storage_gb * 5),
            storage_type=rds.StorageType.GP3,
            multi_az=d.db_multi_az,
            backup_retention=cdk.Duration.days(d.db_backup_days),
            deletion_protection=d.deletion_protection,
            removal_policy=cdk.RemovalPolicy.SNAPSHOT,
            iam_authentication=True,
            auto_minor_version_upgrade=True,
            copy_tags_to_snapshot=True,
            monitoring_interval=cdk.Duration.seconds(60),
            enable_performance_insights=True,
            performance_insight_encryption_key=key,
            cloudwatch_logs_exports=["postgresql", "upgrade"],
            parameters={"rds.force_ssl": "1", "log_min_duration_statement": "1000"},
        )
        secret = self.database.secret
        assert secret is not None
        if not d.db_multi_az:
            skip_checks(
                self.database,
                (
                    "CKV_AWS_157",
                    "Single-AZ by default to halve the cost of a small lake: Dagster's storage is restored "
                    "from daily backups and runs are idempotent; set db_multi_az for production SLAs.",
                ),
            )

        # -- environment shared by every Dagster process ---------------------------------------------------
        environment = {
            **self.config.settings_env,
            "AWS_REGION": self.region,
            "DAGSTER_HOME": DAGSTER_HOME,
            "DAGSTER_PG_HOST": self.database.db_instance_endpoint_address,
            "DAGSTER_PG_PORT": str(PG_PORT),
            "DAGSTER_PG_USER": PG_USER,
            "DAGSTER_PG_DB": PG_DATABASE,
            "DAGSTER_COMPUTE_LOG_BUCKET": lake.bucket_name,
            "DAGSTER_CODE_SERVER_HOST": f"code.{NAMESPACE}",
            "DAGSTER_CODE_SERVER_PORT": str(CODE_SERVER_PORT),
            "DAGSTER_CURRENT_IMAGE": image_uri,
        }
        secrets = {"DAGSTER_PG_PASSWORD": ecs.Secret.from_secrets_manager(secret, "password")}

        # -- roles -----------------------------------------------------------------------------------------
        execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="ECS: pull the image, write logs, read the Dagster secrets",
        )
        # The database secret is encrypted with the lake key: ECS reads it at task start.
        execution_role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{self.region}.amazonaws.com"}
                },
            )
        )
        # The code server (sensors) and every run (launched with the daemon's task role): the lake.
        lake_role = iam.Role(
            self,
            "LakeRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Dagster code server, daemon and runs: the lake's data, catalog and Glue jobs",
        )
        for statement in read_prefix_statements(bucket.bucket_arn, lake.root, ["*"], write=True):
            lake_role.add_to_policy(statement)
        pipes_prefix = lake.settings.glue.pipes_folder.rstrip("/")
        for statement in read_prefix_statements(
            bucket.bucket_arn, "", [pipes_prefix + "/*", COMPUTE_LOGS_PREFIX + "*"], write=True
        ):
            lake_role.add_to_policy(statement)
        lake_role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[key.key_arn],
            )
        )
        catalog = f"arn:{self.partition}:glue:{self.region}:{self.account}"
        lake_role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "glue:GetDatabase",
                    "glue:GetDatabases",
                    "glue:CreateDatabase",
                    "glue:GetTable",
                    "glue:GetTables",
                    "glue:CreateTable",
                    "glue:UpdateTable",
                    "glue:DeleteTable",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                    "glue:BatchGetPartition",
                    "glue:BatchCreatePartition",
                    "glue:BatchDeletePartition",
                ],
                resources=[f"{catalog}:catalog"]
                + [f"{catalog}:database/{db}" for db in lake.databases]
                + [f"{catalog}:table/{db}/*" for db in lake.databases],
            )
        )
        lake_role.add_to_policy(
            iam.PolicyStatement(
                actions=["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"],
                resources=[f"{catalog}:job/{name}" for name in glue_jobs],
            )
        )
        lake_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:GetLogEvents", "logs:FilterLogEvents", "logs:DescribeLogStreams"],
                resources=[f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:/aws-glue/*"],
            )
        )
        lake_role.add_to_policy(iam.PolicyStatement(actions=["lakeformation:GetDataAccess"], resources=["*"]))
        web_role = iam.Role(
            self,
            "WebserverRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="Dagster webserver: reads the runs' compute logs",
        )
        # Compute logs (deploy/README.md: every task role reads and writes them) and terminating runs.
        for statement in read_prefix_statements(
            bucket.bucket_arn, "", [COMPUTE_LOGS_PREFIX + "*"], write=True
        ):
            web_role.add_to_policy(statement)
        web_role.add_to_policy(
            iam.PolicyStatement(actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=[key.key_arn])
        )
        web_role.add_to_policy(
            iam.PolicyStatement(
                actions=["ecs:DescribeTasks", "ecs:StopTask"],
                resources=["*"],
                conditions={"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}},
            )
        )
        log_groups = {
            name: self.log_group(f"{name}Logs", key) for name in ("CodeServer", "Daemon", "Webserver")
        }

        # The daemon launches every run as an ECS task copied from its own (dagster-aws EcsRunLauncher).
        launcher = iam.Policy(
            self,
            "RunLauncher",
            statements=[
                iam.PolicyStatement(
                    actions=["ecs:RunTask", "ecs:StopTask", "ecs:DescribeTasks", "ecs:TagResource"],
                    resources=["*"],
                    conditions={"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}},
                ),
                iam.PolicyStatement(
                    actions=[
                        "ecs:RegisterTaskDefinition",
                        "ecs:DescribeTaskDefinition",
                        "ec2:DescribeNetworkInterfaces",
                    ],
                    resources=["*"],  # these calls take no resource-level permissions
                ),
                iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[lake_role.role_arn, execution_role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
                ),
                iam.PolicyStatement(  # a failed run's last lines (runs log to the daemon's group)
                    actions=["logs:GetLogEvents"],
                    resources=[log_groups["Daemon"].log_group_arn + "*"],
                ),
            ],
        )
        skip_checks(
            launcher,
            (
                "CKV_AWS_111",
                "ecs:RegisterTaskDefinition and DescribeTaskDefinition accept no resource ARN; RunTask and "
                "StopTask are limited to the lake's cluster by condition.",
            ),
        )

        # -- services --------------------------------------------------------------------------------------
        def service(
            name: str,
            command: list[str],
            role: iam.IRole,
            sg: ec2.SecurityGroup,
            cpu: int,
            memory: int,
            port: int | None = None,
            cloud_map: str | None = None,
        ) -> ecs.FargateService:
            task = ecs.FargateTaskDefinition(
                self,
                f"{name}Task",
                cpu=cpu,
                memory_limit_mib=memory,
                task_role=role,
                execution_role=execution_role,
                runtime_platform=ecs.RuntimePlatform(
                    cpu_architecture=ecs.CpuArchitecture.X86_64,
                    operating_system_family=ecs.OperatingSystemFamily.LINUX,
                ),
            )
            task.add_container(
                name.lower(),
                image=image,
                command=command,
                environment=environment,
                secrets=secrets,
                logging=ecs.LogDrivers.aws_logs(stream_prefix=name.lower(), log_group=log_groups[name]),
                port_mappings=[ecs.PortMapping(container_port=port)] if port else None,
            )
            return ecs.FargateService(
                self,
                name,
                cluster=self.cluster,
                task_definition=task,
                desired_count=1,
                security_groups=[sg],
                vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
                assign_public_ip=False,
                circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
                cloud_map_options=ecs.CloudMapOptions(name=cloud_map) if cloud_map else None,
                min_healthy_percent=0 if name == "Daemon" else 100,  # one daemon at a time
                max_healthy_percent=100 if name == "Daemon" else 200,
            )

        self.code_server = service(
            "CodeServer",
            [
                "dagster",
                "code-server",
                "start",
                "-h",
                "0.0.0.0",
                "-p",
                str(CODE_SERVER_PORT),
                "-m",
                "lake_assets.definitions",
            ],
            lake_role,
            code_sg,
            1024,
            4096,
            port=CODE_SERVER_PORT,
            cloud_map="code",
        )
        self.daemon = service(
            "Daemon", ["dagster-daemon", "run", "-w", WORKSPACE], lake_role, daemon_sg, 512, 2048
        )
        launcher.attach_to_role(lake_role)
        self.webserver = service(
            "Webserver",
            ["dagster-webserver", "-h", "0.0.0.0", "-p", str(WEBSERVER_PORT), "-w", WORKSPACE],
            web_role,
            web_sg,
            512,
            2048,
            port=WEBSERVER_PORT,
        )

        if d.certificate_arn:
            self._load_balancer(vpc, web_sg, log_bucket, d.certificate_arn)
        cdk.CfnOutput(self, "DatabaseSecret", value=secret.secret_arn)
        cdk.CfnOutput(self, "ClusterName", value=self.cluster.cluster_name)

    def _load_balancer(
        self, vpc: ec2.IVpc, web_sg: ec2.SecurityGroup, log_bucket: s3.IBucket, certificate_arn: str
    ) -> None:
        alb_sg = ec2.SecurityGroup(self, "LoadBalancerSg", vpc=vpc, description="Dagster UI load balancer")
        alb_sg.add_ingress_rule(
            ec2.Peer.ipv4(self.deployment.web_allowed_cidr),
            ec2.Port.tcp(443),
            "HTTPS from the private network",
        )
        alb = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=False,
            security_group=alb_sg,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS),
            drop_invalid_header_fields=True,
        )
        alb.log_access_logs(log_bucket, "alb")  # allowed by the storage stack
        listener = alb.add_listener(
            "Https",
            port=443,
            certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            open=False,
        )
        listener.add_targets(
            "Webserver",
            port=WEBSERVER_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.webserver],
            health_check=elbv2.HealthCheck(path="/server_info"),
        )
        web_sg.add_ingress_rule(alb_sg, ec2.Port.tcp(WEBSERVER_PORT), "from the load balancer")
        lint_ignore(
            self.webserver,
            (
                "W3005",
                "CDK makes the service wait for its listener; the target-group half of that is implied.",
            ),
        )
        cdk.CfnOutput(self, "DagsterUrl", value=f"https://{alb.load_balancer_dns_name}/")
