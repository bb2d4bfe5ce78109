"""`shopify.create_fulfillment` (compensable, pivot-eligible): ship one fulfillment order — every line
still to fulfil, or the lines asked — with `fulfillmentCreate`; undone, partially, by `fulfillmentCancel`.

Key carriers: `fulfillmentCreate` takes no `@idempotent` key in API 2026-01 (Shopify lists the
directive on refundCreate and inventory mutations only) and a fulfillment holds no attribute of ours,
so the step writes its record first (`records`: a shop metafield keyed by the step key) holding the
fulfillment order, the order lines and quantities it ships, and the fulfillments that fulfillment
order already had; the fulfillment's id joins it once known. The key also travels in the mutation's
`message` (Shopify keeps it with the request, it is not read back). A lost answer is resolved by the
record: the fulfillment order's fulfillments it did not list before, shipping exactly the recorded
lines, are this step's (a second fulfillment of the same units could not have been made meanwhile:
Shopify refuses more than a line's remaining quantity). Caveat: a request still in flight when a
retry finds nothing could land after it; for a whole fulfillment order that retry is refused (nothing
remains) and resolved by the same search, for some lines of one it could ship them twice.

Why pivot-eligible, and why partial: cancelling a fulfillment in Shopify reopens its items to be
fulfilled again (the order's fulfillment status goes back), but the world outside Shopify is not
rolled back — a parcel handed to a carrier, a shipping label bought, a customer already notified.
A plan may make the shipment its point of no return so that nothing after it unwinds it; before the
pivot it is undone as far as Shopify can undo it, and `pivot actions` says so.
"""

from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.errors import ProviderRejected
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier, Mismatch
from pivot.providers.shopify import documents
from pivot.providers.shopify.actions.base import ShopifyAction
from pivot.providers.shopify.actions.draft_orders import placed_order
from pivot.providers.shopify.client import ShopifyClient
from pivot.providers.shopify.params import CreateFulfillmentParams
from pivot.providers.shopify.records import Record, Records
from pivot.providers.shopify.views import gid_number, key_marker, nodes

SHIPPING, SHIPPED, CANCELLED = "shipping", "shipped", "cancelled"


@dataclass(frozen=True, slots=True)
class Shipment:
    """The step's record and, once known, its fulfillment as Shopify holds it."""

    key: str
    record: Record
    fulfillment: dict[str, Any] | None = None


def shipped_lines(fulfillment: dict[str, Any]) -> dict[str, int]:
    """What a fulfillment ships: order line id → quantity."""
    lines: dict[str, int] = {}
    for node in nodes(fulfillment.get("fulfillmentLineItems")):
        line = str((node.get("lineItem") or {}).get("id"))
        lines[line] = lines.get(line, 0) + int(node.get("quantity") or 0)
    return lines


