"""``lake query --engine athena``: the request path against moto; the SQL and the printing against DuckDB.

What moto stands in for: Athena's API, not its engine. moto records each query execution (query string,
workgroup, execution context, result location) and moves it QUEUED -> RUNNING -> SUCCEEDED as it is polled
(its state manager sets how fast, or keeps it queued); GetQueryResults returns the rows a test registered
beforehand (``/moto-api/static/athena/query-results``), in one page (moto ignores MaxResults and
NextToken). moto does not run SQL, so the rows registered here are the rows the local engine (DuckDB over
the same Iceberg table) returns for the same SQL string, written the way Athena writes them; the test then
compares the two printouts. What moto cannot produce (a FAILED query, access denied, several result pages)
is played by botocore's ``Stubber`` on a real Athena client, which checks each request against the API
model. The Glue side (moto's Glue and S3) shows that the tables Athena sees are named like the local ones.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import fastavro
import pyarrow as pa
import pytest
from botocore.stub import Stubber
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NamespaceAlreadyExistsError

from lake_assets.athena import (
    AthenaColumn,
    AthenaError,
    athena_client,
    athena_value,
    print_rows,
    run_athena,
)
from lake_assets.query import connect, run_sql, table_names
from lake_assets.settings import AthenaSettings, LakeSettings, SettingsError, load_settings
from lake_assets.storage import StorageError
from lake_assets.storage.object_store import LocalObjectStore
from lake_assets.tables.catalog import CatalogConfig
from lake_assets.tables.inspect import list_tables
from lake_assets.tables.raw_catalog import register_raw_partitions
from lake_assets_tests.fixtures.moto import MOTO_REGION, moto_client, moto_env

OUTPUT = "s3://lake-athena-results/athena-results/"


def aws_settings(endpoint_url: str, **athena: str) -> LakeSettings:
    """LAKE_ENV=aws settings whose AWS APIs are moto, read through load_settings as the CLI does."""
    return load_settings(
        {
            "LAKE_ENV": "aws",
            "LAKE_ROOT": "s3://lake-athena/lake",
            "LAKE_AWS_ENDPOINT_URL": endpoint_url,
            **moto_env(),
            "LAKE_ATHENA_POLL_SECONDS": "0.01",
            **athena,
        }
    )


def _moto_api(endpoint_url: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        f"{endpoint_url}/moto-api/{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201)


@pytest.fixture
def workgroup(moto_server: str) -> str:
    """A workgroup of its own (moto is shared by the test session)."""
    name = f"lake-{uuid.uuid4().hex[:8]}"
    moto_client("athena", moto_server).create_work_group(Name=name, Configuration={})
    return name


@pytest.fixture
def athena_progress(moto_server: str) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Set how moto moves query executions on (its state manager); back to immediate afterwards."""

    def set_transition(transition: dict[str, Any]) -> None:
        _moto_api(
            moto_server,
            "state-manager/set-transition",
            {"model_name": "athena::execution", "transition": transition},
        )

    yield set_transition
    _moto_api(moto_server, "state-manager/unset-transition", {"model_name": "athena::execution"})


def column(name: str, type_: str, precision: int = 0, scale: int = 0) -> dict[str, Any]:
    """One ``ColumnInfo`` as Athena returns it."""
    return {
        "Name": name,
        "Label": name,
        "Type": type_,
        "Precision": precision,
        "Scale": scale,
        "Nullable": "UNKNOWN",
        "CaseSensitive": type_ == "varchar",
    }


def row(*values: str | None) -> dict[str, Any]:
    """One result row as Athena returns it: every value as text, a NULL as an empty datum."""
    return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}


