"""QuickSight: the request bodies built from the report specs, and ``publish`` against moto.

moto (in-process ``mock_aws``, so nothing is shared with other tests) stands in for QuickSight. moto 5.2.5
implements CreateDataSource/DescribeDataSource/UpdateDataSource, CreateDataSet (it records only the id and
name: no DescribeDataSet) and CreateDashboard/DescribeDashboard, and validates none of the bodies; it has no
UpdateDataSet, UpdateDashboard or UpdateDashboardPublishedVersion, and no analyses at all. So every body is
also checked against botocore's model of the QuickSight API (what boto3 checks before sending: required
members, types, enums, lengths), the analysis calls go to a small in-process stand-in beside moto
(``WithAnalyses``), and the update path (a second publish on AWS) runs against a recording client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lake_assets import cli
from lake_assets.access.policy import Policy, load_policy
from lake_assets.reports import quicksight as q
from lake_assets.reports.specs import FUNNEL, SALES
from lake_assets.settings import QuickSightSettings
from lake_assets_tests.lake_helpers import policy_with

ACCOUNT, REGION = "123456789012", "us-east-1"
QS = QuickSightSettings(principal_arn=f"arn:aws:quicksight:{REGION}:{ACCOUNT}:group/default/analysts")


POLICY = load_policy()  # the lake's own: both table reports read as analyst


def bodies(policy: Policy = POLICY) -> dict[str, list[dict]]:
    return q.requests(ACCOUNT, REGION, QS, "lake", policy).by_operation()


class WithAnalyses:
    """moto's QuickSight client plus what moto lacks: CreateAnalysis / UpdateAnalysis / DescribeAnalysis,
    kept in memory with QuickSight's answers (an existing id: ResourceExistsException)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.analyses: dict[str, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def create_analysis(self, **body: Any) -> dict[str, Any]:
        q.validate("CreateAnalysis", body)
        if body["AnalysisId"] in self.analyses:
            raise ClientError({"Error": {"Code": "ResourceExistsException", "Message": "exists"}}, "Create")
        self.analyses[body["AnalysisId"]] = body
        return {"Arn": q.arn(REGION, ACCOUNT, "analysis", body["AnalysisId"]), "Status": 202}

    def update_analysis(self, **body: Any) -> dict[str, Any]:
        q.validate("UpdateAnalysis", body)
        self.analyses[body["AnalysisId"]] = {**self.analyses[body["AnalysisId"]], **body}
        return {"Arn": q.arn(REGION, ACCOUNT, "analysis", body["AnalysisId"]), "Status": 202}


def test_every_request_matches_the_quicksight_api_model() -> None:
    for operation, many in bodies().items():
        for body in many:
            q.validate(operation, body)
            update = operation.replace("Create", "Update")
            changes = q.update_body(update, body)
            q.validate(update, changes)
            assert set(body) - set(changes) <= {"Type", "Permissions", "Tags"}


def test_validation_names_what_is_wrong() -> None:
    body = bodies()["CreateDataSet"][0] | {"ImportMode": 5}
    del body["Name"]
    with pytest.raises(q.QuickSightError, match="Name") as info:
        q.validate("CreateDataSet", body)
    assert "ImportMode" in str(info.value)


def test_the_table_reports_become_data_sets_and_visuals_of_their_columns() -> None:
    assert [s.name for s in q.table_reports()] == [SALES.name, FUNNEL.name]
    sets = {b["DataSetId"]: b for b in bodies()["CreateDataSet"]}
    sales = sets[q.data_set_id(QS, SALES)]["PhysicalTableMap"]["table"]["RelationalTable"]
    assert (sales["Catalog"], sales["Schema"], sales["Name"]) == (
        "AwsDataCatalog",
        "final",
        "shop_daily_product_sales",
    )
    assert {c["Name"]: c["Type"] for c in sales["InputColumns"]} == {
        "dt": "DATETIME",
        "product_id": "STRING",
        "revenue_cents": "INTEGER",
    }
    [dashboard] = bodies()["CreateDashboard"]
    definition = dashboard["Definition"]
    [sheet] = definition["Sheets"]
    kinds = {next(iter(v)): next(iter(v.values())) for v in sheet["Visuals"]}
    assert set(kinds) == {"BarChartVisual", "LineChartVisual"}
    bar = kinds["BarChartVisual"]["ChartConfiguration"]
    wells = bar["FieldWells"]["BarChartAggregatedFieldWells"]
    assert wells["Values"][0]["NumericalMeasureField"]["Column"]["ColumnName"] == "revenue"
    assert wells["Colors"][0]["CategoricalDimensionField"]["Column"]["ColumnName"] == "product_id"
    assert bar["BarsArrangement"] == "STACKED"
    assert definition["CalculatedFields"] == [
        {"DataSetIdentifier": SALES.name, "Name": "revenue", "Expression": "{revenue_cents} * 0.01"}
    ]
    line = kinds["LineChartVisual"]["ChartConfiguration"]["FieldWells"]["LineChartAggregatedFieldWells"]
    assert [v["NumericalMeasureField"]["Column"]["ColumnName"] for v in line["Values"]] == [
        m.column for m in FUNNEL.measures
    ]
    # Every column a visual names is a column of its data set (or a calculated field of it).
    columns = {
        s.name: {
            c["Name"]
            for c in sets[q.data_set_id(QS, s)]["PhysicalTableMap"]["table"]["RelationalTable"][
                "InputColumns"
            ]
        }
        for s in q.table_reports()
    }
    for calc in definition["CalculatedFields"]:
        columns[calc["DataSetIdentifier"]].add(calc["Name"])
    named = json.dumps(sheet)
    for spec in q.table_reports():
        for column in columns[spec.name]:
            assert f'"ColumnName": "{column}"' in named or column in {
                m.column for m in spec.measures if m.scale != 1
            }


