"""``lake query --engine athena``: the same SQL on Amazon Athena over the Glue catalog, printed as locally.

The SQL names its tables ``<database>.<table>`` as with the local engine (``final.shop_daily_funnel``,
``intermediate.events_page_view``, ``raw.events_page_view``): the Glue databases are the lake's zones and the
query runs in the Glue Data Catalog (``AwsDataCatalog``) with no default database. ``run_athena`` starts the
query in the workgroup (``LAKE_ATHENA_WORKGROUP``), waits for it, reads the result back page by page, turns
each value into its Python value by the column's Athena type, and prints the rows through DuckDB: the same
box as ``lake_assets.query.run_sql`` prints for the same rows and types, because it is the same printer.

Differences that remain, by design of the two engines: Athena names an unnamed expression ``_col0`` where
DuckDB uses its SQL text, and lower-cases unquoted names; alias result columns in lower case
(``count(*) AS n``) for the same header. Arrays, maps, rows and other types without a listed conversion
print as Athena's text (``varchar``). ``--as-of`` is refused (see ``run_athena``).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import pyarrow as pa

from lake_assets.settings import AthenaSettings, LakeSettings
from lake_assets.storage import StorageError

__all__ = [
    "AthenaColumn",
    "AthenaError",
    "AthenaSettings",
    "athena_client",
    "athena_value",
    "print_rows",
    "run_athena",
]

MAX_POLL_SECONDS = 5.0  # the backoff's ceiling between two status checks
PAGE_ROWS = 1000  # GetQueryResults' largest page
DONE = ("SUCCEEDED", "FAILED", "CANCELLED")


class AthenaError(StorageError):
    """An Athena query could not run or did not succeed; one line: what failed, the workgroup, the fix.

    A ``StorageError`` like the local engine's query failures, so the CLI reports both engines the same way.
    """


@dataclass(frozen=True)
class AthenaColumn:
    """One column of a result, from Athena's ``ResultSetMetadata.ColumnInfo``."""

    name: str
    type: str  # Athena's type name, lower case without parameters: varchar, bigint, decimal, ...
    precision: int = 0
    scale: int = 0

    @staticmethod
    def from_info(info: dict[str, Any]) -> AthenaColumn:
        raw = str(info.get("Type", "varchar")).lower()
        precision, scale = int(info.get("Precision") or 0), int(info.get("Scale") or 0)
        if raw.startswith("decimal(") and not precision:  # decimal(12,2) spelled in the type
            numbers = re.findall(r"\d+", raw)
            precision, scale = int(numbers[0]), int(numbers[1]) if len(numbers) > 1 else 0
        base = " ".join(re.sub(r"\(.*?\)", "", raw).split())  # timestamp(6) with time zone -> ...
        return AthenaColumn(str(info.get("Name") or info.get("Label") or ""), base, precision, scale)

    def arrow_type(self) -> pa.DataType:
        """The Arrow type DuckDB reads as the type the local engine shows for the same Iceberg column."""
        if self.type == "decimal":
            return pa.decimal128(self.precision or 38, self.scale)
        if self.type == "timestamp with time zone":
            return pa.timestamp("us", tz="UTC")
        return _ARROW.get(self.type, pa.string())


_ARROW: dict[str, pa.DataType] = {
    "varchar": pa.string(),
    "char": pa.string(),
    "string": pa.string(),
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "int": pa.int32(),
    "smallint": pa.int16(),
    "tinyint": pa.int8(),
    "double": pa.float64(),
    "real": pa.float32(),
    "float": pa.float32(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}
_INTEGERS = ("bigint", "integer", "int", "smallint", "tinyint")
_FLOATS = ("double", "real", "float")
_OFFSET = re.compile(r"^[+-]\d{2}:?\d{2}$")


def _timestamp(text: str) -> dt.datetime:
    # Athena prints up to nanoseconds (timestamp(9)); Python and the printer keep microseconds.
    return dt.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text.strip()))


