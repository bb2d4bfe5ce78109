"""Access scopes in the Shopify sandbox: which fields need which scope, and Shopify's ACCESS_DENIED.

Shopify checks an app's access scopes field by field as it resolves a document: a root query or
mutation needs its resource's scope, and so does an object reached through another (a draft
order line's product variant needs `read_products`). A field the app may not see resolves to
null, with a top-level error (HTTP 200):

    {"message": "Access denied for orderCancel field. Required access: `write_orders` access scope.",
     "locations": [{"line": 2, "column": 3}], "path": ["orderCancel"],
     "extensions": {"code": "ACCESS_DENIED", "documentation": "https://shopify.dev/api/usage/access-scopes",
                    "requiredAccess": "`write_orders` access scope."}}

A `write_` scope includes its `read_` scope (Shopify lists only the `write_` handle). The scopes of
a token come from the kit's token book; a configured token that no test registered has
`SANDBOX_SCOPES`. The table models Shopify's reference for the fields the sandbox serves; Pivot's own list of what its
catalog needs lives in `pivot.providers.shopify.account`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from graphql import GraphQLError, GraphQLFieldResolver, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema
from graphql.execution import default_field_resolver

SANDBOX_SCOPES = ("read_products", "write_draft_orders", "write_inventory", "write_merchant_managed_fulfillment_orders",
                  "write_orders")
"""What the app has when no rule narrows its token."""
DOCUMENTATION = "https://shopify.dev/api/usage/access-scopes"

FIELD_SCOPES: Mapping[tuple[str, str], str] = MappingProxyType({
    ("QueryRoot", "draftOrder"): "read_draft_orders",
    ("QueryRoot", "draftOrders"): "read_draft_orders",
    ("QueryRoot", "order"): "read_orders",
    ("QueryRoot", "refund"): "read_orders",
    ("QueryRoot", "productVariant"): "read_products",
    ("QueryRoot", "inventoryItem"): "read_inventory",
    ("QueryRoot", "inventoryLevel"): "read_inventory",
    ("QueryRoot", "location"): "read_inventory",
    ("Mutation", "inventoryMoveQuantities"): "write_inventory",
    ("ProductVariant", "inventoryItem"): "read_inventory",
    ("Mutation", "draftOrderCreate"): "write_draft_orders",
    ("Mutation", "draftOrderComplete"): "write_draft_orders",
    ("Mutation", "draftOrderDelete"): "write_draft_orders",
    ("Mutation", "fulfillmentCreate"): "write_merchant_managed_fulfillment_orders",
    ("Mutation", "fulfillmentCancel"): "write_merchant_managed_fulfillment_orders",
    ("QueryRoot", "fulfillmentOrder"): "read_merchant_managed_fulfillment_orders",
    ("QueryRoot", "fulfillment"): "read_merchant_managed_fulfillment_orders",
    ("Mutation", "orderCancel"): "write_orders",
    ("Mutation", "refundCreate"): "write_orders",
    ("DraftOrder", "order"): "read_orders",
    ("Order", "fulfillmentOrders"): "read_merchant_managed_fulfillment_orders",
    ("DraftOrderLineItem", "variant"): "read_products",
    ("LineItem", "variant"): "read_products",
})
"""(type, field) -> the scope it needs. `shop`, `currentAppInstallation` and `job` need none."""


def allows(granted: Sequence[str] | None, scope: str) -> bool:
    """Whether scopes `granted` (None: every scope) include `scope`, a write implying its read."""
    if granted is None or scope in granted:
        return True
    return scope.startswith("read_") and f"write_{scope.removeprefix('read_')}" in granted


def access_denied(field: str, scope: str) -> GraphQLError:
    required = f"`{scope}` access scope."
    return GraphQLError(f"Access denied for {field} field. Required access: {required}",
                        extensions={"code": "ACCESS_DENIED", "documentation": DOCUMENTATION,
                                    "requiredAccess": required})


def _guarded(resolve: GraphQLFieldResolver, field: str, scope: str) -> GraphQLFieldResolver:
    def resolver(root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        if not allows(getattr(info.context, "scopes", None), scope):
            raise access_denied(field, scope)
        return resolve(root, info, **args)

    return resolver


def guard(schema: GraphQLSchema) -> GraphQLSchema:
    """Put the scope check in front of every field of `FIELD_SCOPES` (fails loudly if one drifted)."""
    for (type_name, field_name), scope in FIELD_SCOPES.items():
        owner = schema.type_map[type_name]
        assert isinstance(owner, GraphQLObjectType), type_name
        field = owner.fields[field_name]
        field.resolve = _guarded(field.resolve or default_field_resolver, field_name, scope)
    return schema
