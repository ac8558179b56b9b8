"""What a deployment chooses, read from the CDK context: the lake's own settings and the infrastructure's.

Two context keys, both plain JSON (``infra/cdk.json`` holds the defaults; ``-c`` or a test overrides them):

* ``lake:settings``: the ``LAKE_*`` variables the deployed lake runs with (``LAKE_ROOT``,
  ``LAKE_STREAM_NAME``, ``LAKE_ATHENA_WORKGROUP``, ...). They are read by the lake's own ``load_settings``
  with ``LAKE_ENV=aws``, so a value the lake would refuse at start fails synth with the lake's message, and
  every name the stacks give (bucket, stream, workgroup, Glue job, ...) is the one the lake's code will look
  for.
* ``lake:deployment``: the choices the lake's settings do not hold (account, region, sizes, retention, the CDC
  sources' endpoints, ...), each a field of ``Deployment`` below; an unknown field fails synth naming it.

The process environment is never read for either: a synth gives the same templates on every machine.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lake_assets.settings import LakeSettings, load_settings

SETTINGS_KEY = "lake:settings"
DEPLOYMENT_KEY = "lake:deployment"
REPO_ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER_ACCOUNT = "123456789012"  # the account the policy's example ARNs use; set yours in cdk.json
ENGINES = ("postgres", "mariadb")
DATA_FORMATS = ("csv", "parquet")  # lake_assets.sources.cdc.dms_format.FORMATS


class ConfigError(ValueError):
    """A context value is missing or malformed; the message names the key, the field and the fix."""


@dataclass(frozen=True)
class CdcSource:
    """One source database DMS captures into ``landing/cdc/<source>/`` (its tables: ``tables.yaml``).

    ``secret_arn``: an existing Secrets Manager secret with ``username`` and ``password`` (and optionally
    ``host``/``port``); None creates an empty secret ``lake/cdc/<source>`` for the operator to fill.
    """

    engine: str
    server: str
    port: int
    database: str
    data_format: str = "parquet"  # typed columns (docs/CDC.md); csv lands text, as DMS's CSV has no types
    ssl_mode: str = "require"
    slot_name: str | None = None  # PostgreSQL: the replication slot DMS creates (default lake_<source>)
    secret_arn: str | None = None


@dataclass(frozen=True)
class Deployment:
    account: str = PLACEHOLDER_ACCOUNT
    region: str = "us-east-1"
    availability_zones: tuple[str, ...] = ()  # default: <region>a and <region>b (no lookup: synth is offline)
    vpc_cidr: str = "10.40.0.0/16"
    nat_gateways: int = 1
    # The intake Lambda's zip, built by `lake package lambda`; relative paths are from the repository root.
    lambda_zip: str = "dist/intake-lambda.zip"
    lambda_timeout_seconds: int = 60
    lambda_memory_mb: int = 512
    intake_batch_size: int = 10
    intake_max_concurrency: int = 10  # event source mapping's MaximumConcurrency (no reserved concurrency)
    intake_max_receive_count: int = 5  # receives before a message moves to the dead-letter queue
    schema_source: str = "bundled"  # LAKE_SCHEMA_SOURCE of the Lambda: bundled or glue
    cdc_sources: Mapping[str, CdcSource] = field(default_factory=dict)
    dms_instance_class: str = "dms.t3.medium"
    dms_engine_version: str = "3.6.1"
    create_dms_service_roles: bool = True  # dms-vpc-role / dms-cloudwatch-logs-role: once per account
    # Glue job name -> the layers it runs; empty: one job named LAKE_GLUE_JOB running every layer.
    glue_jobs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    glue_artifacts_prefix: str = "_system/glue/"  # under the lake root: `lake package glue --upload` there
    glue_package: str = "dist/glue"  # `lake package glue --out` (its default): the script and lake_assets.zip
    glue_worker_type: str = "G.1X"
    glue_workers: int = 2
    glue_timeout_minutes: int = 120
    lake_formation_admins: tuple[str, ...] = ()  # besides CloudFormation's execution role
    athena_bytes_scanned_cutoff: int = 10 * 1024**3  # per query; Athena's minimum is 10 MB
    athena_results_days: int = 30
    landing_infrequent_access_days: int = 30
    landing_glacier_ir_days: int = 180
    quarantine_infrequent_access_days: int = 30
    quarantine_expire_days: int = 400
    noncurrent_version_days: int = 30
    compute_log_days: int = 90
    pipes_days: int = 7
    log_retention_days: int = 365
    image_repository: str = "lake"
    image_tag: str = ""  # default: the lake_assets version (ECR tags are immutable)
    certificate_arn: str | None = None  # the webserver's HTTPS listener; None: no load balancer
    web_allowed_cidr: str = "10.0.0.0/8"  # who reaches the (internal) load balancer
    db_instance_type: str = "t4g.small"
    db_allocated_storage_gb: int = 20
    db_multi_az: bool = False
    db_backup_days: int = 7
    deletion_protection: bool = True
    cfn_execution_role_qualifier: str = "hnb659fds"  # cdk bootstrap's default qualifier

    @property
    def azs(self) -> tuple[str, ...]:
        return self.availability_zones or (f"{self.region}a", f"{self.region}b")

    @property
    def tag(self) -> str:
        return self.image_tag or importlib.metadata.version("lake_assets")

    def zip_path(self) -> Path:
        return _from_repo(self.lambda_zip)

    def glue_folder(self) -> Path:
        return _from_repo(self.glue_package)


def _from_repo(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else REPO_ROOT / path


@dataclass(frozen=True)
class Config:
    settings: LakeSettings
    settings_env: Mapping[str, str]  # the LAKE_* variables the services run with (LAKE_ENV=aws included)
    deployment: Deployment


def _fields(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _typed(where: str, value: Any, default: Any) -> Any:
    """``value`` checked against the type of the field's default (JSON has no tuples)."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, tuple):
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:  # None defaults: optional strings
        ok = value is None or isinstance(value, str)
    if not ok:
        raise ConfigError(
            f"{where}={value!r}: expected {type(default).__name__ if default is not None else 'a string'}"
        )
    return value


