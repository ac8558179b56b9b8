"""Publishing the repository's schema registry to the Glue Schema Registry and reading it back.

moto stands in for the AWS Glue Schema Registry, which cannot run here. moto 5.2.5 does not implement
ListSchemas / ListSchemaVersions and runs no compatibility checks, so these tests cover our side of the API
(what is registered, in which order and mode, and idempotence), not Glue's own compatibility verdicts.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from lake_assets.registry import RegistryError, SchemaRegistry
from lake_assets.registry.glue import TO_GLUE_COMPATIBILITY, publish_registry, registry_from_glue
from lake_assets.registry.registry import DEFAULT_SCHEMAS_DIR
from lake_assets_tests.fixtures.moto import moto_client


@pytest.fixture
def glue(moto_server: str):
    return moto_client("glue", moto_server)


def _name() -> str:
    return f"lake-test-{uuid.uuid4().hex[:10]}"


def test_publish_registers_every_version_once_and_reads_back_equal(glue, registry: SchemaRegistry) -> None:
    """moto stands in for the Glue Schema Registry: publish, republish (nothing new), read back."""
    name = _name()
    changes = publish_registry(glue, registry, registry_name=name)
    expected = [v.schema_id for s in registry.subjects() for v in registry.subject(s).versions]
    assert changes == expected  # every version, v1 before v2
    assert "order_placed:v2" in changes

    assert publish_registry(glue, registry, registry_name=name) == []
    assert glue.get_schema(SchemaId={"RegistryName": name, "SchemaName": "order_placed"})[
        "LatestSchemaVersion"
    ] == len(registry.subject("order_placed").versions)

    back = registry_from_glue(glue, name, schema_names=registry.subjects())
    assert back.subjects("events") == registry.subjects("events")
    for subject in registry.subjects():
        ours, theirs = registry.subject(subject), back.subject(subject)
        assert theirs.compatibility == ours.compatibility
        assert [v.version for v in theirs.versions] == [v.version for v in ours.versions]
        assert [v.schema for v in theirs.versions] == [v.schema for v in ours.versions]
        assert [v.fingerprint for v in theirs.versions] == [v.fingerprint for v in ours.versions]


def _copy_registry(tmp_path: Path) -> Path:
    root = tmp_path / "schemas"
    shutil.copytree(DEFAULT_SCHEMAS_DIR, root)
    return root


def test_compatibility_modes_map_to_glue_names_and_a_new_version_is_added(glue, tmp_path: Path) -> None:
    """moto stands in for Glue: a transitive mode is sent as *_ALL, a mode change and a v2 are published."""
    root = _copy_registry(tmp_path)
    (root / "events" / "page_view" / "subject.json").write_text('{"compatibility": "BACKWARD_TRANSITIVE"}')
    name = _name()
    publish_registry(glue, SchemaRegistry.from_directory(root), registry_name=name)
    schema = glue.get_schema(SchemaId={"RegistryName": name, "SchemaName": "page_view"})
    assert schema["Compatibility"] == "BACKWARD_ALL"
    assert schema["DataFormat"] == "AVRO"
    assert registry_from_glue(glue, name, ["page_view"]).compatibility("page_view") == "BACKWARD_TRANSITIVE"

    # FULL_TRANSITIVE and a compatible v2 (a new optional field) on the same subject.
    (root / "events" / "page_view" / "subject.json").write_text('{"compatibility": "FULL_TRANSITIVE"}')
    v1 = json.loads((root / "events" / "page_view" / "v1.avsc").read_text())
    v1["fields"].append({"name": "campaign", "type": ["null", "string"], "default": None})
    (root / "events" / "page_view" / "v2.avsc").write_text(json.dumps(v1))
    changes = publish_registry(glue, SchemaRegistry.from_directory(root), registry_name=name)
    assert changes == ["page_view:compatibility=FULL_TRANSITIVE", "page_view:v2"]
    back = registry_from_glue(glue, name, ["page_view"])
    assert back.compatibility("page_view") == "FULL_TRANSITIVE"
    assert back.latest("page_view").schema == v1


def test_every_mode_has_a_glue_name_and_round_trips() -> None:
    from lake_assets.registry.glue import FROM_GLUE_COMPATIBILITY
    from lake_assets.registry.registry import COMPATIBILITY_MODES

    assert set(TO_GLUE_COMPATIBILITY) == set(COMPATIBILITY_MODES)
    assert TO_GLUE_COMPATIBILITY["FORWARD_TRANSITIVE"] == "FORWARD_ALL"
    assert {FROM_GLUE_COMPATIBILITY[g] for g in TO_GLUE_COMPATIBILITY.values()} == set(COMPATIBILITY_MODES)


def test_an_edited_published_version_stops_the_publish(glue, tmp_path: Path) -> None:
    """moto stands in for Glue: a repository v1 that differs from Glue's v1 is an error, not a new version."""
    root = _copy_registry(tmp_path)
    name = _name()
    publish_registry(glue, SchemaRegistry.from_directory(root), registry_name=name)
    path = root / "events" / "cart_update" / "v1.avsc"
    edited = json.loads(path.read_text())
    edited["doc"] = "edited after publishing"
    path.write_text(json.dumps(edited))
    with pytest.raises(RegistryError, match="different cart_update:v1"):
        publish_registry(glue, SchemaRegistry.from_directory(root), registry_name=name)


