"""The table reports on AWS: QuickSight Athena data sources, one data set per report table, one dashboard.

The request bodies are built from the same ``ReportSpec`` as the Altair charts (day column, measures and
their scale, series, bar or line), so the dashboard shows what the lake's own charts show. Data sets are
``DIRECT_QUERY`` over the Athena tables of the Glue catalog (``final.shop_daily_funnel``): no SPICE copy to
refresh. The reports that do not read a table (quarantine, CDC freshness) stay in the lake's own charts.

Access: each report reads as its ``read_as`` principal of the access policy, in QuickSight as in the lake's
charts. Its data set queries through a data source of that principal whose ``RoleArn`` is the principal's
IAM role, so Lake Formation applies that principal's grants, column rules and data cells filters to every
query the dashboard makes (not the QuickSight service role's); a report whose reader may not read a column
it draws is refused before anything is sent, as the local chart is.

``publish`` creates each resource, or updates it when it exists already, so it is safe to run on every
deploy. Every body is checked against botocore's model of the QuickSight API before it is sent.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from botocore.validate import ParamValidator

from lake_assets.access.policy import AccessDenied, Policy, Principal
from lake_assets.reports.specs import REPORTS, ReportSpec, consumer
from lake_assets.settings import QuickSightSettings

ATHENA_CATALOG = "AwsDataCatalog"
SHEET_ID = "reports"

DATA_SOURCE_ACTIONS = [
    "quicksight:DescribeDataSource",
    "quicksight:DescribeDataSourcePermissions",
    "quicksight:PassDataSource",
    "quicksight:UpdateDataSource",
    "quicksight:DeleteDataSource",
    "quicksight:UpdateDataSourcePermissions",
]
DATA_SET_ACTIONS = [
    "quicksight:DescribeDataSet",
    "quicksight:DescribeDataSetPermissions",
    "quicksight:PassDataSet",
    "quicksight:DescribeIngestion",
    "quicksight:ListIngestions",
    "quicksight:UpdateDataSet",
    "quicksight:DeleteDataSet",
    "quicksight:CreateIngestion",
    "quicksight:CancelIngestion",
    "quicksight:UpdateDataSetPermissions",
]
DASHBOARD_ACTIONS = [
    "quicksight:DescribeDashboard",
    "quicksight:ListDashboardVersions",
    "quicksight:UpdateDashboardPermissions",
    "quicksight:QueryDashboard",
    "quicksight:UpdateDashboard",
    "quicksight:DeleteDashboard",
    "quicksight:DescribeDashboardPermissions",
    "quicksight:UpdateDashboardPublishedVersion",
]


ANALYSIS_ACTIONS = [
    "quicksight:RestoreAnalysis",
    "quicksight:UpdateAnalysisPermissions",
    "quicksight:DeleteAnalysis",
    "quicksight:QueryAnalysis",
    "quicksight:DescribeAnalysisPermissions",
    "quicksight:DescribeAnalysis",
    "quicksight:UpdateAnalysis",
]


class QuickSightError(RuntimeError):
    """A request is invalid or QuickSight refused it; the message names the resource and the reason."""


def table_reports() -> list[ReportSpec]:
    """The reports QuickSight can draw: those over a catalog table."""
    return [r for r in REPORTS.values() if r.table is not None]


def data_source_id(qs: QuickSightSettings, principal: str) -> str:
    """One Athena data source per reading principal: ``<prefix>-athena-<principal>``."""
    return f"{qs.id_prefix}-athena-{principal.replace('_', '-')}"


def data_set_id(qs: QuickSightSettings, spec: ReportSpec) -> str:
    return f"{qs.id_prefix}-{spec.name.replace('_', '-')}"


def dashboard_id(qs: QuickSightSettings) -> str:
    return f"{qs.id_prefix}-reports"


def analysis_id(qs: QuickSightSettings) -> str:
    """The analysis authors edit (the dashboard is what readers see; both from one definition)."""
    return f"{qs.id_prefix}-reports-analysis"


def arn(region: str, account: str, kind: str, ident: str) -> str:
    """``arn:aws:quicksight:<region>:<account>:<kind>/<id>`` (kind: datasource, dataset, dashboard)."""
    return f"arn:aws:quicksight:{region}:{account}:{kind}/{ident}"


def _permissions(qs: QuickSightSettings, actions: list[str]) -> dict[str, Any]:
    return {"Permissions": [{"Principal": qs.principal_arn, "Actions": actions}]} if qs.principal_arn else {}


def data_source_request(
    account: str, qs: QuickSightSettings, workgroup: str, principal: Principal, policy_path: object = ""
) -> dict[str, Any]:
    """CreateDataSource: Athena through the lake's workgroup (its result location and limits), querying as
    ``principal``'s IAM role (the role must trust quicksight.amazonaws.com: docs/REPORTS.md)."""
    if not principal.arn:
        raise QuickSightError(
            f"principal {principal.name} has no arn in {policy_path or 'the access policy'}: QuickSight "
            "queries Athena as the reader's IAM role, so a report's reader needs one"
        )
    return {
        "AwsAccountId": account,
        "DataSourceId": data_source_id(qs, principal.name),
        "Name": f"Lake tables through Athena as {principal.name} ({qs.id_prefix})",
        "Type": "ATHENA",
        "DataSourceParameters": {"AthenaParameters": {"WorkGroup": workgroup, "RoleArn": principal.arn}},
        **_permissions(qs, DATA_SOURCE_ACTIONS),
    }


