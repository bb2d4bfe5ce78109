"""`shopify.reserve_inventory` against the Shopify shopify_sandbox, over real HTTP: effects counted in the
sandbox's ledger. A lost answer (the kit's `commit_then_timeout` against a 1 s client timeout) is one
move, not two; the undo gives back only what the step still holds under its own ledger document, and
a unit a third party moved out of it makes the undo refuse rather than release someone else's stock;
an undo delivered twice releases once."""

from __future__ import annotations

from typing import Any

import pytest

from pivot.compensations.errors import CompensationConflict, ProviderRejected, ProviderUnavailable
from pivot.providers.shopify import documents
from pivot.providers.shopify.actions.inventory import EXAMPLE_ITEM, EXAMPLE_LOCATION, move_input
from tests.providers.shopify_fixtures import (
    Harness,
    Instruments,
    OneSandbox,
    run,
)

RESERVE = "shopify.reserve_inventory"
PARAMS = {"inventory_item": EXAMPLE_ITEM, "location": EXAMPLE_LOCATION, "quantity": 3}
LEVEL = """query($item: ID!, $location: ID!) { inventoryItem(id: $item) { inventoryLevel(locationId: $location) {
  quantities(names: ["available", "reserved", "on_hand"]) { name quantity } } } }"""


def level(box: Instruments) -> dict[str, int]:
    body = box.graphql(LEVEL, {"item": EXAMPLE_ITEM, "location": EXAMPLE_LOCATION})
    quantities = body["data"]["inventoryItem"]["inventoryLevel"]["quantities"]
    return {q["name"]: q["quantity"] for q in quantities}


def moves(box: Instruments) -> list[dict[str, Any]]:
    return box.effects(op="move", obj="inventory")


def test_reserve_moves_available_to_reserved_under_the_steps_document(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    async def scenario(h: Harness) -> tuple[dict[str, Any], dict[str, Any], str]:
        result = await h.forward(RESERVE, PARAMS)
        again = await h.forward(RESERVE, PARAMS)  # a replay of the step: found by its record, replayed by its key
        return result, again, h.keys("s1", RESERVE).forward

    result, again, key = run(shopify_sandbox.url, scenario)
    assert again["id"] == result["id"]
    assert result["ref"].startswith("shopify:inventory_adjustment_group/")
    assert (result["available_after"], result["reserved_after"], result["quantity"]) == (97, 3, 3)
    assert result["ledger_document"] == f"gid://pivot/Step/{key}"
    assert level(box) == {"available": 97, "reserved": 3, "on_hand": 100}
    assert [m["idempotency_key"] for m in moves(box)] == [key]


def test_a_lost_answer_is_one_move(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    async def scenario(h: Harness) -> dict[str, Any]:
        # requests: the lookup (no record), the shop's id, the record, then the move: its answer is lost
        lost = box.fault_on_request(4, action="commit_then_timeout")
        with pytest.raises(ProviderUnavailable):
            await h.forward(RESERVE, PARAMS)
        assert box.hits(lost) == 1
        return await h.forward(RESERVE, PARAMS)  # the engine's retry of the step

    result = run(shopify_sandbox.url, scenario)
    assert len(moves(box)) == 1
    assert result["reserved_after"] == 3 and level(box)["reserved"] == 3


def test_undo_twice_releases_once(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    async def scenario(h: Harness) -> tuple[str, str]:
        result = await h.forward(RESERVE, PARAMS)
        first = await h.compensate(RESERVE, PARAMS, result)
        second = await h.compensate(RESERVE, PARAMS, result)
        return first.state, second.state

    assert run(shopify_sandbox.url, scenario) == ("compensated", "compensated")
    assert [m["detail"]["reason"] for m in moves(box)] == ["reservation_created", "reservation_deleted"]
    assert level(box) == {"available": 100, "reserved": 0, "on_hand": 100}


def test_undo_of_a_lost_forward_finds_it_by_the_record(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    async def scenario(h: Harness) -> str:
        await h.forward(RESERVE, PARAMS)
        return (await h.compensate(RESERVE, PARAMS, None)).state  # the answer was lost: no verified result

    assert run(shopify_sandbox.url, scenario) == "compensated"
    assert len(moves(box)) == 2 and level(box)["reserved"] == 0


def test_undo_of_a_refused_reservation_is_nothing_to_undo(
        shopify_sandbox: OneSandbox, box: Instruments) -> None:
    """More units than are available: Shopify refuses the move after the step's record was written;
    the unwind finds the record, the move refused again, and releases nothing (not needs_attention)."""
    too_many = {**PARAMS, "quantity": 101}

    async def scenario(h: Harness) -> tuple[str, str]:
        with pytest.raises(ProviderRejected):
            await h.forward(RESERVE, too_many)
        report = await h.compensate(RESERVE, too_many, None)
        return report.state, report.detail

    state, detail = run(shopify_sandbox.url, scenario)
    assert state == "nothing_to_undo" and "nothing was reserved" in detail
    assert moves(box) == [] and level(box) == {"available": 100, "reserved": 0, "on_hand": 100}


def test_undo_after_a_third_party_moved_units_is_a_conflict_not_an_overwrite(shopify_sandbox: OneSandbox,
                                                                          box: Instruments) -> None:
    async def scenario(h: Harness) -> None:
        result = await h.forward(RESERVE, PARAMS)
        key = h.keys("s1", RESERVE).forward
        # somebody releases one of the step's units by hand
        box.graphql(documents.INVENTORY_MOVE, {"input": move_input(EXAMPLE_ITEM, EXAMPLE_LOCATION, 1, key, back=True),
                                               "idempotencyKey": "by-hand"})
        with pytest.raises(CompensationConflict):
            await h.compensate(RESERVE, PARAMS, result)

    run(shopify_sandbox.url, scenario)
    assert level(box) == {"available": 98, "reserved": 2, "on_hand": 100}  # the two left stay reserved
    assert [m["detail"]["reason"] for m in moves(box)] == ["reservation_created", "reservation_deleted"]
