"""Typed settings per environment; the only module that reads environment variables.

Everything else takes a ``LakeSettings`` (or the pieces it needs) as an argument, so tests and the CLI can
build settings explicitly and a bad value fails at start with a message naming the variable.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from lake_assets.sources.specs import SourceSpec

Environment = Literal["local", "s3", "aws"]
ENVIRONMENTS: tuple[Environment, ...] = ("local", "s3", "aws")
REPO_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable and the fix."""


@dataclass(frozen=True)
class BatchLimits:
    """When the intake closes a landing batch (Firehose-like buffering hints)."""

    max_events: int = 50_000
    max_bytes: int = 5 * 1024 * 1024
    max_seconds: float = 60.0


@dataclass(frozen=True)
class SparkSettings:
    master: str = "local[2]"
    shuffle_partitions: int = 4
    driver_memory: str = "1g"
    s3: bool = False  # load Iceberg's S3 support (a lake on S3)
    merge_workers: int = 4  # CDC tables of one run merged side by side in the one session
    engine: str = "local"  # local: Spark in the Dagster process; glue: the layers as Glue job runs (Pipes)


@dataclass(frozen=True)
class GlueSettings:
    """``LAKE_SPARK_ENGINE=glue``: the Spark layers as runs of one Glue job through Dagster Pipes."""

    job_name: str = "lake-layers"  # the Glue job (infra/) whose script is lake_assets/layers/glue_job.py
    pipes_bucket: str | None = None  # where Pipes puts the run's context and the job's messages
    pipes_prefix: str = "_system/pipes"

    @property
    def pipes_folder(self) -> str:
        """``_system/pipes/``: the bucket-relative folder of Pipes' files (lifecycle rules, roles)."""
        return self.pipes_prefix.strip("/") + "/"


@dataclass(frozen=True)
class AthenaSettings:
    """``lake query --engine athena``: where Athena runs the SQL (``LAKE_ATHENA_*``, ``lake_assets.athena``).

    ``output_location`` None uses the workgroup's result location; ``max_rows`` is how many result rows are
    read back for printing (DuckDB's box shows at most 20 of them and counts up to 9,999, as locally).
    """

    workgroup: str = "lake"
    output_location: str | None = None  # s3://bucket/athena-results/
    catalog: str = "AwsDataCatalog"  # the Glue Data Catalog as Athena names it
    poll_seconds: float = 0.5  # first wait between status checks; doubles up to 5 s
    timeout_seconds: float = 300.0  # then the query is stopped
    max_rows: int = 10_000


@dataclass(frozen=True)
class LakeSettings:
    env: Environment = "local"
    lake_root: str = str(REPO_ROOT / ".lake")
    s3_endpoint_url: str | None = None
    aws_endpoint_url: str | None = None  # the lake's other AWS APIs (the Glue catalog) at a stand-in (tests)
    aws_region: str = "us-east-1"
    aws_access_key_id: str | None = field(default=None, repr=False)
    aws_secret_access_key: str | None = field(default=None, repr=False)
    batch: BatchLimits = BatchLimits()
    spark: SparkSettings = SparkSettings()
    max_event_bytes: int = 256 * 1024
    sensor_lookback_seconds: int = 600
    stream_name: str = "shop"
    # The CDC tables the lake merges (sources/cdc/tables.yaml by default; a deployment keeps its own).
    cdc_tables: str = str(REPO_ROOT / "lake_assets" / "sources" / "cdc" / "tables.yaml")
    # The Iceberg catalog: None = a SQLite file under <lake root>/_system/ (local); postgresql://... or glue.
    catalog_uri: str | None = None
    athena: AthenaSettings = AthenaSettings()
    # Who may read what (lake query --as, lake access): lake_assets/access/policy.yaml unless set.
    access_policy: str = str(REPO_ROOT / "lake_assets" / "access" / "policy.yaml")
    glue: GlueSettings = GlueSettings()
    # The first day of the daily partitions (LAKE_PARTITIONS_START): where the lake's data starts.
    partitions_start: str = "2026-10-01"
    # Operations (issue 13): where the alert sensor posts (None: no alert sensor) and the UI its links name.
    alert_webhook_url: str | None = field(default=None, repr=False)  # often holds a token (Slack, Teams)
    ui_url: str = "http://localhost:3000"

    def with_root(self, lake_root: str) -> LakeSettings:
        return _checked(replace(self, lake_root=lake_root))


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise SettingsError(f"{name}={value} must be positive")
    return value


