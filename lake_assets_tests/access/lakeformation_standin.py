"""An in-process stand-in for Lake Formation's data cells filter API, composed with moto's Lake Formation.

moto 5.2.5 implements Lake Formation's grants (GrantPermissions, RevokePermissions, their Batch forms,
ListPermissions) but not data cells filters: its ListDataCellsFilter always answers an empty list, and it has
no Create, Update, Delete or GetDataCellsFilter. ``DataCellsFilterStandIn`` implements those five calls in
process with the real request and response shapes: each request is checked against botocore's own model of
the API (what a boto3 client checks before sending: required members, types, lengths), then as the service
checks it (one column specification, one row specification, the name's characters and length, a filter that
exists or not, the VersionId of an update). ``LakeFormationStandIn`` is the client the code under test gets:
it forwards the grant calls to a real boto3 client of a moto server and the filter calls to the stand-in, and
adds three things moto lacks:

- ListPermissions pages (``MaxResults``, ``NextToken``) as the service does: moto answers everything at once;
- a grant on a ``DataCellsFilter`` that does not exist fails (an entry of ``Failures``), as on the service:
  moto grants on anything;
- deleting a filter that still has grants fails (stricter than the service may be, to catch an apply that
  deletes a filter before revoking its grants).

It does not check a row filter's PartiQL, nor that tables and columns exist in Glue. ``calls`` counts the
calls by operation name.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from collections import Counter
from typing import Any

import botocore.session
from botocore.exceptions import ClientError, ParamValidationError
from botocore.validate import ParamValidator

_MODEL = botocore.session.get_session().get_service_model("lakeformation")
_NAME = re.compile(r"[\u0020-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF\t]{1,255}")  # NameString's pattern
_EXPRESSION_MAX = 2048  # PredicateString's longest
_DEFAULT_PAGE = 100


def _error(operation: str, code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def _validated(operation: str, params: dict[str, Any]) -> None:
    """What a boto3 client checks before sending (raises ``ParamValidationError``, as boto3 does)."""
    report = ParamValidator().validate(params, _MODEL.operation_model(operation).input_shape)
    if report.has_errors():
        raise ParamValidationError(report=report.generate_report())


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(operation: str, token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError):
        raise _error(operation, "InvalidInputException", "Invalid NextToken.") from None


class DataCellsFilterStandIn:
    """CreateDataCellsFilter, GetDataCellsFilter, ListDataCellsFilter (paged), UpdateDataCellsFilter and
    DeleteDataCellsFilter, keyed as the service keys them: (TableCatalogId, DatabaseName, TableName, Name)."""

    def __init__(self) -> None:
        self.filters: dict[tuple[str, str, str, str], dict[str, Any]] = {}

    @staticmethod
    def _key(data: dict[str, Any]) -> tuple[str, str, str, str]:
        return (data["TableCatalogId"], data["DatabaseName"], data["TableName"], data["Name"])

    def _checked(self, operation: str, data: dict[str, Any]) -> dict[str, Any]:
        """TableData as the service checks it beyond botocore's model."""
        for member in ("TableCatalogId", "DatabaseName", "TableName", "Name"):
            if not _NAME.fullmatch(data[member]):
                raise _error(
                    operation,
                    "InvalidInputException",
                    f"{member} {data[member]!r} must be 1 to 255 printable characters.",
                )
        if ("ColumnNames" in data) == ("ColumnWildcard" in data):
            raise _error(operation, "InvalidInputException", "Specify either ColumnNames or ColumnWildcard.")
        if "ColumnNames" in data and not data["ColumnNames"]:
            raise _error(operation, "InvalidInputException", "ColumnNames must name at least one column.")
        row = data.get("RowFilter")
        if row is None or (("FilterExpression" in row) == ("AllRowsWildcard" in row)):
            raise _error(
                operation,
                "InvalidInputException",
                "RowFilter needs either FilterExpression or AllRowsWildcard.",
            )
        expression = row.get("FilterExpression")
        if expression is not None and not (
            len(expression.strip()) > 0 and len(expression) <= _EXPRESSION_MAX
        ):
            raise _error(operation, "InvalidInputException", "FilterExpression must be 1 to 2048 characters.")
        stored = copy.deepcopy(data)
        stored["VersionId"] = str(uuid.uuid4())
        return stored

    def create_data_cells_filter(self, **params: Any) -> dict[str, Any]:
        operation = "CreateDataCellsFilter"
        _validated(operation, params)
        data = params["TableData"]
        stored = self._checked(operation, data)
        key = self._key(data)
        if key in self.filters:
            raise _error(
                operation, "AlreadyExistsException", f"Data cells filter {data['Name']} already exists."
            )
        self.filters[key] = stored
        return {}

    def get_data_cells_filter(self, **params: Any) -> dict[str, Any]:
        operation = "GetDataCellsFilter"
        _validated(operation, params)
        found = self.filters.get(self._key(params))
        if found is None:
            raise _error(
                operation, "EntityNotFoundException", f"Data cells filter {params['Name']} not found."
            )
        return {"DataCellsFilter": copy.deepcopy(found)}

    def list_data_cells_filter(self, **params: Any) -> dict[str, Any]:
        operation = "ListDataCellsFilter"
        _validated(operation, params)
        table = params.get("Table")
        items = [
            f
            for key, f in sorted(self.filters.items())
            if table is None
            or (
                key[1] == table["DatabaseName"]
                and table.get("CatalogId") in (None, key[0])
                and ("TableWildcard" in table or table.get("Name") in (None, key[2]))
            )
        ]
        start = _offset(operation, params.get("NextToken"))
        size = params.get("MaxResults", _DEFAULT_PAGE)
        page = items[start : start + size]
        answer: dict[str, Any] = {"DataCellsFilters": copy.deepcopy(page)}
        if start + size < len(items):
            answer["NextToken"] = _token(start + size)
        return answer

    def update_data_cells_filter(self, **params: Any) -> dict[str, Any]:
        operation = "UpdateDataCellsFilter"
        _validated(operation, params)
        data = params["TableData"]
        key = self._key(data)
        existing = self.filters.get(key)
        if existing is None:
            raise _error(operation, "EntityNotFoundException", f"Data cells filter {data['Name']} not found.")
        if data.get("VersionId") not in (None, existing["VersionId"]):
            raise _error(
                operation,
                "ConcurrentModificationException",
                f"Data cells filter {data['Name']} was changed since version {data['VersionId']}.",
            )
        self.filters[key] = self._checked(operation, data)
        return {}

    def delete_data_cells_filter(self, **params: Any) -> dict[str, Any]:
        operation = "DeleteDataCellsFilter"
        _validated(operation, params)
        missing = [m for m in ("TableCatalogId", "DatabaseName", "TableName", "Name") if not params.get(m)]
        if missing:
            raise _error(operation, "InvalidInputException", f"Missing {', '.join(missing)}.")
        key = self._key(params)
        if key not in self.filters:
            raise _error(
                operation, "EntityNotFoundException", f"Data cells filter {params['Name']} not found."
            )
        del self.filters[key]
        return {}


