"""The sliver of the Tooling API (`/services/data/vXX.X/tooling/…`) that `pivot setup` uses.

- `POST tooling/sobjects/CustomField {"FullName": "Account.Pivot_Key__c", "Metadata": {"type":
  "Text", "length", "externalId", "unique", "label"}}` → 201 `{"id": "00N…", "success": true,
  "errors": [], "warnings": [], "infos": []}`; a field that already exists → 400 DUPLICATE_VALUE
  (Salesforce's metadata duplicate, which names neither field nor id).
- `GET tooling/query?q=SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE
  DeveloperName = 'Pivot_Key' AND EntityDefinition.QualifiedApiName = 'Account'` → the Tooling
  query result (`size`, `totalSize`, `done`, `entityTypeName`, `records`). Other queries answer
  MALFORMED_QUERY, so a client that starts sending them fails loudly in tests.

A created field starts hidden by field-level security (see `schema`), as in a real org.
"""

from __future__ import annotations

import re
from typing import Any

from pivot.providers.salesforce.sandbox.api import ApiRequest, ApiResponse
from pivot.providers.salesforce.sandbox.schema import FieldDef, Schema
from pivot.providers.salesforce.sandbox.store import SalesforceError, not_found, sobject_type

_LITERAL = r"'((?:[^'\\]|\\.)*)'"
_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<fields>[\w.]+(?:\s*,\s*[\w.]+)*)\s+FROM\s+CustomField"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(r"^\s*(?P<field>[\w.]+)\s*=\s*" + _LITERAL + r"\s*$", re.DOTALL)
_FILTERS = {"developername", "tableenumorid", "entitydefinition.qualifiedapiname"}
_SELECTABLE = {"id": "Id", "developername": "DeveloperName", "tableenumorid": "TableEnumOrId",
               "namespaceprefix": "NamespacePrefix"}
_FULL_NAME = re.compile(r"^(?P<sobject>[A-Za-z][A-Za-z0-9_]*)\.(?P<field>[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*__c)$")


class ToolingApi:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def handle(self, request: ApiRequest) -> ApiResponse:
        parts = request.segments[1:]
        if parts == ("sobjects", "CustomField") and request.method == "POST":
            return self.create_custom_field(request)
        if parts == ("query",) and request.method == "GET":
            return self.query(request)
        raise not_found()

    def create_custom_field(self, request: ApiRequest) -> ApiResponse:
        body = request.body
        if not isinstance(body, dict):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        full_name, metadata = body.get("FullName"), body.get("Metadata")
        match = _FULL_NAME.match(full_name) if isinstance(full_name, str) else None
        if match is None:
            raise SalesforceError(400, "INVALID_FIELD", f"FullName must be Object.Field__c, not {full_name!r}",
                                  ["FullName"])
        if not isinstance(metadata, dict):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "Metadata must be an object", ["Metadata"])
        sobject = sobject_type(match.group("sobject"))
        created = self.schema.create_custom_field(sobject, match.group("field"), metadata)
        return ApiResponse(201, {"id": created.id, "success": True, "errors": [], "warnings": [], "infos": []},
                           {"Location": self._url(request.version, created)})

    def query(self, request: ApiRequest) -> ApiResponse:
        soql = request.query.get("q") or ""
        match = _QUERY.match(soql)
        if match is None:
            raise SalesforceError(400, "MALFORMED_QUERY", f"unexpected token in the query: {soql[:80]!r}")
        wanted = [name.strip() for name in match.group("fields").split(",")]
        unknown = [name for name in wanted if name.lower() not in _SELECTABLE]
        if unknown:
            raise SalesforceError(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on entity 'CustomField'")
        filters: dict[str, str] = {}
        for condition in re.split(r"\s+AND\s+", match.group("where") or "", flags=re.IGNORECASE):
            if not condition.strip():
                continue
            parsed = _CONDITION.match(condition)
            if parsed is None or parsed.group("field").lower() not in _FILTERS:
                raise SalesforceError(400, "MALFORMED_QUERY", f"unsupported condition: {condition.strip()[:80]!r}")
            filters[parsed.group("field").lower()] = parsed.group(2)
        rows = []
        for sobject, found in self.schema.custom_fields():
            values = {"developername": found.name.removesuffix("__c"), "tableenumorid": sobject,
                      "entitydefinition.qualifiedapiname": sobject}
            if all(values[key].lower() == value.lower() for key, value in filters.items()):
                rows.append(self._row(request.version, sobject, found, wanted))
        if match.group("limit"):
            rows = rows[:int(match.group("limit"))]
        return ApiResponse(200, {"size": len(rows), "totalSize": len(rows), "done": True, "queryLocator": None,
                                 "entityTypeName": "CustomField", "records": rows})

    @staticmethod
    def _url(version: str, found: FieldDef) -> str:
        return f"/services/data/{version}/tooling/sobjects/CustomField/{found.id}"

    def _row(self, version: str, sobject: str, found: FieldDef, wanted: list[str]) -> dict[str, Any]:
        values = {"id": found.id, "developername": found.name.removesuffix("__c"), "tableenumorid": sobject,
                  "namespaceprefix": None}
        row: dict[str, Any] = {"attributes": {"type": "CustomField", "url": self._url(version, found)}}
        row.update({_SELECTABLE[name.lower()]: values[name.lower()] for name in wanted})
        return row
