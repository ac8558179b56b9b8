"""The CDC stack: DMS's S3 target writes what the lake parses; one task per source over its tables."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from lake_assets.sources.cdc.dms_format import (
    POSITION_COLUMN,
    ChangeRow,
    DmsOptions,
    encode_csv,
    encode_parquet,
    load_file_name,
    parse_dms_file,
    parse_key,
)
from lake_assets.sources.cdc.specs import load_specs
from lake_assets_tests.infra.conftest import Synth, app_context

STACK = "LakeCdc"


def endpoints(synth: Synth, kind: str) -> dict[str, dict]:
    return {
        k: v["Properties"]
        for k, v in synth.resources(STACK, "AWS::DMS::Endpoint").items()
        if v["Properties"]["EndpointType"] == kind
    }


def options_of(s3: dict) -> DmsOptions:
    """The lake's writer options that the endpoint's settings stand for (names after the S3 settings)."""
    return DmsOptions(
        data_format=s3["DataFormat"],
        add_column_name=s3["AddColumnName"],
        include_op_for_full_load=s3["IncludeOpForFullLoad"],
        timestamp_column_name=s3["TimestampColumnName"],
        csv_null_value=s3["CsvNullValue"],
        csv_nosup_value=s3["CsvNoSupValue"] if s3["UseCsvNoSupValue"] else "",
    )


def test_each_target_writes_the_layout_and_records_the_lake_parses(synth: Synth, infra_inputs) -> None:
    specs = {(t.source, t.schema, t.table): t for t in load_specs(infra_inputs[1])}
    targets = endpoints(synth, "target")
    assert len(targets) == 2
    for s3 in (t["S3Settings"] for t in targets.values()):
        assert s3["BucketName"] == "lake-test-bucket"
        # DMS writes <BucketFolder>/<schema>/<table>/<file>; no CdcPath, no date folders: changes beside loads
        assert (
            "CdcPath" not in s3
            and s3["DatePartitionEnabled"] is False
            and s3["PreserveTransactions"] is False
        )
        assert s3["CdcInsertsOnly"] is False and s3["CdcInsertsAndUpdates"] is False
        assert s3["CompressionType"] == "NONE" and s3["EncryptionMode"] == "SSE_KMS"
        assert s3["CsvDelimiter"] == "," and s3["CsvRowDelimiter"] == "\n" and s3["Rfc4180"] is True
        source = s3["BucketFolder"].removeprefix("lake/landing/cdc/")
        assert s3["BucketFolder"] == f"lake/landing/cdc/{source}"
        options = options_of(s3)
        for (src, schema, table), spec in specs.items():
            if src != source:
                continue
            assert options.timestamp_column_name == spec.timestamp_column
            key = f"{s3['BucketFolder']}/{schema}/{table}/{load_file_name(1, s3['DataFormat'])}".removeprefix(
                "lake/"
            )
            parsed_key = parse_key(key)
            assert (parsed_key.source, parsed_key.schema, parsed_key.table) == (src, schema, table)
            columns = [*spec.primary_key, "note"]
            rows = [
                ChangeRow(
                    "I",
                    dt.datetime(2026, 11, 24, 22, 15, 30, 123456),
                    "0" * 34 + "1",
                    {columns[0]: "1", "note": ""},
                ),
                ChangeRow(
                    "U",
                    dt.datetime(2026, 11, 24, 22, 15, 31),
                    "0" * 34 + "2",
                    {columns[0]: "1", "note": None},
                ),
            ]
            writer = encode_parquet if options.data_format == "parquet" else encode_csv
            data = writer(columns, rows, options, True)
            parsed = parse_dms_file(
                key,
                data,
                timestamp_column=spec.timestamp_column,
                null_value=options.csv_null_value,
                nosup_value=options.csv_nosup_value,
            )
            assert [(r.op, r.commit_ts, r.position, r.values) for r in parsed] == [
                (r.op, r.commit_ts, r.position, r.values) for r in rows
            ]


def test_formats_follow_the_deployment_and_parquet_is_the_default(synth: Synth) -> None:
    by_folder = {
        t["S3Settings"]["BucketFolder"]: t["S3Settings"] for t in endpoints(synth, "target").values()
    }
    shop, billing = by_folder["lake/landing/cdc/shop"], by_folder["lake/landing/cdc/billing"]
    assert shop["DataFormat"] == "parquet" and shop["ParquetVersion"] == "parquet-2-0"
    assert billing["DataFormat"] == "csv" and "ParquetVersion" not in billing
    assert shop["TimestampColumnName"] == "dms_commit_ts" and billing["TimestampColumnName"] == "changed_at"


def test_tasks_select_exactly_the_tables_of_their_source_and_add_the_change_sequence(
    synth: Synth, infra_inputs
) -> None:
    specs = load_specs(infra_inputs[1])
    tasks = synth.resources(STACK, "AWS::DMS::ReplicationTask")
    assert len(tasks) == 2
    selected = set()
    for task in tasks.values():
        props = task["Properties"]
        assert props["MigrationType"] == "full-load-and-cdc"
        assert (
            json.loads(props["ReplicationTaskSettings"])["FullLoadSettings"]["TargetTablePrepMode"]
            == "DO_NOTHING"
        )
        rules = json.loads(props["TableMappings"])["rules"]
        for rule in rules:
            locator = (rule["object-locator"]["schema-name"], rule["object-locator"]["table-name"])
            if rule["rule-type"] == "selection":
                assert rule["rule-action"] == "include"
                selected.add(locator)
            else:
                assert rule["rule-action"] == "add-column" and rule["value"] == POSITION_COLUMN
                assert rule["expression"] == "$AR_H_CHANGE_SEQ"
        assert {
            (r["object-locator"]["schema-name"], r["object-locator"]["table-name"])
            for r in rules
            if r["rule-type"] == "transformation"
        } == {
            (r["object-locator"]["schema-name"], r["object-locator"]["table-name"])
            for r in rules
            if r["rule-type"] == "selection"
        }
    assert selected == {(t.schema, t.table) for t in specs}


def test_sources_read_credentials_from_secrets_manager(synth: Synth) -> None:
    sources = {s["EngineName"]: s for s in endpoints(synth, "source").values()}
    postgres, mariadb = sources["postgres"], sources["mariadb"]
    assert postgres["ServerName"] == "shop.db.internal" and postgres["DatabaseName"] == "shop"
    assert postgres["PostgreSqlSettings"]["SlotName"] == "lake_shop"
    assert {"SecretsManagerSecretId", "SecretsManagerAccessRoleArn"} <= set(postgres["PostgreSqlSettings"])
    assert {"SecretsManagerSecretId", "SecretsManagerAccessRoleArn"} <= set(mariadb["MySqlSettings"])
    assert all(
        "Password" not in s and "Username" not in s and s["SslMode"] == "require" for s in sources.values()
    )
    template = synth.template(STACK)
    secrets = {
        v["Properties"]["Name"]: v["Properties"]
        for v in synth.resources(STACK, "AWS::SecretsManager::Secret").values()
    }
    assert set(secrets) == {"lake/cdc/shop", "lake/cdc/billing"}
    assert all("KmsKeyId" in s and "SecretString" not in s for s in secrets.values())
    template.has_resource_properties(
        "AWS::DMS::ReplicationInstance", {"PubliclyAccessible": False, "AutoMinorVersionUpgrade": True}
    )


def test_the_target_role_writes_only_its_source_folder(synth: Synth) -> None:
    for name, policy in synth.resources(STACK, "AWS::IAM::Policy").items():
        if not name.startswith("S3Target"):
            continue
        source = "shop" if "shop" in name else "billing"
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        put = next(s for s in statements if "s3:PutObject" in s["Action"])
        assert put["Resource"] == f"arn:aws:s3:::lake-test-bucket/lake/landing/cdc/{source}/*"


def test_a_source_the_tables_do_not_define_fails_synth_naming_it(infra_inputs, tmp_path: Path) -> None:
    from lake_infra.app import build_app
    from lake_infra.lake import UndefinedResource

    sources = {"crm": {"engine": "postgres", "server": "crm", "port": 5432, "database": "crm"}}
    context = app_context(*infra_inputs, cdc_sources=sources)
    with pytest.raises(
        UndefinedResource,
        match=(
            r"LakeCdc stack, cdc_sources.crm: CDC source 'crm' is not defined by the lake "
            r"\(.*tables.yaml: billing, shop\)"
        ),
    ):
        build_app(context, outdir=str(tmp_path), only=["LakeCdc"])


def test_tables_of_one_source_with_two_timestamp_columns_fail_synth(infra_inputs, tmp_path: Path) -> None:
    from lake_infra.app import build_app
    from lake_infra.lake import UndefinedResource

    tables = tmp_path / "tables.yaml"
    tables.write_text(
        infra_inputs[1]
        .read_text()
        .replace("    primary_key: [order_id]\n", "    primary_key: [order_id]\n    timestamp_column: ts\n")
    )
    context = app_context(infra_inputs[0], tables)
    with pytest.raises(UndefinedResource, match="one DMS endpoint has one TimestampColumnName"):
        build_app(context, outdir=str(tmp_path / "out"), only=["LakeCdc"])


def test_the_subnet_group_waits_for_the_dms_service_roles(synth: Synth) -> None:
    """DMS checks dms-vpc-role when the subnet group is created: the group depends on both service roles."""
    resources = synth.templates[STACK]["Resources"]
    roles = {
        name
        for name, r in resources.items()
        if r["Type"] == "AWS::IAM::Role"
        and r["Properties"].get("RoleName") in ("dms-vpc-role", "dms-cloudwatch-logs-role")
    }
    assert len(roles) == 2
    [group] = [r for r in resources.values() if r["Type"] == "AWS::DMS::ReplicationSubnetGroup"]
    assert roles <= set(group.get("DependsOn", []))
