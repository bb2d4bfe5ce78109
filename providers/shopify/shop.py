"""What the Shopify actions read and do beside their own writes: draft orders, orders and refunds
read by id, and an order cancelled the way Shopify does it, asynchronously.

Reads go through the views in `documents.py`, so a lookup and a read after a write see the same
fields. `orderCancel` only starts a job; the order's `cancelledAt` is set when the job finishes. A
cancellation is one-way, so it needs no key to be exactly-once: whoever finds the order already
cancelled is done. The step key still travels in the staff note (never shown to customers) so a
person reading the order's timeline can tell which saga cancelled it.
"""

import asyncio
from typing import Any

from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.providers.shopify import documents
from pivot.providers.shopify.client import ShopifyClient
from pivot.providers.shopify.views import gid_number, nodes

JOB_POLL_DELAYS_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
"""Polling a cancel job: about 3 s in all, then the step is retried (and starts by reading the order)."""
REFUSAL_RECHECK_DELAYS_S = (0.05, 0.1, 0.2, 0.4)
"""After a refused orderCancel: is a cancellation (ours, whose answer was lost) already running?"""
STILL_RUNNING_RETRY_S = 2.0


class Shop:
    def __init__(self, client: ShopifyClient):
        self.client = client

    async def _read(self, document: str, field: str, object_id: str) -> dict[str, Any] | None:
        data = await self.client.execute(document, {"id": object_id}, operation=field)
        found = data.get(field)
        return found if isinstance(found, dict) else None

    async def draft(self, draft_id: str) -> dict[str, Any] | None:
        return await self._read(documents.DRAFT_ORDER, "draftOrder", draft_id)

    async def order(self, order_id: str) -> dict[str, Any] | None:
        return await self._read(documents.ORDER, "order", order_id)

    async def refund(self, refund_id: str) -> dict[str, Any] | None:
        return await self._read(documents.REFUND, "refund", refund_id)

    async def currency(self) -> str:
        """The shop's currency (what a conformance run prices its example drafts in)."""
        data = await self.client.execute(documents.SHOP_CURRENCY, operation="shop")
        return str((data.get("shop") or {}).get("currencyCode") or "USD")

    async def ship_open(self, order_id: str) -> None:
        """Fulfil everything still open on an order, as a merchant's warehouse would (conformance's
        third party; the app needs `write_merchant_managed_fulfillment_orders`)."""
        data = await self.client.execute(documents.FULFILLMENT_ORDERS, {"id": order_id}, operation="fulfillmentOrders")
        for fulfillment_order in nodes((data.get("order") or {}).get("fulfillmentOrders")):
            if fulfillment_order.get("status") == "OPEN":
                await self.client.mutate(documents.FULFILLMENT_CREATE, {"fulfillment": {
                    "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fulfillment_order["id"]}],
                    "notifyCustomer": False}}, "fulfillmentCreate")

    async def cancel(self, order: dict[str, Any], *, reason: str, refund: bool, restock: bool,
                     notify_customer: bool, staff_note: str) -> dict[str, Any]:
        """Cancel `order` unless it already is; wait for Shopify's job; return the order as it is now.
        `order` may be just `{"id": …}`: refused because it is cancelled already, it is read then."""
        if order.get("cancelledAt"):
            return order
        order_id = str(order["id"])
        variables = {
            "orderId": order_id, "reason": reason, "restock": restock, "notifyCustomer": notify_customer,
            "refundMethod": {"originalPaymentMethodsRefund": refund}, "staffNote": staff_note,
        }
        try:
            payload = await self.client.mutate(documents.ORDER_CANCEL, variables, "orderCancel",
                                               errors_field="orderCancelUserErrors")
        except ProviderRejected:
            # Refused: perhaps because our own earlier attempt (answer lost) is already cancelling it.
            current = await self._poll_order(order_id, REFUSAL_RECHECK_DELAYS_S)
            if current is None:
                raise ProviderRejected("not_found", f"Shopify has no order {gid_number(order_id)}") from None
            if current.get("cancelledAt"):
                return current
            raise
        job = payload.get("job")
        if isinstance(job, dict) and job.get("id") and not job.get("done"):
            await self._wait_for_job(str(job["id"]))
        current = await self.order(order_id)
        if current is None:
            raise ProviderRejected("not_found", f"Shopify order {order.get('name') or order_id} vanished while "
                                                "it was being cancelled")
        if not current.get("cancelledAt"):
            raise ProviderUnavailable(f"Shopify is still cancelling order {current.get('name') or order_id}",
                                      retry_after_s=STILL_RUNNING_RETRY_S)
        return current

    async def _wait_for_job(self, job_id: str) -> bool:
        for delay in JOB_POLL_DELAYS_S:
            data = await self.client.execute(documents.JOB, {"id": job_id}, operation="job")
            job = data.get("job")
            if not isinstance(job, dict) or job.get("done"):
                return True
            await asyncio.sleep(delay)
        return False

    async def _poll_order(self, order_id: str, delays: tuple[float, ...]) -> dict[str, Any] | None:
        """Read the order until it shows `cancelledAt` or the delays run out."""
        current = await self.order(order_id)
        for delay in delays:
            if current is None or current.get("cancelledAt"):
                break
            await asyncio.sleep(delay)
            current = await self.order(order_id)
        return current