def _timestamp_tz(text: str) -> dt.datetime:
    """``2026-11-30 08:00:00.000 UTC`` / ``... Europe/Paris`` / ``... +01:00``."""
    stamp, _, zone = text.strip().rpartition(" ")
    if not stamp:
        return _timestamp(text)  # an offset written into the stamp: 2026-11-30T08:00:00+01:00
    if zone in ("UTC", "Z"):
        return _timestamp(stamp).replace(tzinfo=dt.UTC)
    if _OFFSET.match(zone):
        return _timestamp(stamp + zone)
    return _timestamp(stamp).replace(tzinfo=ZoneInfo(zone))


def athena_value(text: str | None, column: AthenaColumn) -> Any:
    """One value of Athena's result (always text, or absent for NULL) as the Python value of its type.

    varchar -> str, bigint/integer/smallint/tinyint -> int, double/real -> float, boolean -> bool,
    date -> date, timestamp -> datetime, timestamp with time zone -> aware datetime, decimal -> Decimal;
    None stays None; any other type stays Athena's text.
    """
    if text is None:
        return None
    kind = column.type
    try:
        if kind in _INTEGERS:
            return int(text)
        if kind in _FLOATS:
            return float(text)
        if kind == "boolean":
            if text not in ("true", "false"):
                raise ValueError(text)
            return text == "true"
        if kind == "date":
            return dt.date.fromisoformat(text)
        if kind == "timestamp":
            return _timestamp(text)
        if kind == "timestamp with time zone":
            return _timestamp_tz(text)
        if kind == "decimal":
            return Decimal(text)
    except (ValueError, InvalidOperation, ZoneInfoNotFoundError):
        raise AthenaError(
            f"Athena's result has {text!r} in column {column.name!r} of type {kind}, which lake query "
            "cannot read as that type: cast the column to varchar in the SQL to print it as text"
        ) from None
    return text


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def print_rows(columns: list[AthenaColumn], rows: list[list[Any]]) -> str:
    """The rows as ``str()`` of a DuckDB relation: the box ``lake_assets.query.run_sql`` prints.

    The converted values go into an Arrow table of the columns' types, and DuckDB selects them under the
    result's column names (duplicates allowed, as in a query) in Athena's row order.
    """
    if not columns:
        return "ok"  # a statement without a result set, as the local engine says
    arrays = [pa.array([row[i] for row in rows], type=col.arrow_type()) for i, col in enumerate(columns)]
    arrays.append(pa.array(range(len(rows)), type=pa.int64()))
    names = [f"c{i}" for i in range(len(columns))] + ["row_number"]
    con = duckdb.connect()
    try:
        con.register("athena_result", pa.Table.from_arrays(arrays, names=names))
        select = ", ".join(f"c{i} AS {_ident(col.name)}" for i, col in enumerate(columns))
        return str(con.sql(f"SELECT {select} FROM athena_result ORDER BY row_number"))
    finally:
        con.close()


def athena_client(settings: LakeSettings) -> Any:
    """A boto3 Athena client: the settings' region, credentials (else the AWS chain) and endpoint (tests)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=settings.aws_access_key_id,
        aws_secret_access_key=settings.aws_secret_access_key,
        region_name=settings.aws_region,
    )
    config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 5, "mode": "standard"})
    return session.client("athena", endpoint_url=settings.aws_endpoint_url, config=config)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


_DENIED = ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation")
_REJECTED = (
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
)


@contextmanager
def _aws(action: str, settings: LakeSettings) -> Iterator[None]:
    """botocore's exceptions as one line: what failed, the workgroup, the fix."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    workgroup = settings.athena.workgroup
    where = f"Athena {action} in workgroup {workgroup!r} ({settings.aws_region})"
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), _one_line(error.get("Message", ""))
        lowered = message.lower()
        if "workgroup" in lowered and ("not found" in lowered or "does not exist" in lowered):
            raise AthenaError(
                f"{where} failed: the workgroup does not exist ({message}): create it (the lake's deploy "
                "stack does) or set LAKE_ATHENA_WORKGROUP to an existing workgroup"
            ) from None
        if "output location" in lowered:
            raise AthenaError(
                f"{where} failed: no query result location ({message}): set "
                "LAKE_ATHENA_OUTPUT=s3://<bucket>/athena-results/ or give the workgroup a result location"
            ) from None
        if code in _DENIED:
            raise AthenaError(
                f"{where} was denied ({code}: {message}): the caller needs athena:StartQueryExecution, "
                "GetQueryExecution, GetQueryResults and StopQueryExecution on the workgroup, "
                "glue:GetDatabase and GetTable on the lake's databases, read on the lake's S3 prefix and "
                "write on the result location"
            ) from None
        if code in _REJECTED:
            raise AthenaError(
                f"{where} failed: AWS rejected the credentials ({code}: {message}): refresh them (new keys, "
                "aws sso login) or check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_PROFILE"
            ) from None
        raise AthenaError(f"{where} failed: {code}: {message}") from None
    except (NoCredentialsError, PartialCredentialsError):
        raise AthenaError(
            f"{where} failed: no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or "
            "AWS_PROFILE, or run where a role provides them"
        ) from None
    except EndpointConnectionError as exc:
        raise AthenaError(
            f"{where} failed: {_one_line(str(exc))}: check AWS_REGION and the network "
            "(and LAKE_AWS_ENDPOINT_URL when a stand-in is meant)"
        ) from None
    except BotoCoreError as exc:
        raise AthenaError(f"{where} failed: {_one_line(str(exc))}") from None


