"""A local HubSpot CRM v3: contacts and deals, in HubSpot's wire format.

HubSpot has no idempotency header, so exactly-once creates rest on unique properties: `email`
for contacts and `pivot_key` (a custom unique property carrying the saga key) for both types.
This sandbox enforces them the way HubSpot does (409 CONFLICT naming the existing id), supports
reading by a unique property (`idProperty`) and reading archived records (`archived=true`), and
stamps HubSpot's rate-limit headers on every response, so a client built against it behaves the
same against api.hubapi.com.

Which properties are unique comes from the account's property definitions (`properties`:
the CRM properties API, seeded with Pivot's carriers); who may call what comes from the kit's
token book (`auth`: 401 for a revoked token, 403 MISSING_SCOPES outside its scopes, and
the private-app token-introspection call). `/_sandbox/tokens` and
`/_sandbox/properties/{objectType}/{name}` are the test instruments; `/_sandbox/reset` restores
every default.

State lives in one `HubSpotSandbox` per `create_app()` call; nothing is module-level.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from pivot.providers.hubspot.sandbox.auth import TOKEN_INFO_PATH, HubSpotAuth, scope_for
from pivot.providers.hubspot.sandbox.properties import (
    KEY_PROPERTY,
    PropertiesApi,
    PropertyBook,
    property_instrument_routes,
)
from pivot.providers.hubspot.sandbox.search import parse_search
from pivot.providers.hubspot.sandbox.wire import HubSpotError, JsonDict
from pivot.providers.hubspot.sandbox.wire import not_found as _not_found
from pivot.providers.hubspot.sandbox.wire import timestamp as _timestamp
from pivot.providers.hubspot.sandbox.wire import validation as _validation
from pivot.providers.sandbox_kit import (
    FaultBook,
    Ledger,
    apply_pending_latency,
    build_sandbox_app,
    format_retry_after,
    read_json_object,
)
from pivot.providers.sandbox_kit.credentials import LOCAL_CREDENTIALS
from pivot.providers.sandbox_kit.recorder import RecorderMiddleware, RequestRecorder
from pivot.providers.sandbox_kit.tokens import TokenBook, token_routes

RATE_LIMIT_MAX = 190
RATE_LIMIT_INTERVAL_MS = 10_000
RATE_LIMIT_DAILY = 500_000
MAX_BATCH_INPUTS = 100

log = logging.getLogger("pivot.sandbox.hubspot")

__all__ = ["KEY_PROPERTY", "HubSpotError", "HubSpotSandbox", "create_app"]


@dataclass(frozen=True)
class ObjectType:
    """What differs between CRM object types: names, built-in unique properties, default read set.

    Custom unique properties (`pivot_key`) come from the property definitions, not from here."""

    name: str
    label: str
    ledger_object: str
    unique: tuple[str, ...]
    default_properties: tuple[str, ...]
    modified_property: str
    first_id: int


CONTACTS = ObjectType(
    name="contacts",
    label="Contact",
    ledger_object="contact",
    unique=("email",),
    default_properties=("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    modified_property="lastmodifieddate",
    first_id=101,
)
DEALS = ObjectType(
    name="deals",
    label="Deal",
    ledger_object="deal",
    unique=(),
    default_properties=("amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate",
                        "hs_object_id", "pipeline"),
    modified_property="hs_lastmodifieddate",
    first_id=9001,
)
_TYPES_BY_NAME = MappingProxyType({"contacts": CONTACTS, "contact": CONTACTS, "0-1": CONTACTS,
                                   "deals": DEALS, "deal": DEALS, "0-3": DEALS})


@dataclass
class CrmRecord:
    id: str
    properties: dict[str, str | None]
    created_at: str
    updated_at: str
    archived: bool = False
    archived_at: str | None = None


ValueKey = tuple[str, str, bool]
"""(property name, value, archived): the key of the by-value index."""


@dataclass
class HubSpotState:
    """The records of one sandbox instance, and an index of them by property value.

    Lookups by a unique property (`idProperty`, the uniqueness check on every write) read the index
    instead of scanning every record. A property is indexed from the first time it is looked up (one
    scan, then kept up to date), so a property that becomes unique later is indexed correctly too.
    Records are stored only through `add` and their properties or archived flag changed only inside
    `changing`, which keep the index exact; a reset replaces the whole state, index included."""

    records: dict[str, dict[str, CrmRecord]] = field(default_factory=lambda: {"contacts": {}, "deals": {}})
    next_id: dict[str, int] = field(
        default_factory=lambda: {"contacts": CONTACTS.first_id, "deals": DEALS.first_id}
    )
    indexed: dict[str, set[str]] = field(default_factory=lambda: {"contacts": set(), "deals": set()})
    by_value: dict[str, dict[ValueKey, dict[str, None]]] = field(
        default_factory=lambda: {"contacts": {}, "deals": {}}
    )

    def add(self, type_name: str, record: CrmRecord) -> None:
        self.records[type_name][record.id] = record
        self._index(type_name, record)

    @contextmanager
    def changing(self, type_name: str, record: CrmRecord) -> Iterator[None]:
        """Wrap every change to a stored record's properties or archived flag."""
        self._unindex(type_name, record)
        try:
            yield
        finally:
            self._index(type_name, record)

    def matching(self, type_name: str, name: str, value: str, *, archived: bool) -> list[CrmRecord]:
        """The records whose property `name` is `value` (archived ones or live ones), oldest first:
        the order of `records`, since ids only grow and records are never removed."""
        if name not in self.indexed[type_name]:
            self.indexed[type_name].add(name)
            for record in self.records[type_name].values():
                self._link(type_name, record, name)
        ids = self.by_value[type_name].get((name, value, archived), {})
        records = self.records[type_name]
        return sorted((records[record_id] for record_id in ids), key=lambda r: int(r.id))

    def _index(self, type_name: str, record: CrmRecord) -> None:
        for name in self.indexed[type_name]:
            self._link(type_name, record, name)

    def _link(self, type_name: str, record: CrmRecord, name: str) -> None:
        value = record.properties.get(name)
        if value is not None:
            self.by_value[type_name].setdefault((name, value, record.archived), {})[record.id] = None

    def _unindex(self, type_name: str, record: CrmRecord) -> None:
        index = self.by_value[type_name]
        for name in self.indexed[type_name]:
            value = record.properties.get(name)
            if value is None:
                continue
            key = (name, value, record.archived)
            ids = index.get(key)
            if ids is not None:
                ids.pop(record.id, None)
                if not ids:
                    del index[key]


