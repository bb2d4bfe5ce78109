"""The inventory and metafield root fields of the sandbox schema, and their views.

`inventoryMoveQuantities` honours `@idempotent(key:)` like `refundCreate` (a replay answers the
original adjustment group, moving nothing); every applied move goes to the ledger with the key it
carries (the `@idempotent` key, else the `pivot` step key in its reference document). Adjustment
groups are read back through `node(id:)`, the only read Shopify offers for them.
"""

from __future__ import annotations

import json
from typing import Any

from graphql import GraphQLResolveInfo, GraphQLSchema

from pivot.providers.shopify.sandbox.idempotency import Outcome
from pivot.providers.shopify.sandbox.inventory import (
    AdjustmentGroup,
    Change,
    Level,
    Metafield,
    MoveRefused,
    level_number,
)
from pivot.providers.shopify.sandbox.resolvers import RequestContext, Resolver, _context, _number, bind, replayed
from pivot.providers.shopify.sandbox.store import Shop, gid, key_in, parse_gid

View = dict[str, Any]
SHOP_NUMBER = 60_000_000_001
METAFIELD_VALUE_MAX = 65_535


def location_view(shop: Shop, number: int) -> View | None:
    found = shop.inventory.locations.get(number)
    return None if found is None else {"id": gid("Location", found.id), "name": found.name}


def item_view(shop: Shop, number: int) -> View | None:
    variant_id = shop.inventory.items.get(number)
    if variant_id is None:
        return None
    variant = shop.variants[variant_id]

    def inventory_level(_info: Any, locationId: str) -> View | None:
        parsed = parse_gid(locationId)
        found = shop.inventory.level(number, parsed[1]) if parsed and parsed[0] == "Location" else None
        return None if found is None else level_view(shop, found)

    return {"id": gid("InventoryItem", number), "sku": variant.sku, "tracked": True,
            "inventoryLevel": inventory_level,
            "variant": lambda _info, **_: {"id": gid("ProductVariant", variant.id), "title": variant.title,
                                           "sku": variant.sku, "price": variant.price,
                                           "displayName": f"{variant.product_title} - {variant.title}"}}


def level_view(shop: Shop, level: Level) -> View:
    number = level_number(level)
    return {
        "id": f"gid://shopify/InventoryLevel/{number}?inventory_item_id={level.item_id}",
        "createdAt": level.updated_at, "updatedAt": level.updated_at,
        "item": lambda _info, **_: item_view(shop, level.item_id),
        "location": lambda _info, **_: location_view(shop, level.location_id),
        "quantities": lambda _info, names: [
            {"id": f"gid://shopify/InventoryQuantity/{number}?name={name}", "name": name,
             "quantity": level.quantity(name), "updatedAt": level.updated_at} for name in names],
    }


def _change_view(shop: Shop, change: Change) -> View:
    return {"name": change.name, "delta": change.delta, "quantityAfterChange": change.after,
            "ledgerDocumentUri": change.ledger_document,
            "item": lambda _info, **_: item_view(shop, change.item_id),
            "location": lambda _info, **_: location_view(shop, change.location_id)}


def group_view(shop: Shop, group: AdjustmentGroup) -> View:
    def changes(_info: Any, inventoryItemIds: list[str] | None = None, locationIds: list[str] | None = None,
                quantityNames: list[str] | None = None) -> list[View]:
        items = {(parse_gid(i) or ("", 0))[1] for i in inventoryItemIds or []}
        locations = {(parse_gid(i) or ("", 0))[1] for i in locationIds or []}
        return [_change_view(shop, c) for c in group.changes
                if (not items or c.item_id in items) and (not locations or c.location_id in locations)
                and (quantityNames is None or c.name in quantityNames)]

    return {"__typename": "InventoryAdjustmentGroup", "id": gid("InventoryAdjustmentGroup", group.id),
            "reason": group.reason, "referenceDocumentUri": group.reference_document, "createdAt": group.created_at,
            "app": {"id": gid("App", 7_000_001), "title": "Pivot", "handle": "pivot"}, "changes": changes}


def metafield_view(found: Metafield) -> View:
    return {"id": gid("Metafield", found.id), "namespace": found.namespace, "key": found.key, "type": found.type,
            "value": found.value, "createdAt": found.created_at, "updatedAt": found.updated_at,
            "compareDigest": found.digest}


# ---------------------------------------------------------------------- queries

def inventory_item(_root: Any, info: GraphQLResolveInfo, id: str) -> View | None:
    return item_view(_context(info).shop, _number(id, "InventoryItem") or 0)


def inventory_level(_root: Any, info: GraphQLResolveInfo, id: str) -> View | None:
    shop = _context(info).shop
    found = shop.inventory.level_by_number(_number(id.split("?", 1)[0], "InventoryLevel") or 0)
    return None if found is None else level_view(shop, found)


def location(_root: Any, info: GraphQLResolveInfo, id: str | None = None) -> View | None:
    shop = _context(info).shop
    return location_view(shop, _number(id, "Location") or 0 if id else next(iter(shop.inventory.locations)))


def node(_root: Any, info: GraphQLResolveInfo, id: str) -> View | None:
    shop = _context(info).shop
    group = shop.inventory.groups.get(_number(id, "InventoryAdjustmentGroup") or 0)
    return None if group is None else group_view(shop, group)


