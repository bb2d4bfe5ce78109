"""`shopify.cancel_order` (noncompensable, after the pivot): Shopify calls a cancellation irreversible.

A cancellation is one-way, so it needs no key to be exactly-once: `lookup` reads the order, and an
order already cancelled is the step's effect (ours, whose answer was lost, or anyone's: the order
is cancelled either way). Otherwise `orderCancel` starts a job (`shop.Shop.cancel` waits for it);
the step key travels in the staff note, for a person reading the order's timeline.
"""

from typing import Any, ClassVar

from pivot.compensations.actions import JsonDict, RetryBudget
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier, Mismatch
from pivot.providers.shopify.actions.base import ShopifyAction
from pivot.providers.shopify.actions.draft_orders import placed_order
from pivot.providers.shopify.params import CancelOrderParams
from pivot.providers.shopify.views import gid_number, with_marker

Order = dict[str, Any]


class CancelOrder(ShopifyAction[CancelOrderParams, Order]):
    name: ClassVar[str] = "shopify.cancel_order"
    idempotency = "natural"
    kind: ClassVar[StepKind] = StepKind.NONCOMPENSABLE
    params = CancelOrderParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.json(
        "variables.staffNote",
        "none needed: cancelling is one-way (an order already cancelled is success); the key goes in the staff note "
        "for audit")
    readback: ClassVar[str] = "order(id) after polling the cancel job: cancelledAt set, cancelReason, financial status"
    compensation: ClassVar[str] = "none: Shopify calls order cancellation irreversible (runs after the pivot)"
    not_run: ClassVar[str] = "No Shopify order was cancelled"
    retry: ClassVar[RetryBudget] = RetryBudget(max_attempts=8)

    async def lookup(self, params: CancelOrderParams, key: str) -> Order | None:
        """The order, if it is cancelled already; an order that does not exist is terminal."""
        order = await self.shop.order(params.order)
        if order is None:
            raise ProviderRejected("not_found", f"Shopify has no order {gid_number(params.order)}")
        return order if order.get("cancelledAt") else None

    async def write(self, params: CancelOrderParams, key: str) -> Order:
        """orderCancel, its job waited for, then the order read by id (the read-back)."""
        return await self.shop.cancel({"id": params.order}, reason=params.reason, refund=params.refund,
                                      restock=params.restock, notify_customer=params.notify_customer,
                                      staff_note=with_marker(params.staff_note, key))

    async def read_back(self, params: CancelOrderParams, key: str, written: Order) -> Order:
        """The lookup and the write both answer the order as just read by id."""
        return written

    def verify(self, params: CancelOrderParams, fresh: Order) -> JsonDict:
        if fresh.get("id") != params.order:
            raise Mismatch(f"Shopify answered order {fresh.get('id')} for order {params.order}",
                           expected=params.order, actual=fresh.get("id"))
        if not fresh.get("cancelledAt"):
            raise Mismatch(f"Shopify order {fresh.get('name')} is not cancelled", expected="cancelled", actual=None)
        return {
            "ref": f"shopify:order/{gid_number(str(fresh['id']))}",
            "id": fresh["id"],
            "name": fresh.get("name"),
            "cancelled_at": fresh.get("cancelledAt"),
            "cancel_reason": fresh.get("cancelReason"),
            "financial_status": fresh.get("displayFinancialStatus"),
        }

    def describe(self, result: JsonDict) -> str:
        return f"Shopify order {result['name']} was cancelled"

    async def example(self) -> CancelOrderParams:
        """An order of its own to cancel: a draft made and completed through the client."""
        return CancelOrderParams(order=await placed_order(self.shop, "cancel"), staff_note="Pivot conformance")

