"""The events intake stack: queues and redrive, the packaged Lambda, Firehose's key layout."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk.assertions import Match

from lake_assets.deploy.lambda_package import ARCHITECTURE, HANDLER, RUNTIME
from lake_assets.settings import load_lambda_settings
from lake_assets.sources.events.intake import QUARANTINE_PREFIX
from lake_assets.sources.events.landing_index import EVENTS_LANDING_PREFIX, arrival_day, arrival_time
from lake_assets_tests.infra.conftest import INFRA, Synth, app_context

STACK = "LakeIntake"


def firehose(synth: Synth) -> dict:
    (stream,) = synth.resources(STACK, "AWS::KinesisFirehose::DeliveryStream").values()
    return stream["Properties"]


def expand(prefix: str, when: dt.datetime, error_type: str = "processing-failed") -> str:
    """Firehose's expansion of the namespaces the stack uses (UTC timestamps)."""
    out = re.sub(
        r"!\{timestamp:([^}]*)\}",
        lambda m: when.strftime(
            m.group(1).replace("yyyy", "%Y").replace("MM", "%m").replace("dd", "%d").replace("HH", "%H")
        ),
        prefix,
    )
    return out.replace("!{firehose:error-output-type}", error_type)


def test_the_intake_queue_redrives_to_the_dead_letter_queue(synth: Synth) -> None:
    queues = synth.resources(STACK, "AWS::SQS::Queue")
    (intake,) = [q for q in queues.values() if "RedrivePolicy" in q["Properties"]]
    (dlq_id,) = [k for k, q in queues.items() if "RedrivePolicy" not in q["Properties"]]
    props = intake["Properties"]
    assert props["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": 5,
    }
    (function,) = synth.resources(STACK, "AWS::Lambda::Function").values()
    assert props["VisibilityTimeout"] >= 6 * function["Properties"]["Timeout"]  # AWS's advice for SQS sources
    assert props["MaximumMessageSize"] == 256 * 1024  # the validator's LAKE_MAX_EVENT_BYTES
    assert all(q["Properties"]["SqsManagedSseEnabled"] for q in queues.values())
    policies = synth.resources(STACK, "AWS::SQS::QueuePolicy")
    assert len(policies) == 2 and all(
        s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and s["Effect"] == "Deny"
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    )


def test_the_lambda_is_the_packaged_handler_with_partial_batch_responses(synth: Synth) -> None:
    template = synth.template(STACK)
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": HANDLER,
            "Runtime": RUNTIME,
            "Architectures": [ARCHITECTURE],
            "TracingConfig": {"Mode": "Active"},
            "Environment": {
                "Variables": {
                    "LAKE_FIREHOSE_STREAM": "shop",
                    "LAKE_DLQ_URL": {"Ref": Match.string_like_regexp("DeadLetterQueue")},
                    "LAKE_SCHEMA_SOURCE": "bundled",
                    "LAKE_MAX_EVENT_BYTES": "262144",
                }
            },
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BatchSize": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "EventSourceArn": {"Fn::GetAtt": [Match.string_like_regexp("IntakeQueue"), "Arn"]},
            "ScalingConfig": {"MaximumConcurrency": 10},
        },
    )


def test_the_lambda_environment_is_one_its_settings_reader_accepts(synth: Synth) -> None:
    (function,) = synth.resources(STACK, "AWS::Lambda::Function").values()
    variables = dict(function["Properties"]["Environment"]["Variables"])
    variables["LAKE_DLQ_URL"] = "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq"  # the queue's Ref
    settings = load_lambda_settings({**variables, "AWS_REGION": "eu-west-1"})
    assert settings.firehose_stream == firehose(synth)["DeliveryStreamName"]
    assert settings.max_event_bytes == 256 * 1024


