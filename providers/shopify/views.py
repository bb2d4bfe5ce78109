"""Reading Shopify's answers: money bags, custom attributes, global ids, and where keys live.

Shopify writes decimals its own way ("12.0", "19.99"), so amounts are compared as `Decimal` and
written back out in one canonical form. A step key is too long for a tag (40 characters), so a
draft carries a tag with a prefix of the key's hash (for search) and the full key in a custom
attribute (verified on every read).
"""

from decimal import Decimal, InvalidOperation
from typing import Any

from pivot.compensations.errors import ProviderRejected
from pivot.compensations.keys import KEY_PREFIX
from pivot.providers.shopify.params import KEY_TAG_PREFIX

KEY_ATTRIBUTE = "pivot_key"
KEY_TAG_HEX = 32
"""`pivot-` + 32 hex characters = 38, inside Shopify's 40-character tag limit."""


def key_tag(key: str) -> str:
    digest = key.removeprefix(KEY_PREFIX)
    return f"{KEY_TAG_PREFIX}{digest[:KEY_TAG_HEX]}"


def key_marker(key: str) -> str:
    """How a key is written into a free-text note (refunds, cancellations): staff-only text."""
    return f"[pivot {key}]"


def with_marker(text: str | None, key: str) -> str:
    return f"{text} {key_marker(key)}" if text else key_marker(key)


def attribute(obj: dict[str, Any], name: str) -> str | None:
    for item in obj.get("customAttributes") or []:
        if isinstance(item, dict) and item.get("key") == name:
            value = item.get("value")
            return value if isinstance(value, str) else None
    return None


def money(bag: Any) -> tuple[Decimal, str]:
    """(amount, currency) of a `*Set` money bag, in the customer's (presentment) currency: the one
    a draft is priced in and a refund is paid in. Single-currency shops have shop == presentment."""
    try:
        value = bag.get("presentmentMoney") or bag["shopMoney"]
        return Decimal(str(value["amount"])), str(value["currencyCode"])
    except (AttributeError, KeyError, TypeError, InvalidOperation):
        raise ProviderRejected("bad_response", f"Shopify sent a money value that is not one: {bag!r}") from None


def money_text(amount: Decimal) -> str:
    """Canonical decimal text: at least two decimals ("12.00", "19.99", "0.125")."""
    return f"{amount:.2f}" if amount == amount.quantize(Decimal("0.01")) else format(amount.normalize(), "f")


def gid_number(gid: str) -> str:
    """The numeric tail of a global id, for refs and sentences."""
    return gid.rsplit("/", 1)[-1]


def nodes(connection: Any) -> list[dict[str, Any]]:
    if not isinstance(connection, dict):
        return []
    return [node for node in connection.get("nodes") or [] if isinstance(node, dict)]


def money_phrase(result: dict[str, Any], field: str = "total") -> str:
    """"49.00 USD" from a verified result, for the summary's sentences."""
    return f"{result.get(field)} {result.get('currency')}"
