"""Typed settings: defaults, environments, and one clear message per bad value."""

from __future__ import annotations

import pytest

from lake_assets.settings import REPO_ROOT, SettingsError, load_settings


def test_defaults_are_the_embedded_local_lake() -> None:
    settings = load_settings({})
    assert settings.env == "local"
    assert settings.lake_root == str(REPO_ROOT / ".lake")
    assert settings.batch.max_events == 50_000 and settings.max_event_bytes == 256 * 1024


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
    ],
)
def test_a_bad_value_names_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(environ)