def test_the_lambda_may_put_to_its_stream_and_dead_letter_queue_only(synth: Synth) -> None:
    policies = synth.resources(STACK, "AWS::IAM::Policy")
    (policy,) = [p for k, p in policies.items() if k.startswith("IntakeFunctionServiceRoleDefaultPolicy")]
    by_action = {}
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            by_action[action] = statement["Resource"]
    assert by_action["firehose:PutRecordBatch"] == {"Fn::GetAtt": ["Firehose", "Arn"]}
    assert by_action["sqs:SendMessage"]["Fn::GetAtt"][0].startswith("DeadLetterQueue")
    assert by_action["sqs:DeleteMessage"] == {
        "Fn::GetAtt": [by_action["sqs:DeleteMessage"]["Fn::GetAtt"][0], "Arn"]
    }
    assert by_action["sqs:DeleteMessage"]["Fn::GetAtt"][0].startswith("IntakeQueue")
    # only X-Ray's calls take no resource
    assert {a for a, r in by_action.items() if r == "*"} == {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }


def test_firehose_delivers_into_the_hour_folders_the_sensor_reads(synth: Synth) -> None:
    props = firehose(synth)
    assert props["DeliveryStreamName"] == "shop"
    s3 = props["ExtendedS3DestinationConfiguration"]
    assert s3["BucketARN"] == "arn:aws:s3:::lake-test-bucket"
    assert s3["CompressionFormat"] == "UNCOMPRESSED"  # raw reads newline-delimited JSON as sent
    assert s3["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 5}  # the lake's batch limits
    when = dt.datetime(2026, 11, 24, 13, 5, tzinfo=dt.UTC)
    key = expand(s3["Prefix"], when) + "shop-1-2026-11-24-13-05-00-0a1b2c3d"
    assert key.startswith("lake/")
    relative = key.removeprefix("lake/")
    assert relative.startswith(EVENTS_LANDING_PREFIX)
    assert arrival_day(relative) == "2026-11-24" and arrival_time(relative) == when.replace(minute=0)


def test_firehose_errors_go_to_quarantine_outside_the_sensor_and_the_quarantine_records(synth: Synth) -> None:
    s3 = firehose(synth)["ExtendedS3DestinationConfiguration"]
    key = expand(s3["ErrorOutputPrefix"], dt.datetime(2026, 11, 24, 13, tzinfo=dt.UTC)) + "shop-1-x"
    relative = key.removeprefix("lake/")
    assert relative == "quarantine/firehose/events/processing-failed/2026/11/24/13/shop-1-x"
    assert not relative.startswith(EVENTS_LANDING_PREFIX)  # the sensor never reads it
    assert not relative.startswith(QUARANTINE_PREFIX)  # lake query counts quarantine records there
    policies = synth.resources(STACK, "AWS::IAM::Policy")
    (role_policy,) = [p for k, p in policies.items() if k.startswith("FirehoseRoleDefaultPolicy")]
    put = next(
        s for s in role_policy["Properties"]["PolicyDocument"]["Statement"] if "s3:PutObject" in s["Action"]
    )
    assert put["Resource"] == [
        "arn:aws:s3:::lake-test-bucket/lake/landing/events/*",
        "arn:aws:s3:::lake-test-bucket/lake/quarantine/firehose/events/*",
    ]


def test_a_missing_lambda_artifact_fails_synth_with_one_line_naming_it(infra_inputs, tmp_path: Path) -> None:
    from lake_infra.app import build_app
    from lake_infra.intake import ArtifactMissing

    missing = tmp_path / "nowhere" / "intake-lambda.zip"
    context = app_context(missing, infra_inputs[1])
    with pytest.raises(ArtifactMissing) as failure:
        build_app(context, outdir=str(tmp_path / "out"), only=["LakeIntake"])
    message = str(failure.value)
    assert "\n" not in message and str(missing) in message and "lake package lambda" in message


def test_the_app_command_prints_the_one_line_and_exits_1(tmp_path: Path) -> None:
    """``python infra/app.py`` with a zip that is not there: that line on stderr, exit 1, no traceback."""
    from lake_infra.app import default_context

    context = default_context()
    context["lake:deployment"] = {**context["lake:deployment"], "lambda_zip": str(tmp_path / "missing.zip")}
    result = subprocess.run(
        [sys.executable, str(INFRA / "app.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "CDK_CONTEXT_JSON": json.dumps(context),  # how the CDK CLI passes cdk.json and -c values
            "CDK_OUTDIR": str(tmp_path / "out"),
        },
    )
    assert result.returncode == 1, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip() and "!!" not in line]
    assert len(lines) == 1 and lines[0].startswith("synth failed: events intake: the Lambda artifact"), lines
    assert str(tmp_path / "missing.zip") in lines[0]
