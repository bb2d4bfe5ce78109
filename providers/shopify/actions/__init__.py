"""The Shopify actions of the catalog, written with the action kit (`pivot.kit.KeyedAction`).

- `shopify.create_draft_order` (compensable): a draft is a quote, harmless until completed;
  undone by deleting it.
- `shopify.complete_draft_order` (compensable, may be the pivot): completing creates a real
  order (and, unless payment is pending, records its payment). Its semantic undo exists —
  cancel the order with a refund to the original payment methods and a restock — so it can sit
  before the pivot; it is pivot-eligible because that cancellation is visible to the merchant
  and irreversible, which is exactly what a plan may want to be its point of no return.
- `shopify.cancel_order` (noncompensable): a cancelled order cannot be un-cancelled.
- `shopify.reserve_inventory` (compensable): units moved from `available` to `reserved` under the
  step's ledger document, moved back on unwind (see `inventory`).
- `shopify.create_fulfillment` (compensable, pivot-eligible): ships a fulfillment order; its undo,
  `fulfillmentCancel`, is partial — Shopify reopens the items, the parcel and the customer's email
  stay out in the world (see `fulfillments`).
- `shopify.refund` (retryable): refunds are irreversible, and idempotent through
  `@idempotent(key:)`, so after the pivot it is retried until it succeeds.

One module per resource: `draft_orders`, `orders` (cancel), `refunds`, `inventory`, `fulfillments`.
"""

from pivot.compensations.actions import Action
from pivot.providers.shopify.actions.draft_orders import CompleteDraftOrder, CreateDraftOrder
from pivot.providers.shopify.actions.fulfillments import CreateFulfillment
from pivot.providers.shopify.actions.inventory import ReserveInventory
from pivot.providers.shopify.actions.orders import CancelOrder
from pivot.providers.shopify.actions.refunds import Refund
from pivot.providers.shopify.client import ShopifyClient

__all__ = ["CancelOrder", "CompleteDraftOrder", "CreateDraftOrder", "CreateFulfillment", "Refund", "ReserveInventory",
           "shopify_actions"]


def shopify_actions(client: ShopifyClient) -> list[Action]:
    return [CreateDraftOrder(client).action(), CompleteDraftOrder(client).action(), CancelOrder(client).action(),
            Refund(client).action(), ReserveInventory(client).action(), CreateFulfillment(client).action()]