def _checked(settings: LakeSettings) -> LakeSettings:
    root = settings.lake_root
    if settings.env == "local":
        if "://" in root:
            raise SettingsError(
                f"LAKE_ROOT={root!r}: the local environment needs a folder path; "
                "set LAKE_ENV=s3 for an s3:// root"
            )
    else:
        if not root.startswith("s3://") or len(root) <= len("s3://"):
            raise SettingsError(
                f"LAKE_ROOT={root!r}: LAKE_ENV={settings.env} needs a root like s3://bucket/prefix"
            )
    uri = settings.catalog_uri
    if (
        uri is not None
        and uri != "glue"
        and not uri.startswith(("sqlite:///", "postgresql://", "postgres://"))
    ):
        raise SettingsError(
            f"LAKE_CATALOG_URI={uri!r}: use sqlite:////path/catalog.db, postgresql://user@host/db or glue"
        )
    if settings.env == "s3" and not settings.s3_endpoint_url:
        raise SettingsError("LAKE_ENV=s3 needs LAKE_S3_ENDPOINT_URL (for example http://127.0.0.1:8333)")
    url = settings.s3_endpoint_url
    if url and not url.startswith(("http://", "https://")):
        raise SettingsError(f"LAKE_S3_ENDPOINT_URL={url!r} must start with http:// or https://")
    if settings.spark.engine not in ("local", "glue"):
        raise SettingsError(f"LAKE_SPARK_ENGINE={settings.spark.engine!r}: use local or glue")
    if settings.spark.engine == "glue" and not settings.glue.pipes_bucket:
        raise SettingsError(
            "LAKE_SPARK_ENGINE=glue needs an S3 bucket for Dagster Pipes: set LAKE_PIPES_BUCKET "
            "(the lake's bucket when LAKE_ROOT is s3://...)"
        )
    return settings


_NOT_FOR_JOBS = frozenset({"LAKE_ALERT_WEBHOOK_URL"})  # a webhook URL is a credential; jobs post no alerts