class LakeFormationStandIn:
    """One ``lakeformation`` client: moto (``moto``, a boto3 client of a moto server) for grants, the stand-in
    for data cells filters. Any other call goes to moto as it is."""

    def __init__(self, moto: Any, filters: DataCellsFilterStandIn | None = None) -> None:
        self.moto = moto
        self.filters = filters or DataCellsFilterStandIn()
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.moto, name)
        if callable(attribute):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls[name] += 1
                return attribute(*args, **kwargs)

            return counted
        return attribute

    # -- data cells filters: the stand-in

    def create_data_cells_filter(self, **params: Any) -> dict[str, Any]:
        self.calls["create_data_cells_filter"] += 1
        return self.filters.create_data_cells_filter(**params)

    def get_data_cells_filter(self, **params: Any) -> dict[str, Any]:
        self.calls["get_data_cells_filter"] += 1
        return self.filters.get_data_cells_filter(**params)

    def list_data_cells_filter(self, **params: Any) -> dict[str, Any]:
        self.calls["list_data_cells_filter"] += 1
        return self.filters.list_data_cells_filter(**params)

    def update_data_cells_filter(self, **params: Any) -> dict[str, Any]:
        self.calls["update_data_cells_filter"] += 1
        return self.filters.update_data_cells_filter(**params)

    def delete_data_cells_filter(self, **params: Any) -> dict[str, Any]:
        self.calls["delete_data_cells_filter"] += 1
        _validated("DeleteDataCellsFilter", params)
        granted = [
            p["Principal"]["DataLakePrincipalIdentifier"]
            for p in self._all_permissions(params.get("TableCatalogId"))
            if p.get("Resource", {}).get("DataCellsFilter", {}).get("Name") == params.get("Name")
            and p["Resource"]["DataCellsFilter"].get("TableName") == params.get("TableName")
            and p["Resource"]["DataCellsFilter"].get("DatabaseName") == params.get("DatabaseName")
        ]
        if granted:
            raise _error(
                "DeleteDataCellsFilter",
                "InvalidInputException",
                f"Data cells filter {params.get('Name')} still has grants ({', '.join(granted)}): "
                "revoke them first.",
            )
        return self.filters.delete_data_cells_filter(**params)

    # -- grants: moto, with what it lacks

    def _all_permissions(self, catalog_id: str | None) -> list[dict[str, Any]]:
        answer = self.moto.list_permissions(**({"CatalogId": catalog_id} if catalog_id else {}))
        return answer["PrincipalResourcePermissions"]

    def list_permissions(self, **params: Any) -> dict[str, Any]:
        """moto's answer, paged as the service pages it (moto ignores MaxResults and never pages)."""
        self.calls["list_permissions"] += 1
        _validated("ListPermissions", params)
        size = params.pop("MaxResults", None)
        token = params.pop("NextToken", None)
        answer = self.moto.list_permissions(**params)
        items = sorted(answer["PrincipalResourcePermissions"], key=lambda p: json.dumps(p, sort_keys=True))
        if size is None:
            return {"PrincipalResourcePermissions": items}
        start = _offset("ListPermissions", token)
        page: dict[str, Any] = {"PrincipalResourcePermissions": items[start : start + size]}
        if start + size < len(items):
            page["NextToken"] = _token(start + size)
        return page

    def batch_grant_permissions(self, **params: Any) -> dict[str, Any]:
        """moto's grants; an entry on a data cells filter that does not exist fails as on the service."""
        self.calls["batch_grant_permissions"] += 1
        _validated("BatchGrantPermissions", params)
        failures, entries = [], []
        for entry in params["Entries"]:
            cells = (entry.get("Resource") or {}).get("DataCellsFilter")
            if (
                cells is not None
                and self.filters.filters.get(
                    (
                        cells.get("TableCatalogId"),
                        cells.get("DatabaseName"),
                        cells.get("TableName"),
                        cells.get("Name"),
                    )
                )
                is None
            ):
                failures.append(
                    {
                        "RequestEntry": entry,
                        "Error": {
                            "ErrorCode": "EntityNotFoundException",
                            "ErrorMessage": f"Data cells filter {cells.get('Name')} not found.",
                        },
                    }
                )
            else:
                entries.append(entry)
        if entries:
            answer = self.moto.batch_grant_permissions(**{**params, "Entries": entries})
            failures.extend(answer.get("Failures") or ())
        return {"Failures": failures}
