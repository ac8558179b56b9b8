"""The storage stack: the bucket LAKE_ROOT names, KMS, versioning, no public access, TLS only, lifecycle."""

from __future__ import annotations

from aws_cdk.assertions import Match

from lake_assets.storage.zones import Zone, zone_prefix
from lake_assets_tests.infra.conftest import BUCKET, Synth


def lake_bucket(synth: Synth) -> dict:
    (bucket,) = [
        b
        for b in synth.resources("LakeStorage", "AWS::S3::Bucket").values()
        if b["Properties"].get("BucketName") == BUCKET
    ]
    return bucket["Properties"]


def test_the_bucket_is_the_one_lake_root_names_encrypted_with_the_lake_key(synth: Synth) -> None:
    template = synth.template("LakeStorage")
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": BUCKET,
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": Match.object_like({"Fn::GetAtt": Match.array_with(["Arn"])}),
                        },
                    }
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": f"s3/{BUCKET}/"}),
        },
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource(
        "AWS::S3::Bucket",
        {"DeletionPolicy": "Retain", "Properties": Match.object_like({"BucketName": BUCKET})},
    )


def test_only_tls_1_2_or_later_reaches_the_bucket(synth: Synth) -> None:
    policies = synth.resources("LakeStorage", "AWS::S3::BucketPolicy")
    statements = [
        s
        for p in policies.values()
        if p["Properties"]["Bucket"]
        == {
            "Ref": next(
                k
                for k, v in synth.resources("LakeStorage", "AWS::S3::Bucket").items()
                if v["Properties"].get("BucketName") == BUCKET
            )
        }
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert {"Bool": {"aws:SecureTransport": "false"}} in [s["Condition"] for s in denies]
    assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in [s["Condition"] for s in denies]
    assert all(s["Principal"] == {"AWS": "*"} and s["Action"] == "s3:*" for s in denies)


def test_lifecycle_rules_follow_the_zones_under_the_lake_root(synth: Synth) -> None:
    rules = {r["Id"]: r for r in lake_bucket(synth)["LifecycleConfiguration"]["Rules"]}
    landing, quarantine = rules["landing-to-colder-storage"], rules["quarantine-expiry"]
    assert landing["Prefix"] == "lake/" + zone_prefix(Zone.LANDING)
    assert "ExpirationInDays" not in landing  # raw is rebuilt from landing: it is never deleted
    assert [t["StorageClass"] for t in landing["Transitions"]] == ["STANDARD_IA", "GLACIER_IR"]
    assert quarantine["Prefix"] == "lake/" + zone_prefix(Zone.QUARANTINE)
    assert quarantine["ExpirationInDays"] > quarantine["Transitions"][0]["TransitionInDays"]
    everything = rules["old-versions-and-uploads"]
    assert "Prefix" not in everything
    assert everything["NoncurrentVersionExpiration"]["NoncurrentDays"] > 0
    assert everything["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] > 0
    # deploy/dagster.production.yaml's compute logs and the Pipes exchange expire (bucket-relative keys)
    assert rules["compute-logs-expiry"]["Prefix"] == "_system/dagster/compute-logs/"
    assert rules["pipes-expiry"]["Prefix"] == "_system/pipes/"
    assert all(r["Status"] == "Enabled" for r in rules.values())


def test_the_access_log_bucket_takes_the_logs_of_the_other_stacks(synth: Synth) -> None:
    template = synth.template("LakeStorage")
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "logging.s3.amazonaws.com"},
                                "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
                            }
                        )
                    ]
                )
            }
        },
    )