def lake_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``LAKE_*`` variables and the AWS region, to hand the same settings to a Glue job (no secrets:
    the job has its own role)."""
    env_vars = os.environ if environ is None else environ
    names = [n for n in env_vars if n.startswith("LAKE_") and n not in _NOT_FOR_JOBS]
    names += ["AWS_REGION", "AWS_DEFAULT_REGION"]
    return {n: env_vars[n] for n in sorted(names) if n in env_vars}


def _bucket_of(root: str) -> str | None:
    return (root.removeprefix("s3://").split("/", 1)[0] or None) if root.startswith("s3://") else None


def load_settings(environ: Mapping[str, str] | None = None) -> LakeSettings:
    """Read settings from the environment (``LAKE_*`` and the standard ``AWS_*`` variables)."""
    env_vars = os.environ if environ is None else environ
    env = env_vars.get("LAKE_ENV", "local") or "local"
    if env not in ENVIRONMENTS:
        raise SettingsError(f"LAKE_ENV={env!r} is not one of {', '.join(ENVIRONMENTS)}")
    default_root = str(REPO_ROOT / ".lake") if env == "local" else ""
    lake_root = env_vars.get("LAKE_ROOT") or default_root
    settings = LakeSettings(
        env=env,  # type: ignore[arg-type]
        lake_root=lake_root,
        s3_endpoint_url=env_vars.get("LAKE_S3_ENDPOINT_URL") or None,
        aws_endpoint_url=_url(env_vars, "LAKE_AWS_ENDPOINT_URL"),
        aws_region=env_vars.get("AWS_REGION") or env_vars.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_access_key_id=env_vars.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env_vars.get("AWS_SECRET_ACCESS_KEY") or None,
        batch=BatchLimits(
            max_events=_int(env_vars, "LAKE_BATCH_MAX_EVENTS", BatchLimits.max_events),
            max_bytes=_int(env_vars, "LAKE_BATCH_MAX_BYTES", BatchLimits.max_bytes, minimum=1024),
            max_seconds=_float(env_vars, "LAKE_BATCH_MAX_SECONDS", BatchLimits.max_seconds),
        ),
        spark=SparkSettings(
            master=env_vars.get("LAKE_SPARK_MASTER") or SparkSettings.master,
            shuffle_partitions=_int(
                env_vars, "LAKE_SPARK_SHUFFLE_PARTITIONS", SparkSettings.shuffle_partitions
            ),
            driver_memory=env_vars.get("LAKE_SPARK_DRIVER_MEMORY") or SparkSettings.driver_memory,
            s3=env != "local",
            merge_workers=_int(env_vars, "LAKE_SPARK_MERGE_WORKERS", SparkSettings.merge_workers),
            engine=env_vars.get("LAKE_SPARK_ENGINE") or ("glue" if env == "aws" else "local"),
        ),
        glue=GlueSettings(
            job_name=env_vars.get("LAKE_GLUE_JOB") or GlueSettings.job_name,
            pipes_bucket=env_vars.get("LAKE_PIPES_BUCKET") or _bucket_of(lake_root),
        ),
        max_event_bytes=_int(env_vars, "LAKE_MAX_EVENT_BYTES", 256 * 1024),
        sensor_lookback_seconds=_int(env_vars, "LAKE_SENSOR_LOOKBACK_SECONDS", 600, minimum=0),
        stream_name=env_vars.get("LAKE_STREAM_NAME") or "shop",
        cdc_tables=env_vars.get("LAKE_CDC_TABLES") or LakeSettings.cdc_tables,
        catalog_uri=env_vars.get("LAKE_CATALOG_URI") or ("glue" if env == "aws" else None),
        athena=load_athena_settings(env_vars),
        access_policy=env_vars.get("LAKE_ACCESS_POLICY") or LakeSettings.access_policy,
        partitions_start=load_partitions_start(env_vars),
        alert_webhook_url=_url(env_vars, "LAKE_ALERT_WEBHOOK_URL"),
        ui_url=(_url(env_vars, "LAKE_UI_URL") or LakeSettings.ui_url).rstrip("/"),
    )
    return _checked(settings)


def load_partitions_start(environ: Mapping[str, str] | None = None) -> str:
    """``LAKE_PARTITIONS_START``: the first daily partition, an ISO day (``YYYY-MM-DD``), not after today.

    Read on its own too: the partitions definition is built at import, before any other setting is needed.
    A fixed day, never derived from the clock: Dagster keeps each partition's history by its key.
    """
    env_vars = os.environ if environ is None else environ
    raw = (env_vars.get("LAKE_PARTITIONS_START") or "").strip()
    if not raw:
        return LakeSettings.partitions_start
    try:
        day = dt.date.fromisoformat(raw) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw) else None
    except ValueError:
        day = None
    if day is None:
        raise SettingsError(
            f"LAKE_PARTITIONS_START={raw!r} is not a day like 2026-10-01 (YYYY-MM-DD): the first day of the "
            "daily partitions, on or before the lake's oldest event day"
        )
    if day > dt.date.today():
        raise SettingsError(
            f"LAKE_PARTITIONS_START={raw} is in the future: no daily partition would exist yet; use the day "
            "the lake's data starts"
        )
    return day.isoformat()


_WORKGROUP = re.compile(r"^[A-Za-z0-9._-]{1,128}$")  # Athena's rule for workgroup names


def load_athena_settings(environ: Mapping[str, str] | None = None) -> AthenaSettings:
    """The ``LAKE_ATHENA_*`` variables (``lake query --engine athena``); a bad value names its variable."""
    env_vars = os.environ if environ is None else environ
    workgroup = (env_vars.get("LAKE_ATHENA_WORKGROUP") or "").strip() or AthenaSettings.workgroup
    if not _WORKGROUP.match(workgroup):
        raise SettingsError(
            f"LAKE_ATHENA_WORKGROUP={workgroup!r} is not an Athena workgroup name (letters, digits, '.', "
            "'_' and '-', up to 128): set it to the lake's workgroup, for example LAKE_ATHENA_WORKGROUP=lake"
        )
    output = (env_vars.get("LAKE_ATHENA_OUTPUT") or "").strip() or None
    if output is not None and (not output.startswith("s3://") or not output[len("s3://") :].split("/")[0]):
        raise SettingsError(
            f"LAKE_ATHENA_OUTPUT={output!r} must be an S3 prefix like s3://my-bucket/athena-results/ "
            "(or leave it unset to use the workgroup's query result location)"
        )
    catalog = (env_vars.get("LAKE_ATHENA_CATALOG") or "").strip() or AthenaSettings.catalog
    if any(c.isspace() for c in catalog):
        raise SettingsError(
            f"LAKE_ATHENA_CATALOG={catalog!r} is not a data catalog name: leave it unset for the Glue "
            "Data Catalog (AwsDataCatalog)"
        )
    return AthenaSettings(
        workgroup=workgroup,
        output_location=output,
        catalog=catalog,
        poll_seconds=_float(env_vars, "LAKE_ATHENA_POLL_SECONDS", AthenaSettings.poll_seconds),
        timeout_seconds=_float(env_vars, "LAKE_ATHENA_TIMEOUT_SECONDS", AthenaSettings.timeout_seconds),
        max_rows=_int(env_vars, "LAKE_ATHENA_MAX_ROWS", AthenaSettings.max_rows),
    )


def api_token(spec: SourceSpec) -> str | None:
    """The token of an API source, from the variable its spec names (this module reads the environment)."""
    from lake_assets.sources.api.pull import read_api_token  # imported here: sources import settings

    return read_api_token(spec, os.environ)


SchemaSource = Literal["bundled", "glue"]
SCHEMA_SOURCES: tuple[SchemaSource, ...] = ("bundled", "glue")


@dataclass(frozen=True, kw_only=True)
class IntakeLambdaSettings:
    """The events intake Lambda's settings (SQS in, Firehose and a dead-letter queue out).

    ``endpoint_url`` points every AWS client at one endpoint (moto in tests); None on AWS. ``valid_queue_url``
    optionally receives a copy of each valid event (for consumers that want them before Firehose delivers).
    Keyword-only: the fields are listed in reading order, and positional use would be easy to get wrong.
    """

    firehose_stream: str
    dlq_url: str
    valid_queue_url: str | None = None
    endpoint_url: str | None = None
    region: str
    schema_source: SchemaSource = "bundled"
    glue_registry: str = "lake-events"
    max_event_bytes: int = 256 * 1024
    firehose_max_attempts: int = 4
    # Events packed into one Firehose record up to this many bytes (0: one record per event). Firehose bills
    # each record rounded up to 5 KB: a 300-byte event sent alone is billed as 5 KB.
    firehose_record_bytes: int = 64 * 1024


def _required(environ: Mapping[str, str], name: str, example: str) -> str:
    value = environ.get(name) or ""
    if not value:
        raise SettingsError(f"{name} is not set (for example {name}={example})")
    return value


def _url(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name) or None
    if value and not value.startswith(("http://", "https://")):
        raise SettingsError(f"{name}={value!r} must start with http:// or https://")
    return value


def load_lambda_settings(environ: Mapping[str, str] | None = None) -> IntakeLambdaSettings:
    """Read the intake Lambda's settings; a missing or bad variable fails the cold start with its name."""
    env_vars = os.environ if environ is None else environ
    source = env_vars.get("LAKE_SCHEMA_SOURCE") or "bundled"
    if source not in SCHEMA_SOURCES:
        raise SettingsError(f"LAKE_SCHEMA_SOURCE={source!r} is not one of {', '.join(SCHEMA_SOURCES)}")
    return IntakeLambdaSettings(
        firehose_stream=_required(env_vars, "LAKE_FIREHOSE_STREAM", "lake-events"),
        dlq_url=_url(env_vars, "LAKE_DLQ_URL")
        or _required(env_vars, "LAKE_DLQ_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/lake-dlq"),
        valid_queue_url=_url(env_vars, "LAKE_VALID_QUEUE_URL"),
        endpoint_url=_url(env_vars, "LAKE_AWS_ENDPOINT_URL"),
        region=env_vars.get("AWS_REGION") or env_vars.get("AWS_DEFAULT_REGION") or "us-east-1",
        schema_source=source,  # type: ignore[arg-type]
        glue_registry=env_vars.get("LAKE_GLUE_REGISTRY") or "lake-events",
        max_event_bytes=_int(env_vars, "LAKE_MAX_EVENT_BYTES", 256 * 1024),
    )