def _refuse_as_of(as_of: str) -> AthenaError:
    if as_of.strip().isdigit():
        clause = f"FOR VERSION AS OF {as_of.strip()}"
    else:
        clause = f"FOR TIMESTAMP AS OF TIMESTAMP '{as_of.strip().replace('T', ' ')} UTC'"
    return AthenaError(
        f"--as-of works with the local engine only: on Athena, put the time travel in the SQL after each "
        f"table, e.g. SELECT * FROM final.shop_daily_funnel {clause}"
    )


def _stop(client: Any, query_id: str, settings: LakeSettings) -> str:
    """Stop the query; '' when it stopped, else why not (for the message that follows)."""
    try:
        with _aws(f"stopping query {query_id}", settings):
            client.stop_query_execution(QueryExecutionId=query_id)
    except AthenaError as exc:
        return f" (stopping it failed too: {exc})"
    return ""


def _wait(client: Any, query_id: str, settings: LakeSettings) -> dict[str, Any]:
    """Poll GetQueryExecution (waits double from the poll interval up to 5 s) until the query is done."""
    athena = settings.athena
    deadline = time.monotonic() + athena.timeout_seconds
    wait = athena.poll_seconds
    try:
        while True:
            with _aws(f"checking query {query_id}", settings):
                execution = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            if execution["Status"]["State"] in DONE:
                return execution
            left = deadline - time.monotonic()
            if left <= 0:
                stopped = _stop(client, query_id, settings)
                raise AthenaError(
                    f"Athena query {query_id} in workgroup {athena.workgroup!r} did not finish within "
                    f"{athena.timeout_seconds:g} s and was stopped{stopped}: raise "
                    "LAKE_ATHENA_TIMEOUT_SECONDS or let the query read less (a WHERE on dt)"
                )
            time.sleep(min(wait, left))
            wait = min(wait * 2, max(MAX_POLL_SECONDS, athena.poll_seconds))
    except KeyboardInterrupt:
        _stop(client, query_id, settings)  # no query left running (and billed) behind an interrupted CLI
        raise