def _property_value(name: str, value: Any) -> str | None:
    """HubSpot stores every property as a string; null or "" clears a property."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        text = str(value)
        return text.strip().lower() if name == "email" else text
    raise _validation(
        f'Property values were not valid: [{{"isValid":false,"message":"{name} must be a string, number or '
        f'boolean","error":"INVALID_PROPERTY_VALUE","name":"{name}"}}]'
    )


def _properties_of(payload: Any, *, required: bool = True) -> dict[str, str | None]:
    if not isinstance(payload, dict):
        raise _validation("Invalid input JSON: expected an object")
    raw = payload.get("properties")
    if raw is None and not required:
        return {}
    if not isinstance(raw, dict):
        raise _validation("Invalid input JSON: `properties` is required and must be an object")
    properties = {str(name): _property_value(str(name), value) for name, value in raw.items()}
    email = properties.get("email")
    if email is not None and ("@" not in email or "." not in email.rpartition("@")[2]):
        raise _validation(
            "Property values were not valid: "
            f'[{{"isValid":false,"message":"Email address {email} is invalid","error":"INVALID_EMAIL",'
            '"name":"email"}]',
            errors=[{"message": f"Email address {email} is invalid", "code": "INVALID_EMAIL",
                     "context": {"propertyName": ["email"]}}],
        )
    return properties


def _requested_properties(request: Request) -> list[str] | None:
    """`properties=a,b` and/or `properties=a&properties=b`; None when not given."""
    values = request.query_params.getlist("properties")
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


_ERROR_CATEGORIES = MappingProxyType({
    400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES", 404: "OBJECT_NOT_FOUND",
    409: "CONFLICT", 423: "LOCKED", 429: "RATE_LIMITS",
})


class HubSpotFaultResponder:
    """HubSpot's own bodies and headers for injected errors and rate limits."""

    def error(self, status: int, body: JsonDict | None) -> Response:
        if body is None:
            fallback = "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"
            category = _ERROR_CATEGORIES.get(status, fallback)
            message = "internal error" if status >= 500 else f"request failed with status {status}"
            body = HubSpotError(status, message, category).body()
        return JSONResponse(body, status_code=status)

    def rate_limited(self, retry_after: float | None) -> Response:
        body = HubSpotError(
            429,
            "You have reached your ten_secondly_rolling limit.",
            "RATE_LIMITS",
            errorType="RATE_LIMIT",
            policyName="TEN_SECONDLY_ROLLING",
        ).body()
        headers = {
            "X-HubSpot-RateLimit-Max": str(RATE_LIMIT_MAX),
            "X-HubSpot-RateLimit-Remaining": "0",
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(RATE_LIMIT_INTERVAL_MS),
        }
        if retry_after is not None:
            headers["Retry-After"] = format_retry_after(retry_after)
        return JSONResponse(body, status_code=429, headers=headers)


