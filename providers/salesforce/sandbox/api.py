"""The Salesforce REST resources of the sandbox, independent of any web framework.

`SalesforceApi.handle` takes one request below `/services/data/vXX.X/` and returns status, body
and headers in Salesforce's wire format. The Starlette app calls it for HTTP requests, and the
composite executor calls it for each subrequest, which is how `/composite` supports exactly what
the single resources support, with the same errors. Besides records: the resources of a version
(`GET /services/data/vXX.X/`), the full describe (`GET sobjects/{S}/describe`, see `schema`)
and the Tooling API (`tooling/…`, see `tooling`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pivot.providers.salesforce.sandbox.schema import Access
from pivot.providers.salesforce.sandbox.soql import parse as parse_soql
from pivot.providers.salesforce.sandbox.store import (
    MultipleMatches,
    Record,
    SalesforceError,
    SObjectType,
    Store,
    Tag,
    check_field_name,
    not_found,
    sobject_type,
)

MAX_COLLECTION = 200
MAX_COLLECTION_READ = 2000
ROLLED_BACK = SalesforceError(
    400, "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class ApiRequest:
    method: str
    version: str
    segments: tuple[str, ...]
    """The path below /services/data/vXX.X/, percent-decoded, one item per segment."""
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    tag: Tag = field(default_factory=lambda: MappingProxyType({}))
    """Set by an enclosing composite request; merged into the ledger detail of every effect."""
    access: Access = field(default_factory=Access)
    """What the calling user may do (everything, unless the token book narrows it)."""


@dataclass
class ApiResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error_response(error: SalesforceError) -> ApiResponse:
    return ApiResponse(error.status, [error.item()])


def _json_object(body: Any) -> JsonDict:
    if not isinstance(body, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return body


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value is None:
        return False
    raise SalesforceError(400, "JSON_PARSER_ERROR", f"{name} must be true or false")


def _csv(query: Mapping[str, str], name: str, *, limit: int) -> list[str]:
    values = [item.strip() for item in query.get(name, "").split(",") if item.strip()]
    if not values:
        raise SalesforceError(400, "MISSING_ARGUMENT", f"The {name} parameter is required")
    if len(values) > limit:
        raise SalesforceError(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {limit} "
                              "records into this call")
    return values


def _fields(store: Store, query: Mapping[str, str], sobject: SObjectType) -> list[str] | None:
    raw = query.get("fields")
    if raw is None:
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    for name in names:
        check_field_name(sobject.name, name, writing=False)
    store.schema.require_carriers(sobject, names)
    return names


class SalesforceApi:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.composite: Callable[[ApiRequest], ApiResponse] | None = None
        """Installed by the composite executor, which needs `handle` for its subrequests."""
        self.tooling: Callable[[ApiRequest], ApiResponse] | None = None
        """Installed by the Tooling API (`tooling/…`)."""

    def handle(self, request: ApiRequest) -> ApiResponse:
        try:
            return self._route(request)
        except SalesforceError as error:
            return error_response(error)
        except MultipleMatches as multiple:
            return ApiResponse(300, [self._url(request.version, r) for r in multiple.records])

    @staticmethod
    def _url(version: str, record: Record) -> str:
        return f"/services/data/{version}/sobjects/{record.sobject}/{record.id}"

    def _route(self, request: ApiRequest) -> ApiResponse:
        method, parts = request.method, request.segments
        if not parts and method == "GET":
            return self.resources(request)
        if parts[:1] == ("tooling",) and self.tooling is not None:
            return self.tooling(request)
        if len(parts) == 3 and parts[0] == "sobjects" and parts[2] == "describe" and method == "GET":
            return self.describe_full(request)
        table: dict[tuple[str, int], dict[str, Callable[[ApiRequest], ApiResponse]]] = {
            ("sobjects", 2): {"POST": self.create, "GET": self.describe},
            ("sobjects", 3): {"GET": self.read, "PATCH": self.update, "DELETE": self.delete},
            ("sobjects", 4): {"GET": self.read_by_external_id, "PATCH": self.upsert,
                              "DELETE": self.delete_by_external_id},
            ("composite/sobjects", 2): {"POST": self.create_collection, "PATCH": self.update_collection,
                                        "DELETE": self.delete_collection},
            ("composite/sobjects", 3): {"GET": self.read_collection},
            ("composite/sobjects", 4): {"PATCH": self.upsert_collection},
            ("query", 1): {"GET": self.query},
            ("queryAll", 1): {"GET": self.query_all},
        }
        if self.composite is not None:
            table[("composite", 1)] = {"POST": self.composite}
        head = "composite/sobjects" if parts[:2] == ("composite", "sobjects") else parts[0] if parts else ""
        handlers = table.get((head, len(parts)))
        if handlers is None:
            raise not_found()
        handler = handlers.get(method)
        if handler is None:
            allowed = ",".join(handlers)
            return ApiResponse(405, [{"errorCode": "METHOD_NOT_ALLOWED",
                                      "message": f"HTTP Method '{method}' not allowed. Allowed are {allowed}"}])
        return handler(request)

    # ----------------------------------------------------------------- single records

    def create(self, request: ApiRequest) -> ApiResponse:
        sobject = sobject_type(request.segments[1])
        body = _json_object(request.body)
        if any(name.lower() == "id" for name in body):
            raise SalesforceError(400, "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call",
                                  ["Id"])
        record = self.store.create(sobject, body, {**request.tag, "via": "sobjects"})
        return ApiResponse(201, {"id": record.id, "success": True, "errors": []},
                           {"Location": self._url(request.version, record)})

    def describe(self, request: ApiRequest) -> ApiResponse:
        sobject = sobject_type(request.segments[1])
        recent = sorted(self.store.live(sobject), key=lambda r: r.modified, reverse=True)[:10]
        return ApiResponse(200, {
            "objectDescribe": {"name": sobject.name, "keyPrefix": sobject.prefix,
                               "custom": sobject.name.endswith("__c"), "createable": True, "updateable": True},
            "recentItems": [r.view(request.version, ["Name"]) for r in recent],
        })

    def resources(self, request: ApiRequest) -> ApiResponse:
        """The resources of one API version, as `GET /services/data/vXX.X/` lists them (a subset)."""
        base = f"/services/data/{request.version}"
        names = ("tooling", "metadata", "search", "identity", "composite", "limits", "queryAll", "query",
                 "recent", "sobjects", "actions", "process", "tabs", "theme")
        return ApiResponse(200, {name: f"{base}/{name}" for name in names})

    def describe_full(self, request: ApiRequest) -> ApiResponse:
        sobject = sobject_type(request.segments[1])
        return ApiResponse(200, self.store.schema.describe(sobject, request.version, request.access))

    def read(self, request: ApiRequest) -> ApiResponse:
        sobject = sobject_type(request.segments[1])
        record = self.store.get(sobject, request.segments[2])
        return ApiResponse(200, record.view(request.version, _fields(self.store, request.query, sobject)))

    def update(self, request: ApiRequest) -> ApiResponse:
        sobject = sobject_type(request.segments[1])
        record = self.store.get(sobject, request.segments[2])
        self.store.update(sobject, record, _json_object(request.body), {**request.tag, "via": "sobjects"})
        return ApiResponse(204)

    def delete(self, request: ApiRequest) -> ApiResponse:
        sobject = sobject_type(request.segments[1])
        record = self.store.by_id(request.segments[2])
        if record is None or record.sobject != sobject.name:
            self.store.get(sobject, request.segments[2])  # raises the right 404
            raise not_found()
        self.store.delete(record, {**request.tag, "via": "sobjects"})
        return ApiResponse(204)

    def _by_external_id(self, request: ApiRequest) -> tuple[SObjectType, Record]:
        sobject = sobject_type(request.segments[1])
        field_name, value = request.segments[2], request.segments[3]
        matches = self.store.find(sobject, field_name, value)
        if len(matches) > 1:
            raise MultipleMatches(matches)
        if not matches:
            raise not_found(f"Provided external ID field does not exist or is not accessible: {value}")
        return sobject, matches[0]

    def read_by_external_id(self, request: ApiRequest) -> ApiResponse:
        sobject, record = self._by_external_id(request)
        return ApiResponse(200, record.view(request.version, _fields(self.store, request.query, sobject)))

    def delete_by_external_id(self, request: ApiRequest) -> ApiResponse:
        _, record = self._by_external_id(request)
        self.store.delete(record, {**request.tag, "via": "sobjects"})
        return ApiResponse(204)

    def upsert(self, request: ApiRequest) -> ApiResponse:
        sobject = sobject_type(request.segments[1])
        field_name, value = request.segments[2], request.segments[3]
        record, created = self.store.upsert(sobject, field_name, value, _json_object(request.body),
                                            {**request.tag, "via": "sobjects"})
        body = {"id": record.id, "success": True, "errors": [], "created": created}
        if created:
            return ApiResponse(201, body, {"Location": self._url(request.version, record)})
        return ApiResponse(200, body)

    # ----------------------------------------------------------------- sObject Collections

    def _records(self, request: ApiRequest) -> tuple[bool, list[JsonDict]]:
        body = _json_object(request.body)
        all_or_none = _flag(body.get("allOrNone"), "allOrNone")
        records = body.get("records")
        if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "records must be a non-empty array of objects")
        if len(records) > MAX_COLLECTION:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than "
                                  f"{MAX_COLLECTION} records into this call")
        return all_or_none, records

    def _each(
        self, all_or_none: bool, items: list[Any], apply: Callable[[Any], JsonDict], failed: Callable[[Any], JsonDict]
    ) -> ApiResponse:
        """Apply one write per item; with allOrNone, any failure rolls every item back."""
        snapshot = self.store.snapshot() if all_or_none else None
        results: list[JsonDict] = []
        for item in items:
            try:
                results.append({**apply(item), "success": True, "errors": []})
            except SalesforceError as error:
                results.append({**failed(item), "success": False, "errors": [error.collection_item()]})
            except MultipleMatches as multiple:
                duplicate = SalesforceError(300, "DUPLICATE_EXTERNAL_ID", "more than one record found for external "
                                            f"id field: {[r.id for r in multiple.records]}")
                results.append({**failed(item), "success": False, "errors": [duplicate.collection_item()]})
        if snapshot is not None and not all(r["success"] for r in results):
            self.store.restore(snapshot)
            results = [r if not r["success"] else {**failed(item), "success": False,
                                                    "errors": [ROLLED_BACK.collection_item()]}
                       for r, item in zip(results, items, strict=True)]
        return ApiResponse(200, results)

    @staticmethod
    def _type_of(record: JsonDict) -> SObjectType:
        attributes = record.get("attributes")
        name = attributes.get("type") if isinstance(attributes, dict) else None
        if not isinstance(name, str):
            raise SalesforceError(400, "INVALID_TYPE", "Must send a concrete entity type.")
        try:
            return sobject_type(name)
        except SalesforceError:
            raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.") from None

    def create_collection(self, request: ApiRequest) -> ApiResponse:
        all_or_none, records = self._records(request)
        tag = {**request.tag, "via": "composite/sobjects", "allOrNone": all_or_none}

        def apply(record: JsonDict) -> JsonDict:
            if any(name.lower() == "id" for name in record):
                raise SalesforceError(400, "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call",
                                      ["Id"])
            return {"id": self.store.create(self._type_of(record), record, tag).id}

        return self._each(all_or_none, records, apply, lambda record: {})

    def update_collection(self, request: ApiRequest) -> ApiResponse:
        all_or_none, records = self._records(request)
        tag = {**request.tag, "via": "composite/sobjects", "allOrNone": all_or_none}

        def apply(record: JsonDict) -> JsonDict:
            sobject = self._type_of(record)
            target = self.store.get(sobject, str(record.get("Id") or record.get("id") or ""))
            self.store.update(sobject, target, {k: v for k, v in record.items() if k.lower() != "id"}, tag)
            return {"id": target.id}

        return self._each(all_or_none, records, apply, lambda record: {"id": record.get("Id")})

    def upsert_collection(self, request: ApiRequest) -> ApiResponse:
        sobject = sobject_type(request.segments[2])
        field_name = request.segments[3]
        check_field_name(sobject.name, field_name, writing=False)
        all_or_none, records = self._records(request)
        tag = {**request.tag, "via": "composite/sobjects", "allOrNone": all_or_none}

        def apply(record: JsonDict) -> JsonDict:
            if self._type_of(record).name != sobject.name:
                raise SalesforceError(400, "INVALID_TYPE", f"every record must be of type {sobject.name}")
            value = next((v for k, v in record.items() if k.lower() == field_name.lower()), None)
            if value in (None, ""):
                raise SalesforceError(400, "MISSING_ARGUMENT", f"{field_name} not specified", [field_name])
            saved, created = self.store.upsert(sobject, field_name, str(value), record, tag)
            return {"id": saved.id, "created": created}

        return self._each(all_or_none, records, apply, lambda record: {})

    def read_collection(self, request: ApiRequest) -> ApiResponse:
        sobject = sobject_type(request.segments[2])
        ids = _csv(request.query, "ids", limit=MAX_COLLECTION_READ)
        names = _fields(self.store, request.query, sobject)
        if names is None:
            raise SalesforceError(400, "MISSING_ARGUMENT", "The fields parameter is required")
        rows: list[JsonDict | None] = []
        for raw_id in ids:
            record = self.store.by_id(raw_id)
            found = record is not None and record.sobject == sobject.name and not record.deleted
            rows.append(record.view(request.version, names) if found and record is not None else None)
        return ApiResponse(200, rows)

    def delete_collection(self, request: ApiRequest) -> ApiResponse:
        ids = _csv(request.query, "ids", limit=MAX_COLLECTION)
        all_or_none = _flag(request.query.get("allOrNone"), "allOrNone")
        tag = {**request.tag, "via": "composite/sobjects", "allOrNone": all_or_none}

        def apply(raw_id: str) -> JsonDict:
            record = self.store.by_id(raw_id)
            if record is None:
                raise SalesforceError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            self.store.delete(record, tag)
            return {"id": record.id}

        return self._each(all_or_none, ids, apply, lambda raw_id: {"id": raw_id})

    # ----------------------------------------------------------------- SOQL

    def query(self, request: ApiRequest) -> ApiResponse:
        return self._query(request, include_deleted=False)

    def query_all(self, request: ApiRequest) -> ApiResponse:
        return self._query(request, include_deleted=True)

    def _query(self, request: ApiRequest, *, include_deleted: bool) -> ApiResponse:
        soql = request.query.get("q")
        if not soql:
            raise SalesforceError(400, "MALFORMED_QUERY", "The q parameter is required")
        parsed = parse_soql(soql)
        try:
            sobject = sobject_type(parsed.sobject)
        except SalesforceError:
            raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{parsed.sobject}' is not supported.") from None
        names = (*parsed.fields, *([parsed.where_field] if parsed.where_field else []))
        for name in names:
            check_field_name(sobject.name, name, writing=False)
        self.store.schema.require_carriers(sobject, names)
        candidates = self.store.all_of(sobject) if include_deleted else self.store.live(sobject)
        if parsed.where_field is not None:
            where, wanted = parsed.where_field, set(parsed.values)
            candidates = [r for r in candidates if r.get(where) not in (None, "") and str(r.get(where)) in wanted]
        candidates.sort(key=lambda r: r.id)
        if parsed.limit is not None:
            candidates = candidates[:parsed.limit]
        others = [name for name in parsed.fields if name.lower() != "id"]
        with_id = len(others) < len(parsed.fields)
        rows = []
        for record in candidates:
            row = record.view(request.version, others)
            if not with_id:
                row.pop("Id")
            rows.append(row)
        return ApiResponse(200, {"totalSize": len(rows), "done": True, "records": rows})
