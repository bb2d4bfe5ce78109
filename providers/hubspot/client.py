"""A small HubSpot CRM v3 client: objects by id or by a unique property, batches, HubSpot errors.

HubSpot has no idempotency header; callers make writes findable through a unique property and
look it up before writing. A 409 CONFLICT on a unique property becomes `AlreadyExists` (with the
existing id when HubSpot names it); a 429 waits as HubSpot's policy says (see `ratelimit`).
"""

import re
from typing import Any

import httpx

from pivot.compensations.errors import ProviderRejected
from pivot.providers.http import Endpoint, ProviderHTTP, json_body
from pivot.providers.hubspot.ratelimit import raise_for_rate_limit

HUBSPOT_API = "https://api.hubapi.com"
TOKEN_INFO_PATH = "/oauth/v2/private-apps/get/access-token-info"
EVERY_ERROR_STATUS = frozenset(range(400, 600))
SEARCH_PAGE = 100
SEARCH_PAGES = 10
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")


class AlreadyExists(Exception):
    """409 CONFLICT: a unique property (email, or our key property) is taken."""

    def __init__(self, existing_id: str | None, message: str):
        super().__init__(message)
        self.existing_id = existing_id


ContactExists = AlreadyExists
"""The earlier name, kept for callers that catch it."""