def register_results(endpoint_url: str, columns: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    """What moto's GetQueryResults returns for the next query started (a SELECT: the header row first)."""
    header = row(*(c["Name"] for c in columns))
    _moto_api(
        endpoint_url,
        "static/athena/query-results",
        {"region": MOTO_REGION, "results": [{"rows": [header, *rows], "column_info": columns}]},
    )


# The same SQL on both engines ------------------------------------------------------------------------------

ORDERS = pa.table(
    {
        "id": pa.array([1, 2, 3], pa.int32()),
        "order_id": pa.array([10, None, 9_007_199_254_740_993], pa.int64()),
        "customer": pa.array(["ana", None, ""], pa.string()),
        "amount": pa.array([Decimal("12.30"), Decimal("-0.05"), None], pa.decimal128(12, 2)),
        "rate": pa.array([0.25, None, 1e10], pa.float64()),
        "paid": pa.array([True, False, None], pa.bool_()),
        "dt": pa.array([dt.date(2026, 11, 30), None, dt.date(2026, 12, 1)], pa.date32()),
        "placed_at": pa.array(
            [dt.datetime(2026, 11, 30, 8, 0, 0, 123456), None, dt.datetime(2026, 12, 1)], pa.timestamp("us")
        ),
        "seen_at": pa.array(
            [dt.datetime(2026, 11, 30, 7, 59, 1, 500000, tzinfo=dt.UTC), None, None],
            pa.timestamp("us", tz="UTC"),
        ),
    }
)
# The same rows as Athena (engine version 3) returns them for the Iceberg table: text values, types in
# ResultSetMetadata.
ORDERS_COLUMNS = {
    "id": column("id", "integer", 10),
    "order_id": column("order_id", "bigint", 19),
    "customer": column("customer", "varchar", 2147483647),
    "amount": column("amount", "decimal", 12, 2),
    "rate": column("rate", "double", 17),
    "paid": column("paid", "boolean"),
    "dt": column("dt", "date"),
    "placed_at": column("placed_at", "timestamp", 6),
    "seen_at": column("seen_at", "timestamp with time zone", 6),
}
ORDERS_AS_ATHENA = {
    "id": ["1", "2", "3"],
    "order_id": ["10", None, "9007199254740993"],
    "customer": ["ana", None, ""],
    "amount": ["12.30", "-0.05", None],
    "rate": ["0.25", None, "1.0E10"],
    "paid": ["true", "false", None],
    "dt": ["2026-11-30", None, "2026-12-01"],
    "placed_at": ["2026-11-30 08:00:00.123456", None, "2026-12-01 00:00:00.000000"],
    "seen_at": ["2026-11-30 07:59:01.500000 UTC", None, None],
}


def polled_states(client: Any) -> list[str]:
    """The state every GetQueryExecution of ``client`` answers, in order."""
    states: list[str] = []

    def record(parsed: dict[str, Any], **_: Any) -> None:
        states.append(parsed["QueryExecution"]["Status"]["State"])

    client.meta.events.register("after-call.athena.GetQueryExecution", record)
    return states


def local_lake_with(root: Path, identifier: str, data: pa.Table) -> LocalObjectStore:
    """A local lake whose SQLite catalog holds ``identifier`` with ``data`` (pyiceberg, no Spark)."""
    catalog = CatalogConfig.for_lake(str(root))
    catalog.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    iceberg = SqlCatalog("lake", uri=catalog.uri, warehouse=catalog.warehouse)
    database, name = identifier.split(".")
    iceberg.create_namespace(database)
    iceberg.create_table((database, name), schema=data.schema).append(data)
    return LocalObjectStore(root)


def test_the_same_sql_prints_the_same_table_on_athena_as_locally(
    moto_server: str, workgroup: str, athena_progress: Callable[[dict[str, Any]], None], tmp_path: Path
) -> None:
    store = local_lake_with(tmp_path / "lake", "final.shop_orders", ORDERS)
    # Two column sets, so that no column or value is cut from the box (compared in full).
    for names in (
        ["id", "order_id", "customer", "amount", "rate"],
        ["id", "paid", "dt", "placed_at", "seen_at"],
    ):
        sql = f"SELECT {', '.join(names)} FROM final.shop_orders ORDER BY id"
        local = run_sql(store, sql)
        assert "NULL" in local and "…" not in local

        # On Athena: moto takes two polls per state (QUEUED, then RUNNING, then SUCCEEDED).
        athena_progress({"progression": "manual", "times": 2})
        register_results(
            moto_server,
            [ORDERS_COLUMNS[n] for n in names],
            [row(*(ORDERS_AS_ATHENA[n][i] for n in names)) for i in range(ORDERS.num_rows)],
        )
        settings = aws_settings(moto_server, LAKE_ATHENA_WORKGROUP=workgroup, LAKE_ATHENA_OUTPUT=OUTPUT)
        client = athena_client(settings)
        states = polled_states(client)
        printed = run_athena(sql, settings, client)

        # What Athena received, read back.
        ids = moto_client("athena", moto_server).list_query_executions(WorkGroup=workgroup)[
            "QueryExecutionIds"
        ]
        query_id = ids[-1]
        execution = moto_client("athena", moto_server).get_query_execution(QueryExecutionId=query_id)
        execution = execution["QueryExecution"]
        assert execution["Query"] == sql
        assert execution["WorkGroup"] == workgroup
        assert execution["QueryExecutionContext"] == {"Catalog": "AwsDataCatalog"}  # no default database
        assert execution["ResultConfiguration"]["OutputLocation"] == f"{OUTPUT}{query_id}.csv"
        assert states == ["QUEUED", "RUNNING", "RUNNING", "SUCCEEDED"]  # polled until done, then read

        # Printed as the local engine prints the same rows, then Athena's statistics on one line.
        assert printed == (
            f"{local}\nAthena: 0 B scanned, engine time 0.00 s, query {query_id} in workgroup {workgroup}"
        )


def test_athena_values_become_the_python_values_of_their_types() -> None:
    values = {
        name: [athena_value(text, AthenaColumn.from_info(ORDERS_COLUMNS[name])) for text in texts]
        for name, texts in ORDERS_AS_ATHENA.items()
    }
    assert values == ORDERS.to_pydict()  # NULLs stay None
    tz = AthenaColumn("t", "timestamp with time zone")
    assert athena_value("2026-11-30 09:00:00.000 Europe/Paris", tz) == dt.datetime(
        2026, 11, 30, 8, tzinfo=dt.UTC
    )
    assert athena_value("2026-11-30 09:00:00.000 +01:00", tz) == dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC)
    nanos = AthenaColumn.from_info(column("t", "timestamp(9)", 9))
    assert athena_value("2026-11-30 08:00:00.123456789", nanos) == dt.datetime(2026, 11, 30, 8, 0, 0, 123456)
    assert AthenaColumn.from_info({"Name": "d", "Type": "decimal(38,6)"}).arrow_type() == pa.decimal128(38, 6)
    assert athena_value("[1, 2]", AthenaColumn("a", "array")) == "[1, 2]"  # other types: Athena's text
    assert math.isnan(athena_value("NaN", AthenaColumn("r", "double")))
    with pytest.raises(
        AthenaError, match=r"'yes' in column 'paid' of type boolean.*cast the column to varchar"
    ):
        athena_value("yes", AthenaColumn("paid", "boolean"))


