"""The crash matrix for `shopify.reserve_inventory` and `shopify.create_fulfillment`: the service or
restate-server SIGKILLed while a step's write, its read-back or its undo is held at the Shopify
sandbox (a fault rule naming the GraphQL operation, since every request shares one path); the held
request lands after the crash. Each saga ends committed (or compensated, for the unwinds), and the
sandbox ledger shows one `move inventory` and one `fulfill order` per step key, one release and one
cancel per unwind. Also: the write committed but its answer lost (the client's timeout) → one effect.
"""

import json
import os
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pivot.compensations.keys import compensation_key, forward_key
from pivot.providers.sandbox_kit.credentials import LOCAL_CREDENTIALS
from pivot.providers.shopify import documents
from pivot.providers.shopify.actions.inventory import EXAMPLE_ITEM, EXAMPLE_LOCATION
from pivot.providers.shopify.client import API_VERSION
from pivot.services.client import PivotClient
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes
from tests.test_crash_matrix import Point, _hold

RESERVE, SHIP = "shopify.reserve_inventory", "shopify.create_fulfillment"
GRAPHQL = f"/admin/api/{API_VERSION}/graphql.json"
HOLD_MS = 500
"""Long enough to still be held when the process is killed (right after the hold is seen), short
enough that waiting for the held request to land costs little."""
UNKNOWN_ITEM = "gid://shopify/InventoryItem/49999999999"
"""The failing plans' last step reserves an item the shop does not have: refused, so the saga unwinds."""


def _point(name: str, operation: str, *, skip: int = 0, failing: bool = False) -> Point:
    return Point(name, "shopify", "POST", GRAPHQL, skip=skip, failing=failing, operation=operation, hold_ms=HOLD_MS)


RESERVE_WRITE = _point("reserve: inventoryMoveQuantities (forward write)", "inventoryMoveQuantities")
RESERVE_READBACK = _point("reserve: read-back node(id)", "node")
SHIP_WRITE = _point("ship: fulfillmentCreate (forward write)", "fulfillmentCreate")
SHIP_READBACK = _point("ship: read-back fulfillment(id)", "fulfillment")
FORWARD = [RESERVE_WRITE, RESERVE_READBACK, SHIP_WRITE, SHIP_READBACK]
UNWIND = [
    _point("unwind: fulfillmentCancel", "fulfillmentCancel", failing=True),
    # the reserve's forward move, then its release (the failing step's move is refused before that)
    _point("unwind: the release (inventoryMoveQuantities back)", "inventoryMoveQuantities", skip=1, failing=True),
]


def _graphql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}{GRAPHQL}", json={"query": query, "variables": variables},
                          headers={"X-Shopify-Access-Token": LOCAL_CREDENTIALS["shopify"]})
    response.raise_for_status()
    data = response.json()["data"]
    assert isinstance(data, dict)
    return data


def _open_fulfillment_order(url: str) -> str:
    """A paid order of one item, made in the sandbox shop, and its open fulfillment order."""
    draft = _graphql(url, documents.DRAFT_ORDER_CREATE, {"input": {
        "lineItems": [{"variantId": "gid://shopify/ProductVariant/44000000001", "quantity": 1}]}})
    done = _graphql(url, documents.DRAFT_ORDER_COMPLETE, {"id": draft["draftOrderCreate"]["draftOrder"]["id"],
                                                          "paymentPending": False})
    order = done["draftOrderComplete"]["draftOrder"]["order"]["id"]
    found = _graphql(url, documents.FULFILLMENT_ORDERS, {"id": order})["order"]["fulfillmentOrders"]["nodes"]
    return str(found[0]["id"])


