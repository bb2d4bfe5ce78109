"""A small HubSpot CRM v3 client: objects by id or by a unique property, and HubSpot errors."""

import re
from typing import Any

from compensations.errors import ProviderRejected
from providers.http import Endpoint, ProviderHTTP, json_body

HUBSPOT_API = "https://api.hubapi.com"
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")


class ContactExists(Exception):
    """409 CONFLICT: a unique property (email, or our key property) is taken."""

    def __init__(self, existing_id: str | None, message: str):
        super().__init__(message)
        self.existing_id = existing_id


class HubSpotClient:
    def __init__(self, endpoint: Endpoint):
        self.http = ProviderHTTP(endpoint)

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
        if response.status_code == 409:
            body = json_body(response)
            message = str(body.get("message", "conflict")) if isinstance(body, dict) else "conflict"
            match = _EXISTING_ID.search(message)
            raise ContactExists(match.group(1) if match else None, message)
        return self._checked(response)

    async def archive_object(self, object_type: str, object_id: str) -> None:
        response = await self.http.request("DELETE", f"/crm/v3/objects/{object_type}/{object_id}")
        if response.status_code != 204:
            self._checked(response)

    def _checked(self, response: Any) -> dict[str, Any]:
        body = json_body(response) if response.content else {}
        if response.status_code < 400 and isinstance(body, dict):
            return body
        message = body.get("message", f"HTTP {response.status_code}") if isinstance(body, dict) else "error"
        category = body.get("category", "") if isinstance(body, dict) else ""
        if response.status_code in {401, 403}:
            raise ProviderRejected("unauthorized", f"HubSpot refused the credentials: {message}")
        raise ProviderRejected((category or "invalid_request").lower(), f"HubSpot rejected the request: {message}")
