"""Shop objects as GraphQL values, shaped as Shopify returns them.

Each view is a dict keyed by schema field name. Fields that take arguments or lead to another
object are callables, which graphql-core's default resolver calls only when the document asks
for them: that keeps cycles (refund → order → refunds) lazy and honours `first`/`after`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from graphql import GraphQLError

from pivot.providers.shopify.sandbox.fulfillment import Fulfillment, FulfillmentOrder
from pivot.providers.shopify.sandbox.store import (
    SHOP_DOMAIN,
    DraftOrder,
    Line,
    Order,
    Refund,
    Shop,
    Transaction,
    gid,
)

T = TypeVar("T")
View = dict[str, Any]
MAX_PAGE = 250


def money_bag(amount: Decimal, currency: str) -> View:
    money = {"amount": amount, "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": dict(money)}


def _attributes(pairs: Sequence[tuple[str, str]]) -> list[View]:
    return [{"key": key, "value": value} for key, value in pairs]


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:{index}".encode()).decode()


def _index(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        return int(base64.b64decode(cursor).decode().removeprefix("cursor:"))
    except ValueError:
        raise GraphQLError(f"Invalid cursor '{cursor}'") from None


def page(items: Sequence[T], args: dict[str, Any], *, required: bool = True) -> list[tuple[int, T]]:
    """(index, item) pairs of the requested page; Shopify insists on `first` or `last`."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        if required:
            raise GraphQLError("you must provide one of first or last")
        first = len(items)
    for name, size in (("first", first), ("last", last)):
        if size is not None and not 0 <= size <= MAX_PAGE:
            raise GraphQLError(f"The {name} argument must be between 0 and {MAX_PAGE}")
    indexed = list(enumerate(reversed(items) if args.get("reverse") else items))
    after, before = _index(args.get("after")), _index(args.get("before"))
    if after is not None:
        indexed = [pair for pair in indexed if pair[0] > after]
    if before is not None:
        indexed = [pair for pair in indexed if pair[0] < before]
    if first is not None:
        indexed = indexed[:first]
    if last is not None:
        indexed = indexed[-last:] if last else []
    return indexed


def connection(items: Sequence[T], render: Callable[[T], View], args: dict[str, Any]) -> View:
    chosen = page(items, args)
    total = len(items)
    return {
        "nodes": [render(item) for _, item in chosen],
        "edges": [{"cursor": _cursor(index), "node": render(item)} for index, item in chosen],
        "pageInfo": {
            "hasNextPage": bool(chosen) and chosen[-1][0] < total - 1,
            "hasPreviousPage": bool(chosen) and chosen[0][0] > 0,
            "startCursor": _cursor(chosen[0][0]) if chosen else None,
            "endCursor": _cursor(chosen[-1][0]) if chosen else None,
        },
    }


