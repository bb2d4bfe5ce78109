"""The root fields of the sandbox schema, bound to the shop of the request's context.

Queries render views; mutations call the shop and turn its `UserErrors` into the payload's
userErrors, as Shopify does (a refused mutation is still HTTP 200 with data). Arguments arrive
already coerced by graphql-core from the document and its variables, so an unknown field or a
wrong type never reaches here: it is a top-level error, as on Shopify. Access scopes are checked
in front of these (see `access`); `shop` and `currentAppInstallation` need none and tell who the
token belongs to and what it may do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema
from graphql.language import ast

from pivot.providers.shopify.sandbox.access import SANDBOX_SCOPES
from pivot.providers.shopify.sandbox.idempotency import (
    CONCURRENT_MESSAGE,
    MISMATCH_MESSAGE,
    Claim,
    IdempotencyKeys,
    Outcome,
)
from pivot.providers.shopify.sandbox.render import View, Views, connection
from pivot.providers.shopify.sandbox.store import (
    SHOP_CURRENCY,
    SHOP_DOMAIN,
    Shop,
    UserErrors,
    gid,
    parse_gid,
    user_error,
)

_JOB_GID = re.compile(r"^gid://shopify/Job/(?P<id>[0-9a-f-]{36})$")
SHOP_NAME = "Pivot Sandbox"
SHOP_NUMBER = 60_000_000_001
APP = {"id": gid("App", 7_000_001), "title": "Pivot", "handle": "pivot"}
INSTALLATION_NUMBER = 80_000_000_001


@dataclass
class RequestContext:
    """What one GraphQL request's resolvers share: the shop, and the idempotency claims made
    for this request's fields before it ran (by the field node's identity)."""

    shop: Shop
    keys: IdempotencyKeys
    claims: dict[int, Claim] = field(default_factory=dict)
    search_warnings: list[dict[str, Any]] = field(default_factory=list)
    scopes: list[str] | None = None
    """The token's access scopes; None: every scope."""

    @property
    def views(self) -> Views:
        return Views(self.shop)


def _context(info: GraphQLResolveInfo) -> RequestContext:
    context = info.context
    assert isinstance(context, RequestContext)
    return context


def _number(value: Any, resource: str) -> int | None:
    """The number of a global id argument; malformed ids are refused the way Shopify refuses them."""
    parsed = parse_gid(value)
    if parsed is None:
        raise GraphQLError(f"Invalid global id '{value}'",
                           extensions={"code": "argumentLiteralsIncompatible", "typeName": "CoercionError"})
    return parsed[1] if parsed[0] == resource else None


# ---------------------------------------------------------------------- queries

def draft_order(_root: Any, info: GraphQLResolveInfo, id: str) -> View | None:
    context = _context(info)
    draft = context.shop.draft(_number(id, "DraftOrder") or 0)
    return context.views.draft(draft) if draft is not None else None


def draft_orders(_root: Any, info: GraphQLResolveInfo, **args: Any) -> View:
    context = _context(info)
    drafts, warnings = context.shop.search_drafts(args.get("query"))
    if warnings:
        context.search_warnings.append({"path": [info.path.key], "query": args.get("query"), "warnings": warnings})
    return connection(drafts, context.views.draft, args)


def order(_root: Any, info: GraphQLResolveInfo, id: str) -> View | None:
    context = _context(info)
    found = context.shop.look_at_order(_number(id, "Order") or 0)
    return context.views.order(found) if found is not None else None


def refund(_root: Any, info: GraphQLResolveInfo, id: str) -> View | None:
    context = _context(info)
    found = context.shop.refunds.get(_number(id, "Refund") or 0)
    return context.views.refund(found) if found is not None else None


def job(_root: Any, info: GraphQLResolveInfo, id: str) -> View | None:
    match = _JOB_GID.match(id)
    if match is None:
        _number(id, "Job")  # malformed ids are refused; well-formed ones of another resource are null
        return None
    found = _context(info).shop.look_at_job(match["id"])
    return {"id": id, "done": found.done} if found is not None else None


def product_variant(_root: Any, info: GraphQLResolveInfo, id: str) -> View | None:
    context = _context(info)
    variant = context.shop.variants.get(_number(id, "ProductVariant") or 0)
    if variant is None:
        return None
    return {"id": gid("ProductVariant", variant.id), "title": variant.title, "sku": variant.sku,
            "price": variant.price, "displayName": f"{variant.product_title} - {variant.title}"}


def shop(_root: Any, _info: GraphQLResolveInfo) -> View:
    return {"id": gid("Shop", SHOP_NUMBER), "name": SHOP_NAME, "email": "owner@example.com",
            "myshopifyDomain": SHOP_DOMAIN, "currencyCode": SHOP_CURRENCY, "ianaTimezone": "Etc/UTC"}


def _scope_description(handle: str) -> str:
    action, _, resource = handle.partition("_")
    return f"{'Modify' if action == 'write' else 'Read'} {resource.replace('_', ' ')}"


def current_app_installation(_root: Any, info: GraphQLResolveInfo) -> View:
    granted = _context(info).scopes
    handles = list(SANDBOX_SCOPES) if granted is None else granted
    return {"id": gid("AppInstallation", INSTALLATION_NUMBER), "app": dict(APP),
            "accessScopes": [{"handle": handle, "description": _scope_description(handle)} for handle in handles]}


# ---------------------------------------------------------------------- mutations

