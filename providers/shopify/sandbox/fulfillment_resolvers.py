"""The fulfilment root fields of the sandbox schema: `fulfillmentOrder(id:)`, `fulfillment(id:)`,
`fulfillmentCreate` and `fulfillmentCancel` (see `fulfillment` for the rules).

`fulfillmentCreate` takes no `@idempotent` key in 2026-01 (Shopify lists it only on refundCreate
and inventory mutations), so a fulfilment applied twice is two fulfilments unless the fulfillment
order has nothing left; the ledger entry carries the step key found in the request's `message`,
which is how tests count one fulfilment per step.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo, GraphQLSchema

from pivot.providers.shopify.sandbox.fulfillment import Refused
from pivot.providers.shopify.sandbox.resolvers import Resolver, _context, _number, bind
from pivot.providers.shopify.sandbox.store import gid, key_in

View = dict[str, Any]
ONE_GROUP = "The sandbox fulfils one fulfillment order per request."


def fulfillment_order(_root: Any, info: GraphQLResolveInfo, id: str) -> View | None:
    context = _context(info)
    found = context.shop.fulfilments.fulfillment_order(_number(id, "FulfillmentOrder") or 0)
    return None if found is None else context.views.fulfillment_order(found)


def fulfillment(_root: Any, info: GraphQLResolveInfo, id: str) -> View | None:
    context = _context(info)
    found = context.shop.fulfilments.fulfillments.get(_number(id, "Fulfillment") or 0)
    return None if found is None else context.views.fulfillment(found)


def _asked(group: dict[str, Any]) -> list[tuple[int, int]] | None:
    items = group.get("fulfillmentOrderLineItems")
    if not items:
        return None
    return [(_number(item["id"], "FulfillmentOrderLineItem") or 0, int(item["quantity"])) for item in items]


def _tracking(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if not data:
        return None
    number = data.get("number") or next(iter(data.get("numbers") or []), None)
    url = data.get("url") or next(iter(data.get("urls") or []), None)
    return {"company": data.get("company"), "number": number, "url": url}


def fulfillment_create(_root: Any, info: GraphQLResolveInfo, fulfillment: dict[str, Any],
                       message: str | None = None) -> View:
    context = _context(info)
    shop = context.shop
    groups = fulfillment["lineItemsByFulfillmentOrder"]
    try:
        if len(groups) != 1:
            raise Refused([{"field": ["fulfillment", "lineItemsByFulfillmentOrder"], "message": ONE_GROUP}])
        number = _number(groups[0]["fulfillmentOrderId"], "FulfillmentOrder") or 0
        found = shop.fulfilments.fulfillment_order(number)
        order = shop.orders.get(found.order_id) if found is not None else None
        created = shop.fulfilments.create(number, _asked(groups[0]), _tracking(fulfillment.get("trackingInfo")),
                                          bool(fulfillment.get("notifyCustomer")), key_in(message),
                                          gid("Order", order.id) if order else "", order.name if order else "")
    except Refused as refused:
        return {"fulfillment": None, "userErrors": refused.errors}
    return {"fulfillment": context.views.fulfillment(created), "userErrors": []}


def fulfillment_cancel(_root: Any, info: GraphQLResolveInfo, id: str) -> View:
    context = _context(info)
    try:
        cancelled = context.shop.fulfilments.cancel(_number(id, "Fulfillment") or 0)
    except Refused as refused:
        return {"fulfillment": None, "userErrors": refused.errors}
    return {"fulfillment": context.views.fulfillment(cancelled), "userErrors": []}


QUERIES: dict[str, Resolver] = {"fulfillmentOrder": fulfillment_order, "fulfillment": fulfillment}
MUTATIONS: dict[str, Resolver] = {"fulfillmentCreate": fulfillment_create, "fulfillmentCancel": fulfillment_cancel}


def attach(schema: GraphQLSchema) -> GraphQLSchema:
    return bind(schema, QUERIES, MUTATIONS)