Endpoint = Callable[[Request, ObjectType], Awaitable[Response]]
SchemaEndpoint = Callable[[Request, str, Any], Awaitable[Response]]


class HubSpotSandbox:
    """All state and endpoints of one HubSpot sandbox instance."""

    def __init__(self, credentials: Iterable[str] = (LOCAL_CREDENTIALS["hubspot"],)) -> None:
        self.faults = FaultBook()
        self.ledger = Ledger()
        self.recorder = RequestRecorder()
        self.state = HubSpotState()
        self.tokens = TokenBook(accepted=frozenset(credentials))
        self.auth = HubSpotAuth(self.tokens)
        self.properties = PropertyBook()
        self._recent_requests: deque[float] = deque()
        self._daily_requests = 0

    def reset(self) -> None:
        self.recorder.clear()
        self.state = HubSpotState()
        self.tokens.clear()
        self.properties.reset()
        self._recent_requests.clear()
        self._daily_requests = 0

    def app(self) -> Starlette:
        base = "/crm/v3/objects/{object_type}"
        routes: list[BaseRoute] = [
            Route(base, self._endpoint(self.create), methods=["POST"]),
            Route(base, self._endpoint(self.list_page), methods=["GET"]),
            Route(base + "/search", self._endpoint(self.search), methods=["POST"]),
            Route(base + "/batch/{action}", self._endpoint(self.batch), methods=["POST"]),
            Route(base + "/{object_id}", self._endpoint(self.read), methods=["GET"]),
            Route(base + "/{object_id}", self._endpoint(self.update), methods=["PATCH"]),
            Route(base + "/{object_id}", self._endpoint(self.archive), methods=["DELETE"]),
        ]
        schema, api = "/crm/v3/properties/{object_type}", PropertiesApi(self.properties)
        routes += [
            Route(schema, self._schema_endpoint(api.list_all, write=False), methods=["GET"]),
            Route(schema, self._schema_endpoint(api.create, write=True), methods=["POST"]),
            Route(schema + "/{property_name}", self._schema_endpoint(api.read, write=False), methods=["GET"]),
            Route(TOKEN_INFO_PATH, self.auth.access_token_info, methods=["POST"]),
        ]
        resolve = {alias: object_type.name for alias, object_type in _TYPES_BY_NAME.items()}
        instruments = [*self.recorder.routes(), *token_routes(self.tokens),
                       *property_instrument_routes(self.properties, resolve)]
        app = build_sandbox_app(
            routes=[*instruments, *routes],
            faults=self.faults,
            ledger=self.ledger,
            responder=HubSpotFaultResponder(),
            reset=self.reset,
            stamp=self._rate_limit_headers,
            exception_handlers={404: _route_not_found, 405: _route_not_found},
        )
        app.add_middleware(RecorderMiddleware, recorder=self.recorder)
        return app

    # ----------------------------------------------------------------- pipeline

    def _rate_limit_headers(self, scope: Scope) -> list[tuple[str, str]]:
        """HubSpot's rolling ten-second window, counted for real, so the headers move."""
        if not str(scope.get("path", "")).startswith("/_sandbox/"):
            now = time.monotonic()
            self._recent_requests.append(now)
            self._daily_requests += 1
            while self._recent_requests and now - self._recent_requests[0] > RATE_LIMIT_INTERVAL_MS / 1000:
                self._recent_requests.popleft()
        return [
            ("X-HubSpot-RateLimit-Max", str(RATE_LIMIT_MAX)),
            ("X-HubSpot-RateLimit-Remaining", str(max(0, RATE_LIMIT_MAX - len(self._recent_requests)))),
            ("X-HubSpot-RateLimit-Interval-Milliseconds", str(RATE_LIMIT_INTERVAL_MS)),
            ("X-HubSpot-RateLimit-Daily", str(RATE_LIMIT_DAILY)),
            ("X-HubSpot-RateLimit-Daily-Remaining", str(max(0, RATE_LIMIT_DAILY - self._daily_requests))),
        ]

    def _endpoint(self, handler: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        """A CRM objects route: token, object type, then `crm.objects.{type}.read|write`."""

        async def endpoint(request: Request) -> Response:
            try:
                self.auth.authorize(request)
                object_type = _object_type(request)
                reading = request.path_params.get("action") == "read" or request.url.path.endswith("/search")
                write = request.method != "GET" and not reading
                self.auth.authorize(request, scope_for("objects", object_type.name, write=write))
                await apply_pending_latency(request.scope)
                return await handler(request, object_type)
            except HubSpotError as error:
                return error.response()

        return endpoint

    def _schema_endpoint(self, handler: SchemaEndpoint, *, write: bool) -> Callable[[Request], Awaitable[Response]]:
        """A CRM properties route: token, object type, then `crm.schemas.{type}.read|write`."""

        async def endpoint(request: Request) -> Response:
            try:
                self.auth.authorize(request)
                object_type = _object_type(request)
                self.auth.authorize(request, scope_for("schemas", object_type.name, write=write))
                payload = await _json_body(request) if write else None
                await apply_pending_latency(request.scope)
                return await handler(request, object_type.name, payload)
            except HubSpotError as error:
                return error.response()

        return endpoint

    def _unique(self, object_type: ObjectType) -> tuple[str, ...]:
        """Built-in unique properties (contacts' email) and every defined `hasUniqueValue` one."""
        return (*object_type.unique, *self.properties.unique_names(object_type.name))

    def _writable(self, object_type: ObjectType, properties: dict[str, str | None]) -> dict[str, str | None]:
        self.properties.check_writable(object_type.name, list(properties))
        return properties

    # ----------------------------------------------------------------- records

    def _records(self, object_type: ObjectType) -> dict[str, CrmRecord]:
        return self.state.records[object_type.name]

    def _find(
        self, object_type: ObjectType, ident: str, *, id_property: str | None, archived: bool
    ) -> CrmRecord | None:
        """A record by id or by a unique property's value; only archived ones when `archived`."""
        records = self._records(object_type)
        if id_property in (None, "", "hs_object_id"):
            record = records.get(ident)
            return record if record is not None and record.archived == archived else None
        if id_property not in self._unique(object_type):
            raise _validation(f"{id_property} is not a unique property of {object_type.name} and cannot be "
                              "used as idProperty")
        value = _property_value(str(id_property), ident)
        if value is None:  # an empty ident matches the records without the property: rare, so a scan
            matches = [r for r in records.values()
                       if r.archived == archived and r.properties.get(str(id_property)) is None]
        else:
            matches = self.state.matching(object_type.name, str(id_property), value, archived=archived)
        if not matches:
            return None
        return max(matches, key=lambda r: r.archived_at or "") if archived else matches[0]

    def _check_unique(
        self, object_type: ObjectType, properties: dict[str, str | None], exclude_id: str | None = None
    ) -> None:
        for name in self._unique(object_type):
            value = properties.get(name)
            if value is None:
                continue
            for record in self.state.matching(object_type.name, name, value, archived=False):
                if record.id != exclude_id:
                    raise HubSpotError(
                        409, f"{object_type.label} already exists. Existing ID: {record.id}", "CONFLICT"
                    )

    def _render(
        self, object_type: ObjectType, record: CrmRecord, wanted: list[str] | None = None
    ) -> JsonDict:
        """The public object. Writes echo every set property; reads return the requested set."""
        if wanted is None:
            properties = dict(record.properties)
        else:
            names = ["createdate", "hs_object_id", object_type.modified_property, *wanted]
            properties = {name: record.properties.get(name) for name in dict.fromkeys(names)}
        body: JsonDict = {
            "id": record.id,
            "properties": properties,
            "createdAt": record.created_at,
            "updatedAt": record.updated_at,
            "archived": record.archived,
        }
        if record.archived:
            body["archivedAt"] = record.archived_at
        return body

    def _create_record(self, object_type: ObjectType, properties: dict[str, str | None]) -> CrmRecord:
        now = _timestamp()
        record_id = str(self.state.next_id[object_type.name])
        self.state.next_id[object_type.name] += 1
        stored: dict[str, str | None] = {k: v for k, v in properties.items() if v is not None}
        stored.update({"createdate": now, object_type.modified_property: now, "hs_object_id": record_id})
        record = CrmRecord(id=record_id, properties=stored, created_at=now, updated_at=now)
        self.state.add(object_type.name, record)
        self.ledger.record("create", object_type.ledger_object, record_id, stored.get(KEY_PROPERTY),
                           {"properties": sorted(k for k in properties if properties[k] is not None)})
        return record

    def _update_record(
        self, object_type: ObjectType, record: CrmRecord, properties: dict[str, str | None]
    ) -> None:
        now = _timestamp()
        with self.state.changing(object_type.name, record):
            for name, value in properties.items():
                if name in ("hs_object_id", "createdate"):
                    continue
                if value is None:
                    record.properties.pop(name, None)
                else:
                    record.properties[name] = value
            record.properties[object_type.modified_property] = now
        record.updated_at = now
        key = record.properties.get(KEY_PROPERTY)
        self.ledger.record("update", object_type.ledger_object, record.id, key,
                           {"properties": sorted(properties)})

    def _archive_record(self, object_type: ObjectType, record: CrmRecord) -> None:
        if record.archived:
            return
        now = _timestamp()
        with self.state.changing(object_type.name, record):
            record.archived, record.archived_at, record.updated_at = True, now, now
        key = record.properties.get(KEY_PROPERTY)
        self.ledger.record("archive", object_type.ledger_object, record.id, key)

    # ----------------------------------------------------------------- single-object endpoints

    async def create(self, request: Request, object_type: ObjectType) -> Response:
        payload = await _json_body(request)
        properties = self._writable(object_type, _properties_of(payload))
        associations = payload.get("associations", [])
        if not isinstance(associations, list):
            raise _validation("Invalid input JSON: `associations` must be an array")
        self._check_unique(object_type, properties)
        record = self._create_record(object_type, properties)
        body = self._render(object_type, record)
        if isinstance(payload.get("objectWriteTraceId"), str):
            body["objectWriteTraceId"] = payload["objectWriteTraceId"]
        return JSONResponse(body, status_code=201)

    async def read(self, request: Request, object_type: ObjectType) -> Response:
        query = request.query_params
        record = self._find(object_type, str(request.path_params["object_id"]),
                            id_property=query.get("idProperty"), archived=_is_true(query.get("archived")))
        if record is None:
            raise _not_found()
        wanted = _requested_properties(request)
        return JSONResponse(self._render(object_type, record, list(wanted or object_type.default_properties)))

    async def update(self, request: Request, object_type: ObjectType) -> Response:
        properties = self._writable(object_type, _properties_of(await _json_body(request)))
        record = self._find(object_type, str(request.path_params["object_id"]),
                            id_property=request.query_params.get("idProperty"), archived=False)
        if record is None:
            raise _not_found()
        self._check_unique(object_type, properties, exclude_id=record.id)
        self._update_record(object_type, record, properties)
        return JSONResponse(self._render(object_type, record))

    async def archive(self, request: Request, object_type: ObjectType) -> Response:
        """204 whether or not there was anything to archive, as HubSpot answers."""
        record = self._records(object_type).get(str(request.path_params["object_id"]))
        if record is not None:
            self._archive_record(object_type, record)
        return Response(status_code=204)

    async def list_page(self, request: Request, object_type: ObjectType) -> Response:
        query = request.query_params
        try:
            limit = min(max(int(query.get("limit", "10")), 1), 100)
            after = int(query.get("after", "0") or "0")
        except ValueError:
            raise _validation("limit and after must be integers") from None
        archived = _is_true(query.get("archived"))
        wanted = list(_requested_properties(request) or object_type.default_properties)
        records = sorted((r for r in self._records(object_type).values()
                          if r.archived == archived and int(r.id) > after), key=lambda r: int(r.id))
        page = records[:limit]
        body: JsonDict = {"results": [self._render(object_type, r, wanted) for r in page]}
        if len(records) > limit:
            next_after = page[-1].id
            body["paging"] = {"next": {"after": next_after,
                                       "link": f"{request.url.path}?after={next_after}&limit={limit}"}}
        return JSONResponse(body)

    async def search(self, request: Request, object_type: ObjectType) -> Response:
        """Live records matching the filters, oldest first (search never sees archived ones)."""
        query = parse_search(await _json_body(request))
        found = sorted((r for r in self._records(object_type).values()
                        if not r.archived and query.matches(r.properties)), key=lambda r: int(r.id))
        page = found[query.after:query.after + query.limit]
        wanted = list(query.properties or object_type.default_properties)
        body: JsonDict = {"total": len(found), "results": [self._render(object_type, r, wanted) for r in page]}
        if query.after + query.limit < len(found):
            body["paging"] = {"next": {"after": str(query.after + query.limit)}}
        return JSONResponse(body)

    # ----------------------------------------------------------------- batch endpoints

    async def batch(self, request: Request, object_type: ObjectType) -> Response:
        action = str(request.path_params["action"])
        payload = await _json_body(request)
        inputs = payload.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(item, dict) for item in inputs):
            raise _validation("Invalid input JSON: `inputs` is required and must be an array of objects")
        if len(inputs) > MAX_BATCH_INPUTS:
            raise _validation(f"Too many inputs: at most {MAX_BATCH_INPUTS} per batch, got {len(inputs)}")
        started = _timestamp()
        if action == "archive":
            for item in inputs:
                record = self._records(object_type).get(str(item.get("id", "")))
                if record is not None:
                    self._archive_record(object_type, record)
            return Response(status_code=204)
        if action == "create":
            return self._batch_create(object_type, inputs, started)
        if action == "read":
            return self._batch_read(request, object_type, payload, inputs, started)
        if action == "update":
            return self._batch_update(object_type, inputs, started)
        if action == "upsert":
            return self._batch_upsert(object_type, inputs, started)
        raise _not_found()

    def _batch_create(self, object_type: ObjectType, inputs: list[JsonDict], started: str) -> Response:
        """All or nothing: every input is checked (also against the others) before any is created."""
        batch = [self._writable(object_type, _properties_of(item)) for item in inputs]
        for index, properties in enumerate(batch):
            self._check_unique(object_type, properties)
            for other in batch[:index]:
                for name in self._unique(object_type):
                    if properties.get(name) is not None and properties.get(name) == other.get(name):
                        raise _validation(f"Duplicate {name} in batch input: {properties[name]}")
        results = [self._render(object_type, self._create_record(object_type, props)) for props in batch]
        return _batch_response(results, [], started, status=201)

    def _batch_read(
        self,
        request: Request,
        object_type: ObjectType,
        payload: JsonDict,
        inputs: list[JsonDict],
        started: str,
    ) -> Response:
        id_property = payload.get("idProperty")
        wanted = payload.get("properties") or list(object_type.default_properties)
        if not isinstance(wanted, list):
            raise _validation("Invalid input JSON: `properties` must be an array")
        archived = _is_true(request.query_params.get("archived"))
        results, missing = [], []
        for item in inputs:
            ident = str(item.get("id", ""))
            record = self._find(object_type, ident, id_property=id_property if isinstance(id_property, str)
                                else None, archived=archived)
            if record is None:
                missing.append(ident)
            else:
                results.append(self._render(object_type, record, [str(name) for name in wanted]))
        errors = []
        if missing:
            errors.append({
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {object_type.ledger_object.upper()} objects, they may be "
                           "deleted or not exist. Check that ids are valid.",
                "context": {"ids": missing},
            })
        return _batch_response(results, errors, started)

    def _batch_update(self, object_type: ObjectType, inputs: list[JsonDict], started: str) -> Response:
        results, missing = [], []
        for item in inputs:
            properties = self._writable(object_type, _properties_of(item))
            id_property = item.get("idProperty")
            record = self._find(object_type, str(item.get("id", "")), archived=False,
                                id_property=id_property if isinstance(id_property, str) else None)
            if record is None:
                missing.append(str(item.get("id", "")))
                continue
            self._check_unique(object_type, properties, exclude_id=record.id)
            self._update_record(object_type, record, properties)
            results.append(self._render(object_type, record))
        errors = []
        if missing:
            errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                           "message": "Object not found", "context": {"ids": missing}})
        return _batch_response(results, errors, started)

    def _batch_upsert(self, object_type: ObjectType, inputs: list[JsonDict], started: str) -> Response:
        """Create or update by a unique property: HubSpot's idempotent write for CRM objects."""
        results = []
        for item in inputs:
            properties = self._writable(object_type, _properties_of(item))
            id_property = item.get("idProperty")
            ident = item.get("id")
            unique = self._unique(object_type)
            if not isinstance(id_property, str) or id_property not in unique:
                raise _validation("Each upsert input needs `idProperty` naming a unique property "
                                  f"({', '.join(unique)})")
            if not isinstance(ident, str) or not ident:
                raise _validation("Each upsert input needs `id`: the value of its idProperty")
            record = self._find(object_type, ident, id_property=id_property, archived=False)
            if record is None:
                properties[id_property] = _property_value(id_property, ident)
                self._check_unique(object_type, properties)
                body = self._render(object_type, self._create_record(object_type, properties))
                body["new"] = True
            else:
                self._check_unique(object_type, properties, exclude_id=record.id)
                self._update_record(object_type, record, properties)
                body = self._render(object_type, record)
                body["new"] = False
            results.append(body)
        return _batch_response(results, [], started)