def test_printing_matches_duckdb_for_empty_results_duplicate_names_and_statements() -> None:
    columns = [AthenaColumn("id", "integer"), AthenaColumn("id", "varchar")]
    assert print_rows(columns, []) == str(duckdb.sql("SELECT 1::INTEGER AS id, 'x' AS id WHERE false"))
    assert print_rows(columns, [[1, "a"]]) == str(duckdb.sql("SELECT 1::INTEGER AS id, 'a' AS id"))
    assert print_rows([], []) == "ok"  # a statement without a result set, as locally


# The names both engines accept ---------------------------------------------------------------------------


def test_glue_and_the_local_engine_name_the_tables_alike(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``<database>.<table>``: the Glue database and table Athena resolves are the local engine's views."""
    for name, value in moto_env().items():
        monkeypatch.setenv(name, value)
    suffix = uuid.uuid4().hex[:8]  # moto is shared by the test session
    identifier = f"final.shop_orders_{suffix}"
    store = local_lake_with(tmp_path / "lake", identifier, ORDERS)
    folder = f"events/probe_{suffix}"  # a raw folder: raw/<kind>/<name>/dt=<day>/*.avro
    avro = {"type": "record", "name": "probe", "fields": [{"name": "id", "type": "int"}]}
    day = tmp_path / "lake" / "raw" / folder / "dt=2026-11-30"
    day.mkdir(parents=True)
    with open(day / "part-0.avro", "wb") as out:
        fastavro.writer(out, avro, [{"id": 1}])
    local_names = set(table_names(connect(store)))

    moto_client("s3", moto_server).create_bucket(Bucket="lake-athena")
    glue_catalog = CatalogConfig.for_lake(
        "s3://lake-athena/lake",
        "glue",
        s3_endpoint=moto_server,
        glue_endpoint=moto_server,
        region=MOTO_REGION,
    )
    iceberg = glue_catalog.pyiceberg()
    database, name = identifier.split(".")
    with contextlib.suppress(NamespaceAlreadyExistsError):  # another test made it
        iceberg.create_namespace(database)
    iceberg.create_table(
        identifier, schema=ORDERS.schema, location=glue_catalog.table_location(database, name)
    )
    # raw's asset registers each folder as raw.<folder with '/' -> '_'> (assets/raw.py).
    raw_name = folder.replace("/", "_")
    register_raw_partitions(
        glue_catalog, raw_name, f"s3://lake-athena/lake/raw/{folder}/", avro, ["2026-11-30"]
    )

    glue = moto_client("glue", moto_server)
    try:
        assert (
            glue.get_table(DatabaseName=database, Name=name)["Table"]["Parameters"]["table_type"] == "ICEBERG"
        )
        assert glue.get_table(DatabaseName="raw", Name=raw_name)["Table"]["Name"] == raw_name
        glue_names = {
            f"{database}.{t['Name']}"
            for database in ("final", "raw")
            for t in glue.get_tables(DatabaseName=database)["TableList"]
        }
        assert identifier in {t.identifier for t in list_tables(glue_catalog)}
        assert {identifier, f"raw.{raw_name}"} <= local_names & glue_names
    finally:  # moto is shared by the test session: other tests list these databases' tables
        glue.delete_table(DatabaseName=database, Name=name)
        glue.delete_table(DatabaseName="raw", Name=raw_name)


# Polling, failures and errors ------------------------------------------------------------------------------


def test_a_query_still_running_at_the_timeout_is_stopped(
    moto_server: str, workgroup: str, athena_progress: Callable[[dict[str, Any]], None]
) -> None:
    athena_progress({"progression": "manual", "times": 1_000_000})  # stays QUEUED
    settings = aws_settings(moto_server, LAKE_ATHENA_WORKGROUP=workgroup, LAKE_ATHENA_TIMEOUT_SECONDS="0.3")
    with pytest.raises(AthenaError) as caught:
        run_athena("SELECT count(*) AS n FROM final.shop_daily_funnel", settings)
    athena = moto_client("athena", moto_server)
    (query_id,) = athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    assert str(caught.value) == (
        f"Athena query {query_id} in workgroup {workgroup!r} did not finish within 0.3 s and was stopped: "
        "raise LAKE_ATHENA_TIMEOUT_SECONDS or let the query read less (a WHERE on dt)"
    )
    assert athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"] == (
        "CANCELLED"
    )