class CreateFulfillment(ShopifyAction[CreateFulfillmentParams, Shipment]):
    name: ClassVar[str] = "shopify.create_fulfillment"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    pivot_eligible: ClassVar[bool] = True
    undo_scope: ClassVar[Literal["full", "partial"]] = "partial"
    after_tamper: ClassVar[Literal["conflict", "undone"]] = "undone"
    params = CreateFulfillmentParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.json(
        "variables.message",
        "fulfillmentCreate takes no @idempotent key (API 2026-01): a shop metafield $app:pivot/step-<32 hex> written "
        "first holds the key, the fulfillment order, the lines it ships and the fulfillments it had before, then the "
        "fulfillment's id; the key also goes in the mutation's message")
    readback: ClassVar[str] = ("fulfillment(id): status SUCCESS, its fulfillment order, its line items and quantities "
                               "equal to the recorded ones, the tracking number asked")
    compensation: ClassVar[str] = (
        "fulfillmentCancel — a partial undo: the fulfillment is cancelled in Shopify and its items can be fulfilled "
        "again; a parcel already handed to a carrier, a shipping label bought or a customer already notified is not "
        "undone. Only the step's own fulfillment is cancelled: one someone cancelled already is left as it is "
        "(already undone), and one shipped since (the items sent again) is never touched")
    not_run: ClassVar[str] = "No Shopify fulfillment was created"

    def __init__(self, client: ShopifyClient):
        super().__init__(client)
        self.records = Records(client)

    # -- reads ----------------------------------------------------------------------------------
    async def _fulfillment(self, fulfillment_id: str) -> dict[str, Any] | None:
        data = await self.client.execute(documents.FULFILLMENT, {"id": fulfillment_id}, operation="fulfillment")
        found = data.get("fulfillment")
        return found if isinstance(found, dict) else None

    async def _fulfillment_order(self, fulfillment_order: str) -> dict[str, Any]:
        data = await self.client.execute(documents.FULFILLMENT_ORDER, {"id": fulfillment_order},
                                         operation="fulfillmentOrder")
        found = data.get("fulfillmentOrder")
        if not isinstance(found, dict):
            raise ProviderRejected("not_found", f"Shopify has no fulfillment order {gid_number(fulfillment_order)}")
        return found

    async def _sent_earlier(self, record: Record) -> dict[str, Any] | None:
        """The fulfillment an earlier attempt made, whose answer was lost: new on the fulfillment order
        since the record, shipping exactly the recorded lines."""
        value = record.value
        before = set(value.get("before") or [])
        current = await self._fulfillment_order(str(value["fulfillment_order"]))
        for node in nodes(current.get("fulfillments")):
            if node.get("id") in before:
                continue
            found = await self._fulfillment(str(node["id"]))
            if found is not None and shipped_lines(found) == value.get("lines"):
                return found
        return None

    async def lookup(self, params: CreateFulfillmentParams, key: str) -> Shipment | None:
        record = await self.records.read(key)
        if record is None:
            return None
        fulfillment_id = record.value.get("fulfillment")
        found = await (self._fulfillment(str(fulfillment_id)) if fulfillment_id else self._sent_earlier(record))
        return Shipment(key, record, found)

    async def recall(self, params: CreateFulfillmentParams, key: str, result: JsonDict | None) -> Shipment | None:
        """The step's fulfillment; a record whose fulfillment never landed is nothing to undo."""
        found = await self.lookup(params, key)
        return found if found is not None and found.fulfillment is not None else None

    # -- the write ------------------------------------------------------------------------------
    async def write(self, params: CreateFulfillmentParams, key: str) -> Shipment:
        """Read the fulfillment order (what it ships, what it had), write the record, then ship."""
        current = await self._fulfillment_order(params.fulfillment_order)
        by_id = {str(node.get("id")): node for node in nodes(current.get("lineItems"))}
        lines: dict[str, int] = {}
        if params.line_items is None:
            asked = [(node, int(node.get("remainingQuantity") or 0)) for node in by_id.values()]
        else:
            unknown = [line.id for line in params.line_items if line.id not in by_id]
            if unknown:
                raise ProviderRejected("invalid_line_item", f"Shopify fulfillment order "
                                       f"{gid_number(params.fulfillment_order)} has no line {', '.join(unknown)}")
            asked = [(by_id[line.id], line.quantity) for line in params.line_items]
        for node, quantity in asked:
            if quantity > 0:
                line = str((node.get("lineItem") or {}).get("id"))
                lines[line] = lines.get(line, 0) + quantity
        record = await self.records.write(key, {
            "state": SHIPPING, "fulfillment_order": params.fulfillment_order, "lines": lines,
            "before": [str(node.get("id")) for node in nodes(current.get("fulfillments"))]})
        return await self.complete(params, key, Shipment(key, record))

    async def complete(self, params: CreateFulfillmentParams, key: str, found: Shipment) -> Shipment:
        """Ship unless the record names (or the search found) the step's fulfillment already."""
        if found.fulfillment is not None:
            if found.record.value.get("fulfillment"):
                return found
            record = await self.records.write(key, {**found.record.value, "state": SHIPPED,
                                                    "fulfillment": str(found.fulfillment["id"])},
                                              owner=found.record.owner)
            return replace(found, record=record)
        try:
            payload = await self.client.mutate(documents.FULFILLMENT_SHIP, {
                "fulfillment": fulfillment_input(params), "message": f"Pivot saga step {key_marker(key)}"},
                "fulfillmentCreate")
            fulfillment_id = str((payload.get("fulfillment") or {}).get("id"))
        except ProviderRejected:
            earlier = await self._sent_earlier(found.record)  # refused because an earlier attempt shipped it?
            if earlier is None:
                raise
            fulfillment_id = str(earlier["id"])
        record = await self.records.write(key, {**found.record.value, "state": SHIPPED, "fulfillment": fulfillment_id},
                                          owner=found.record.owner)
        return Shipment(key, record, {"id": fulfillment_id})

    async def read_back(self, params: CreateFulfillmentParams, key: str, written: Shipment) -> Shipment | None:
        assert written.fulfillment is not None
        fresh = await self._fulfillment(str(written.fulfillment["id"]))
        return None if fresh is None else replace(written, fulfillment=fresh)

    def verify(self, params: CreateFulfillmentParams, fresh: Shipment) -> JsonDict:
        found = fresh.fulfillment or {}
        tracking = next(iter(found.get("trackingInfo") or []), None) or {}
        expected: dict[str, Any] = {"status": "SUCCESS", "fulfillment_order": params.fulfillment_order,
                                    "lines": fresh.record.value.get("lines")}
        actual: dict[str, Any] = {
            "status": found.get("status"), "lines": shipped_lines(found),
            "fulfillment_order": params.fulfillment_order if params.fulfillment_order in {
                node.get("id") for node in nodes(found.get("fulfillmentOrders"))} else None}
        if params.tracking is not None and params.tracking.number is not None:
            expected["tracking_number"], actual["tracking_number"] = params.tracking.number, tracking.get("number")
        if actual != expected or not expected["lines"]:
            raise Mismatch(f"Shopify fulfillment {found.get('name')} does not ship what the step asked",
                           expected=expected, actual=actual)
        order = found.get("order") or {}
        return {
            "ref": f"shopify:fulfillment/{gid_number(str(found['id']))}",
            "id": found["id"],
            "name": found.get("name"),
            "status": found.get("status"),
            "order": order.get("id"),
            "order_name": order.get("name"),
            "fulfillment_order": params.fulfillment_order,
            "quantity": sum(actual["lines"].values()),
            "line_items": len(actual["lines"]),
            "tracking_number": tracking.get("number"),
            "notify_customer": params.notify_customer,
        }

    def describe(self, result: JsonDict) -> str:
        return (f"Shopify fulfillment {result['name']} shipped {result['quantity']} item(s) of order "
                f"{result.get('order_name')}")

    def describe_undo(self, result: JsonDict) -> str:
        return (f"Shopify fulfillment {result['name']} was cancelled (its items can be fulfilled again; a parcel "
                "already with a carrier or a customer already notified is not undone)")

    # -- the undo --------------------------------------------------------------------------------
    def is_undone(self, found: Shipment) -> bool:
        return (found.fulfillment or {}).get("status") == "CANCELLED"

    def already_undone(self, found: Shipment) -> str:
        return (f"Shopify fulfillment {(found.fulfillment or {}).get('name')} already undone: cancelled by an earlier "
                "delivery of this undo, or by someone in Shopify; nothing left to cancel")

    async def undo(self, params: CreateFulfillmentParams, found: Shipment, result: JsonDict | None,
                   key: str) -> "str | CompensationReport":
        """fulfillmentCancel; a refusal because it is cancelled already (a delivery racing this one) is done."""
        assert found.fulfillment is not None
        fulfillment_id, name = str(found.fulfillment["id"]), found.fulfillment.get("name")
        try:
            await self.client.mutate(documents.FULFILLMENT_CANCEL, {"id": fulfillment_id}, "fulfillmentCancel")
        except ProviderRejected:
            again = await self._fulfillment(fulfillment_id)
            if (again or {}).get("status") != "CANCELLED":
                raise
        await self.records.write(found.key, {**found.record.value, "state": CANCELLED}, owner=found.record.owner)
        return (f"Shopify fulfillment {name} cancelled: its items can be fulfilled again in Shopify; a parcel already "
                "with a carrier, a label bought or a customer already notified is not undone")

    # -- conformance -----------------------------------------------------------------------------
    async def example(self) -> CreateFulfillmentParams:
        """A paid order of its own (a plain draft, completed), and its open fulfillment order."""
        order = await placed_order(self.shop, "fulfil")
        data = await self.client.execute(documents.FULFILLMENT_ORDERS, {"id": order}, operation="fulfillmentOrders")
        opened = [node for node in nodes((data.get("order") or {}).get("fulfillmentOrders"))
                  if node.get("status") == "OPEN"]
        if not opened:
            raise ProviderRejected("not_found", f"Shopify order {gid_number(order)} has no open fulfillment order")
        return CreateFulfillmentParams(fulfillment_order=str(opened[0]["id"]))

    async def tamper(self, params: CreateFulfillmentParams, found: Shipment) -> None:
        """The merchant cancels the step's fulfillment by hand and ships the items again (a new
        fulfillment): the undo must find its own fulfillment cancelled and leave the new one alone.
        (Cancelling the order instead cannot happen: Shopify refuses to cancel an order with
        fulfillments.)"""
        assert found.fulfillment is not None
        await self.client.mutate(documents.FULFILLMENT_CANCEL, {"id": found.fulfillment["id"]}, "fulfillmentCancel")
        await self.shop.ship_open(str((found.fulfillment.get("order") or {}).get("id")))


def fulfillment_input(params: CreateFulfillmentParams) -> dict[str, Any]:
    group: dict[str, Any] = {"fulfillmentOrderId": params.fulfillment_order}
    if params.line_items is not None:
        group["fulfillmentOrderLineItems"] = [{"id": line.id, "quantity": line.quantity} for line in params.line_items]
    body: dict[str, Any] = {"lineItemsByFulfillmentOrder": [group], "notifyCustomer": params.notify_customer}
    if params.tracking is not None:
        body["trackingInfo"] = params.tracking.model_dump(exclude_none=True)
    return body
