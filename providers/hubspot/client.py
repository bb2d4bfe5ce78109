"""A small HubSpot CRM v3 client: objects by id or by a unique property, batches, HubSpot errors.

HubSpot has no idempotency header; callers make writes findable through a unique property and
look it up before writing. A 409 CONFLICT on a unique property becomes `AlreadyExists` (with the
existing id when HubSpot names it); a 429 waits as HubSpot's policy says (see `ratelimit`).
"""

import re
from typing import Any

from compensations.errors import ProviderRejected
from providers.http import Endpoint, ProviderHTTP, json_body
from providers.hubspot.ratelimit import raise_for_rate_limit

HUBSPOT_API = "https://api.hubapi.com"
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