def _results(
    client: Any, query_id: str, settings: LakeSettings, header: bool
) -> tuple[list[AthenaColumn], list[list[Any]], bool]:
    """Columns, converted rows (at most ``max_rows``) and whether Athena holds more rows than were read."""
    limit = settings.athena.max_rows
    columns: list[AthenaColumn] | None = None
    rows: list[list[Any]] = []
    token: str | None = None
    while True:
        request = {"QueryExecutionId": query_id, "MaxResults": min(PAGE_ROWS, limit - len(rows) + header)}
        if token:
            request["NextToken"] = token
        with _aws(f"reading the results of query {query_id}", settings):
            page = client.get_query_results(**request)
        result = page["ResultSet"]
        data = result.get("Rows", [])
        if columns is None:
            infos = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
            columns = [AthenaColumn.from_info(info) for info in infos]
            data = data[1:] if header and data else data  # a SELECT's first row holds the column names
        for row in data:
            if len(rows) == limit:
                return columns, rows, True
            cells = row.get("Data", [])
            texts = [cells[i].get("VarCharValue") if i < len(cells) else None for i in range(len(columns))]
            rows.append([athena_value(text, col) for text, col in zip(texts, columns, strict=True)])
        token = page.get("NextToken")
        header = False
        if not token:
            return columns, rows, False
        if len(rows) == limit:
            return columns, rows, True


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.2f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def run_athena(
    sql: str,
    settings: LakeSettings,
    client: Any = None,
    *,
    as_of: str | None = None,
) -> str:
    """Run ``sql`` on Athena in the workgroup of ``settings.athena``; return what ``lake query`` prints.

    StartQueryExecution in the workgroup with the catalog as the execution context (no default database:
    the SQL names ``<database>.<table>``) and ``LAKE_ATHENA_OUTPUT`` as the result location when set; then
    GetQueryExecution until the query succeeds, fails or is cancelled. After ``timeout_seconds`` the query
    is stopped (StopQueryExecution) and an error names its id. A failed query is an ``AthenaError`` with
    Athena's reason and the query id, on one line. The result is read with GetQueryResults (NextToken pages,
    up to ``max_rows`` rows) and printed as by the local engine (``print_rows``). Printed after the table:

        Athena: <data scanned> scanned, engine time <s> s, query <id> in workgroup <name>

    and, when the result has more rows than were read, a line with the full result's S3 location.

    ``as_of`` (``--as-of``) is refused: Iceberg time travel on Athena is per table in the SQL
    (``FOR TIMESTAMP AS OF TIMESTAMP '...'`` or ``FOR VERSION AS OF <snapshot id>``); the message shows it.
    """
    if as_of:
        raise _refuse_as_of(as_of)
    if settings.catalog_uri != "glue":
        raise AthenaError(
            "lake query --engine athena reads the Glue Data Catalog: set LAKE_ENV=aws "
            "(LAKE_CATALOG_URI=glue); this lake's catalog is read with --engine duckdb"
        )
    athena = settings.athena
    client = client if client is not None else athena_client(settings)
    request: dict[str, Any] = {
        "QueryString": sql,
        "WorkGroup": athena.workgroup,
        "QueryExecutionContext": {"Catalog": athena.catalog},
    }
    if athena.output_location:
        request["ResultConfiguration"] = {"OutputLocation": athena.output_location}
    with _aws("starting the query", settings):
        query_id = client.start_query_execution(**request)["QueryExecutionId"]
    execution = _wait(client, query_id, settings)
    status = execution["Status"]
    state = status["State"]
    athena_error = status.get("AthenaError", {}).get("ErrorMessage", "")
    reason = _one_line(status.get("StateChangeReason") or athena_error)
    if state == "FAILED":
        raise AthenaError(
            f"Athena query {query_id} failed in workgroup {athena.workgroup!r}: {reason or 'no reason given'}"
        )
    if state == "CANCELLED":
        raise AthenaError(
            f"Athena query {query_id} in workgroup {athena.workgroup!r} was cancelled"
            + (f": {reason}" if reason else " (by someone else: it was not stopped here)")
        )
    header = execution.get("StatementType", "DML") == "DML"
    columns, rows, more = _results(client, query_id, settings, header)
    lines = [print_rows(columns, rows)]
    stats = execution.get("Statistics", {})
    engine_ms = stats.get("EngineExecutionTimeInMillis", 0)
    lines.append(
        f"Athena: {_size(stats.get('DataScannedInBytes', 0))} scanned, engine time {engine_ms / 1000:.2f} s, "
        f"query {query_id} in workgroup {athena.workgroup}"
    )
    if more:
        result_configuration = execution.get("ResultConfiguration", {})
        location = result_configuration.get("OutputLocation", "the workgroup's result location")
        lines.append(f"(the first {len(rows)} rows were read; the whole result is {location})")
    return "\n".join(lines)
