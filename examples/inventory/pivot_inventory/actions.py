"""`inventory.reserve_stock`: hold stock for an order, undone by releasing it — unless it shipped.

The whole action, written with Pivot's kit. What Pivot needs from an API is that a step's write
can be found again by the step's key: this API takes the key as `Idempotency-Key` and lists
reservations by it, so `lookup` is one GET. The kit does the rest the same way for every action:
look up (a write an earlier attempt may have made), write if absent, read back, verify; on undo,
look up, then release only what is still held. A reservation that shipped meanwhile is the
warehouse's doing, not the saga's: releasing it would lie, so the undo refuses
(`CompensationConflict`) and the saga asks a person.
"""

import uuid
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from pivot.kit import (
    Action,
    CompensationConflict,
    Endpoint,
    JsonDict,
    KeyCarrier,
    KeyedAction,
    Mismatch,
    ProviderHTTP,
    ProviderRejected,
    StepKind,
    json_body,
)

Reservation = dict[str, Any]
DEFAULT_BASE_URL = "http://127.0.0.1:9110"


class ReserveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$", description="The stock-keeping unit")
    quantity: int = Field(ge=1, le=10_000)
    order_ref: str | None = Field(default=None, max_length=100, description="Your order's id, for people")


class InventoryClient:
    """The warehouse API over Pivot's HTTP layer: 5xx, 429 (with Retry-After) and timeouts come back
    as `ProviderUnavailable` (retried with the same key), everything else as an answer to read."""

    def __init__(self, endpoint: Endpoint):
        self.http = ProviderHTTP(endpoint)

    async def call(self, method: str, path: str, *, json: Any = None, params: Any = None,
                   key: str | None = None) -> Any:
        response = await self.http.request(method, path, json=json, params=params,
                                           headers={"Idempotency-Key": key} if key else None)
        body = json_body(response)
        if response.status_code >= 400:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise ProviderRejected(str(error.get("code", f"http_{response.status_code}")),
                                   f"Inventory: {error.get('message', response.status_code)}")
        return body


class ReserveStock(KeyedAction[ReserveParams, Reservation]):
    name: ClassVar[str] = "inventory.reserve_stock"
    kind: ClassVar[StepKind] = StepKind.COMPENSABLE
    params = ReserveParams
    carrier: ClassVar[KeyCarrier] = KeyCarrier.header(
        "Idempotency-Key", "the Idempotency-Key header (the step key), listed with GET ?idempotency_key=")
    readback: ClassVar[str] = "GET /v1/reservations?idempotency_key=…: sku, quantity, status held"
    compensation: ClassVar[str] = "release the reservation while it is held; once shipped, a conflict for a person"
    not_run: ClassVar[str] = "No stock was reserved."
    idempotency = "key"  # a repeated POST with the same Idempotency-Key answers the stored reservation

    def __init__(self, client: InventoryClient):
        self.client = client

    def in_flight_window(self) -> timedelta:
        """How long a request given up on may still land: the HTTP layer's timeout, plus a second."""
        return self.client.http.in_flight_window

    async def lookup(self, params: ReserveParams, key: str) -> Reservation | None:
        found = await self.find_all(params, key)
        return found[0] if found else None

    async def find_all(self, params: ReserveParams, key: str) -> list[Reservation]:
        page = await self.client.call("GET", "/v1/reservations", params={"idempotency_key": key})
        return [r for r in page.get("data", []) if r.get("idempotency_key") == key]

    async def write(self, params: ReserveParams, key: str) -> Reservation:
        body = params.model_dump(exclude_none=True)
        reservation: Reservation = await self.client.call("POST", "/v1/reservations", json=body, key=key)
        return reservation

    def verify(self, params: ReserveParams, fresh: Reservation) -> JsonDict:
        asked = {"sku": params.sku, "quantity": params.quantity}
        held = {"sku": fresh.get("sku"), "quantity": fresh.get("quantity")}
        if held != asked or fresh.get("status") != "held":
            raise Mismatch(f"reservation {fresh.get('id')} does not hold what was asked",
                           expected={**asked, "status": "held"}, actual={**held, "status": fresh.get("status")})
        return {"ref": f"inventory:reservation/{fresh['id']}", "id": fresh["id"], **asked, "status": "held"}

    def describe(self, result: JsonDict) -> str:
        return f"{result['quantity']} of {result['sku']} reserved ({result['id']})"

    def is_undone(self, found: Reservation) -> bool:
        return found.get("status") == "released"

    async def undo(self, params: ReserveParams, found: Reservation, result: JsonDict | None, key: str) -> str:
        if found.get("status") != "held":
            raise CompensationConflict(f"reservation {found['id']} is {found.get('status')}; it was not released",
                                       expected="held", current=found.get("status"))
        await self.client.call("POST", f"/v1/reservations/{found['id']}/release", key=key)
        return f"reservation {found['id']} released"

    async def example(self) -> ReserveParams:
        return ReserveParams(sku=f"SKU-{uuid.uuid4().hex[:8].upper()}", quantity=2, order_ref="conformance")

    async def tamper(self, params: ReserveParams, found: Reservation) -> None:
        """The warehouse ships it, as it would once the order goes out."""
        await self.client.call("POST", f"/v1/reservations/{found['id']}/ship")


def actions() -> list[Action]:
    """The `pivot.actions` entry point: the base URL from PIVOT_INVENTORY_BASE_URL, the token read from
    INVENTORY_TOKEN on each request."""
    client = InventoryClient(Endpoint.from_env("inventory", DEFAULT_BASE_URL, "INVENTORY_TOKEN", "Inventory"))
    return [ReserveStock(client).action()]
