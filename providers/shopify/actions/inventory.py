"""`shopify.reserve_inventory` (compensable): units of an item set aside at a location, moved from
`available` to `reserved` with `inventoryMoveQuantities`, and moved back on unwind.

Key carriers, strongest first: the step key is the mutation's `@idempotent(key:)` (API 2026-01, the
version the client speaks, takes it on inventoryMoveQuantities; 2026-04 requires it), so a retried
move is answered with the original adjustment group and moves nothing; the reserved units are held
under the ledger document `gid://pivot/Step/<key>` (Shopify keeps every quantity but `available` per
ledger document, and a move out of `reserved` cannot take more than its document holds), which is
also the move's `referenceDocumentUri` (shown in the admin's inventory history). Shopify lists no
adjustment groups by reference document, so the step writes a record first (`records`: a shop
metafield keyed by the step key), and `lookup` reads it; a record whose move is not known yet is
finished by replaying the move with its key (`complete`).

Read-back: the adjustment group by `node(id:)` (available -n, reserved +n under the step's document,
for the asked item and location) and the level's quantities. The undo moves the units back from the
step's own document (its own `@idempotent` key): units someone else moved out of it meanwhile make
Shopify refuse (INVALID_QUANTITY_NEGATIVE), which is a conflict, never an overwrite. Caveat: the
idempotency window is about a day; an undo that must replay a lost forward later than that could
reserve again before releasing.
"""

from dataclasses import dataclass, replace
from typing import Any, ClassVar

from pivot.compensations.actions import CompensationReport, JsonDict
from pivot.compensations.errors import CompensationConflict, ProviderRejected
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyCarrier, Mismatch
from pivot.providers.shopify import documents
from pivot.providers.shopify.actions.base import ShopifyAction
from pivot.providers.shopify.client import ShopifyClient
from pivot.providers.shopify.params import ReserveInventoryParams
from pivot.providers.shopify.records import Record, Records
from pivot.providers.shopify.views import gid_number

RESERVING, RELEASED = "reserving", "released"
EXAMPLE_ITEM = "gid://shopify/InventoryItem/45000000001"
EXAMPLE_LOCATION = "gid://shopify/Location/70000000001"
"""What a conformance run reserves: the sandbox's seeded tee at its warehouse."""


def step_document(key: str) -> str:
    return f"gid://pivot/Step/{key}"


def move_input(item: str, location: str, quantity: int, key: str, *, back: bool = False) -> dict[str, Any]:
    """available → reserved under the step's document (or back, for the undo)."""
    held = {"locationId": location, "name": "reserved", "ledgerDocumentUri": step_document(key)}
    free = {"locationId": location, "name": "available", "ledgerDocumentUri": None}
    return {"reason": "reservation_deleted" if back else "reservation_created",
            "referenceDocumentUri": step_document(key),
            "changes": [{"quantity": quantity, "inventoryItemId": item,
                         "from": held if back else free, "to": free if back else held}]}


@dataclass(frozen=True, slots=True)
class Reservation:
    """The step's record, and once known its adjustment group and the level as read back."""

    key: str
    record: Record
    group: dict[str, Any] | None = None
    level: dict[str, Any] | None = None


