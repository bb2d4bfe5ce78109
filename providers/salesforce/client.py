"""A small Salesforce REST client (API v60.0): records by id or external id, upserts, sObject
Collections, SOQL lookups, and Salesforce's error arrays mapped onto the engine's failures.

Only what the catalog's actions use. Collection writes that create records always send
`"allOrNone": true`; there is deliberately no way to ask this client for a partial create.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.providers.http import Endpoint, ProviderHTTP, json_body

SALESFORCE_API = "https://example.my.salesforce.com"
API_VERSION = "v60.0"
API_BASE = f"/services/data/{API_VERSION}"
REQUEST_LIMIT_WAIT_S = 60.0
"""Salesforce sends no Retry-After with REQUEST_LIMIT_EXCEEDED; the limit is daily or concurrent, so wait long."""
MAX_COLLECTION = 200
"""sObject Collections take at most 200 records (or ids) per request."""
MAX_SOQL_VALUES = 100
EVERY_ERROR_STATUS = frozenset(range(400, 600))
"""Keys per `IN (...)` lookup: keeps a GET /query URL far below Salesforce's 16 KB limit."""

TRANSIENT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})
"""Error codes that say "not now" rather than "no": the write did not happen and may be retried."""

log = logging.getLogger("pivot.providers.salesforce")


@dataclass(frozen=True, slots=True)
class SalesforceError:
    """One entry of Salesforce's error array (collections call `errorCode` `statusCode`)."""

    code: str
    message: str
    fields: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"errorCode": self.code, "message": self.message, "fields": list(self.fields)}


def parse_errors(body: Any) -> list[SalesforceError]:
    """Salesforce's `[{"message","errorCode","fields"}]` (or one such object), normalised."""
    items = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    errors = []
    for item in items:
        if not isinstance(item, dict):
            continue
        code = item.get("errorCode") or item.get("statusCode") or "UNKNOWN_EXCEPTION"
        fields = item.get("fields") or []
        errors.append(SalesforceError(
            code=str(code),
            message=str(item.get("message") or ""),
            fields=tuple(str(f) for f in fields) if isinstance(fields, list) else (),
        ))
    return errors


def raise_for_errors(errors: Sequence[SalesforceError], what: str, *, status: int | None = None) -> None:
    """Raise the engine's failure for Salesforce errors: transient codes retry, the rest are terminal
    with the (lower-cased) errorCode as the stable code and every error in the detail."""
    if not errors:
        raise ProviderRejected("bad_response", f"Salesforce answered {status} to {what} without an error body")
    first = errors[0]
    message = "; ".join(f"{e.code}: {e.message}" for e in errors)
    if first.code in TRANSIENT_CODES:
        wait = REQUEST_LIMIT_WAIT_S if first.code == "REQUEST_LIMIT_EXCEEDED" else None
        raise ProviderUnavailable(f"Salesforce refused {what} for now ({message})", retry_after_s=wait)
    if status == 401 or first.code == "INVALID_SESSION_ID":
        raise ProviderRejected("unauthorized", f"Salesforce refused the credentials: {first.message}")
    raise ProviderRejected(first.code.lower(), f"Salesforce rejected {what}: {message}",
                           {"errors": [e.to_json() for e in errors]})