def _batch_response(
    results: list[JsonDict], errors: list[JsonDict], started: str, status: int = 200
) -> Response:
    body: JsonDict = {"status": "COMPLETE", "results": results, "startedAt": started,
                      "completedAt": _timestamp()}
    if errors:
        body.update({"numErrors": len(errors), "errors": errors})
        status = 207
    return JSONResponse(body, status_code=status)


async def _json_body(request: Request) -> JsonDict:
    try:
        return await read_json_object(request)
    except ValueError as exc:
        raise _validation(f"Invalid input JSON on line 1, column 1: {exc}") from None


def _object_type(request: Request) -> ObjectType:
    type_name = str(request.path_params["object_type"])
    object_type = _TYPES_BY_NAME.get(type_name)
    if object_type is None:
        raise _validation(f"Unable to infer object type from: {type_name}")
    return object_type


async def _route_not_found(request: Request, exc: Exception) -> Response:
    message = f"No route for {request.method} {request.url.path}"
    return HubSpotError(404, message, "OBJECT_NOT_FOUND").response()


def create_app(credentials: Iterable[str] = (LOCAL_CREDENTIALS["hubspot"],)) -> Starlette:
    """A fresh, empty HubSpot sandbox with its own state, accepting the credentials in `credentials`
    (and those registered at `/_sandbox/tokens`)."""
    return HubSpotSandbox(credentials).app()