@dataclass(frozen=True)
class SageMakerSettings:
    """``lake ml train``: the SageMaker training job for the exported data sets (``LAKE_SAGEMAKER_*``)."""

    role_arn: str | None = None  # the execution role SageMaker assumes (reads the splits, writes the model)
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_gb: int = 10
    max_runtime_seconds: int = 3600
    xgboost_version: str = "1.7-1"  # the built-in XGBoost container's version tag
    output_uri: str | None = None  # s3://...; default: final/ml/<dataset>/sagemaker/ under the lake root


def load_sagemaker_settings(environ: Mapping[str, str] | None = None) -> SageMakerSettings:
    """Read the training job's settings; a bad number fails with the variable's name."""
    env_vars = os.environ if environ is None else environ
    output = env_vars.get("LAKE_SAGEMAKER_OUTPUT") or None
    if output and not output.startswith("s3://"):
        raise SettingsError(f"LAKE_SAGEMAKER_OUTPUT={output!r} must be an s3:// URI")
    return SageMakerSettings(
        role_arn=env_vars.get("LAKE_SAGEMAKER_ROLE_ARN") or None,
        instance_type=env_vars.get("LAKE_SAGEMAKER_INSTANCE_TYPE") or SageMakerSettings.instance_type,
        instance_count=_int(env_vars, "LAKE_SAGEMAKER_INSTANCE_COUNT", SageMakerSettings.instance_count),
        volume_gb=_int(env_vars, "LAKE_SAGEMAKER_VOLUME_GB", SageMakerSettings.volume_gb),
        max_runtime_seconds=_int(
            env_vars, "LAKE_SAGEMAKER_MAX_RUNTIME_SECONDS", SageMakerSettings.max_runtime_seconds
        ),
        xgboost_version=env_vars.get("LAKE_SAGEMAKER_XGBOOST_VERSION") or SageMakerSettings.xgboost_version,
        output_uri=output,
    )


