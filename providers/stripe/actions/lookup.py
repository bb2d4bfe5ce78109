"""How a Stripe write is found again: the saga key in the object's metadata.

Stripe's idempotency layer replays a key for at least 24 h, but a compensation may run days
later (an approval can wait that long), so every object a step writes also carries its key in
`metadata[pivot_key]` and is found through a list endpoint, which is consistent, unlike search.
A read-back by id (cheaper than a list) checks the key too: an object without it is not the step's.
"""

from collections.abc import Callable
from typing import Any

from pivot.compensations.errors import ProviderRejected
from pivot.compensations.kit import KeyCarrier
from pivot.providers.stripe.client import StripeClient

KEY_METADATA = "pivot_key"
SEND_METADATA = "pivot_send_key"


def in_metadata(description: str, field: str = KEY_METADATA) -> KeyCarrier:
    """The carrier the lookup relies on: `metadata[field]`, sent with the write's form body (the
    Idempotency-Key header carries the key too, but Stripe keeps its answers only 24 h)."""
    return KeyCarrier.form(f"metadata[{field}]", description)


def carries(key: str, field: str = KEY_METADATA) -> Callable[[dict[str, Any]], bool]:
    """A predicate for `StripeClient.find`: the object's metadata holds `key`."""

    def match(obj: dict[str, Any]) -> bool:
        metadata = obj.get("metadata") or {}
        return isinstance(metadata, dict) and metadata.get(field) == key

    return match


def keyed(obj: dict[str, Any], key: str, what: str, field: str = KEY_METADATA) -> dict[str, Any]:
    """`obj`, read back by id, if it carries the step's key; otherwise the read-back disagrees."""
    if not carries(key, field)(obj):
        metadata = obj.get("metadata")
        raise ProviderRejected("readback_mismatch", f"{what} does not carry this step's key",
                               {"expected": {f"metadata.{field}": key},
                                "actual": {f"metadata.{field}": metadata.get(field)
                                           if isinstance(metadata, dict) else None}})
    return obj


LIVE_REFUND_STATUSES = frozenset({"succeeded", "pending", "requires_action"})


async def live_refunds(client: StripeClient, intent_id: str) -> list[dict[str, Any]]:
    """Every refund of the payment that has not failed or been canceled (all pages, bounded)."""
    return await client.find_every("/v1/refunds", {"payment_intent": intent_id},
                                   lambda refund: refund.get("status") in LIVE_REFUND_STATUSES)