class HubSpotClient:
    def __init__(self, endpoint: Endpoint):
        self.http = ProviderHTTP(endpoint, response_hooks=[raise_for_rate_limit])

    async def get_object(
        self,
        object_type: str,
        ident: str,
        *,
        properties: list[str],
        id_property: str | None = None,
        archived: bool = False,
    ) -> dict[str, Any] | None:
        params: dict[str, str] = {"properties": ",".join(properties), "archived": str(archived).lower()}
        if id_property:
            params["idProperty"] = id_property
        response = await self.http.request("GET", f"/crm/v3/objects/{object_type}/{ident}", params=params)
        if response.status_code == 404:
            return None
        return self._checked(response)

    async def create_object(self, object_type: str, properties: dict[str, str]) -> dict[str, Any]:
        response = await self.http.request(
            "POST", f"/crm/v3/objects/{object_type}", json={"properties": properties, "associations": []}
        )
        self._raise_conflict(response)
        return self._checked(response)

    async def update_object(self, object_type: str, object_id: str, properties: dict[str, str]) -> dict[str, Any]:
        """PATCH properties ("" clears one); `object_not_found` when it does not exist or is archived."""
        response = await self.http.request(
            "PATCH", f"/crm/v3/objects/{object_type}/{object_id}", json={"properties": properties}
        )
        self._raise_conflict(response)
        return self._checked(response)

    async def archive_object(self, object_type: str, object_id: str) -> None:
        response = await self.http.request("DELETE", f"/crm/v3/objects/{object_type}/{object_id}")
        if response.status_code != 204:
            self._checked(response)

    async def batch_read(
        self,
        object_type: str,
        idents: list[str],
        *,
        properties: list[str],
        id_property: str | None = None,
        archived: bool = False,
    ) -> list[dict[str, Any]]:
        """The objects found (missing ones are simply absent: HubSpot answers 207 with errors)."""
        if not idents:
            return []
        body: dict[str, Any] = {"properties": properties, "inputs": [{"id": ident} for ident in idents]}
        if id_property:
            body["idProperty"] = id_property
        response = await self.http.request("POST", f"/crm/v3/objects/{object_type}/batch/read",
                                           params={"archived": str(archived).lower()}, json=body)
        return list(self._checked(response).get("results") or [])

    async def search(self, object_type: str, property_name: str, values: list[str], *,
                     properties: list[str]) -> list[dict[str, Any]]:
        """Live objects whose `property_name` is one of `values`, through the CRM search (up to
        `SEARCH_PAGES` pages of 100). The search never sees archived objects, and HubSpot's index
        follows a write by a few seconds: for finding duplicates, beside a read by `idProperty`."""
        filters = [{"propertyName": property_name, "operator": "IN", "values": values}]
        body: dict[str, Any] = {"filterGroups": [{"filters": filters}], "properties": properties,
                                "limit": SEARCH_PAGE}
        found: list[dict[str, Any]] = []
        for _ in range(SEARCH_PAGES):
            page = self._checked(await self.http.request("POST", f"/crm/v3/objects/{object_type}/search", json=body))
            found += list(page.get("results") or [])
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
            body = {**body, "after": after}
        return found

    async def batch_create(
        self, object_type: str, inputs: list[dict[str, str]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(created objects, errors); a 207 means some inputs failed while others were created."""
        response = await self.http.request(
            "POST", f"/crm/v3/objects/{object_type}/batch/create",
            json={"inputs": [{"properties": properties, "associations": []} for properties in inputs]},
        )
        self._raise_conflict(response)
        body = self._checked(response)
        return list(body.get("results") or []), list(body.get("errors") or [])

    async def batch_archive(self, object_type: str, object_ids: list[str]) -> None:
        if not object_ids:
            return
        response = await self.http.request("POST", f"/crm/v3/objects/{object_type}/batch/archive",
                                           json={"inputs": [{"id": object_id} for object_id in object_ids]})
        if response.status_code != 204:
            self._checked(response)

    # ----------------------------------------------------------------- account (pivot setup / doctor)

    def base_url(self) -> str:
        """Where requests go now: the current connection's base URL (for messages, never a secret)."""
        return self.http.base_url()

    async def probe(self, object_type: str = "contacts") -> httpx.Response:
        """One cheap authenticated read (`GET /crm/v3/objects/{type}?limit=1`), answered as is (4xx
        and 5xx included): doctor reads its status and headers (Date, X-HubSpot-RateLimit-*).
        Raises only without an answer, or on a 429 (`ProviderUnavailable` with HubSpot's wait)."""
        return await self.http.request("GET", f"/crm/v3/objects/{object_type}",
                                       params={"limit": "1", "archived": "false"}, passthrough=EVERY_ERROR_STATUS)

    async def token_info(self) -> dict[str, Any]:
        """The private-app token's own description (`userId`, `hubId`, `appId`, `scopes`).

        HubSpot takes the token in the body here. It is the credential of the current connection,
        the one the Authorization header carries, read for this one request and never kept."""
        credential = self.http.credential()
        response = await self.http.request("POST", TOKEN_INFO_PATH, json={"tokenKey": credential})
        return self._schema_checked(response)

    async def get_property(self, object_type: str, name: str) -> dict[str, Any] | None:
        """A property definition, or None when the object type has no such property."""
        response = await self.http.request("GET", f"/crm/v3/properties/{object_type}/{name}")
        if response.status_code == 404:
            return None
        return self._schema_checked(response)

    async def create_property(self, object_type: str, definition: dict[str, Any]) -> dict[str, Any]:
        """Create a property definition; `AlreadyExists` when the name is taken (409)."""
        response = await self.http.request("POST", f"/crm/v3/properties/{object_type}", json=definition)
        if response.status_code == 409:
            body = json_body(response)
            raise AlreadyExists(None, str(body.get("message", "conflict")) if isinstance(body, dict) else "conflict")
        return self._schema_checked(response)

    @staticmethod
    def _schema_checked(response: httpx.Response) -> dict[str, Any]:
        """Like `_checked`, but keeps what doctor and setup must tell apart: a refused token
        (`unauthorized`) and a missing scope (`missing_scopes`, with the scopes HubSpot names)."""
        body = json_body(response) if response.content else {}
        if response.status_code < 400 and isinstance(body, dict):
            return body
        message = str(body.get("message", f"HTTP {response.status_code}")) if isinstance(body, dict) else "error"
        category = str(body.get("category", "")) if isinstance(body, dict) else ""
        if response.status_code == 401:
            raise ProviderRejected("unauthorized", f"HubSpot refused the credentials: {message}")
        if response.status_code == 403 and category == "MISSING_SCOPES":
            scopes = HubSpotClient.required_scopes(body)
            raise ProviderRejected("missing_scopes", f"HubSpot: {message}", {"scopes": scopes})
        raise ProviderRejected((category or "invalid_request").lower(), f"HubSpot rejected the request: {message}")

    @staticmethod
    def required_scopes(body: Any) -> list[str]:
        """The scopes a 403 MISSING_SCOPES names (`errors[].context.requiredGranularScopes`, or `requiredScopes`)."""
        found: list[str] = []
        entries = [body, *(body.get("errors") or [])] if isinstance(body, dict) else []
        for entry in entries:
            context = entry.get("context") if isinstance(entry, dict) else None
            if not isinstance(context, dict):
                continue
            for key in ("requiredGranularScopes", "requiredScopes"):
                values = context.get(key)
                if isinstance(values, list):
                    found += [str(v) for v in values if str(v) not in found]
        return found

    @staticmethod
    def _raise_conflict(response: Any) -> None:
        if response.status_code == 409:
            body = json_body(response)
            message = str(body.get("message", "conflict")) if isinstance(body, dict) else "conflict"
            match = _EXISTING_ID.search(message)
            raise AlreadyExists(match.group(1) if match else None, message)

    def _checked(self, response: Any) -> dict[str, Any]:
        body = json_body(response) if response.content else {}
        if response.status_code < 400 and isinstance(body, dict):
            return body
        message = body.get("message", f"HTTP {response.status_code}") if isinstance(body, dict) else "error"
        category = body.get("category", "") if isinstance(body, dict) else ""
        if response.status_code in {401, 403}:
            raise ProviderRejected("unauthorized", f"HubSpot refused the credentials: {message}")
        if response.status_code == 404:
            raise ProviderRejected("object_not_found", f"HubSpot has no such object: {message}")
        raise ProviderRejected((category or "invalid_request").lower(), f"HubSpot rejected the request: {message}")
