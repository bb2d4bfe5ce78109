"""A step's record in the shop: an app-owned metafield that says what the step is doing.

Shopify keeps no index of inventory moves by their reference document (an adjustment group is read
only by its id, through `node(id:)`), so a step that moves inventory writes its own record first —
`shop.metafield(namespace: "$app:pivot", key: "step-<32 hex of the key>")`, JSON holding the full
key — and the lookup reads it back by the key. The record says what was asked and how far the step
got (`reserving`, then `released` once undone); the move itself stays idempotent through
`@idempotent(key:)`, so finishing a step found half-way is a replay, never a second move.
"""

import json
from dataclasses import dataclass
from typing import Any

from pivot.compensations.errors import ProviderRejected
from pivot.compensations.keys import KEY_PREFIX
from pivot.providers.shopify import documents
from pivot.providers.shopify.client import ShopifyClient

NAMESPACE = "$app:pivot"
KEY_HEX = 32


def record_key(key: str) -> str:
    return f"step-{key.removeprefix(KEY_PREFIX)[:KEY_HEX]}"


@dataclass(frozen=True, slots=True)
class Record:
    """A step's record as the shop holds it (its JSON value, whose `key` is the full step key)."""

    owner: str
    value: dict[str, Any]
    digest: str | None

    @property
    def state(self) -> str:
        return str(self.value.get("state"))


class Records:
    def __init__(self, client: ShopifyClient):
        self.client = client

    async def read(self, key: str) -> Record | None:
        """The record of the step with this key; one whose full key differs is not it."""
        data = await self.client.execute(documents.SHOP_RECORD, {"namespace": NAMESPACE, "key": record_key(key)},
                                         operation="shop.metafield")
        shop = data.get("shop") or {}
        field = shop.get("metafield")
        if not isinstance(field, dict):
            return None
        try:
            value = json.loads(str(field.get("value")))
        except json.JSONDecodeError:
            return None
        if not isinstance(value, dict) or value.get("key") != key:
            return None
        return Record(str(shop.get("id")), value, field.get("compareDigest"))

    async def write(self, key: str, value: dict[str, Any], *, owner: str | None = None,
                    digest: str | None = None) -> Record:
        """Set the record (`digest`: only if it still holds what was read, else refused)."""
        if owner is None:
            data = await self.client.execute(documents.SHOP_RECORD, {"namespace": NAMESPACE, "key": record_key(key)},
                                             operation="shop")
            owner = str((data.get("shop") or {}).get("id"))
        field = {"ownerId": owner, "namespace": NAMESPACE, "key": record_key(key), "type": "json",
                 "value": json.dumps({**value, "key": key}, sort_keys=True)}
        if digest is not None:
            field["compareDigest"] = digest
        payload = await self.client.mutate(documents.SET_SHOP_RECORD, {"metafields": [field]}, "metafieldsSet")
        if not payload.get("metafields"):
            raise ProviderRejected("bad_response", "Shopify answered metafieldsSet without the record")
        return Record(owner, {**value, "key": key}, None)
