"""The sandbox shop's fulfilment: fulfillment orders per order, fulfillments, and their cancellation.

Shopify's model, as its Admin GraphQL reference describes it: an order gets fulfillment orders
automatically (here one, at the shop's one location, numbered like the order, with one line per
order line and each line's `totalQuantity` / `remainingQuantity`); `fulfillmentCreate` fulfils some
or all remaining lines of a fulfillment order (OPEN → IN_PROGRESS while some remain, CLOSED once
none do) and makes a `Fulfillment` (status SUCCESS, with tracking info and its line items); an order
reads FULFILLED once nothing remains, PARTIALLY_FULFILLED before. `fulfillmentCancel` marks the
fulfillment CANCELLED and gives its quantities back: to its fulfillment order while that is still in
progress, else (it CLOSED) to a new OPEN fulfillment order holding the cancelled items, so they can
be fulfilled again. What cancelling does not reach — a parcel already with a carrier, a label
bought, the customer's shipping email — has no model here, as Shopify has none either.

Fulfillment orders are made the first time an order's are looked at (Shopify makes them with the
order; nothing can tell the difference). Refusals are `UserErrors` with Shopify's messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pivot.providers.sandbox_kit import Ledger

OPEN_STATES = frozenset({"OPEN", "IN_PROGRESS"})


@dataclass
class FoLine:
    id: int
    line_id: int
    total: int
    remaining: int


@dataclass
class FulfillmentOrder:
    id: int
    order_id: int
    lines: list[FoLine]
    status: str = "OPEN"


@dataclass
class ShippedLine:
    id: int
    line_id: int
    fo_line_id: int
    quantity: int


@dataclass
class Fulfillment:
    id: int
    name: str
    order_id: int
    fulfillment_order_id: int
    lines: list[ShippedLine]
    tracking: list[dict[str, Any]]
    notify_customer: bool
    created_at: str
    updated_at: str
    status: str = "SUCCESS"

    @property
    def quantity(self) -> int:
        return sum(line.quantity for line in self.lines)


class Refused(Exception):
    """A business refusal (the resolvers turn `errors` into userErrors): nothing was written."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"])
        self.errors = errors


def refusal(where: list[str] | None, message: str) -> Refused:
    return Refused([{"field": where, "message": message}])


