"""`shopify.refund` (retryable, after the pivot): part of an order's payment refunded; a refund is
irreversible.

Shopify's `refundCreate` takes `@idempotent(key:)`: the step key goes there, so a replay returns
the original refund. The key also travels in the refund's staff-only note, which is how `lookup`
finds it (in the order's refunds) even after Shopify's idempotency window (about a day) has passed.
The write reads the order first: a refund names the payments it draws from.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from pivot.compensations.actions import JsonDict, RetryBudget
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier, Mismatch
from pivot.providers.shopify import documents
from pivot.providers.shopify.actions.base import ShopifyAction
from pivot.providers.shopify.actions.draft_orders import placed_order
from pivot.providers.shopify.params import RefundParams
from pivot.providers.shopify.views import gid_number, key_marker, money, money_phrase, money_text, nodes, with_marker

REFUNDABLE_KINDS = frozenset({"SALE", "CAPTURE"})
FAILED_STATUSES = frozenset({"FAILURE", "ERROR"})


def refund_transactions(order: dict[str, Any], amount: Decimal) -> list[dict[str, Any]]:
    """Split `amount` over the order's successful payments, oldest first, each up to what is
    still unrefunded on it: refundCreate needs the parent transaction of every refund."""
    transactions = [t for t in order.get("transactions") or [] if isinstance(t, dict) and t.get("status") == "SUCCESS"]
    refunded: dict[str, Decimal] = {}
    for tx in transactions:
        parent = (tx.get("parentTransaction") or {}).get("id")
        if tx.get("kind") == "REFUND" and parent:
            refunded[parent] = refunded.get(parent, Decimal(0)) + money(tx.get("amountSet"))[0]
    left, planned = amount, []
    for tx in transactions:
        if tx.get("kind") not in REFUNDABLE_KINDS or left <= 0:
            continue
        remaining = money(tx.get("amountSet"))[0] - refunded.get(str(tx["id"]), Decimal(0))
        take = min(remaining, left)
        if take > 0:
            planned.append({"orderId": order["id"], "parentId": tx["id"], "amount": money_text(take),
                            "gateway": tx.get("gateway"), "kind": "REFUND"})
            left -= take
    if left > 0:
        refundable = amount - left
        raise ProviderRejected("amount_exceeds_refundable",
                               f"Shopify order {order.get('name')} has {money_text(refundable)} left to refund, "
                               f"not {money_text(amount)}",
                               {"refundable": money_text(refundable), "requested": money_text(amount)})
    return planned


@dataclass(frozen=True, slots=True)
class Refunded:
    """A refund carrying the step key (as listed in its order, or read by id) and its order."""

    key: str
    order: dict[str, Any]
    refund: dict[str, Any]


class Refund(ShopifyAction[RefundParams, Refunded]):
    name: ClassVar[str] = "shopify.refund"
    idempotency = "key"
    kind: ClassVar[StepKind] = StepKind.RETRYABLE
    params = RefundParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.json(
        "variables.idempotencyKey",
        "refundCreate @idempotent(key: step key) + the key in the refund's staff-only note, looked up in "
        "order.refunds before writing")
    readback: ClassVar[str] = ("refund(id): order, totalRefundedSet and its refund transactions (none failed) equal "
                               "the amount, key in the note")
    compensation: ClassVar[str] = "none: a refund cannot be taken back (runs after the pivot)"
    not_run: ClassVar[str] = "No Shopify refund was issued"
    retry: ClassVar[RetryBudget] = RetryBudget(max_attempts=8)

    async def _order(self, params: RefundParams) -> dict[str, Any]:
        order = await self.shop.order(params.order)
        if order is None:
            raise ProviderRejected("not_found", f"Shopify has no order {gid_number(params.order)}")
        return order

    async def lookup(self, params: RefundParams, key: str) -> Refunded | None:
        found = await self.find_all(params, key)
        return found[0] if found else None

    async def find_all(self, params: RefundParams, key: str) -> list[Refunded]:
        """The order's refunds whose staff note carries the key."""
        order = await self._order(params)
        marker = key_marker(key)
        return [Refunded(key, order, refund) for refund in order.get("refunds") or []
                if isinstance(refund, dict) and marker in str(refund.get("note") or "")]

    async def write(self, params: RefundParams, key: str) -> Refunded:
        order = await self._order(params)
        _, currency = money(order.get("totalPriceSet"))
        if params.currency is not None and params.currency != currency:
            raise ProviderRejected("currency_mismatch", f"Shopify order {order.get('name')} is in {currency}, "
                                                        f"not {params.currency}")
        refund_input = {
            "orderId": order["id"],
            "note": with_marker(params.note, key),
            "notify": params.notify,
            "currency": currency,
            "transactions": refund_transactions(order, params.amount),
        }
        payload = await self.client.mutate(documents.REFUND_CREATE, {"input": refund_input, "idempotencyKey": key},
                                           "refundCreate")
        return Refunded(key, order, {"id": str((payload.get("refund") or {}).get("id"))})

    async def read_back(self, params: RefundParams, key: str, written: Refunded) -> Refunded | None:
        refund = await self.shop.refund(str(written.refund["id"]))
        return None if refund is None else Refunded(key, written.order, refund)

    def verify(self, params: RefundParams, fresh: Refunded) -> JsonDict:
        refund, order = fresh.refund, fresh.order
        amount, currency = money(refund.get("totalRefundedSet"))
        # A gateway may settle a refund later (PENDING); a FAILURE or ERROR means no money moved.
        live = [t for t in nodes(refund.get("transactions")) if t.get("status") not in FAILED_STATUSES]
        paid = sum((money(t.get("amountSet"))[0] for t in live), Decimal(0))
        expected = {"order": order["id"], "amount": money_text(params.amount), "paid": money_text(params.amount),
                    "key": True}
        actual = {"order": (refund.get("order") or {}).get("id"), "amount": money_text(amount),
                  "paid": money_text(paid), "key": key_marker(fresh.key) in str(refund.get("note") or "")}
        if actual != expected:
            raise Mismatch(f"Shopify refund {gid_number(str(refund['id']))} does not match the plan",
                           expected=expected, actual=actual)
        return {
            "ref": f"shopify:refund/{gid_number(str(refund['id']))}",
            "id": refund["id"],
            "order": order["id"],
            "order_name": order.get("name"),
            "amount": money_text(amount),
            "currency": currency,
        }

    def describe(self, result: JsonDict) -> str:
        return f"Shopify refunded {money_phrase(result, 'amount')} on order {result.get('order_name')}"

    async def example(self) -> RefundParams:
        """A paid order of its own to refund part of, made through the client."""
        return RefundParams(order=await placed_order(self.shop, "refund"), amount=Decimal("0.50"),
                            note="Pivot conformance")
