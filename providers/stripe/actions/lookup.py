"""How a Stripe write is found again: the saga key in the object's metadata.

Stripe's idempotency layer replays a key for at least 24 h, but a compensation may run days
later (an approval can wait that long), so every object a step writes also carries its key in
`metadata[pivot_key]` and is found through a list endpoint, which is consistent, unlike search.
"""

from collections.abc import Callable
from typing import Any

KEY_METADATA = "pivot_key"
SEND_METADATA = "pivot_send_key"


def carries(key: str, field: str = KEY_METADATA) -> Callable[[dict[str, Any]], bool]:
    """A predicate for `StripeClient.find`: the object's metadata holds `key`."""

    def match(obj: dict[str, Any]) -> bool:
        metadata = obj.get("metadata") or {}
        return isinstance(metadata, dict) and metadata.get(field) == key

    return match
