"""The Shopify actions of the catalog.

- `shopify.create_draft_order` (compensable): a draft is a quote, harmless until completed;
  undone by deleting it.
- `shopify.complete_draft_order` (compensable, may be the pivot): completing creates a real
  order (and, unless payment is pending, records its payment). Its semantic undo exists —
  cancel the order with a refund to the original payment methods and a restock — so it can sit
  before the pivot; it is pivot-eligible because that cancellation is visible to the merchant
  and irreversible, which is exactly what a plan may want to be its point of no return.
- `shopify.cancel_order` (noncompensable): a cancelled order cannot be un-cancelled.
- `shopify.refund` (retryable): refunds are irreversible, and idempotent through
  `@idempotent(key:)`, so after the pivot it is retried until it succeeds.
"""

from pivot.compensations.actions import Action, JsonDict, RetryBudget
from pivot.compensations.kinds import StepKind
from pivot.providers.shopify.client import ShopifyClient
from pivot.providers.shopify.draft_orders import DraftOrders
from pivot.providers.shopify.order_actions import OrderActions
from pivot.providers.shopify.params import (
    CancelOrderParams,
    CompleteDraftOrderParams,
    CreateDraftOrderParams,
    RefundParams,
)
from pivot.providers.shopify.views import KEY_ATTRIBUTE, KEY_TAG_HEX


def _money(result: JsonDict, field: str = "total") -> str:
    return f"{result.get(field)} {result.get('currency')}"


def shopify_actions(client: ShopifyClient) -> list[Action]:
    drafts = DraftOrders(client)
    orders = OrderActions(client)
    window = client.http.in_flight_window
    return [
        Action(
            name="shopify.create_draft_order",
            kind=StepKind.COMPENSABLE,
            params=CreateDraftOrderParams,
            forward=drafts.create_draft_order,
            compensate=drafts.delete_draft_order,
            key_carrier=f"tag 'pivot-<first {KEY_TAG_HEX} hex of the key>' (searched with draftOrders(query: "
            f"\"tag:'…'\")) + the full key in custom attribute '{KEY_ATTRIBUTE}', compared on read",
            readback="draftOrder(id): status OPEN, line items (variant/quantity, or title/quantity/price), "
            "currency, subtotal of custom lines, email, key attribute and tag",
            compensation="draftOrderDelete; a draft completed meanwhile into a live order, or whose invoice was "
            "sent, is a conflict (one whose order is cancelled counts as undone)",
            describe=lambda r: f"Shopify draft order {r['name']} ({_money(r)}) was created",
            describe_undo=lambda r: f"Shopify draft order {r['name']} was deleted",
            not_run="No Shopify draft order was created",
            in_flight_window=window,
        ),
        Action(
            name="shopify.complete_draft_order",
            kind=StepKind.COMPENSABLE,
            pivot_eligible=True,
            params=CompleteDraftOrderParams,
            forward=drafts.complete_draft_order,
            compensate=drafts.cancel_completed_order,
            key_carrier="none needed: a draft completes once and then names its order (read before completing); "
            "the compensation key goes in the cancellation's staff note",
            readback="order(id) of the completed draft: cancelledAt null, displayFinancialStatus PAID (PENDING "
            "with payment_pending), total and currency equal to the draft's",
            compensation="orderCancel (reason OTHER, refund to original payment methods, restock, no customer "
            "notification), then poll job(id) until the order shows cancelledAt; a fulfilled order is a conflict",
            describe=lambda r: f"Shopify draft order {r.get('draft_name')} was completed as order {r['name']} "
            f"({_money(r)}, {str(r.get('financial_status')).lower()})",
            describe_undo=lambda r: f"Shopify order {r['name']} was cancelled, refunded and restocked",
            not_run="No Shopify order was created from the draft",
            in_flight_window=window,
        ),
        Action(
            name="shopify.cancel_order",
            kind=StepKind.NONCOMPENSABLE,
            params=CancelOrderParams,
            forward=orders.cancel_order,
            key_carrier="none needed: cancelling is one-way (an order already cancelled is success); the key goes "
            "in the staff note for audit",
            readback="order(id) after polling the cancel job: cancelledAt set, cancelReason, financial status",
            compensation="none: Shopify calls order cancellation irreversible (runs after the pivot)",
            describe=lambda r: f"Shopify order {r['name']} was cancelled",
            not_run="No Shopify order was cancelled",
            in_flight_window=window,
            retry=RetryBudget(max_attempts=8),
        ),
        Action(
            name="shopify.refund",
            kind=StepKind.RETRYABLE,
            params=RefundParams,
            forward=orders.refund,
            key_carrier="refundCreate @idempotent(key: step key) + the key in the refund's staff-only note, "
            "looked up in order.refunds before writing",
            readback="refund(id): order, totalRefundedSet and its refund transactions (none failed) equal the amount, "
            "key in the note",
            compensation="none: a refund cannot be taken back (runs after the pivot)",
            describe=lambda r: f"Shopify refunded {_money(r, 'amount')} on order {r.get('order_name')}",
            not_run="No Shopify refund was issued",
            in_flight_window=window,
            retry=RetryBudget(max_attempts=8),
        ),
    ]