def _plan(url: str, failing: bool) -> dict[str, Any]:
    reserve = {"inventory_item": EXAMPLE_ITEM, "location": EXAMPLE_LOCATION, "quantity": 1}
    steps: list[dict[str, Any]] = [
        {"id": "reserve", "action": RESERVE, "params": reserve},
        {"id": "ship", "action": SHIP, "params": {"fulfillment_order": _open_fulfillment_order(url)}},
    ]
    if failing:
        steps.append({"id": "more", "action": RESERVE, "params": {**reserve, "inventory_item": UNKNOWN_ITEM}})
    return {"steps": steps}


def _assert_exactly_once(sandboxes: Sandboxes, run_id: str, outcome: dict[str, Any], failing: bool) -> None:
    ledger = sandboxes.ledger("shopify")
    moves = [e for e in ledger if e["op"] == "move"]
    reserved = [e for e in moves if e.get("idempotency_key") == forward_key(run_id, "reserve", RESERVE)]
    shipped = [e for e in ledger if e["op"] == "fulfill"
               and e.get("idempotency_key") == forward_key(run_id, "ship", SHIP)]
    assert (len(reserved), len(shipped)) == (1, 1), (reserved, shipped)
    released = [e for e in moves if e.get("idempotency_key") == compensation_key(run_id, "reserve", RESERVE)]
    cancelled = [e for e in ledger if e["op"] == "cancel" and e["id"] == shipped[0]["detail"]["fulfillment"]]
    if failing:
        assert outcome["status"] == "compensated", json.dumps(outcome, indent=1)
        assert (len(released), len(cancelled)) == (1, 1), (released, cancelled)
    else:
        assert outcome["status"] == "committed", json.dumps(outcome, indent=1)
        assert (released, cancelled) == ([], [])


def _crash(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, point: Point, restart: Callable[[], None]) -> None:
    run_id = f"shopify-crash-{uuid.uuid4().hex[:10]}"
    plan = _plan(stack.sandbox_urls["shopify"], point.failing)
    hold = _hold(sandboxes, point)
    pivot.submit(run_id, plan)
    wait_until(lambda: sandboxes.fault_hits("shopify", hold) == 1, timeout_s=60, what=point.name)

    restart()
    outcome = pivot.attach(run_id)
    # The held request completes at the sandbox after the crash: wait for it, then count.
    wait_until(lambda: sandboxes.fault_held("shopify", hold) == 0, timeout_s=30, what="the held request")
    _assert_exactly_once(sandboxes, run_id, outcome, point.failing)


EVERY_POINT = os.environ.get("PIVOT_CRASH_ALL") == "1"
"""The suite kills the service at both writes and in the unwind, and restate-server at the
fulfilment; CI's long tier (`PIVOT_CRASH_ALL=1`, .ci/run) kills at every point."""


@pytest.mark.parametrize("point", FORWARD + UNWIND if EVERY_POINT else [RESERVE_WRITE, SHIP_WRITE, *UNWIND],
                         ids=lambda p: p.name)
def test_service_sigkill(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, point: Point) -> None:
    _crash(stack, pivot, sandboxes, point, stack.restart_service)


@pytest.mark.parametrize("point", FORWARD if EVERY_POINT else [SHIP_WRITE], ids=lambda p: p.name)
def test_restate_server_sigkill(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, point: Point) -> None:
    def restart() -> None:
        stack.restart_restate()
        stack.register()
    _crash(stack, pivot, sandboxes, point, restart)


def test_a_lost_answer_of_each_write_is_one_effect(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes) -> None:
    """Both writes commit at Shopify and their answers are lost (the service's client times out)."""
    run_id = f"shopify-lost-{uuid.uuid4().hex[:10]}"
    plan = _plan(stack.sandbox_urls["shopify"], failing=False)
    rules = [sandboxes.fault("shopify", method="POST", path=GRAPHQL, operation=operation,
                             action="commit_then_timeout", times=1)
             for operation in ("inventoryMoveQuantities", "fulfillmentCreate")]
    outcome = pivot.run(run_id, plan)
    assert [sandboxes.fault_hits("shopify", rule) for rule in rules] == [1, 1]
    _assert_exactly_once(sandboxes, run_id, outcome, failing=False)