def test_publish_creates_the_data_source_data_sets_and_dashboard_on_moto() -> None:
    with mock_aws():
        client = WithAnalyses(boto3.client("quicksight", region_name=REGION))
        result = q.publish(client, ACCOUNT, QS, "lake", POLICY)
        assert [(kind, action) for kind, _, action in result.done] == [
            ("data source", "created"),
            ("data set", "created"),
            ("data set", "created"),
            ("analysis", "created"),
            ("dashboard", "created"),
        ]
        analysis = client.analyses[q.analysis_id(QS)]
        assert [d["Identifier"] for d in analysis["Definition"]["DataSetIdentifierDeclarations"]] == [
            SALES.name,
            FUNNEL.name,
        ]
        source_id = q.data_source_id(QS, "analyst")
        source = client.describe_data_source(AwsAccountId=ACCOUNT, DataSourceId=source_id)["DataSource"]
        assert source["Type"] == "ATHENA"
        # Athena queries as the reports' reader's role: Lake Formation applies analyst's grants.
        assert source["DataSourceParameters"] == {
            "AthenaParameters": {"WorkGroup": "lake", "RoleArn": POLICY.principals["analyst"].arn}
        }
        dashboard = client.describe_dashboard(AwsAccountId=ACCOUNT, DashboardId=q.dashboard_id(QS))[
            "Dashboard"
        ]
        assert dashboard["Arn"] == result.dashboard_arn
        # moto has no DescribeDataSet: its backend shows what was stored (moto internals, test only).
        from moto.quicksight.models import quicksight_backends

        backend = quicksight_backends[ACCOUNT][REGION]
        assert sorted(backend.data_sets) == sorted(q.data_set_id(QS, s) for s in q.table_reports())
        stored = backend.dashboards[q.dashboard_id(QS)].definition
        assert [d["Identifier"] for d in stored["DataSetIdentifierDeclarations"]] == [SALES.name, FUNNEL.name]


class RecordingClient:
    """QuickSight as it answers a second publish: every resource exists already."""

    meta = type("Meta", (), {"region_name": REGION})

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        def call(**params: Any) -> dict[str, Any]:
            self.calls.append((name, params))
            if name.startswith("create_"):
                error = {"Error": {"Code": "ResourceExistsException", "Message": "exists"}}
                raise ClientError(error, name)
            ident = (
                params.get("DataSourceId")
                or params.get("DataSetId")
                or params.get("AnalysisId")
                or params.get("DashboardId")
            )
            arn = q.arn(REGION, ACCOUNT, name.split("_", 1)[1].replace("_", ""), ident)
            return {"Arn": arn, "VersionArn": f"{arn}/version/3"}

        return call


def test_a_second_publish_updates_everything_and_publishes_the_new_dashboard_version() -> None:
    client = RecordingClient()
    result = q.publish(client, ACCOUNT, QS, "lake", POLICY)
    assert {action for _, _, action in result.done} == {"updated"}
    updates = [(name, params) for name, params in client.calls if name.startswith("update_")]
    assert [name for name, _ in updates] == [
        "update_data_source",
        "update_data_set",
        "update_data_set",
        "update_analysis",
        "update_dashboard",
        "update_dashboard_published_version",
    ]
    assert all("Permissions" not in params for _, params in updates)  # permissions have their own calls
    assert updates[-1][1] == {"AwsAccountId": ACCOUNT, "DashboardId": q.dashboard_id(QS), "VersionNumber": 3}