class Fulfilments:
    """Every fulfillment order and fulfillment of one shop. `lines_of(order_id)` gives an order's
    (line id, quantity) pairs, or None for no such order; `cancelled(order_id)` whether it is
    cancelled or being cancelled."""

    def __init__(self, ledger: Ledger, now: Callable[[], str], lines_of: Callable[[int], list[tuple[int, int]] | None],
                 cancelled: Callable[[int], bool]) -> None:
        self.ledger = ledger
        self.now = now
        self.lines_of = lines_of
        self.cancelled = cancelled
        self.orders: dict[int, FulfillmentOrder] = {}
        self.by_order: dict[int, list[int]] = {}
        self.fulfillments: dict[int, Fulfillment] = {}
        self._ids = {"fulfillment": 4_400_000_001, "fulfillment_order": 6_600_000_001, "fo_line": 6_700_000_001,
                     "shipped_line": 6_800_000_001}

    def _next(self, kind: str) -> int:
        value = self._ids[kind]
        self._ids[kind] += 1
        return value

    def of_order(self, order_id: int) -> list[FulfillmentOrder]:
        """The order's fulfillment orders, made (one, numbered like the order) on the first look."""
        if order_id not in self.by_order:
            lines = self.lines_of(order_id)
            if lines is None:
                return []
            self.orders[order_id] = FulfillmentOrder(order_id, order_id, [
                FoLine(self._next("fo_line"), line_id, quantity, quantity) for line_id, quantity in lines])
            self.by_order[order_id] = [order_id]
        return [self.orders[number] for number in self.by_order[order_id]]

    def fulfillment_order(self, number: int) -> FulfillmentOrder | None:
        found = self.orders.get(number)
        if found is None and self.lines_of(number) is not None:  # the first one is numbered like its order
            self.of_order(number)
            found = self.orders.get(number)
        return found

    def status(self, fulfillment_order: FulfillmentOrder) -> str:
        if self.cancelled(fulfillment_order.order_id) and fulfillment_order.status in OPEN_STATES:
            return "CANCELLED"
        return fulfillment_order.status

    def of_fulfillment_order(self, number: int) -> list[Fulfillment]:
        return [f for f in self.fulfillments.values() if f.fulfillment_order_id == number]

    def of_order_fulfillments(self, order_id: int) -> list[Fulfillment]:
        return [f for f in self.fulfillments.values() if f.order_id == order_id]

    def display_status(self, order_id: int, stored: str) -> str:
        """The order's displayFulfillmentStatus: from its fulfillments once it has any."""
        shipped = [f for f in self.of_order_fulfillments(order_id) if f.status == "SUCCESS"]
        if not shipped:
            return stored
        remaining = sum(line.remaining for fo in self.of_order(order_id) if fo.status in OPEN_STATES
                        for line in fo.lines)
        return "FULFILLED" if remaining == 0 else "PARTIALLY_FULFILLED"

    def close_all(self, order_id: int) -> None:
        """Test instrument: the warehouse shipped everything (no fulfillment, no ledger entry)."""
        for fulfillment_order in self.of_order(order_id):
            for line in fulfillment_order.lines:
                line.remaining = 0
            fulfillment_order.status = "CLOSED"

    def create(self, number: int, asked: list[tuple[int, int]] | None, tracking: dict[str, Any] | None,
               notify_customer: bool, key: str | None, order_gid: str, order_name: str) -> Fulfillment:
        """`fulfillmentCreate` for one fulfillment order: the lines asked (FO line id, quantity), or
        every line with something remaining."""
        where = ["fulfillment", "lineItemsByFulfillmentOrder", "0"]
        fulfillment_order = self.fulfillment_order(number)
        if fulfillment_order is None:
            raise refusal([*where, "fulfillmentOrderId"], "Fulfillment order does not exist.")
        if self.status(fulfillment_order) not in OPEN_STATES or self.cancelled(fulfillment_order.order_id):
            raise refusal([*where, "fulfillmentOrderId"], "Fulfillment order is not in an open state.")
        lines = {line.id: line for line in fulfillment_order.lines}
        plan = asked if asked is not None else [(line.id, line.remaining) for line in fulfillment_order.lines
                                                if line.remaining > 0]
        for fo_line_id, quantity in plan:
            line = lines.get(fo_line_id)
            if line is None:
                raise refusal([*where, "fulfillmentOrderLineItems"],
                              "Fulfillment order line item does not belong to the fulfillment order.")
            if not 0 < quantity <= line.remaining:
                raise refusal([*where, "fulfillmentOrderLineItems"],
                              "Invalid fulfillment order line item quantity requested.")
        if not plan:
            raise refusal([*where], "Fulfillment order has no line items left to fulfill.")
        for fo_line_id, quantity in plan:
            lines[fo_line_id].remaining -= quantity
        fulfillment_order.status = "CLOSED" if all(line.remaining == 0 for line in lines.values()) else "IN_PROGRESS"
        count = len(self.of_order_fulfillments(fulfillment_order.order_id))
        now = self.now()
        created = Fulfillment(self._next("fulfillment"), f"{order_name}-F{count + 1}", fulfillment_order.order_id,
                              fulfillment_order.id,
                              [ShippedLine(self._next("shipped_line"), lines[fo_line_id].line_id, fo_line_id, quantity)
                               for fo_line_id, quantity in plan],
                              [tracking] if tracking else [], notify_customer, now, now)
        self.fulfillments[created.id] = created
        self.ledger.record("fulfill", "order", order_gid, key,
                           {"name": order_name, "fulfillment": f"gid://shopify/Fulfillment/{created.id}",
                            "fulfillment_order": f"gid://shopify/FulfillmentOrder/{fulfillment_order.id}",
                            "quantity": created.quantity, "notify_customer": notify_customer})
        return created

    def cancel(self, number: int) -> Fulfillment:
        """`fulfillmentCancel`: the fulfillment CANCELLED, its quantities back to be fulfilled again."""
        found = self.fulfillments.get(number)
        if found is None:
            raise refusal(["id"], "Fulfillment does not exist.")
        if found.status == "CANCELLED":
            raise refusal(["id"], "Fulfillment has already been cancelled.")
        source = self.orders[found.fulfillment_order_id]
        if source.status in OPEN_STATES:
            by_id = {line.id: line for line in source.lines}
            for shipped in found.lines:
                by_id[shipped.fo_line_id].remaining += shipped.quantity
            source.status = "OPEN" if all(line.remaining == line.total for line in source.lines) else "IN_PROGRESS"
            target = source
        else:
            target = FulfillmentOrder(self._next("fulfillment_order"), found.order_id, [
                FoLine(self._next("fo_line"), shipped.line_id, shipped.quantity, shipped.quantity)
                for shipped in found.lines])
            self.orders[target.id] = target
            self.by_order[found.order_id].append(target.id)
        found.status, found.updated_at = "CANCELLED", self.now()
        self.ledger.record("cancel", "fulfillment", f"gid://shopify/Fulfillment/{found.id}", None,
                           {"fulfillment_order": f"gid://shopify/FulfillmentOrder/{target.id}",
                            "quantity": found.quantity})
        return found