def draft_order_create(_root: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> View:
    context = _context(info)
    try:
        draft = context.shop.create_draft(input)
    except UserErrors as refused:
        return {"draftOrder": None, "userErrors": refused.errors}
    return {"draftOrder": context.views.draft(draft), "userErrors": []}


def draft_order_complete(_root: Any, info: GraphQLResolveInfo, id: str, paymentPending: bool | None = False,
                         **_: Any) -> View:
    context = _context(info)
    number = _number(id, "DraftOrder")
    try:
        if number is None:
            raise UserErrors([user_error(["id"], "Draft order does not exist")])
        draft = context.shop.complete_draft(number, bool(paymentPending))
    except UserErrors as refused:
        return {"draftOrder": None, "userErrors": refused.errors}
    return {"draftOrder": context.views.draft(draft), "userErrors": []}


def draft_order_delete(_root: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> View:
    context = _context(info)
    number = _number(input["id"], "DraftOrder")
    try:
        if number is None:
            raise UserErrors([user_error(["id"], "Draft order does not exist")])
        deleted = context.shop.delete_draft(number)
    except UserErrors as refused:
        return {"deletedId": None, "userErrors": refused.errors}
    return {"deletedId": deleted, "userErrors": []}


def order_cancel(_root: Any, info: GraphQLResolveInfo, orderId: str, reason: str, restock: bool,
                 refund: bool | None = None, refundMethod: dict[str, Any] | None = None,
                 staffNote: str | None = None, **_: Any) -> View:
    context = _context(info)
    number = _number(orderId, "Order")
    try:
        if refund is not None and refundMethod is not None:
            raise UserErrors([user_error(["refundMethod"], "Only one of refund or refundMethod can be provided",
                                         "INVALID")])
        if number is None:
            raise UserErrors([user_error(["orderId"], "Order does not exist", "NOT_FOUND")])
        with_refund = refund if refund is not None else bool((refundMethod or {}).get("originalPaymentMethodsRefund"))
        started = context.shop.cancel_order(number, reason=reason, refund=with_refund, restock=restock,
                                            staff_note=staffNote)
    except UserErrors as refused:
        return {"job": None, "orderCancelUserErrors": refused.errors, "userErrors": refused.errors}
    return {"job": {"id": gid("Job", started.id), "done": False}, "orderCancelUserErrors": [], "userErrors": []}


def replayed(claim: Claim | None, *, coded: bool) -> Outcome | list[dict[str, Any]] | None:
    """What an `@idempotent` field answers before running: nothing (a fresh key), the first
    request's outcome (a replay), or the userErrors of a mismatch or a request still in progress
    (`coded`: the payload's error type has a `code`; the generic UserError has none)."""
    if claim is None or claim.decision == "fresh":
        return None
    if claim.decision == "mismatch":
        return [user_error(None, MISMATCH_MESSAGE, "IDEMPOTENCY_KEY_PARAMETER_MISMATCH" if coded else None)]
    if claim.decision == "concurrent" or claim.record.outcome is None:
        return [user_error(None, CONCURRENT_MESSAGE, "IDEMPOTENCY_CONCURRENT_REQUEST" if coded else None)]
    return claim.record.outcome


def _refund_payload(context: RequestContext, outcome: Outcome) -> View:
    if outcome.refund_id is None:
        return {"refund": None, "order": None, "userErrors": outcome.errors}
    created = context.shop.refunds[outcome.refund_id]
    views = context.views
    return {"refund": views.refund(created), "order": views.order(context.shop.orders[created.order_id]),
            "userErrors": []}


def refund_create(_root: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> View:
    context = _context(info)
    claim = context.claims.get(id(info.field_nodes[0]))
    earlier = replayed(claim, coded=False)
    if isinstance(earlier, list):
        return {"refund": None, "order": None, "userErrors": earlier}
    if earlier is not None:
        return _refund_payload(context, earlier)
    try:
        created = context.shop.create_refund(input, claim.key if claim is not None else None)
        outcome = Outcome(refund_id=created.id)
    except UserErrors as refused:
        outcome = Outcome(errors=refused.errors)
    if claim is not None:
        context.keys.finish(claim, outcome)
    return _refund_payload(context, outcome)


Resolver = Callable[..., Any]
QUERIES: dict[str, Resolver] = {
    "draftOrder": draft_order, "draftOrders": draft_orders, "order": order, "refund": refund, "job": job,
    "productVariant": product_variant, "shop": shop, "currentAppInstallation": current_app_installation,
}
MUTATIONS: dict[str, Resolver] = {
    "draftOrderCreate": draft_order_create, "draftOrderComplete": draft_order_complete,
    "draftOrderDelete": draft_order_delete, "orderCancel": order_cancel, "refundCreate": refund_create,
}


def bind(schema: GraphQLSchema, queries: dict[str, Resolver], mutations: dict[str, Resolver]) -> GraphQLSchema:
    """Bind root fields to a freshly built schema (fails loudly if a name drifted)."""
    assert schema.query_type is not None and schema.mutation_type is not None
    for fields, table in ((schema.query_type.fields, queries), (schema.mutation_type.fields, mutations)):
        for name, resolver in table.items():
            fields[name].resolve = resolver
    return schema


def attach(schema: GraphQLSchema) -> GraphQLSchema:
    """Bind the root fields of orders, drafts and refunds."""
    return bind(schema, QUERIES, MUTATIONS)


def root_fields(operation: ast.OperationDefinitionNode) -> list[ast.FieldNode]:
    """The operation's top-level fields written directly in it (where `@idempotent` goes)."""
    return [node for node in operation.selection_set.selections if isinstance(node, ast.FieldNode)]