def _column_type(spec: ReportSpec, column: str) -> str:
    if column == spec.x:
        return "DATETIME"  # Athena's date; QuickSight has one date-time type
    if column == spec.series:
        return "STRING"
    return "INTEGER"  # the report measures are bigint counts and cents


def data_set_request(
    account: str, qs: QuickSightSettings, spec: ReportSpec, data_source_arn: str
) -> dict[str, Any]:
    """CreateDataSet: the report's columns of its Athena table, queried directly (no SPICE import)."""
    if spec.table is None:
        raise QuickSightError(f"report {spec.name} reads no table: it has no QuickSight data set")
    database, table = spec.table.split(".")
    return {
        "AwsAccountId": account,
        "DataSetId": data_set_id(qs, spec),
        "Name": f"{qs.id_prefix} {spec.table}",
        "PhysicalTableMap": {
            "table": {
                "RelationalTable": {
                    "DataSourceArn": data_source_arn,
                    "Catalog": ATHENA_CATALOG,
                    "Schema": database,
                    "Name": table,
                    "InputColumns": [{"Name": c, "Type": _column_type(spec, c)} for c in spec.columns],
                }
            }
        },
        "ImportMode": "DIRECT_QUERY",
        **_permissions(qs, DATA_SET_ACTIONS),
    }


def _column(spec: ReportSpec, name: str) -> dict[str, str]:
    return {"DataSetIdentifier": spec.name, "ColumnName": name}


def _field_wells(spec: ReportSpec) -> dict[str, list[dict[str, Any]]]:
    """Category = the day, Values = the measures (summed), Colors = the series: the Altair encoding's x, y
    and color."""
    wells: dict[str, list[dict[str, Any]]] = {
        "Category": [
            {
                "DateDimensionField": {
                    "FieldId": f"{spec.name}.{spec.x}",
                    "Column": _column(spec, spec.x),
                    "DateGranularity": "DAY",
                }
            }
        ],
        "Values": [
            {
                "NumericalMeasureField": {
                    "FieldId": f"{spec.name}.{m.name}",
                    "Column": _column(spec, m.name if m.scale != 1 else m.column),
                    "AggregationFunction": {"SimpleNumericalAggregation": "SUM"},
                }
            }
            for m in spec.measures
        ],
    }
    if spec.series:
        wells["Colors"] = [
            {
                "CategoricalDimensionField": {
                    "FieldId": f"{spec.name}.{spec.series}",
                    "Column": _column(spec, spec.series),
                }
            }
        ]
    return wells


