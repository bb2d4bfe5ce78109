"""The sandbox shop's inventory: locations, inventory items, levels with named quantities, adjustment
groups, and app metafields on the shop.

Shopify's model, as its Admin GraphQL reference describes it: an inventory item (one per variant) is
stocked at locations; each (item, location) is an inventory level holding named quantities —
`available`, `reserved`, `committed`, `damaged`, `quality_control`, `safety_stock`, `incoming`, and
`on_hand` (the sum of the on-hand states). `inventoryMoveQuantities` moves units between names at one
location and records an `InventoryAdjustmentGroup` (reason, `referenceDocumentUri`, changes with
`quantityAfterChange` and `ledgerDocumentUri`). Every quantity name but `available` is kept per
ledger document: a move into `reserved` must name one, a move out of `reserved` takes units from the
document it names and cannot take more than that document holds (INVALID_QUANTITY_NEGATIVE). That
is what lets an undo give back only the units its own step still holds. A group is read back by
`node(id:)`; Shopify offers no query that lists groups by their reference document.

Metafields (`metafieldsSet`, `shop { metafield(namespace:, key:) }`) are the app's own records.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pivot.providers.sandbox_kit import Ledger

ON_HAND_PARTS = ("available", "committed", "reserved", "damaged", "quality_control", "safety_stock")
QUANTITY_NAMES = (*ON_HAND_PARTS, "incoming", "on_hand")
MOVABLE = frozenset(ON_HAND_PARTS) - {"committed"}
REASONS = frozenset({
    "correction", "cycle_count_available", "damaged", "movement_created", "movement_updated", "movement_received",
    "movement_canceled", "other", "promotion", "quality_control", "received", "reservation_created",
    "reservation_deleted", "reservation_updated", "restock", "safety_stock", "shrinkage",
})
MAX_QUANTITY = 2_000_000_000

Error = dict[str, Any]


class MoveRefused(Exception):
    def __init__(self, errors: list[Error]) -> None:
        super().__init__(errors[0]["message"])
        self.errors = errors


def move_error(where: list[Any], message: str, code: str) -> Error:
    return {"field": [str(part) for part in where], "message": message, "code": code}


@dataclass
class Location:
    id: int
    name: str


@dataclass
class Level:
    item_id: int
    location_id: int
    available: int = 0
    documents: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    """quantity name (not available) -> ledger document URI -> units."""
    updated_at: str = ""

    def quantity(self, name: str) -> int:
        if name == "available":
            return self.available
        if name == "on_hand":
            return sum(self.quantity(part) for part in ON_HAND_PARTS)
        return sum(self.documents.get(name, {}).values())

    def held(self, name: str, document: str | None) -> int:
        return self.available if name == "available" else self.documents.get(name, {}).get(document or "", 0)

    def add(self, name: str, document: str | None, delta: int) -> None:
        if name == "available":
            self.available += delta
            return
        docs = self.documents[name]
        docs[document or ""] = docs.get(document or "", 0) + delta
        if docs[document or ""] == 0:
            del docs[document or ""]


@dataclass
class Change:
    name: str
    delta: int
    item_id: int
    location_id: int
    ledger_document: str | None
    after: int


@dataclass
class AdjustmentGroup:
    id: int
    reason: str
    reference_document: str | None
    changes: list[Change]
    created_at: str


@dataclass
class Metafield:
    id: int
    owner: str
    namespace: str
    key: str
    type: str
    value: str
    created_at: str
    updated_at: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.value.encode()).hexdigest()


def _terminal(where: list[Any], terminal: dict[str, Any], errors: list[Error]) -> None:
    name, document = terminal["name"], terminal.get("ledgerDocumentUri")
    if name not in QUANTITY_NAMES:
        errors.append(move_error([*where, "name"], f"The quantity name '{name}' is not valid.",
                                 "INVALID_QUANTITY_NAME"))
    elif name not in MOVABLE:
        errors.append(move_error([*where, "name"], f"The quantity name '{name}' can't be moved.",
                                 "INVALID_QUANTITY_NAME"))
    elif name == "available" and document is not None:
        errors.append(move_error([*where, "ledgerDocumentUri"], "A ledger document URI is not allowed when adjusting "
                                 "available.", "INVALID_AVAILABLE_DOCUMENT"))
    elif name != "available" and not document:
        errors.append(move_error([*where, "ledgerDocumentUri"], "A ledger document URI is required except when "
                                 "adjusting available.", "INVALID_QUANTITY_DOCUMENT"))
    elif document and document.startswith("gid://shopify/"):
        errors.append(move_error([*where, "ledgerDocumentUri"], "Internal (gid://shopify/) ledger documents are not "
                                 "allowed to be adjusted via API.", "INTERNAL_LEDGER_DOCUMENT"))
    elif document is not None and "://" not in document:
        errors.append(move_error([*where, "ledgerDocumentUri"], "The specified ledger document is invalid.",
                                 "INVALID_LEDGER_DOCUMENT"))


class Inventory:
    """Locations, items (numbered like their variants), levels, groups and metafields of one shop."""

    def __init__(self, ledger: Ledger, variant_ids: list[int], now: Any) -> None:
        self.ledger = ledger
        self.now = now
        self.locations = {70_000_000_001: Location(70_000_000_001, "Pivot Warehouse")}
        self.items: dict[int, int] = {}
        """inventory item number -> variant number."""
        self.levels: dict[tuple[int, int], Level] = {}
        self.groups: dict[int, AdjustmentGroup] = {}
        self.metafields: dict[tuple[str, str, str], Metafield] = {}
        self._next_group = 8_800_000_001
        self._next_metafield = 3_300_000_001
        for variant in variant_ids:
            self.stock(variant, 100)

    def stock(self, variant_id: int, available: int) -> int:
        """A variant's inventory item, stocked at the warehouse (item number = variant number + 1e9)."""
        item = variant_id + 1_000_000_000
        self.items[item] = variant_id
        self.levels[(item, next(iter(self.locations)))] = Level(item, next(iter(self.locations)), available,
                                                                 updated_at=self.now())
        return item

    def level(self, item_id: int, location_id: int) -> Level | None:
        return self.levels.get((item_id, location_id))

    def level_by_number(self, number: int) -> Level | None:
        """Level ids are `<item><location % 1e4>` here; Shopify's carry `?inventory_item_id=` too."""
        return next((lv for lv in self.levels.values() if level_number(lv) == number), None)

    def move(self, data: dict[str, Any], parse: Any) -> AdjustmentGroup:
        """`inventoryMoveQuantities`: every change checked first, then all applied, one group."""
        errors: list[Error] = []
        reason, reference = data["reason"], data["referenceDocumentUri"]
        if reason not in REASONS:
            errors.append(move_error(["input", "reason"], "The specified reason is invalid.", "INVALID_REASON"))
        if "://" not in reference:
            errors.append(move_error(["input", "referenceDocumentUri"], "The specified reference document is invalid.",
                                     "INVALID_REFERENCE_DOCUMENT"))
        planned: list[tuple[Level, dict[str, Any], dict[str, Any], int]] = []
        pending: dict[tuple[int, int, str, str], int] = defaultdict(int)
        for index, change in enumerate(data["changes"]):
            where: list[Any] = ["input", "changes", index]
            quantity, source, target = int(change["quantity"]), change["from"], change["to"]
            item, from_location, to_location = (parse(change["inventoryItemId"], "InventoryItem"),
                                                parse(source["locationId"], "Location"),
                                                parse(target["locationId"], "Location"))
            before = len(errors)
            _terminal([*where, "from"], source, errors)
            _terminal([*where, "to"], target, errors)
            if quantity < 0:
                errors.append(move_error([*where, "quantity"], "The quantity can't be negative.",
                                         "INVALID_QUANTITY_NEGATIVE"))
            elif quantity > MAX_QUANTITY:
                errors.append(move_error([*where, "quantity"], "The quantity can't be higher than 2,000,000,000.",
                                         "INVALID_QUANTITY_TOO_HIGH"))
            if from_location != to_location:
                errors.append(move_error(where, "The quantities can't be moved between different locations.",
                                         "DIFFERENT_LOCATIONS"))
            if source["name"] == target["name"] and source.get("ledgerDocumentUri") == target.get("ledgerDocumentUri"):
                errors.append(move_error(where, "The quantity names can't be the same.", "SAME_QUANTITY_NAME"))
            if item is None or item not in self.items:
                errors.append(move_error([*where, "inventoryItemId"], "The specified inventory item could not be "
                                         "found.", "INVALID_INVENTORY_ITEM"))
            elif from_location not in self.locations:
                errors.append(move_error([*where, "from", "locationId"], "The specified location could not be found.",
                                         "INVALID_LOCATION"))
            level = self.level(item or 0, from_location or 0)
            if len(errors) > before:
                continue
            if level is None:
                errors.append(move_error([*where, "inventoryItemId"], "The inventory item is not stocked at the "
                                         "location.", "ITEM_NOT_STOCKED_AT_LOCATION"))
                continue
            for terminal, label in ((source, "from"), (target, "to")):
                expected = terminal.get("changeFromQuantity")
                if expected is not None and expected != level.quantity(terminal["name"]):
                    errors.append(move_error([*where, label, "changeFromQuantity"], "The changeFromQuantity argument "
                                             "no longer matches the persisted quantity.", "CHANGE_FROM_QUANTITY_STALE"))
            slot = (level.item_id, level.location_id, source["name"], source.get("ledgerDocumentUri") or "")
            pending[slot] += quantity
            if level.held(source["name"], source.get("ledgerDocumentUri")) - pending[slot] < 0:
                errors.append(move_error([*where, "quantity"], "The quantity can't be negative.",
                                         "INVALID_QUANTITY_NEGATIVE"))
            planned.append((level, source, target, quantity))
        if errors:
            raise MoveRefused(errors)
        changes: list[Change] = []
        stamp = self.now()
        for level, source, target, quantity in planned:
            for terminal, delta in ((source, -quantity), (target, quantity)):
                level.add(terminal["name"], terminal.get("ledgerDocumentUri"), delta)
                changes.append(Change(terminal["name"], delta, level.item_id, level.location_id,
                                      terminal.get("ledgerDocumentUri"), level.quantity(terminal["name"])))
            level.updated_at = stamp
        group = AdjustmentGroup(self._next_group, reason, reference, changes, stamp)
        self._next_group += 1
        self.groups[group.id] = group
        return group

    def set_metafield(self, owner: str, namespace: str, key: str, type_: str, value: str) -> Metafield:
        found = self.metafields.get((owner, namespace, key))
        stamp = self.now()
        if found is None:
            found = Metafield(self._next_metafield, owner, namespace, key, type_, value, stamp, stamp)
            self._next_metafield += 1
            self.metafields[(owner, namespace, key)] = found
        else:
            found.type, found.value, found.updated_at = type_, value, stamp
        return found


def level_number(level: Level) -> int:
    return level.item_id * 10_000 + level.location_id % 10_000


def json_value(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return None
