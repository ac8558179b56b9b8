"""The CDK app: one stack per concern, built from the lake's settings and specs (``build_app``).

Order of deployment (each stack needs the ones before it): storage, network, governance, intake, CDC,
processing, consumption, orchestration. ``cdk deploy --all`` follows it from the stacks' dependencies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from lake_assets.access.policy import PolicyError
from lake_assets.settings import SettingsError
from lake_assets.sources.cdc.specs import CdcSpecError
from lake_infra.cdc import CdcStack
from lake_infra.config import ConfigError, load_config
from lake_infra.consumption import ConsumptionStack
from lake_infra.governance import GovernanceStack
from lake_infra.images import ImagesStack
from lake_infra.intake import ArtifactMissing, IntakeStack
from lake_infra.lake import Lake, UndefinedResource
from lake_infra.network import NetworkStack
from lake_infra.orchestration import OrchestrationStack
from lake_infra.processing import ProcessingStack
from lake_infra.storage import StorageStack

INFRA = Path(__file__).resolve().parents[1]
CDK_JSON = INFRA / "cdk.json"
STACKS = (
    "LakeStorage",
    "LakeNetwork",
    "LakeGovernance",
    "LakeIntake",
    "LakeCdc",
    "LakeProcessing",
    "LakeConsumption",
    "LakeImages",
    "LakeOrchestration",
)
# What fails synth with one message, no traceback: a bad setting or spec, an undefined name, a missing
# artifact.
SYNTH_ERRORS = (ConfigError, SettingsError, UndefinedResource, ArtifactMissing, CdcSpecError, PolicyError)


def default_context() -> dict[str, Any]:
    """The context ``infra/cdk.json`` gives (the CDK CLI passes it; ``python infra/app.py`` reads it here)."""
    return dict(json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {}))


def build_app(
    context: Mapping[str, Any] | None = None,
    *,
    outdir: str | None = None,
    only: Sequence[str] | None = None,
) -> cdk.App:
    """The app with ``infra/cdk.json``'s context, overridden by ``context``; ``only``: a subset of STACKS
    (with the stacks they need)."""
    app = cdk.App(outdir=outdir, context={**default_context(), **(context or {})})
    merged = {k: app.node.try_get_context(k) for k in ("lake:settings", "lake:deployment")}
    config = load_config(merged)
    lake = Lake.from_settings(config.settings)
    wanted = set(only or STACKS)
    unknown = sorted(wanted - set(STACKS))
    if unknown:
        raise UndefinedResource(f"app: stack(s) {unknown} are not among {list(STACKS)}")
    common = {"config": config, "lake": lake}

    storage = StorageStack(app, "LakeStorage", **common)
    key, bucket = storage.key, storage.bucket
    network = None
    if wanted & {"LakeNetwork", "LakeCdc", "LakeOrchestration"}:
        network = NetworkStack(app, "LakeNetwork", key=key, **common)
    governance = None
    if wanted & {"LakeGovernance", "LakeProcessing", "LakeOrchestration"}:
        governance = GovernanceStack(app, "LakeGovernance", bucket=bucket, key=key, **common)
    if "LakeIntake" in wanted:
        IntakeStack(app, "LakeIntake", bucket=bucket, key=key, **common)
    if "LakeCdc" in wanted:
        assert network is not None
        CdcStack(app, "LakeCdc", bucket=bucket, key=key, vpc=network.vpc, **common)
    processing = None
    if wanted & {"LakeProcessing", "LakeOrchestration"}:
        processing = ProcessingStack(app, "LakeProcessing", bucket=bucket, key=key, **common)
        assert governance is not None
        processing.node.add_dependency(governance)  # its Lake Formation grants need the databases and admins
    if "LakeConsumption" in wanted:
        ConsumptionStack(app, "LakeConsumption", key=key, log_bucket=storage.log_bucket, **common)
    images = None
    if wanted & {"LakeImages", "LakeOrchestration"}:
        images = ImagesStack(app, "LakeImages", key=key, **common)
    if "LakeOrchestration" in wanted:
        assert network is not None and processing is not None and images is not None
        orchestration = OrchestrationStack(
            app,
            "LakeOrchestration",
            vpc=network.vpc,
            bucket=bucket,
            key=key,
            log_bucket=storage.log_bucket,
            glue_jobs=sorted(processing.jobs),
            **common,
        )
        orchestration.node.add_dependency(processing)  # runs start its Glue jobs
        orchestration.node.add_dependency(images)  # its services pull the image pushed to that repository
    return app
