"""`shopify.create_fulfillment` against the Shopify shopify_sandbox, over real HTTP: effects counted in the
sandbox's ledger. A lost answer (the kit's `commit_then_timeout` against a 1 s client timeout) is
one fulfilment, found again through the step's record; some lines of a fulfillment order ship only
those; the undo (`fulfillmentCancel`) reopens the items to be fulfilled again, once, however often
it is delivered; and `pivot actions` says the undo is partial."""

from __future__ import annotations

from typing import Any

import pytest

from pivot.compensations.errors import ProviderUnavailable
from pivot.providers.shopify import documents
from pivot.providers.shopify.actions.draft_orders import placed_order
from pivot.services.cli import main
from tests.providers.shopify_fixtures import (
    Harness,
    Instruments,
    OneSandbox,
    run,
)

SHIP = "shopify.create_fulfillment"
ORDER_LINES = """query($id: ID!) { order(id: $id) { displayFulfillmentStatus
  fulfillmentOrders(first: 5) { nodes { id status lineItems(first: 10) { nodes { id remainingQuantity } } } } } }"""


async def an_order(h: Harness) -> str:
    return await placed_order(h.shop, "fulfilment test")


def order_state(box: Instruments, order: str) -> dict[str, Any]:
    found = box.graphql(ORDER_LINES, {"id": order})["data"]["order"]
    return {"status": found["displayFulfillmentStatus"],
            "fulfillment_orders": [(fo["status"], [line["remainingQuantity"] for line in fo["lineItems"]["nodes"]])
                                   for fo in found["fulfillmentOrders"]["nodes"]]}


def first_fulfillment_order(box: Instruments, order: str) -> dict[str, Any]:
    found = box.graphql(ORDER_LINES, {"id": order})["data"]["order"]["fulfillmentOrders"]["nodes"][0]
    assert isinstance(found, dict)
    return found


def shipments(box: Instruments) -> list[dict[str, Any]]:
    return box.effects(op="fulfill")


