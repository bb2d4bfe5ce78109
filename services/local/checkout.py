"""The checkout workflow the article Pivot is built on describes, end to end on the local stack.

A customer placed order #1001 for two tees; the back office then runs one saga:

1. **reserve** two units at the warehouse (Shopify `inventoryMoveQuantities`, compensable: moved back);
2. **charge** the card (Stripe PaymentIntent, compensable: refunded);
3. **record** the order in the shop's own database with its `order.placed` outbox event
   (PostgreSQL, compensable: the row deleted, an `order.placed.undone` event);
4. **fulfil** it (Shopify `fulfillmentCreate`): the pivot, the point of no return;
5. **email** the confirmation (Resend, noncompensable: deferred to commit, sent last).

`pivot demo --checkout` runs it clean, then once with a real-world failure at each step in turn:
out of stock, a declined card, the order already recorded by another process, the order already
shipped by hand, and an email API that fails twice before it answers. Each run before the pivot
ends compensated (everything that took effect undone, no email); the email's failures, past the
pivot, are retried until it is sent once. `examples/checkout/` runs the same saga as a plan and
as an open saga driven one tool call at a time.

The order is placed directly in the shop (a draft order, completed) the way a storefront would;
the saga is the back office's.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from pivot.providers.shopify import documents
from pivot.providers.shopify.client import API_VERSION
from pivot.services.local.demo import DEMO_CUSTOMER, clear_faults

TEE_VARIANT = "gid://shopify/ProductVariant/44000000001"
TEE_ITEM = "gid://shopify/InventoryItem/45000000001"
WAREHOUSE = "gid://shopify/Location/70000000001"
"""The Shopify sandbox's seeded tee (25.00 USD), its inventory item and the warehouse stocking it."""
QUANTITY = 2
AMOUNT_CENTS = 5000
SENDER = "Pivot Shop <orders@example.com>"
ORDERS_TABLE = "orders"
ORDERS_TABLES_SETTING = "orders:id"
"""What `PIVOT_POSTGRES_TABLES` must name for the checkout to write its record (the local stack's default)."""
ORDERS_DDL = """CREATE TABLE IF NOT EXISTS orders (
    id text PRIMARY KEY, email text NOT NULL, shopify_order text NOT NULL, payment text NOT NULL,
    amount integer NOT NULL, currency text NOT NULL, status text NOT NULL)"""


@dataclass(frozen=True)
class PlacedOrder:
    id: str
    name: str
    fulfillment_order: str
    email: str

    @property
    def record_id(self) -> str:
        """The shop's own id for the order: its Shopify number (`#1001` → `order-1001`)."""
        return "order-" + self.name.lstrip("#")


class Storefront:
    """The shop's Admin GraphQL API, used as a storefront and a warehouse clerk would: to place
    orders and, for the demo's "already shipped" failure, to ship one by hand."""

    def __init__(self, base_url: str, token: str):
        self.url = f"{base_url.rstrip('/')}/admin/api/{API_VERSION}/graphql.json"
        self.headers = {"X-Shopify-Access-Token": token}

    def _run(self, document: str, variables: dict[str, Any], field: str) -> dict[str, Any]:
        response = httpx.post(self.url, json={"query": document, "variables": variables}, headers=self.headers,
                              timeout=30)
        response.raise_for_status()
        body = response.json()
        data: dict[str, Any] = (body.get("data") or {}).get(field) or {}
        if body.get("errors") or data.get("userErrors"):
            raise RuntimeError(f"Shopify {field}: {body.get('errors') or data.get('userErrors')}")
        return data

    def place(self, email: str) -> PlacedOrder:
        draft = self._run(documents.DRAFT_ORDER_CREATE, {"input": {
            "email": email, "lineItems": [{"variantId": TEE_VARIANT, "quantity": QUANTITY}]}}, "draftOrderCreate")
        completed = self._run(documents.DRAFT_ORDER_COMPLETE,
                              {"id": draft["draftOrder"]["id"], "paymentPending": True}, "draftOrderComplete")
        order_id = str(completed["draftOrder"]["order"]["id"])
        order = self._run(documents.ORDER, {"id": order_id}, "order")
        opened = self._run(documents.FULFILLMENT_ORDERS, {"id": order_id}, "order")["fulfillmentOrders"]["nodes"]
        return PlacedOrder(order_id, str(order["name"]), str(opened[0]["id"]), email)

    def ship_by_hand(self, order: PlacedOrder) -> None:
        """Someone in the warehouse ships the order outside the saga."""
        self._run(documents.FULFILLMENT_CREATE, {"fulfillment": {
            "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": order.fulfillment_order}],
            "notifyCustomer": False}}, "fulfillmentCreate")