def test_lake_report_publish_through_the_cli_on_moto(monkeypatch, capsys) -> None:
    for name, value in {
        "LAKE_ENV": "aws",
        "LAKE_ROOT": "s3://reports-test-bucket/lake",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("LAKE_AWS_ENDPOINT_URL", "LAKE_QUICKSIGHT_ACCOUNT_ID", "LAKE_QUICKSIGHT_PRINCIPAL_ARN"):
        monkeypatch.delenv(name, raising=False)
    real_client = cli._aws_client

    def with_analyses(settings: Any, service: str, endpoint_url: str | None) -> Any:
        made = real_client(settings, service, endpoint_url)
        return WithAnalyses(made) if service == "quicksight" else made

    monkeypatch.setattr(cli, "_aws_client", with_analyses)
    with mock_aws():
        assert cli.main(["report", "publish"]) == 0  # the account from STS (moto's 123456789012)
        out = capsys.readouterr().out
        assert "created  dashboard    lake-reports" in out and "PRINCIPAL_ARN is not set" in out
        assert "created  analysis     lake-reports-analysis" in out
        client = boto3.client("quicksight", region_name=REGION)
        assert (
            client.list_dashboards(AwsAccountId=ACCOUNT)["DashboardSummaryList"][0]["DashboardId"]
            == "lake-reports"
        )


def test_publish_refuses_a_lake_without_the_glue_catalog(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("LAKE_ENV", "local")
    monkeypatch.setenv("LAKE_ROOT", str(tmp_path))
    monkeypatch.delenv("LAKE_CATALOG_URI", raising=False)
    assert cli.main(["report", "publish"]) == 2
    assert "Athena and the Glue catalog" in capsys.readouterr().err
    assert cli.main(["report", "publish", "--dry-run"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"CreateDataSource", "CreateDataSet", "CreateAnalysis", "CreateDashboard"}


def test_each_data_set_queries_through_a_data_source_of_its_reader(tmp_path: Path) -> None:
    """Two readers, two data sources; each data set names its own reader's source (so Lake Formation
    applies that reader's grants, column rules and row filters to what the dashboard shows)."""
    policy = policy_with(
        tmp_path, ("final/reports/daily_funnel: analyst", "final/reports/daily_funnel: data_engineer")
    )
    planned = bodies(policy)
    roles = {
        b["DataSourceId"]: b["DataSourceParameters"]["AthenaParameters"]["RoleArn"]
        for b in planned["CreateDataSource"]
    }
    assert roles == {
        q.data_source_id(QS, "analyst"): policy.principals["analyst"].arn,
        q.data_source_id(QS, "data_engineer"): policy.principals["data_engineer"].arn,
    }
    sources = {
        b["DataSetId"]: b["PhysicalTableMap"]["table"]["RelationalTable"]["DataSourceArn"]
        for b in planned["CreateDataSet"]
    }
    assert sources == {
        q.data_set_id(QS, SALES): q.arn(REGION, ACCOUNT, "datasource", q.data_source_id(QS, "analyst")),
        q.data_set_id(QS, FUNNEL): q.arn(
            REGION, ACCOUNT, "datasource", q.data_source_id(QS, "data_engineer")
        ),
    }


def test_a_reader_who_may_not_read_a_drawn_column_is_refused_before_anything_is_sent(
    tmp_path: Path,
) -> None:
    """marketing may not read revenue_cents: the sales report cannot read as marketing, on QuickSight as in
    the lake's own chart; nothing is created (the refusal comes while the requests are built)."""
    policy = policy_with(
        tmp_path, ("final/reports/daily_sales: analyst", "final/reports/daily_sales: marketing")
    )
    client = RecordingClient()
    with pytest.raises(q.QuickSightError, match="marketing, who may not read revenue_cents"):
        q.publish(client, ACCOUNT, QS, "lake", policy)
    assert client.calls == []


def test_a_reader_without_an_iam_role_is_refused(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, ("    arn: arn:aws:iam::123456789012:role/lake-analyst\n", ""))
    with pytest.raises(q.QuickSightError, match="principal analyst has no arn"):
        bodies(policy)


def test_a_report_that_reads_as_nobody_is_refused(tmp_path: Path) -> None:
    policy = policy_with(tmp_path, ("  final/reports/daily_sales: analyst\n", ""))
    with pytest.raises(q.QuickSightError, match="final/reports/daily_sales reads as nobody"):
        bodies(policy)
