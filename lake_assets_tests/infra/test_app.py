"""The app as a whole: every stack is built from the lake's settings, and a name they lack stops synth."""

from __future__ import annotations

from pathlib import Path

import pytest

from lake_assets.settings import SettingsError
from lake_assets_tests.infra.conftest import Synth, app_context


def test_nine_stacks_in_one_account_and_region_tagged_by_concern(synth: Synth) -> None:
    from lake_infra.app import STACKS

    assert set(synth.templates) == set(STACKS)
    for name, template in synth.templates.items():
        assert template["Description"].startswith("lake_assets: "), name
    manifest = (synth.outdir / "manifest.json").read_text()
    assert "aws://123456789012/eu-west-1" in manifest


def test_a_setting_the_lake_refuses_fails_synth_naming_the_variable(infra_inputs, tmp_path: Path) -> None:
    from lake_infra.app import build_app

    context = app_context(*infra_inputs)
    context["lake:settings"]["LAKE_ATHENA_WORKGROUP"] = "not a workgroup!"
    with pytest.raises(SettingsError, match="LAKE_ATHENA_WORKGROUP='not a workgroup!'"):
        build_app(context, outdir=str(tmp_path))


def test_an_unknown_deployment_field_fails_synth_naming_it(infra_inputs, tmp_path: Path) -> None:
    from lake_infra.app import build_app
    from lake_infra.config import ConfigError

    with pytest.raises(ConfigError, match=r"lake:deployment: unknown field\(s\) \['bucket_name'\]"):
        build_app(app_context(*infra_inputs, bucket_name="other"), outdir=str(tmp_path))


def test_names_outside_the_lake_are_refused_with_what_exists(synth: Synth, infra_inputs) -> None:
    from lake_infra.config import load_config
    from lake_infra.lake import Lake, UndefinedResource

    lake = Lake.from_settings(load_config(synth.context).settings)
    with pytest.raises(
        UndefinedResource, match=r"^here: zone 'curated' is not defined by the lake \(.*zones.py: "
    ):
        lake.key("curated", where="here")
    with pytest.raises(
        UndefinedResource, match=r"database 'staging' is not defined .*: final, intermediate, raw\)$"
    ):
        lake.database("staging", "here")
    assert lake.key("landing", "events", where="here") == "lake/landing/events/"
    assert lake.bucket_name == "lake-test-bucket" and lake.uri == "s3://lake-test-bucket/lake/"