def checkout_steps(order: PlacedOrder, *, quantity: int = QUANTITY,
                   payment_method: str = "pm_card_visa") -> list[dict[str, Any]]:
    """The saga's five steps, in the seed's order: compensable steps, the pivot, the email last."""
    return [
        {"id": "reserve", "action": "shopify.reserve_inventory",
         "params": {"inventory_item": TEE_ITEM, "location": WAREHOUSE, "quantity": quantity}},
        {"id": "charge", "action": "stripe.charge",
         "params": {"customer": DEMO_CUSTOMER, "payment_method": payment_method, "amount": AMOUNT_CENTS,
                    "currency": "usd", "description": f"Order {order.name}"}},
        {"id": "record", "action": "postgres.insert_record",
         "params": {"table": ORDERS_TABLE, "key": {"id": order.record_id},
                    "values": {"email": order.email, "shopify_order": order.id, "payment": {"$from": "charge.id"},
                               "amount": AMOUNT_CENTS, "currency": "usd", "status": "paid"},
                    "outbox": {"topic": "order.placed", "payload": {"order": order.record_id}}}},
        {"id": "fulfil", "action": "shopify.create_fulfillment", "pivot": True,
         "params": {"fulfillment_order": order.fulfillment_order}},
        {"id": "email", "action": "resend.send_email",
         "params": {"sender": SENDER, "to": [order.email],
                    "subject": f"Your order {order.name} is on its way",
                    "text": {"$template": "Thank you! Order {order} ({payment}) has shipped: fulfilment {fulfil.name}.",
                             "order": order.name, "payment": {"$from": "charge.id"}}}},
    ]


def checkout_plan(order: PlacedOrder, **options: Any) -> dict[str, Any]:
    return {"steps": checkout_steps(order, **options)}


def ensure_orders_table(dsn: str) -> None:
    """The shop's own table (its schema is the shop's business, not Pivot's)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(ORDERS_DDL)


@dataclass(frozen=True)
class Shop:
    """Where the demo's shop lives: the local stack's ingress, sandboxes and database."""

    ingress: str
    sandboxes: dict[str, str]
    shopify_token: str
    dsn: str

    def storefront(self) -> Storefront:
        return Storefront(self.sandboxes["shopify"], self.shopify_token)


@dataclass(frozen=True)
class Failure:
    """A failure the real world offers at one step, arranged before the saga runs."""

    step: str
    what: str
    arrange: Callable[[Shop, PlacedOrder], dict[str, Any]]
    """Makes it so; returns the plan options it needs (a declining card, too many units)."""


def _out_of_stock(shop: Shop, order: PlacedOrder) -> dict[str, Any]:
    return {"quantity": 100_000}


def _declined_card(shop: Shop, order: PlacedOrder) -> dict[str, Any]:
    return {"payment_method": "pm_card_chargeDeclined"}


def _recorded_elsewhere(shop: Shop, order: PlacedOrder) -> dict[str, Any]:
    with psycopg.connect(shop.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO orders (id, email, shopify_order, payment, amount, currency, status) "
                     "VALUES (%s, %s, %s, 'pi_elsewhere', 0, 'usd', 'imported')",
                     [order.record_id, order.email, order.id])
    return {}


def _shipped_by_hand(shop: Shop, order: PlacedOrder) -> dict[str, Any]:
    shop.storefront().ship_by_hand(order)
    return {}


def _email_api_flaky(shop: Shop, order: PlacedOrder) -> dict[str, Any]:
    httpx.post(f"{shop.sandboxes['resend']}/_sandbox/faults", timeout=10, json={
        "method": "POST", "path": "/emails", "action": "error", "status": 500, "times": 2}).raise_for_status()
    return {}


FAILURES = [
    Failure("reserve", "out of stock: 100,000 tees asked for", _out_of_stock),
    Failure("charge", "the card is declined", _declined_card),
    Failure("record", "another process recorded the order first", _recorded_elsewhere),
    Failure("fulfil", "the warehouse shipped the order by hand", _shipped_by_hand),
    Failure("email", "the email API answers 500 twice", _email_api_flaky),
]


def clear_shop_faults(shop: Shop) -> None:
    for name in ("shopify", "stripe", "resend"):
        clear_faults(shop.sandboxes[name])