def test_a_missing_workgroup_is_one_line_with_the_fix(moto_server: str) -> None:
    settings = aws_settings(moto_server, LAKE_ATHENA_WORKGROUP="no-such-workgroup")
    with pytest.raises(AthenaError) as caught:
        run_athena("SELECT 1 AS one", settings)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "Athena starting the query in workgroup 'no-such-workgroup' (us-east-1) failed: "
        "the workgroup does not exist"
    )
    assert message.endswith("set LAKE_ATHENA_WORKGROUP to an existing workgroup")


def test_no_credentials_is_one_line_with_the_fix(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings = load_settings(
        {"LAKE_ENV": "aws", "LAKE_ROOT": "s3://lake-athena/lake", "LAKE_AWS_ENDPOINT_URL": moto_server}
    )
    with pytest.raises(AthenaError) as caught:
        run_athena("SELECT 1 AS one", settings)
    assert str(caught.value) == (
        "Athena starting the query in workgroup 'lake' (us-east-1) failed: no AWS credentials found: set "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or run where a role provides them"
    )


def stubbed(settings: LakeSettings) -> tuple[Any, Stubber]:
    """A real Athena client whose answers are queued (botocore checks every request against the API)."""
    client = athena_client(settings)
    return client, Stubber(client)


def execution(query_id: str, state: str, **status: Any) -> dict[str, Any]:
    return {
        "QueryExecution": {
            "QueryExecutionId": query_id,
            "StatementType": "DML",
            "Status": {"State": state, **status},
            "ResultConfiguration": {"OutputLocation": f"{OUTPUT}{query_id}.csv"},
            "Statistics": {"DataScannedInBytes": 3_250_000, "EngineExecutionTimeInMillis": 1840},
        }
    }


STUB_SETTINGS = aws_settings("http://127.0.0.1:9", LAKE_ATHENA_MAX_ROWS="3")  # no request leaves the stub
START = {
    "QueryString": "SELECT id, name FROM final.shop_customers",
    "WorkGroup": "lake",
    "QueryExecutionContext": {"Catalog": "AwsDataCatalog"},
}


def test_a_failed_query_carries_athenas_reason_and_the_query_id() -> None:
    client, stub = stubbed(STUB_SETTINGS)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-1"}, START)
    reason = "COLUMN_NOT_FOUND: line 1:12: Column 'name' cannot be resolved\n or requester is not authorized"
    stub.add_response("get_query_execution", execution("q-1", "RUNNING"), {"QueryExecutionId": "q-1"})
    stub.add_response(
        "get_query_execution",
        execution("q-1", "FAILED", StateChangeReason=reason),
        {"QueryExecutionId": "q-1"},
    )
    with stub, pytest.raises(AthenaError) as caught:
        run_athena(START["QueryString"], STUB_SETTINGS, client)
    assert str(caught.value) == (
        "Athena query q-1 failed in workgroup 'lake': COLUMN_NOT_FOUND: line 1:12: Column 'name' cannot be "
        "resolved or requester is not authorized"
    )
    stub.assert_no_pending_responses()


def test_results_are_read_page_by_page_up_to_max_rows() -> None:
    """Athena pages GetQueryResults (NextToken; the header only on the first page); moto answers in one."""
    client, stub = stubbed(STUB_SETTINGS)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q-2"}, START)
    stub.add_response("get_query_execution", execution("q-2", "SUCCEEDED"), {"QueryExecutionId": "q-2"})
    metadata = {"ColumnInfo": [column("id", "bigint", 19), column("name", "varchar")]}
    pages = [
        (
            {"QueryExecutionId": "q-2", "MaxResults": 4},
            [row("id", "name"), row("1", "ana"), row("2", None)],
            "t1",
        ),
        ({"QueryExecutionId": "q-2", "MaxResults": 1, "NextToken": "t1"}, [row("3", "bo")], "t2"),
    ]
    for expected, rows, token in pages:
        result = {"ResultSet": {"Rows": rows, "ResultSetMetadata": metadata}, "NextToken": token}
        stub.add_response("get_query_results", result, expected)
    with stub:
        printed = run_athena(START["QueryString"], STUB_SETTINGS, client)
    stub.assert_no_pending_responses()
    local = str(duckdb.sql("SELECT * FROM (VALUES (1::BIGINT, 'ana'), (2, NULL), (3, 'bo')) AS t(id, name)"))
    assert printed.split("\n") == [
        *local.split("\n"),
        "Athena: 3.10 MiB scanned, engine time 1.84 s, query q-2 in workgroup lake",
        f"(the first 3 rows were read; the whole result is {OUTPUT}q-2.csv)",
    ]


def test_access_denied_is_one_line_naming_the_permissions() -> None:
    client, stub = stubbed(STUB_SETTINGS)
    stub.add_client_error(
        "start_query_execution",
        service_error_code="AccessDeniedException",
        service_message="User: arn:aws:iam::123456789012:user/ana is not authorized to perform: "
        "athena:StartQueryExecution on resource: arn:aws:athena:us-east-1:123456789012:workgroup/lake",
        http_status_code=400,
    )
    with stub, pytest.raises(AthenaError) as caught:
        run_athena(START["QueryString"], STUB_SETTINGS, client)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "Athena starting the query in workgroup 'lake' (us-east-1) was denied (AccessDeniedException: User: "
    )
    assert "the caller needs athena:StartQueryExecution, GetQueryExecution, GetQueryResults" in message