def test_ships_the_whole_fulfillment_order_once(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    async def scenario(h: Harness) -> tuple[str, dict[str, Any], dict[str, Any], str]:
        order = await an_order(h)
        params = {"fulfillment_order": first_fulfillment_order(box, order)["id"],
                  "tracking": {"company": "UPS", "number": "1Z999"}}
        result = await h.forward(SHIP, params)
        again = await h.forward(SHIP, params)  # a replay of the step: found by its record
        return order, result, again, h.keys("s1", SHIP).forward

    order, result, again, key = run(shopify_sandbox.url, scenario)
    assert again["id"] == result["id"] and result["ref"].startswith("shopify:fulfillment/")
    assert (result["status"], result["quantity"], result["tracking_number"]) == ("SUCCESS", 1, "1Z999")
    assert order_state(box, order) == {"status": "FULFILLED", "fulfillment_orders": [("CLOSED", [0])]}
    assert [e["idempotency_key"] for e in shipments(box)] == [key]


def test_a_lost_answer_is_one_fulfillment(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    async def scenario(h: Harness) -> tuple[str, dict[str, Any]]:
        order = await an_order(h)
        params = {"fulfillment_order": first_fulfillment_order(box, order)["id"]}
        # requests: no record yet, the fulfillment order, the shop's id, the record; then the ship: its answer is lost
        lost = box.fault_on_request(5, action="commit_then_timeout")
        with pytest.raises(ProviderUnavailable):
            await h.forward(SHIP, params)
        assert box.hits(lost) == 1
        return order, await h.forward(SHIP, params)  # the engine's retry of the step

    order, result = run(shopify_sandbox.url, scenario)
    assert len(shipments(box)) == 1 and result["status"] == "SUCCESS"
    assert order_state(box, order)["status"] == "FULFILLED"


def test_some_lines_ship_only_those_and_the_undo_reopens_them_once(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    async def scenario(h: Harness) -> tuple[str, dict[str, Any], list[str]]:
        draft = await h.client.mutate(documents.DRAFT_ORDER_CREATE, {"input": {
            "lineItems": [{"variantId": "gid://shopify/ProductVariant/44000000001", "quantity": 3}]}},
            "draftOrderCreate")
        done = await h.client.mutate(documents.DRAFT_ORDER_COMPLETE, {"id": draft["draftOrder"]["id"],
                                                                      "paymentPending": False}, "draftOrderComplete")
        order = done["draftOrder"]["order"]["id"]
        fulfillment_order = first_fulfillment_order(box, order)
        line = fulfillment_order["lineItems"]["nodes"][0]["id"]
        params = {"fulfillment_order": fulfillment_order["id"], "line_items": [{"id": line, "quantity": 2}]}
        result = await h.forward(SHIP, params)
        assert order_state(box, order) == {"status": "PARTIALLY_FULFILLED",
                                           "fulfillment_orders": [("IN_PROGRESS", [1])]}
        states = [(await h.compensate(SHIP, params, result)).state for _ in range(2)]
        return order, result, states

    order, result, states = run(shopify_sandbox.url, scenario)
    assert result["quantity"] == 2 and states == ["compensated", "compensated"]
    assert order_state(box, order) == {"status": "UNFULFILLED", "fulfillment_orders": [("OPEN", [3])]}
    assert [e["op"] for e in box.effects(obj="fulfillment")] == ["cancel"]


def test_undo_of_a_whole_order_reopens_its_items_in_a_new_fulfillment_order(shopify_sandbox: OneSandbox,
                                                                            box: Instruments) -> None:
    async def scenario(h: Harness) -> tuple[str, str]:
        order = await an_order(h)
        params = {"fulfillment_order": first_fulfillment_order(box, order)["id"]}
        await h.forward(SHIP, params)
        return order, (await h.compensate(SHIP, params, None)).state  # the answer was lost: found by the record

    order, state = run(shopify_sandbox.url, scenario)
    assert state == "compensated"
    assert order_state(box, order) == {"status": "UNFULFILLED", "fulfillment_orders": [("CLOSED", [0]), ("OPEN", [1])]}


def test_an_undo_with_nothing_shipped_is_nothing_to_undo(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    async def scenario(h: Harness) -> str:
        order = await an_order(h)
        return (await h.compensate(SHIP, {"fulfillment_order": first_fulfillment_order(box, order)["id"]},
                                   None)).state

    assert run(shopify_sandbox.url, scenario) == "nothing_to_undo"
    assert shipments(box) == []


def test_the_catalog_says_the_undo_is_partial(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["actions"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    block = out[out.index(SHIP):]
    assert "may be the pivot" in block[:120]
    assert "(partial) fulfillmentCancel" in block and "a customer already notified is not undone" in block


def test_cancelled_and_shipped_again_by_the_merchant_is_already_undone(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    """Conformance's third party (`tamper`): the step's fulfillment cancelled by hand and the items
    shipped again; the undo reports it undone and never cancels the merchant's new fulfillment."""
    async def scenario(h: Harness) -> tuple[str, str, str]:
        order = await an_order(h)
        params = {"fulfillment_order": first_fulfillment_order(box, order)["id"]}
        result = await h.forward(SHIP, params)
        kit = h.actions[SHIP].kit
        assert kit is not None
        spec = kit.params.model_validate(params)
        await kit.tamper(spec, await kit.lookup(spec, h.keys("s1", SHIP).forward))
        report = await h.compensate(SHIP, params, result)
        return order, report.state, report.detail

    order, state, detail = run(shopify_sandbox.url, scenario)
    assert state == "compensated" and "already undone" in detail
    assert len(box.effects(op="cancel", obj="fulfillment")) == 1  # the merchant's, not a second by the undo
    assert len(shipments(box)) == 2
    assert order_state(box, order) == {"status": "FULFILLED", "fulfillment_orders": [("CLOSED", [0]), ("CLOSED", [0])]}


def test_a_fault_rule_names_the_graphql_operation(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    """Every GraphQL request shares one path: a rule naming `fulfillmentCreate` fires on it alone,
    not on the reads and the record write before it, and a path-only rule still fires on any."""
    async def scenario(h: Harness) -> None:
        order = await an_order(h)
        params = {"fulfillment_order": first_fulfillment_order(box, order)["id"]}
        lost = box.fault(operation="fulfillmentCreate", action="commit_then_timeout", times=1)
        with pytest.raises(ProviderUnavailable):
            await h.forward(SHIP, params)
        assert box.hits(lost) == 1 and len(shipments(box)) == 1
        anything = box.fault(action="error", status=503, times=1)
        with pytest.raises(ProviderUnavailable):
            await h.forward(SHIP, params)
        assert box.hits(anything) == 1
        await h.forward(SHIP, params)

    run(shopify_sandbox.url, scenario)
    assert len(shipments(box)) == 1
