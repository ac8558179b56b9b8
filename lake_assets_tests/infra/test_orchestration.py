"""The orchestration stack: Dagster's services on Fargate, PostgreSQL on RDS, secrets from Secrets Manager."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from lake_assets_tests.infra.conftest import CERTIFICATE, Synth

STACK = "LakeOrchestration"


def containers(synth: Synth) -> dict[str, dict]:
    out = {}
    for task in synth.resources(STACK, "AWS::ECS::TaskDefinition").values():
        (container,) = task["Properties"]["ContainerDefinitions"]
        out[container["Name"]] = {**container, "_task": task["Properties"]}
    return out


def test_webserver_daemon_and_code_server_run_on_fargate_from_one_image(synth: Synth) -> None:
    services = synth.resources(STACK, "AWS::ECS::Service")
    assert len(services) == 3
    for service in services.values():
        props = service["Properties"]
        assert props["LaunchType"] == "FARGATE"
        assert props["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
        assert props["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
            "Enable": True,
            "Rollback": True,
        }
    by_name = containers(synth)
    assert sorted(by_name) == ["codeserver", "daemon", "webserver"]
    assert by_name["codeserver"]["Command"][:3] == ["dagster", "code-server", "start"]
    assert by_name["codeserver"]["Command"][-2:] == ["-m", "lake_assets.definitions"]
    assert by_name["daemon"]["Command"][:2] == ["dagster-daemon", "run"]
    assert by_name["webserver"]["Command"][0] == "dagster-webserver"
    assert len({str(c["Image"]) for c in by_name.values()}) == 1
    assert all(c["_task"]["RequiresCompatibilities"] == ["FARGATE"] for c in by_name.values())
    # The repository is the images stack's (deployed first, the image pushed before this stack).
    assert synth.resources(STACK, "AWS::ECR::Repository") == {}
    assert "lake" in json.dumps(by_name["webserver"]["Image"])


def test_the_image_repository_is_a_stack_of_its_own_deployed_before_the_services(synth: Synth) -> None:
    template = synth.template("LakeImages")
    template.has_resource_properties(
        "AWS::ECR::Repository",
        {
            "RepositoryName": "lake",
            "ImageTagMutability": "IMMUTABLE",
            "ImageScanningConfiguration": {"ScanOnPush": True},
            "EncryptionConfiguration": {"EncryptionType": "KMS", "KmsKey": Match.any_value()},
        },
    )
    assert set(synth.templates["LakeImages"]["Outputs"]) == {"ImageRepository", "ImageTag"}
    manifest = json.loads((synth.outdir / "manifest.json").read_text())
    depends = manifest["artifacts"][STACK]["dependencies"]
    assert "LakeImages" in depends and "LakeProcessing" in depends


def test_every_process_gets_the_lakes_settings_and_the_password_only_as_a_secret(
    synth: Synth, settings_env
) -> None:
    for name, container in containers(synth).items():
        environment = {e["Name"]: e["Value"] for e in container["Environment"]}
        assert {k: environment.get(k) for k in settings_env} == settings_env, name
        assert environment["DAGSTER_PG_DB"] == "dagster" and environment["DAGSTER_PG_PORT"] == "5432"
        assert environment["DAGSTER_COMPUTE_LOG_BUCKET"] == "lake-test-bucket"
        assert not any("PASSWORD" in k for k in environment)
        (secret,) = container["Secrets"]
        assert secret["Name"] == "DAGSTER_PG_PASSWORD"
        assert secret["ValueFrom"]["Fn::Join"][1][1] == ":password::"  # a Secrets Manager JSON key


def test_ecs_may_read_the_password_and_nothing_else_of_secrets_manager(synth: Synth) -> None:
    (policy,) = [
        v for k, v in synth.resources(STACK, "AWS::IAM::Policy").items() if k.startswith("ExecutionRole")
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    secret = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
    assert len(secret) == 1 and secret[0]["Resource"]["Ref"].startswith("DatabaseSecretAttachment")
    decrypt = next(s for s in statements if s["Action"] == "kms:Decrypt")
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}
    }


def test_postgresql_is_private_encrypted_and_backed_up(synth: Synth) -> None:
    (db,) = synth.resources(STACK, "AWS::RDS::DBInstance").values()
    props = db["Properties"]
    assert props["Engine"] == "postgres"
    assert props["StorageEncrypted"] is True and "KmsKeyId" in props
    assert props["PubliclyAccessible"] is False
    assert props["BackupRetentionPeriod"] == 7 and props["DeletionProtection"] is True
    assert props["EnableIAMDatabaseAuthentication"] is True
    assert props["MasterUsername"] == "dagster"
    assert (
        props["MasterUserPassword"]["Fn::Join"][1][-1] == ":SecretString:password::}}"
    )  # resolved at deploy
    assert db["DeletionPolicy"] == "Snapshot"
    synth.template(STACK).has_resource_properties(
        "AWS::RDS::DBParameterGroup",
        {"Parameters": {"rds.force_ssl": "1", "log_min_duration_statement": "1000"}},
    )


def test_only_dagster_reaches_postgresql_and_the_code_server(synth: Synth) -> None:
    ingress = [v["Properties"] for v in synth.resources(STACK, "AWS::EC2::SecurityGroupIngress").values()]
    postgres = [i for i in ingress if i["FromPort"] == 5432]
    grpc = [i for i in ingress if i["FromPort"] == 4000]
    assert len(postgres) == 3 and len(grpc) == 2
    assert all("SourceSecurityGroupId" in i and "CidrIp" not in i for i in postgres + grpc)


def test_the_daemon_may_launch_runs_only_in_its_cluster_and_pass_only_its_roles(synth: Synth) -> None:
    (launcher,) = [
        v for k, v in synth.resources(STACK, "AWS::IAM::Policy").items() if k.startswith("RunLauncher")
    ]
    statements = launcher["Properties"]["PolicyDocument"]["Statement"]
    run = next(s for s in statements if "ecs:RunTask" in s["Action"])
    assert run["Condition"] == {
        "ArnEquals": {
            "ecs:cluster": {
                "Fn::GetAtt": [run["Condition"]["ArnEquals"]["ecs:cluster"]["Fn::GetAtt"][0], "Arn"]
            }
        }
    }
    passrole = next(s for s in statements if s["Action"] == "iam:PassRole")
    assert passrole["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    assert len(passrole["Resource"]) == 2


def test_the_ui_is_behind_an_internal_https_load_balancer(synth: Synth) -> None:
    template = synth.template(STACK)
    template.has_resource_properties("AWS::ElasticLoadBalancingV2::LoadBalancer", {"Scheme": "internal"})
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        {"Port": 443, "Protocol": "HTTPS", "Certificates": [{"CertificateArn": CERTIFICATE}]},
    )
