"""The CDK app synthesized once per test session (about 10 s), the Lambda zip built into a temporary folder.

The test context differs from ``infra/cdk.json`` where that exercises more: the lake root has a prefix, a
second CDC source (MariaDB, CSV) comes from a tables file of its own, and the webserver gets its HTTPS load
balancer. Templates are read from the cloud assembly; tests assert on them with ``aws_cdk.assertions``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

INFRA = Path(__file__).resolve().parents[2] / "infra"
if str(INFRA) not in sys.path:
    sys.path.insert(0, str(INFRA))
os.environ.setdefault(
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20"
)  # jsii: the Node majors not to warn about

from aws_cdk.assertions import Template  # noqa: E402

from lake_assets.deploy.glue_package import build_glue_package  # noqa: E402
from lake_assets.deploy.lambda_package import build_lambda_zip  # noqa: E402

ACCOUNT = "123456789012"
REGION = "eu-west-1"
BUCKET = "lake-test-bucket"
ROOT = "s3://lake-test-bucket/lake"
CERTIFICATE = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/00000000-0000-0000-0000-000000000000"

CDC_TABLES = """\
tables:
  - source: shop
    schema: public
    table: customers
    primary_key: [customer_id]
  - source: shop
    schema: public
    table: orders
    primary_key: [order_id]
  - source: billing
    schema: billing
    table: invoices
    primary_key: [invoice_id]
    timestamp_column: changed_at
"""


def app_context(lambda_zip: Path, cdc_tables: Path, **deployment: Any) -> dict[str, Any]:
    """The context the session's app is built with; ``deployment`` overrides ``lake:deployment`` fields."""
    return {
        "lake:settings": {
            "LAKE_ROOT": ROOT,
            "LAKE_STREAM_NAME": "shop",
            "LAKE_ATHENA_WORKGROUP": "lake-test",
            "LAKE_CDC_TABLES": str(cdc_tables),
        },
        "lake:deployment": {
            "account": ACCOUNT,
            "region": REGION,
            "lambda_zip": str(lambda_zip),
            "glue_package": str(lambda_zip.parent / "glue"),
            "certificate_arn": CERTIFICATE,
            "athena_bytes_scanned_cutoff": 1024**3,
            "cdc_sources": {
                "shop": {
                    "engine": "postgres",
                    "server": "shop.db.internal",
                    "port": 5432,
                    "database": "shop",
                },
                "billing": {
                    "engine": "mariadb",
                    "server": "billing.db.internal",
                    "port": 3306,
                    "database": "billing",
                    "data_format": "csv",
                },
            },
            "lake_formation_admins": [f"arn:aws:iam::{ACCOUNT}:role/lake-admin"],
            **deployment,
        },
    }


@dataclass(frozen=True)
class Synth:
    outdir: Path
    templates: Mapping[str, dict[str, Any]]
    context: Mapping[str, Any]

    def template(self, stack: str) -> Template:
        return Template.from_json(self.templates[stack])

    def resources(self, stack: str, kind: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.templates[stack]["Resources"].items() if v["Type"] == kind}


@pytest.fixture(scope="session")
def infra_inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("infra")
    zip_path = build_lambda_zip(folder / "intake-lambda.zip").path
    build_glue_package(folder / "glue")  # beside the zip: app_context finds it there
    tables = folder / "tables.yaml"
    tables.write_text(CDC_TABLES, encoding="utf-8")
    return zip_path, tables


@pytest.fixture(scope="session")
def synth(infra_inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Synth:
    from lake_infra.app import STACKS, build_app

    context = app_context(*infra_inputs)
    outdir = tmp_path_factory.mktemp("cdk.out")
    assembly = build_app(context, outdir=str(outdir)).synth()
    templates = {name: assembly.get_stack_by_name(name).template for name in STACKS}
    return Synth(outdir, templates, context)


@pytest.fixture(scope="session")
def settings_env(synth: Synth) -> dict[str, str]:
    return {"LAKE_ENV": "aws", **synth.context["lake:settings"]}