def _cdc_source(name: str, body: Any) -> CdcSource:
    where = f"{DEPLOYMENT_KEY}.cdc_sources.{name}"
    if not isinstance(body, Mapping):
        raise ConfigError(f"{where}: expected an object with engine, server, port and database")
    known = _fields(CdcSource)
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")
    missing = sorted(n for n, f in known.items() if f.default is dataclasses.MISSING and n not in body)
    if missing:
        raise ConfigError(f"{where}: missing {missing}")
    source = CdcSource(**body)
    if source.engine not in ENGINES:
        raise ConfigError(f"{where}.engine={source.engine!r}: use one of {ENGINES}")
    if source.data_format not in DATA_FORMATS:
        raise ConfigError(f"{where}.data_format={source.data_format!r}: use one of {DATA_FORMATS}")
    if not isinstance(source.port, int) or not 0 < source.port < 65536:
        raise ConfigError(f"{where}.port={source.port!r}: expected a TCP port")
    return source


def parse_deployment(raw: Any) -> Deployment:
    if raw is None:
        return Deployment()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{DEPLOYMENT_KEY}: expected a JSON object of Deployment fields")
    known = _fields(Deployment)
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(
            f"{DEPLOYMENT_KEY}: unknown field(s) {unknown}; the fields are listed in "
            "infra/lake_infra/config.py"
        )
    values: dict[str, Any] = {}
    defaults = Deployment()
    for name, value in raw.items():
        where = f"{DEPLOYMENT_KEY}.{name}"
        if name == "cdc_sources":
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: expected an object of source name -> endpoint")
            values[name] = {str(k): _cdc_source(str(k), v) for k, v in value.items()}
        elif name == "glue_jobs":
            if not isinstance(value, Mapping) or not all(
                isinstance(v, list) and v and all(isinstance(x, str) for x in v) for v in value.values()
            ):
                raise ConfigError(f"{where}: expected an object of job name -> [layer, ...]")
            values[name] = {str(k): tuple(v) for k, v in value.items()}
        else:
            values[name] = _typed(where, value, getattr(defaults, name))
    deployment = Deployment(**values)
    if not re.fullmatch(r"\d{12}", deployment.account):
        raise ConfigError(
            f"{DEPLOYMENT_KEY}.account={deployment.account!r}: expected a 12-digit AWS account id"
        )
    if not deployment.glue_artifacts_prefix.endswith("/"):
        raise ConfigError(f"{DEPLOYMENT_KEY}.glue_artifacts_prefix must end with /")
    return deployment


def parse_settings(raw: Any, region: str) -> tuple[LakeSettings, dict[str, str]]:
    """The lake's settings as the deployed services will read them (``LAKE_ENV=aws``)."""
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping) or not all(isinstance(v, str | int | float) for v in raw.values()):
        raise ConfigError(f"{SETTINGS_KEY}: expected an object of LAKE_* variable -> value")
    foreign = sorted(k for k in raw if not str(k).startswith("LAKE_"))
    if foreign:
        raise ConfigError(f"{SETTINGS_KEY}: {foreign} are not LAKE_* settings")
    if "LAKE_ENV" in raw and raw["LAKE_ENV"] != "aws":
        raise ConfigError(f"{SETTINGS_KEY}: LAKE_ENV={raw['LAKE_ENV']!r}; the deployed lake is LAKE_ENV=aws")
    env = {"LAKE_ENV": "aws", **{str(k): str(v) for k, v in raw.items()}}
    settings = load_settings({**env, "AWS_REGION": region})  # raises SettingsError naming the variable
    return settings, env


def load_config(context: Mapping[str, Any]) -> Config:
    deployment = parse_deployment(context.get(DEPLOYMENT_KEY))
    settings, env = parse_settings(context.get(SETTINGS_KEY), deployment.region)
    return Config(settings, env, deployment)