def test_as_of_and_a_lake_outside_glue_are_refused_before_any_request() -> None:
    with pytest.raises(AthenaError, match="FOR TIMESTAMP AS OF TIMESTAMP '2026-11-30 08:00:00 UTC'"):
        run_athena("SELECT 1 AS one", STUB_SETTINGS, object(), as_of="2026-11-30T08:00:00")
    with pytest.raises(AthenaError, match="final.shop_daily_funnel FOR VERSION AS OF 4242"):
        run_athena("SELECT 1 AS one", STUB_SETTINGS, object(), as_of="4242")
    with pytest.raises(StorageError, match="--engine athena reads the Glue Data Catalog: set LAKE_ENV=aws"):
        run_athena("SELECT 1 AS one", LakeSettings(), object())


# Settings -------------------------------------------------------------------------------------------------


def test_athena_settings_defaults_and_variables() -> None:
    assert load_settings({}).athena == AthenaSettings(
        workgroup="lake",
        output_location=None,
        catalog="AwsDataCatalog",
        poll_seconds=0.5,
        timeout_seconds=300.0,
        max_rows=10_000,
    )
    assert load_settings(
        {
            "LAKE_ATHENA_WORKGROUP": "lake-prod",
            "LAKE_ATHENA_OUTPUT": "s3://results/athena/",
            "LAKE_ATHENA_CATALOG": "lake_catalog",
            "LAKE_ATHENA_POLL_SECONDS": "0.2",
            "LAKE_ATHENA_TIMEOUT_SECONDS": "900",
            "LAKE_ATHENA_MAX_ROWS": "500",
        }
    ).athena == AthenaSettings("lake-prod", "s3://results/athena/", "lake_catalog", 0.2, 900.0, 500)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LAKE_ATHENA_WORKGROUP": "my lake"}, "LAKE_ATHENA_WORKGROUP='my lake' is not an Athena workgroup"),
        (
            {"LAKE_ATHENA_OUTPUT": "results/athena"},
            "LAKE_ATHENA_OUTPUT='results/athena' must be an S3 prefix",
        ),
        ({"LAKE_ATHENA_OUTPUT": "s3:///athena"}, "like s3://my-bucket/athena-results/ (or leave it unset"),
        ({"LAKE_ATHENA_CATALOG": "Aws Data"}, "LAKE_ATHENA_CATALOG='Aws Data' is not a data catalog name"),
        ({"LAKE_ATHENA_POLL_SECONDS": "fast"}, "LAKE_ATHENA_POLL_SECONDS='fast' is not a number"),
        ({"LAKE_ATHENA_TIMEOUT_SECONDS": "0"}, "LAKE_ATHENA_TIMEOUT_SECONDS=0.0 must be positive"),
        ({"LAKE_ATHENA_MAX_ROWS": "0"}, "LAKE_ATHENA_MAX_ROWS=0 must be at least 1"),
    ],
)
def test_a_bad_athena_setting_names_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    assert message in str(caught.value)