def visual(spec: ReportSpec) -> dict[str, Any]:
    """The report as a QuickSight visual: stacked vertical bars or lines, titled as the chart."""
    head = {
        "VisualId": spec.name,
        "Title": {"Visibility": "VISIBLE", "FormatText": {"PlainText": spec.title}},
        "Subtitle": {"Visibility": "VISIBLE", "FormatText": {"PlainText": spec.description}},
    }
    if spec.mark == "bar":
        config = {
            "FieldWells": {"BarChartAggregatedFieldWells": _field_wells(spec)},
            "Orientation": "VERTICAL",
            "BarsArrangement": "STACKED" if spec.series else "CLUSTERED",
        }
        return {"BarChartVisual": {**head, "ChartConfiguration": config}}
    config = {"FieldWells": {"LineChartAggregatedFieldWells": _field_wells(spec)}, "Type": "LINE"}
    return {"LineChartVisual": {**head, "ChartConfiguration": config}}


def report_definition(specs: Sequence[ReportSpec], data_set_arns: dict[str, str]) -> dict[str, Any]:
    """One sheet with one visual per table report; scaled measures (revenue from cents) as calculated
    fields. The analysis and the dashboard share it."""
    calculated = [
        {
            "DataSetIdentifier": spec.name,
            "Name": m.name,
            "Expression": f"{{{m.column}}} * {m.scale!r}",
        }
        for spec in specs
        for m in spec.measures
        if m.scale != 1
    ]
    definition: dict[str, Any] = {
        "DataSetIdentifierDeclarations": [
            {"Identifier": spec.name, "DataSetArn": data_set_arns[spec.name]} for spec in specs
        ],
        "Sheets": [{"SheetId": SHEET_ID, "Name": "Lake reports", "Visuals": [visual(s) for s in specs]}],
    }
    if calculated:
        definition["CalculatedFields"] = calculated
    return definition


def analysis_request(account: str, qs: QuickSightSettings, definition: dict[str, Any]) -> dict[str, Any]:
    """CreateAnalysis: the reports' definition (``report_definition``), where authors change the charts."""
    return {
        "AwsAccountId": account,
        "AnalysisId": analysis_id(qs),
        "Name": f"{qs.id_prefix} lake reports",
        "Definition": definition,
        **_permissions(qs, ANALYSIS_ACTIONS),
    }


def dashboard_request(account: str, qs: QuickSightSettings, definition: dict[str, Any]) -> dict[str, Any]:
    """CreateDashboard: the same definition, published for readers."""
    return {
        "AwsAccountId": account,
        "DashboardId": dashboard_id(qs),
        "Name": f"{qs.id_prefix} lake reports",
        "Definition": definition,
        "DashboardPublishOptions": {"AdHocFilteringOption": {"AvailabilityStatus": "ENABLED"}},
        **_permissions(qs, DASHBOARD_ACTIONS),
    }


@functools.cache
def _input_shape(operation: str) -> Any:
    import botocore.session

    return (
        botocore.session.get_session().get_service_model("quicksight").operation_model(operation).input_shape
    )


def validate(operation: str, params: dict[str, Any]) -> None:
    """Check ``params`` against botocore's model of QuickSight's ``operation`` (required members, unknown
    members, types, lengths and ranges), as boto3 does before sending; QuickSightError lists every problem."""
    report = ParamValidator().validate(params, _input_shape(operation))
    if report.has_errors():
        raise QuickSightError(f"{operation} request is invalid:\n{report.generate_report()}")


def update_body(operation: str, create_body: dict[str, Any]) -> dict[str, Any]:
    """The update request for what ``create_body`` creates: the members the update operation has (no
    ``Type``, ``Permissions`` or ``Tags``: those are fixed at creation or have calls of their own)."""
    members = _input_shape(operation).members
    return {k: v for k, v in create_body.items() if k in members}


def report_readers(policy: Policy, specs: Sequence[ReportSpec]) -> dict[str, Principal]:
    """Each table report's reader; ``QuickSightError`` when one reads as nobody or may not read a column
    it draws (the same refusal as the lake's own chart)."""
    readers = {}
    for spec in specs:
        assert spec.table is not None
        try:
            name, _ = policy.consumer_view(consumer(spec.name), spec.table, spec.columns)
        except AccessDenied as exc:
            raise QuickSightError(str(exc)) from None
        readers[spec.name] = policy.principals[name]
    return readers