def test_reading_a_missing_schema_names_it(glue, registry: SchemaRegistry) -> None:
    """moto stands in for Glue."""
    name = _name()
    publish_registry(glue, registry, registry_name=name)
    with pytest.raises(RegistryError, match="no schema 'nope'"):
        registry_from_glue(glue, name, ["nope"])


def test_a_decoder_built_from_glue_gives_the_bundled_verdicts(glue, registry: SchemaRegistry) -> None:
    """moto stands in for Glue: LAKE_SCHEMA_SOURCE=glue must validate exactly as the bundled registry does."""
    from lake_assets.registry.validation import EventDecoder
    from lake_assets.samples.events import generate_events

    name = _name()
    publish_registry(glue, registry, registry_name=name)
    from_glue = EventDecoder(registry_from_glue(glue, name, registry.subjects()))
    bundled = EventDecoder(registry)
    lines = list(generate_events(500, days=1, seed=9, invalid_rate=0.2))
    verdicts = [(v.kind, v.reason) if (v := bundled.check(line)) else None for line in lines]
    assert any(verdicts) and not all(verdicts)
    assert [(v.kind, v.reason) if (v := from_glue.check(line)) else None for line in lines] == verdicts


def test_lake_schemas_publish_command(moto_server: str, tmp_path: Path) -> None:
    """moto stands in for Glue: the real `lake schemas publish`, twice (the second registers nothing)."""
    import os
    import subprocess
    import sys

    from lake_assets_tests.fixtures.moto import moto_env

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKE_", "AWS_"))} | moto_env()
    name = _name()
    command = [str(Path(sys.executable).parent / "lake"), "schemas", "publish", "--registry-name", name]
    command += ["--endpoint-url", moto_server]
    first = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "published order_placed:v2" in first.stdout
    second = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and f"Glue registry {name}: 0 change(s), 3 subject(s)" in second.stdout
    wrong = subprocess.run(
        [*command[:-1], "http://127.0.0.1:9"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert wrong.stderr.startswith(f"lake: publishing to Glue registry {name}:")


def test_lake_schemas_publish_cdc_registers_the_versions_the_lake_derived(
    moto_server: str, tmp_path: Path
) -> None:
    """moto stands in for Glue: CDC schemas the raw runs derived (v1, then v2 with a column) go to Glue."""
    import os
    import subprocess
    import sys

    import dagster as dg

    from lake_assets.definitions import build_cdc_assets
    from lake_assets.resources.spark import SparkResource
    from lake_assets.sources.cdc.specs import CdcTableSpec
    from lake_assets_tests.fixtures.moto import moto_env
    from lake_assets_tests.lake_helpers import lake_resource

    fixtures = (
        Path(__file__).parents[1] / "sources" / "cdc" / "dms_fixtures" / "with_header" / "sales" / "orders"
    )
    landing = tmp_path / "lake" / "landing" / "cdc" / "sales" / "sales" / "orders"
    landing.mkdir(parents=True)
    shutil.copy(fixtures / "LOAD00000001.csv", landing)
    spec = CdcTableSpec("sales", "sales", "orders", ("order_id",))
    (tmp_path / "tables.yaml").write_text(
        "tables:\n  - {source: sales, schema: sales, table: orders, primary_key: [order_id]}\n"
    )

    def raw() -> None:
        assert dg.materialize(
            build_cdc_assets([spec]),
            selection="raw/cdc/sales/orders",
            partition_key="2026-11-24",
            resources={"lake": lake_resource(tmp_path / "lake"), "spark": SparkResource()},  # raw: no Spark
        ).success

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKE_", "AWS_"))} | moto_env()
    env |= {"LAKE_ROOT": str(tmp_path / "lake"), "LAKE_CDC_TABLES": str(tmp_path / "tables.yaml")}
    name = _name()
    command = [
        str(Path(sys.executable).parent / "lake"),
        "schemas",
        "publish",
        "--cdc",
        "--registry-name",
        name,
    ]
    command += ["--endpoint-url", moto_server]
    nothing = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert nothing.returncode == 2 and "no CDC schema" in nothing.stderr and "Traceback" not in nothing.stderr

    raw()
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "published cdc.sales.orders:v1" in first.stdout
    (landing / "20261124-230000000.csv").write_text(
        "Op,dms_commit_ts,order_id,customer,note,amount,region,AR_H_CHANGE_SEQ\n"
        "I,2026-11-24 23:00:00.000000,9,hooli,,1.00,emea,20261124230000000000000000000000001\n"
    )
    raw()
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "published cdc.sales.orders:v2" in second.stdout and "v1" not in second.stdout
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert f"Glue registry {name}: 0 change(s), 1 subject(s)" in again.stdout
    glue = moto_client("glue", moto_server)
    back = registry_from_glue(glue, registry_name=name, schema_names=["cdc.sales.orders"])
    fields = [f["name"] for f in back.subject("cdc.sales.orders").latest.schema["fields"]]
    assert "region" in fields and back.subject("cdc.sales.orders").compatibility == "FULL"
