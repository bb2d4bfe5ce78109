"""After-the-pivot order writes: cancel an order, refund part of an order.

A cancellation is one-way and needs no key (see `orders.py`). A refund is irreversible and
Shopify's `refundCreate` takes `@idempotent(key:)`: the step key goes there, so a replay returns
the original refund. The key also travels in the refund's staff-only note, which lets the lookup
before the write find a refund whose answer was lost even after Shopify's idempotency window
(about a day) has passed.
"""

from decimal import Decimal
from typing import Any

from pivot.compensations.actions import JsonDict
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.keys import StepKeys
from pivot.providers.shopify import documents
from pivot.providers.shopify.client import ShopifyClient
from pivot.providers.shopify.orders import Orders
from pivot.providers.shopify.params import CancelOrderParams, RefundParams
from pivot.providers.shopify.views import gid_number, key_marker, money, money_text, nodes, with_marker

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


class OrderActions:
    def __init__(self, client: ShopifyClient):
        self.client = client
        self.orders = Orders(client)

    async def _existing_order(self, order_id: str) -> dict[str, Any]:
        order = await self.orders.get(order_id)
        if order is None:
            raise ProviderRejected("not_found", f"Shopify has no order {gid_number(order_id)}")
        return order

    async def cancel_order(self, params: CancelOrderParams, keys: StepKeys) -> JsonDict:
        order = await self._existing_order(params.order)
        order = await self.orders.cancel(order, reason=params.reason, refund=params.refund, restock=params.restock,
                                         notify_customer=params.notify_customer,
                                         staff_note=with_marker(params.staff_note, keys.forward))
        return {
            "ref": f"shopify:order/{gid_number(str(order['id']))}",
            "id": order["id"],
            "name": order.get("name"),
            "cancelled_at": order.get("cancelledAt"),
            "cancel_reason": order.get("cancelReason"),
            "financial_status": order.get("displayFinancialStatus"),
        }

    async def refund(self, params: RefundParams, keys: StepKeys) -> JsonDict:
        order = await self._existing_order(params.order)
        _, currency = money(order.get("totalPriceSet"))
        if params.currency is not None and params.currency != currency:
            raise ProviderRejected("currency_mismatch", f"Shopify order {order.get('name')} is in {currency}, "
                                                        f"not {params.currency}")
        marker = key_marker(keys.forward)
        existing = next((r for r in order.get("refunds") or [] if marker in str(r.get("note") or "")), None)
        if existing is not None:
            refund_id = str(existing["id"])
        else:
            refund_input = {
                "orderId": order["id"],
                "note": with_marker(params.note, keys.forward),
                "notify": params.notify,
                "currency": currency,
                "transactions": refund_transactions(order, params.amount),
            }
            payload = await self.client.mutate(documents.REFUND_CREATE,
                                               {"input": refund_input, "idempotencyKey": keys.forward}, "refundCreate")
            refund_id = str((payload.get("refund") or {}).get("id"))
        return await self._verified_refund(refund_id, order, params, marker)

    async def _verified_refund(self, refund_id: str, order: dict[str, Any], params: RefundParams,
                               marker: str) -> JsonDict:
        data = await self.client.execute(documents.REFUND, {"id": refund_id}, operation="refund")
        refund = data.get("refund")
        if not isinstance(refund, dict):
            raise ProviderRejected("readback_mismatch", f"Shopify refund {gid_number(refund_id)} is gone after the "
                                                        "write")
        amount, currency = money(refund.get("totalRefundedSet"))
        # A gateway may settle a refund later (PENDING); a FAILURE or ERROR means no money moved.
        live = [t for t in nodes(refund.get("transactions")) if t.get("status") not in FAILED_STATUSES]
        paid = sum((money(t.get("amountSet"))[0] for t in live), Decimal(0))
        expected = {"order": order["id"], "amount": money_text(params.amount), "paid": money_text(params.amount),
                    "key": True}
        actual = {"order": (refund.get("order") or {}).get("id"), "amount": money_text(amount),
                  "paid": money_text(paid), "key": marker in str(refund.get("note") or "")}
        if actual != expected:
            raise ProviderRejected("readback_mismatch", f"Shopify refund {gid_number(refund_id)} does not match the "
                                                        "plan", {"expected": expected, "actual": actual})
        return {
            "ref": f"shopify:refund/{gid_number(refund_id)}",
            "id": refund["id"],
            "order": order["id"],
            "order_name": order.get("name"),
            "amount": money_text(amount),
            "currency": currency,
        }