def test_lake_query_engine_athena_through_the_real_command_line_is_audited_like_a_local_query(
    moto_server: str, workgroup: str
) -> None:
    """``lake query --engine athena`` as a subprocess: moto's Athena answers, the lake (and its audit log) is
    on moto's S3. ``--as`` is refused there (on Athena the caller's IAM role and its grants apply)."""
    bucket = f"lake-cli-{uuid.uuid4().hex[:8]}"
    moto_client("s3", moto_server).create_bucket(Bucket=bucket)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKE_", "AWS_"))}
    env |= moto_env() | {
        "LAKE_ENV": "aws",
        "LAKE_ROOT": f"s3://{bucket}/lake",
        "LAKE_S3_ENDPOINT_URL": moto_server,
        "LAKE_AWS_ENDPOINT_URL": moto_server,
        "LAKE_ATHENA_WORKGROUP": workgroup,
        "LAKE_ATHENA_OUTPUT": OUTPUT,
    }
    register_results(moto_server, [ORDERS_COLUMNS["id"]], [row("7"), row("8")])
    lake = str(Path(sys.executable).with_name("lake"))
    sql = "SELECT id FROM final.shop_orders ORDER BY id"
    done = subprocess.run([lake, "query", "--engine", "athena", sql], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    cells = [line.strip("│ ") for line in done.stdout.splitlines() if line.startswith("│")]
    assert cells[:2] == ["id", "int32"] and cells[-2:] == ["7", "8"]
    assert f"in workgroup {workgroup}" in done.stdout
    refused = subprocess.run(
        [lake, "query", "--engine", "athena", "--as", "marketing", sql],
        env=env,
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2 and "on Athena the caller's IAM role" in refused.stderr
    audit = subprocess.run([lake, "access", "audit"], env=env, capture_output=True, text=True)
    assert audit.returncode == 0, audit.stderr
    lines = [x for x in audit.stdout.splitlines() if sql in x]
    assert len(lines) == 2
    assert " as (unrestricted)  athena  ok  [final.shop_orders]  " + sql in lines[0]
    assert " as marketing  athena  denied  [" in lines[1] and "on Athena the caller's IAM role" in lines[1]