@dataclass(frozen=True)
class QuickSightSettings:
    """``lake report publish``: where the reports go on QuickSight (``LAKE_QUICKSIGHT_*``).

    ``account_id`` None: the account of the caller's credentials (STS). ``principal_arn``: the QuickSight
    user or group (``arn:aws:quicksight:<region>:<account>:group/default/analysts``) given the data source,
    data sets and dashboard; without one only QuickSight's API (and admins) see them. ``id_prefix`` starts
    every resource id, so two lakes can share an account.
    """

    account_id: str | None = None
    principal_arn: str | None = None
    id_prefix: str = "lake"


_QUICKSIGHT_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def load_quicksight_settings(environ: Mapping[str, str] | None = None) -> QuickSightSettings:
    """The ``LAKE_QUICKSIGHT_*`` variables; a bad value names its variable and the fix."""
    env_vars = os.environ if environ is None else environ
    account = (env_vars.get("LAKE_QUICKSIGHT_ACCOUNT_ID") or "").strip() or None
    if account is not None and not re.fullmatch(r"\d{12}", account):
        raise SettingsError(f"LAKE_QUICKSIGHT_ACCOUNT_ID={account!r} must be a 12-digit AWS account id")
    principal = (env_vars.get("LAKE_QUICKSIGHT_PRINCIPAL_ARN") or "").strip() or None
    if principal is not None and not principal.startswith("arn:aws:quicksight:"):
        raise SettingsError(
            f"LAKE_QUICKSIGHT_PRINCIPAL_ARN={principal!r} must be a QuickSight user or group ARN, for "
            "example arn:aws:quicksight:us-east-1:123456789012:group/default/analysts"
        )
    prefix = (env_vars.get("LAKE_QUICKSIGHT_ID_PREFIX") or "").strip() or QuickSightSettings.id_prefix
    if not _QUICKSIGHT_ID.match(prefix):
        raise SettingsError(
            f"LAKE_QUICKSIGHT_ID_PREFIX={prefix!r}: use up to 40 letters, digits, '-' and '_' (e.g. lake)"
        )
    return QuickSightSettings(account_id=account, principal_arn=principal, id_prefix=prefix)