def shop_metafield(context: RequestContext, namespace: str | None, key: str) -> View | None:
    found = context.shop.inventory.metafields.get((gid("Shop", SHOP_NUMBER), namespace or "$app", key))
    return None if found is None else metafield_view(found)


# ---------------------------------------------------------------------- mutations

def _move_payload(context: RequestContext, outcome: Outcome) -> View:
    if outcome.group_id is None:
        return {"inventoryAdjustmentGroup": None, "userErrors": outcome.errors}
    return {"inventoryAdjustmentGroup": group_view(context.shop, context.shop.inventory.groups[outcome.group_id]),
            "userErrors": []}


def inventory_move_quantities(_root: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> View:
    context = _context(info)
    claim = context.claims.get(id(info.field_nodes[0]))
    earlier = replayed(claim, coded=True)
    if isinstance(earlier, list):
        return {"inventoryAdjustmentGroup": None, "userErrors": earlier}
    if earlier is not None:
        return _move_payload(context, earlier)
    inventory = context.shop.inventory
    try:
        group = inventory.move(input, lambda value, resource: _number(value, resource))
        outcome = Outcome(group_id=group.id)
        inventory.ledger.record("move", "inventory", gid("InventoryAdjustmentGroup", group.id),
                                claim.key if claim is not None else key_in(group.reference_document),
                                {"reason": group.reason, "reference": group.reference_document,
                                 "changes": [[c.name, c.delta, c.ledger_document] for c in group.changes]})
    except MoveRefused as refused:
        outcome = Outcome(errors=refused.errors)
    if claim is not None:
        context.keys.finish(claim, outcome)
    return _move_payload(context, outcome)


def metafields_set(_root: Any, info: GraphQLResolveInfo, metafields: list[dict[str, Any]]) -> View:
    """Shop-owned metafields only (what the actions keep their records in); all or nothing."""
    context = _context(info)
    inventory = context.shop.inventory
    errors = []
    for index, item in enumerate(metafields):
        where = ["metafields", str(index)]
        owner = (item["ownerId"], item.get("namespace") or "$app", item["key"])
        current = inventory.metafields.get(owner)
        if item["ownerId"] != gid("Shop", SHOP_NUMBER):
            errors.append({"field": [*where, "ownerId"], "message": "Owner does not exist.", "code": "INVALID",
                           "elementIndex": index})
        elif len(item["value"]) > METAFIELD_VALUE_MAX:
            errors.append({"field": [*where, "value"], "message": "Value is too long.", "code": "TOO_LONG",
                           "elementIndex": index})
        elif (item.get("type") or (current.type if current else None)) == "json" and not _is_json(item["value"]):
            errors.append({"field": [*where, "value"], "message": "Value is invalid JSON.", "code": "INVALID_VALUE",
                           "elementIndex": index})
        elif item.get("compareDigest") is not None and (current is None or current.digest != item["compareDigest"]):
            errors.append({"field": [*where, "compareDigest"], "message": "The resource has been updated since it "
                           "was loaded. Try again with an updated `compareDigest` value.", "code": "STALE_OBJECT",
                           "elementIndex": index})
    if errors:
        return {"metafields": [], "userErrors": errors}
    written = []
    for item in metafields:
        current = inventory.metafields.get((item["ownerId"], item.get("namespace") or "$app", item["key"]))
        found = inventory.set_metafield(item["ownerId"], item.get("namespace") or "$app", item["key"],
                                        item.get("type") or (current.type if current else "single_line_text_field"),
                                        item["value"])
        inventory.ledger.record("set", "metafield", gid("Metafield", found.id), key_in(found.value),
                                {"namespace": found.namespace, "key": found.key})
        written.append(metafield_view(found))
    return {"metafields": written, "userErrors": []}


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except json.JSONDecodeError:
        return False
    return True


QUERIES: dict[str, Resolver] = {"inventoryItem": inventory_item, "inventoryLevel": inventory_level,
                                "location": location, "node": node}
MUTATIONS: dict[str, Resolver] = {"inventoryMoveQuantities": inventory_move_quantities, "metafieldsSet": metafields_set}


def attach(schema: GraphQLSchema) -> GraphQLSchema:
    """Bind these root fields, and give `shop` its metafield and a variant its inventory item."""
    bind(schema, QUERIES, MUTATIONS)
    assert schema.query_type is not None
    shop_field = schema.query_type.fields["shop"]
    plain_shop = shop_field.resolve
    assert plain_shop is not None

    def shop_with_metafields(root: Any, info: GraphQLResolveInfo) -> View:
        view = dict(plain_shop(root, info))
        view["metafield"] = lambda field_info, key, namespace=None: shop_metafield(_context(field_info), namespace, key)
        return view

    shop_field.resolve = shop_with_metafields
    variant_field = schema.query_type.fields["productVariant"]
    plain_variant = variant_field.resolve
    assert plain_variant is not None

    def variant_with_item(root: Any, info: GraphQLResolveInfo, id: str) -> View | None:
        view = plain_variant(root, info, id=id)
        if view is None:
            return None
        number = (parse_gid(view["id"]) or ("", 0))[1] + 1_000_000_000
        return {**view, "inventoryItem": lambda item_info, **_: item_view(_context(item_info).shop, number)}

    variant_field.resolve = variant_with_item
    return schema
