"""Typed settings: defaults, environments, and one clear message per bad value."""

from __future__ import annotations

import pytest

from lake_assets.settings import REPO_ROOT, SettingsError, load_settings


def test_defaults_are_the_embedded_local_lake() -> None:
    settings = load_settings({})
    assert settings.env == "local"
    assert settings.lake_root == str(REPO_ROOT / ".lake")
    assert settings.batch.max_events == 50_000 and settings.max_event_bytes == 256 * 1024
    assert settings.cdc_tables == str(REPO_ROOT / "lake_assets" / "sources" / "cdc" / "tables.yaml")
    assert load_settings({"LAKE_CDC_TABLES": "/etc/lake/cdc.yaml"}).cdc_tables == "/etc/lake/cdc.yaml"
    assert settings.spark.merge_workers == 4
    assert load_settings({"LAKE_SPARK_MERGE_WORKERS": "1"}).spark.merge_workers == 1


def test_s3_environment_reads_root_endpoint_and_credentials() -> None:
    settings = load_settings(
        {
            "LAKE_ENV": "s3",
            "LAKE_ROOT": "s3://bucket/lake",
            "LAKE_S3_ENDPOINT_URL": "http://127.0.0.1:8333",
            "AWS_ACCESS_KEY_ID": "id",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_REGION": "eu-west-1",
            "LAKE_BATCH_MAX_SECONDS": "2.5",
        }
    )
    assert (settings.env, settings.lake_root, settings.s3_endpoint_url) == (
        "s3",
        "s3://bucket/lake",
        "http://127.0.0.1:8333",
    )
    assert settings.aws_region == "eu-west-1" and settings.batch.max_seconds == 2.5
    assert "secret" not in repr(settings)  # credentials never reach logs


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LAKE_ENV": "cloud"}, "LAKE_ENV='cloud' is not one of local, s3, aws"),
        ({"LAKE_ROOT": "s3://bucket/x"}, "the local environment needs a folder path"),
        ({"LAKE_ENV": "s3", "LAKE_ROOT": "/tmp/lake"}, "needs a root like s3://bucket/prefix"),
        ({"LAKE_ENV": "s3", "LAKE_ROOT": "s3://b/p"}, "LAKE_ENV=s3 needs LAKE_S3_ENDPOINT_URL"),
        (
            {"LAKE_ENV": "s3", "LAKE_ROOT": "s3://b/p", "LAKE_S3_ENDPOINT_URL": "127.0.0.1:8333"},
            "must start with http:// or https://",
        ),
        ({"LAKE_BATCH_MAX_EVENTS": "many"}, "LAKE_BATCH_MAX_EVENTS='many' is not a whole number"),
        ({"LAKE_BATCH_MAX_EVENTS": "0"}, "LAKE_BATCH_MAX_EVENTS=0 must be at least 1"),
        ({"LAKE_BATCH_MAX_SECONDS": "-1"}, "LAKE_BATCH_MAX_SECONDS=-1.0 must be positive"),
        ({"LAKE_SPARK_SHUFFLE_PARTITIONS": "x"}, "LAKE_SPARK_SHUFFLE_PARTITIONS='x' is not a whole number"),
        ({"LAKE_SPARK_MERGE_WORKERS": "0"}, "LAKE_SPARK_MERGE_WORKERS=0 must be at least 1"),
    ],
)
def test_a_bad_value_names_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(environ)


# The intake Lambda's settings ------------------------------------------------------------------------------

LAMBDA_ENV = {
    "LAKE_FIREHOSE_STREAM": "lake-events",
    "LAKE_DLQ_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/lake-events-dlq",
}


def test_lambda_settings_defaults_need_only_the_stream_and_the_dead_letter_queue() -> None:
    from lake_assets.settings import IntakeLambdaSettings, load_lambda_settings

    assert load_lambda_settings(LAMBDA_ENV) == IntakeLambdaSettings(
        firehose_stream="lake-events",
        dlq_url=LAMBDA_ENV["LAKE_DLQ_URL"],
        valid_queue_url=None,
        endpoint_url=None,
        region="us-east-1",
        schema_source="bundled",
        glue_registry="lake-events",
        max_event_bytes=256 * 1024,
        firehose_max_attempts=4,
    )


def test_lambda_settings_read_every_variable() -> None:
    from lake_assets.settings import load_lambda_settings

    settings = load_lambda_settings(
        {
            **LAMBDA_ENV,
            "LAKE_VALID_QUEUE_URL": "http://127.0.0.1:5000/123456789012/valid",
            "LAKE_AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "AWS_REGION": "eu-west-1",
            "LAKE_SCHEMA_SOURCE": "glue",
            "LAKE_GLUE_REGISTRY": "shop-events",
            "LAKE_MAX_EVENT_BYTES": "1024",
        }
    )
    assert settings.valid_queue_url == "http://127.0.0.1:5000/123456789012/valid"
    assert (settings.endpoint_url, settings.region) == ("http://127.0.0.1:5000", "eu-west-1")
    assert (settings.schema_source, settings.glue_registry, settings.max_event_bytes) == (
        "glue",
        "shop-events",
        1024,
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LAKE_DLQ_URL": LAMBDA_ENV["LAKE_DLQ_URL"]}, "LAKE_FIREHOSE_STREAM is not set"),
        ({"LAKE_FIREHOSE_STREAM": "s"}, "LAKE_DLQ_URL is not set"),
        ({**LAMBDA_ENV, "LAKE_DLQ_URL": "sqs/dlq"}, "LAKE_DLQ_URL='sqs/dlq' must start with http"),
        ({**LAMBDA_ENV, "LAKE_AWS_ENDPOINT_URL": "localhost:5000"}, "LAKE_AWS_ENDPOINT_URL='localhost:5000'"),
        (
            {**LAMBDA_ENV, "LAKE_VALID_QUEUE_URL": "queue"},
            "LAKE_VALID_QUEUE_URL='queue' must start with http",
        ),
        ({**LAMBDA_ENV, "LAKE_SCHEMA_SOURCE": "s3"}, "LAKE_SCHEMA_SOURCE='s3' is not one of bundled, glue"),
        ({**LAMBDA_ENV, "LAKE_MAX_EVENT_BYTES": "big"}, "LAKE_MAX_EVENT_BYTES='big' is not a whole number"),
        ({**LAMBDA_ENV, "LAKE_MAX_EVENT_BYTES": "0"}, "LAKE_MAX_EVENT_BYTES=0 must be at least 1"),
    ],
)
def test_a_bad_lambda_value_names_the_variable(environ: dict[str, str], message: str) -> None:
    from lake_assets.settings import load_lambda_settings

    with pytest.raises(SettingsError, match=message):
        load_lambda_settings(environ)


def test_settings_module_imports_with_the_standard_library_only() -> None:
    import subprocess
    import sys

    code = (
        "import sys; before = set(sys.modules); import lake_assets.settings\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before} - {'lake_assets'}\n"
        "print(sorted(m for m in new if m not in sys.stdlib_module_names))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