class Views:
    def __init__(self, shop: Shop) -> None:
        self.shop = shop

    def _line(self, line: Line, currency: str, resource: str) -> View:
        variant = self.shop.variants.get(line.variant_id) if line.variant_id is not None else None
        return {
            "id": gid(resource, line.id), "title": line.title, "name": line.title, "quantity": line.quantity,
            "sku": line.sku, "custom": line.variant_id is None, "taxable": line.taxable,
            "requiresShipping": line.requires_shipping, "customAttributes": _attributes(line.attributes),
            "originalUnitPriceSet": money_bag(line.unit_price, currency),
            "originalTotalSet": money_bag(line.total, currency),
            "variant": None if variant is None else {
                "id": gid("ProductVariant", variant.id), "title": variant.title, "sku": variant.sku,
                "price": variant.price, "displayName": f"{variant.product_title} - {variant.title}",
            },
        }

    def draft(self, draft: DraftOrder) -> View:
        currency = draft.currency
        return {
            "id": gid("DraftOrder", draft.id), "name": draft.name, "status": draft.status, "email": draft.email,
            "note2": draft.note, "tags": list(draft.tags), "customAttributes": _attributes(draft.attributes),
            "currencyCode": self.shop.currency, "presentmentCurrencyCode": currency,
            "createdAt": draft.created_at, "updatedAt": draft.updated_at, "completedAt": draft.completed_at,
            "invoiceUrl": f"https://{SHOP_DOMAIN}/invoices/{draft.invoice_token}",
            "subtotalPriceSet": money_bag(draft.subtotal, currency),
            "totalPriceSet": money_bag(draft.subtotal, currency),
            "lineItems": lambda _info, **args: connection(
                draft.lines, lambda line: self._line(line, currency, "DraftOrderLineItem"), args),
            "order": lambda _info, **_: self.order(self.shop.orders[draft.order_id])
            if draft.order_id in self.shop.orders else None,
        }

    def transaction(self, tx: Transaction) -> View:
        currency = self.shop.orders[tx.order_id].currency
        return {
            "id": gid("OrderTransaction", tx.id), "kind": tx.kind, "status": tx.status, "gateway": tx.gateway,
            "createdAt": tx.created_at, "processedAt": tx.created_at, "amountSet": money_bag(tx.amount, currency),
            "parentTransaction": lambda _info, **_: self.transaction(self.shop.transactions[tx.parent_id])
            if tx.parent_id is not None else None,
        }

    def order(self, order: Order) -> View:
        currency = order.currency
        return {
            "id": gid("Order", order.id), "name": order.name, "email": order.email, "note": order.note,
            "tags": list(order.tags), "customAttributes": _attributes(order.attributes),
            "createdAt": order.created_at, "updatedAt": order.updated_at, "cancelledAt": order.cancelled_at,
            "cancelReason": order.cancel_reason, "closed": order.closed,
            "displayFinancialStatus": self.shop.financial_status(order),
            "displayFulfillmentStatus": self.shop.fulfillment_status(order),
            "currencyCode": self.shop.currency, "presentmentCurrencyCode": currency,
            "subtotalPriceSet": money_bag(order.total, currency), "totalPriceSet": money_bag(order.total, currency),
            "totalRefundedSet": money_bag(self.shop.refunded_total(order), currency),
            "currentTotalPriceSet": money_bag(order.total - self.shop.refunded_total(order), currency),
            "lineItems": lambda _info, **args: connection(
                order.lines, lambda line: self._line(line, currency, "LineItem"), args),
            "fulfillmentOrders": lambda _info, **args: connection(
                self.shop.fulfilments.of_order(order.id), self.fulfillment_order, args),
            "fulfillments": lambda _info, **args: [
                self.fulfillment(found) for _, found in page(
                    self.shop.fulfilments.of_order_fulfillments(order.id), args, required=False)],
            "transactions": lambda _info, **args: [
                self.transaction(tx) for _, tx in page(self.shop.order_transactions(order), args, required=False)],
            "refunds": lambda _info, **args: [
                self.refund(self.shop.refunds[refund_id])
                for _, refund_id in page(order.refund_ids, args, required=False)],
        }

    def refund(self, refund: Refund) -> View:
        order = self.shop.orders[refund.order_id]
        return {
            "id": gid("Refund", refund.id), "note": refund.note, "createdAt": refund.created_at,
            "updatedAt": refund.created_at, "totalRefundedSet": money_bag(refund.amount, order.currency),
            "order": lambda _info, **_: self.order(order),
            "transactions": lambda _info, **args: connection(
                [self.shop.transactions[tx_id] for tx_id in refund.transaction_ids], self.transaction, args),
        }

    def fulfillment_order(self, found: FulfillmentOrder) -> View:
        order = self.shop.orders[found.order_id]
        return {
            "id": gid("FulfillmentOrder", found.id), "status": self.shop.fulfilments.status(found),
            "orderId": gid("Order", order.id), "order": lambda _info, **_: self.order(order),
            "lineItems": lambda _info, **args: connection(found.lines, lambda line: {
                "id": gid("FulfillmentOrderLineItem", line.id), "totalQuantity": line.total,
                "remainingQuantity": line.remaining,
                "lineItem": self._order_line(order, line.line_id)}, args),
            "fulfillments": lambda _info, **args: connection(
                self.shop.fulfilments.of_fulfillment_order(found.id), self.fulfillment, args),
        }

    def fulfillment(self, found: Fulfillment) -> View:
        order = self.shop.orders[found.order_id]
        return {
            "id": gid("Fulfillment", found.id), "name": found.name, "status": found.status,
            "createdAt": found.created_at, "updatedAt": found.updated_at, "totalQuantity": found.quantity,
            "order": lambda _info, **_: self.order(order),
            "trackingInfo": lambda _info, **args: [dict(t) for _, t in page(found.tracking, args, required=False)],
            "fulfillmentLineItems": lambda _info, **args: connection(found.lines, lambda line: {
                "id": gid("FulfillmentLineItem", line.id), "quantity": line.quantity,
                "lineItem": self._order_line(order, line.line_id)}, args),
            "fulfillmentOrders": lambda _info, **args: connection(
                [self.shop.fulfilments.orders[found.fulfillment_order_id]], self.fulfillment_order, args),
        }

    def _order_line(self, order: Order, line_id: int) -> View:
        line = next(line for line in order.lines if line.id == line_id)
        return self._line(line, order.currency, "LineItem")