class ReserveInventory(ShopifyAction[ReserveInventoryParams, Reservation]):
    name: ClassVar[str] = "shopify.reserve_inventory"
    idempotency = "key"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    params = ReserveInventoryParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.json(
        "variables.idempotencyKey",
        "inventoryMoveQuantities @idempotent(key: step key); reserved under ledger document and reference document "
        "gid://pivot/Step/<key>; a shop metafield $app:pivot/step-<32 hex> holding the key, read by the lookup")
    readback: ClassVar[str] = ("node(id) of the adjustment group: available -n and reserved +n under the step's ledger "
                               "document, for the item and location asked; the level's available/reserved/on_hand")
    compensation: ClassVar[str] = (
        "inventoryMoveQuantities back from reserved (the step's ledger document) to available, its own @idempotent "
        "key; units moved out of that document by someone else make it a conflict")
    not_run: ClassVar[str] = "No Shopify inventory was reserved"

    def __init__(self, client: ShopifyClient):
        super().__init__(client)
        self.records = Records(client)

    async def lookup(self, params: ReserveInventoryParams, key: str) -> Reservation | None:
        record = await self.records.read(key)
        return None if record is None else Reservation(key, record)

    async def write(self, params: ReserveInventoryParams, key: str) -> Reservation:
        """The record first (so a lookup can always find what is sent), then the move."""
        record = await self.records.write(key, {"state": RESERVING, "item": params.inventory_item,
                                                "location": params.location, "quantity": params.quantity})
        return await self.complete(params, key, Reservation(key, record))

    async def complete(self, params: ReserveInventoryParams, key: str, found: Reservation) -> Reservation:
        """Send (or replay: `@idempotent` answers the first group, moving nothing) the step's move."""
        return replace(found, group=await self._move(params, key))

    async def _move(self, params: ReserveInventoryParams, key: str) -> dict[str, Any]:
        payload = await self.client.mutate(documents.INVENTORY_MOVE, {
            "input": move_input(params.inventory_item, params.location, params.quantity, key),
            "idempotencyKey": key}, "inventoryMoveQuantities")
        group = payload.get("inventoryAdjustmentGroup")
        if not isinstance(group, dict) or not group.get("id"):
            raise ProviderRejected("bad_response", "Shopify answered inventoryMoveQuantities without a group")
        return {"id": str(group["id"])}

    async def read_back(self, params: ReserveInventoryParams, key: str, written: Reservation) -> Reservation | None:
        assert written.group is not None
        data = await self.client.execute(documents.ADJUSTMENT_GROUP, {
            "id": written.group["id"], "item": params.inventory_item, "location": params.location},
            operation="node")
        group = data.get("node")
        if not isinstance(group, dict):
            return None
        level = ((data.get("inventoryItem") or {}).get("inventoryLevel")) or {}
        return replace(written, group=group, level=level)

    def verify(self, params: ReserveInventoryParams, fresh: Reservation) -> JsonDict:
        group = fresh.group or {}
        document = step_document(fresh.key)
        moved = {(c.get("name"), c.get("ledgerDocumentUri"), c.get("delta"), (c.get("item") or {}).get("id"),
                  (c.get("location") or {}).get("id")) for c in group.get("changes") or [] if isinstance(c, dict)}
        expected = {("available", None, -params.quantity, params.inventory_item, params.location),
                    ("reserved", document, params.quantity, params.inventory_item, params.location)}
        if moved != expected or group.get("referenceDocumentUri") != document:
            raise Mismatch(f"Shopify adjustment group {gid_number(str(group.get('id')))} does not move what the "
                           "step asked", expected=sorted(map(str, expected)), actual=sorted(map(str, moved)))
        quantities = {q.get("name"): q.get("quantity") for q in (fresh.level or {}).get("quantities") or []
                      if isinstance(q, dict)}
        return {
            "ref": f"shopify:inventory_adjustment_group/{gid_number(str(group['id']))}",
            "id": group["id"],
            "inventory_item": params.inventory_item,
            "location": params.location,
            "quantity": params.quantity,
            "ledger_document": document,
            "available_after": quantities.get("available"),
            "reserved_after": quantities.get("reserved"),
        }

    def describe(self, result: JsonDict) -> str:
        return (f"Shopify reserved {result['quantity']} of inventory item {gid_number(str(result['inventory_item']))} "
                f"at location {gid_number(str(result['location']))}")

    def describe_undo(self, result: JsonDict) -> str:
        return (f"Shopify released the {result['quantity']} reserved units of inventory item "
                f"{gid_number(str(result['inventory_item']))}")

    def is_undone(self, found: Reservation) -> bool:
        return found.record.state == RELEASED

    async def undo(self, params: ReserveInventoryParams, found: Reservation, result: JsonDict | None,
                   key: str) -> "str | CompensationReport":
        """Move the units back from the step's own ledger document, then mark the record released.
        Without a verified result the forward's answer was lost, or Shopify refused the move (too few
        units available, an unknown item) after the record was written: its move is replayed first
        (by its key: the first group, or the move made now), so there is something of ours to give
        back; refused again, it moved nothing and there is nothing to release."""
        forward = found.key
        if result is None:
            try:
                await self._move(params, forward)
            except ProviderRejected as refused:
                return CompensationReport(state="nothing_to_undo", detail=(
                    f"Shopify refused this step's reservation ({refused.info.code}): nothing was reserved, "
                    "nothing to release"))
        try:
            await self.client.mutate(documents.INVENTORY_MOVE, {
                "input": move_input(params.inventory_item, params.location, params.quantity, forward, back=True),
                "idempotencyKey": key}, "inventoryMoveQuantities")
        except ProviderRejected as refused:
            if refused.info.code != "invalid_quantity_negative":
                raise
            raise CompensationConflict(
                f"Fewer than {params.quantity} units are still reserved under this step's ledger document: someone "
                "moved some of them meanwhile; nothing was released", expected=params.quantity,
                current=f"fewer than {params.quantity}") from None
        await self.records.write(forward, {**found.record.value, "state": RELEASED}, owner=found.record.owner)
        return (f"Shopify released {params.quantity} reserved units of inventory item "
                f"{gid_number(params.inventory_item)}")

    async def example(self) -> ReserveInventoryParams:
        return ReserveInventoryParams(inventory_item=EXAMPLE_ITEM, location=EXAMPLE_LOCATION, quantity=2)

    async def tamper(self, params: ReserveInventoryParams, found: Reservation) -> None:
        """A person releases one of the step's reserved units by hand (moves it back to available)."""
        await self.client.mutate(documents.INVENTORY_MOVE, {
            "input": move_input(params.inventory_item, params.location, 1, found.key, back=True),
            "idempotencyKey": f"tamper-{found.key}"}, "inventoryMoveQuantities")