@dataclass(frozen=True)
class Requests:
    """Every create request of one publish, in the order they are sent (ARNs are QuickSight's, built from
    the region, the account and the ids, so the bodies can name each other before anything exists)."""

    data_sources: list[dict[str, Any]]
    data_sets: list[dict[str, Any]]
    analysis: dict[str, Any]
    dashboard: dict[str, Any]

    def by_operation(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "CreateDataSource": self.data_sources,
            "CreateDataSet": self.data_sets,
            "CreateAnalysis": [self.analysis],
            "CreateDashboard": [self.dashboard],
        }


def requests(account: str, region: str, qs: QuickSightSettings, workgroup: str, policy: Policy) -> Requests:
    """The validated create requests for the table reports, each data set on its reader's data source."""
    specs = table_reports()
    readers = report_readers(policy, specs)
    sources = {p.name: data_source_request(account, qs, workgroup, p, policy.path) for p in readers.values()}
    source_arns = {name: arn(region, account, "datasource", b["DataSourceId"]) for name, b in sources.items()}
    sets = [data_set_request(account, qs, s, source_arns[readers[s.name].name]) for s in specs]
    set_arns = {
        s.name: arn(region, account, "dataset", b["DataSetId"]) for s, b in zip(specs, sets, strict=True)
    }
    definition = report_definition(specs, set_arns)  # the analysis and the dashboard share it
    built = Requests(
        list(sources.values()),
        sets,
        analysis_request(account, qs, definition),
        dashboard_request(account, qs, definition),
    )
    for operation, bodies in built.by_operation().items():
        for body in bodies:
            validate(operation, body)
    return built


@dataclass
class PublishResult:
    done: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, id, created|updated)
    dashboard_arn: str | None = None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _create_or_update(
    create: Callable[..., dict], update: Callable[..., dict], create_op: str, update_op: str, body: dict
) -> tuple[dict, str]:
    validate(create_op, body)
    try:
        return create(**body), "created"
    except ClientError as exc:
        if _code(exc) not in ("ResourceExistsException", "ConflictException"):
            raise
    changes = update_body(update_op, body)
    validate(update_op, changes)
    return update(**changes), "updated"


def publish(
    client: Any, account: str, qs: QuickSightSettings, workgroup: str, policy: Policy
) -> PublishResult:
    """Create or update the data sources, the data sets, the analysis and the dashboard (publishing its new
    version)."""
    result = PublishResult()
    planned = requests(account, client.meta.region_name, qs, workgroup, policy)
    try:
        for body in planned.data_sources:
            _, action = _create_or_update(
                client.create_data_source,
                client.update_data_source,
                "CreateDataSource",
                "UpdateDataSource",
                body,
            )
            result.done.append(("data source", body["DataSourceId"], action))
        for body in planned.data_sets:
            _, action = _create_or_update(
                client.create_data_set, client.update_data_set, "CreateDataSet", "UpdateDataSet", body
            )
            result.done.append(("data set", body["DataSetId"], action))
        body = planned.analysis
        _, action = _create_or_update(
            client.create_analysis, client.update_analysis, "CreateAnalysis", "UpdateAnalysis", body
        )
        result.done.append(("analysis", body["AnalysisId"], action))
        body = planned.dashboard
        response, action = _create_or_update(
            client.create_dashboard, client.update_dashboard, "CreateDashboard", "UpdateDashboard", body
        )
        if action == "updated":  # an update makes a new version; readers see the published one
            version = int(str(response["VersionArn"]).rsplit("/", 1)[-1])
            client.update_dashboard_published_version(
                AwsAccountId=account, DashboardId=body["DashboardId"], VersionNumber=version
            )
        result.dashboard_arn = response.get("Arn")
        result.done.append(("dashboard", body["DashboardId"], action))
    except ClientError as exc:
        raise QuickSightError(f"QuickSight refused the request: {exc}") from None
    return result