def soql_literal(value: str) -> str:
    """A SOQL string literal: quotes and backslashes escaped, so a value can never end the literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _segment(value: str) -> str:
    """One URL path segment, percent-encoded (external ids such as `pv1_…:3` contain ':')."""
    return quote(value, safe="")


@dataclass(frozen=True, slots=True)
class Upserted:
    id: str
    created: bool


class SalesforceClient:
    def __init__(self, endpoint: Endpoint):
        self.http = ProviderHTTP(endpoint)

    # ----------------------------------------------------------------- transport

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.request(method, API_BASE + path, **kwargs)
        # Usage against the org's daily limit: worth seeing in logs, and it names no secret.
        log.debug("%s %s -> %s (%s)", method, path.split("?", 1)[0], response.status_code,
                  response.headers.get("sforce-limit-info", "no limit info"))
        return response

    def _checked(self, response: httpx.Response, what: str) -> Any:
        if response.status_code == 204:
            return None
        body = json_body(response)
        if response.status_code < 300:
            return body
        if response.status_code == 300:
            matches = len(body) if isinstance(body, list) else "several"
            raise ProviderRejected("multiple_matches", f"Salesforce: {matches} records match {what}",
                                   {"matches": body if isinstance(body, list) else None})
        raise_for_errors(parse_errors(body), what, status=response.status_code)
        raise AssertionError("unreachable")

    def _record(self, response: httpx.Response, what: str) -> dict[str, Any] | None:
        if response.status_code == 404:
            return None
        body = self._checked(response, what)
        if not isinstance(body, dict):
            raise ProviderRejected("bad_response", f"Salesforce answered {what} with a body that is not a record")
        return body

    # ----------------------------------------------------------------- single records

    async def get_record(self, sobject: str, record_id: str, fields: Iterable[str]) -> dict[str, Any] | None:
        """The record with these fields; None when it does not exist or is in the Recycle Bin."""
        path = f"/sobjects/{sobject}/{_segment(record_id)}"
        response = await self._send("GET", path, params={"fields": ",".join(fields)})
        return self._record(response, f"GET {sobject} {record_id}")

    async def get_by_external_id(
        self, sobject: str, field: str, value: str, fields: Iterable[str]
    ) -> dict[str, Any] | None:
        """The live record whose external-id `field` equals `value`; None when there is none."""
        path = f"/sobjects/{sobject}/{field}/{_segment(value)}"
        response = await self._send("GET", path, params={"fields": ",".join(fields)})
        return self._record(response, f"{sobject} with {field}={value}")

    async def upsert(self, sobject: str, field: str, value: str, values: dict[str, Any]) -> Upserted:
        """Create or update the record whose external id is `value`: 201 created, 200 (or 204) updated."""
        what = f"the upsert of {sobject} {field}={value}"
        response = await self._send("PATCH", f"/sobjects/{sobject}/{field}/{_segment(value)}", json=values)
        body = self._checked(response, what)
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            return Upserted(id=body["id"], created=response.status_code == 201)
        found = await self.get_by_external_id(sobject, field, value, ["Id"])  # 204: older APIs send no body
        if found is None:
            raise ProviderRejected("readback_mismatch", f"Salesforce answered {what} but holds no such record")
        return Upserted(id=str(found["Id"]), created=False)

    async def create(self, sobject: str, values: dict[str, Any]) -> str:
        """POST /sobjects/{Type}: a record that carries no key (what a conformance run's update
        starts from); its id. Actions never create this way: without a key a lost answer cannot
        be resolved, which is why they upsert by the key field."""
        body = self._checked(await self._send("POST", f"/sobjects/{sobject}", json=values), f"the create of {sobject}")
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise ProviderRejected("bad_response", f"Salesforce created a {sobject} without saying its id")
        return str(body["id"])

    async def update(self, sobject: str, record_id: str, values: dict[str, Any]) -> None:
        response = await self._send("PATCH", f"/sobjects/{sobject}/{_segment(record_id)}", json=values)
        if response.status_code == 404:
            raise ProviderRejected("not_found", f"Salesforce holds no {sobject} {record_id}")
        self._checked(response, f"the update of {sobject} {record_id}")

    async def delete(self, sobject: str, record_id: str) -> bool:
        """True if this call deleted the record; False if it was already deleted or never existed."""
        response = await self._send("DELETE", f"/sobjects/{sobject}/{_segment(record_id)}")
        if response.status_code == 404:
            return False  # ENTITY_IS_DELETED (in the Recycle Bin) or NOT_FOUND (gone for good)
        self._checked(response, f"the delete of {sobject} {record_id}")
        return True

    # ----------------------------------------------------------------- SOQL

    async def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every record a SOQL query returns; `include_deleted` uses queryAll (the Recycle Bin too)."""
        path = "/queryAll" if include_deleted else "/query"
        response = await self._send("GET", path, params={"q": soql})
        records: list[dict[str, Any]] = []
        while True:
            body = self._checked(response, "a SOQL lookup")
            if not isinstance(body, dict) or not isinstance(body.get("records"), list):
                raise ProviderRejected("bad_response", "Salesforce answered a query without records")
            records += [r for r in body["records"] if isinstance(r, dict)]
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) or not isinstance(next_url, str) or not next_url.startswith(API_BASE):
                return records
            response = await self._send("GET", next_url[len(API_BASE):])

    async def find_by_values(
        self, sobject: str, field: str, values: Sequence[str], *, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """Records whose `field` is one of `values` (Id, the field, IsDeleted), in chunks of IN lists."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(values), MAX_SOQL_VALUES):
            chunk = ", ".join(soql_literal(v) for v in values[start:start + MAX_SOQL_VALUES])
            soql = f"SELECT Id, {field}, IsDeleted FROM {sobject} WHERE {field} IN ({chunk})"
            found += await self.query(soql, include_deleted=include_deleted)
        return found

    # ----------------------------------------------------------------- sObject Collections

    async def create_collection(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST /composite/sobjects with allOrNone=true: all records are created, or none is."""
        self._check_collection_size(len(records))
        response = await self._send("POST", "/composite/sobjects", json={"allOrNone": True, "records": records})
        return self._results(response, "the atomic create", len(records))

    async def upsert_collection(self, sobject: str, field: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """PATCH /composite/sobjects/{Type}/{ExtField} with allOrNone=true: one type, all or nothing."""
        self._check_collection_size(len(records))
        response = await self._send("PATCH", f"/composite/sobjects/{sobject}/{field}",
                                    json={"allOrNone": True, "records": records})
        return self._results(response, "the atomic upsert", len(records))

    async def read_collection(
        self, sobject: str, ids: Sequence[str], fields: Iterable[str]
    ) -> list[dict[str, Any] | None]:
        """The records in the order of `ids`; None where a record is missing or deleted."""
        self._check_collection_size(len(ids))
        response = await self._send("GET", f"/composite/sobjects/{sobject}",
                                    params={"ids": ",".join(ids), "fields": ",".join(fields)})
        body = self._checked(response, f"the read of {len(ids)} {sobject} records")
        if not isinstance(body, list) or len(body) != len(ids):
            raise ProviderRejected("bad_response", "Salesforce answered a collection read with the wrong shape")
        return [item if isinstance(item, dict) else None for item in body]

    async def delete_collection(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """DELETE /composite/sobjects with allOrNone=false, on purpose: a record that is already gone
        must not stop the others from being deleted (the caller treats it as deleted)."""
        self._check_collection_size(len(ids))
        response = await self._send("DELETE", "/composite/sobjects",
                                    params={"ids": ",".join(ids), "allOrNone": "false"})
        return self._results(response, f"the delete of {len(ids)} records", len(ids))

    @staticmethod
    def _check_collection_size(size: int) -> None:
        if not 1 <= size <= MAX_COLLECTION:
            raise ValueError(f"an sObject Collection request takes 1..{MAX_COLLECTION} records, not {size}")

    def _results(self, response: httpx.Response, what: str, expected: int) -> list[dict[str, Any]]:
        body = self._checked(response, what)
        if not isinstance(body, list) or len(body) != expected or not all(isinstance(r, dict) for r in body):
            raise ProviderRejected("bad_response", f"Salesforce answered {what} with the wrong shape")
        return list(body)

    # ----------------------------------------------------------------- account (pivot setup / doctor)

    def base_url(self) -> str:
        """Where requests go now: the current connection's base URL (for messages, never a secret)."""
        return self.http.base_url()

    async def versions(self) -> httpx.Response:
        """`GET /services/data/`: the API versions the org serves, answered as is (errors included)."""
        return await self.http.request("GET", "/services/data/", passthrough=EVERY_ERROR_STATUS)

    async def resources(self) -> httpx.Response:
        """`GET /services/data/vXX.X/`, the cheapest authenticated call, answered as is (errors included):
        doctor reads its status, `Date` and `Sforce-Limit-Info`."""
        return await self._send("GET", "/", passthrough=EVERY_ERROR_STATUS)

    async def describe(self, sobject: str) -> dict[str, Any] | None:
        """The sObject's full describe; None when it does not exist for this user (404)."""
        return self._record(await self._send("GET", f"/sobjects/{sobject}/describe"), f"the describe of {sobject}")

    async def custom_fields(self, sobject: str, developer_name: str) -> list[dict[str, Any]]:
        """Tooling API: the custom fields named `developer_name` (`Pivot_Key` for Pivot_Key__c) on
        `sobject`, whether or not field-level security lets this user see them."""
        soql = ("SELECT Id, DeveloperName, TableEnumOrId FROM CustomField WHERE DeveloperName = "
                f"{soql_literal(developer_name)} AND EntityDefinition.QualifiedApiName = {soql_literal(sobject)}")
        body = self._checked(await self._send("GET", "/tooling/query", params={"q": soql}), "a Tooling query")
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise ProviderRejected("bad_response", "Salesforce answered a Tooling query without records")
        return [r for r in body["records"] if isinstance(r, dict)]

    async def create_custom_field(self, full_name: str, metadata: dict[str, Any]) -> str:
        """Tooling API: create a custom field (`Account.Pivot_Key__c`); its id. A field that already
        exists is refused with `duplicate_value` (Salesforce names neither field nor id)."""
        response = await self._send("POST", "/tooling/sobjects/CustomField",
                                    json={"FullName": full_name, "Metadata": metadata})
        body = self._checked(response, f"the creation of {full_name}")
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise ProviderRejected("bad_response", f"Salesforce created {full_name} without saying its id")
        return str(body["id"])
