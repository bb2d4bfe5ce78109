"""Each Stripe action is a `KeyedAction` whose conformance hooks work against the Stripe sandbox:
its `example()` params verify through `forward`, `find_all` finds the one object a forward made
(and would show a second one carrying the key), and `tamper` changes the object as a third party
would, so that the undo refuses (a paid invoice) or undoes only what is left (a part-refunded charge)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pivot.compensations.actions import JsonDict
from pivot.compensations.errors import CompensationConflict
from pivot.compensations.keys import StepKeys
from pivot.kit import KeyedAction
from pivot.providers.stripe.actions import stripe_actions
from pivot.providers.stripe.client import StripeClient
from tests.providers.step_keys import new_keys, written_then_tampered

if TYPE_CHECKING:
    from tests.providers.catalog_fixtures import Boxes

pytest_plugins = ["tests.providers.catalog_fixtures"]  # fixtures: sandbox, stripe_client (no conftest here)
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

NAMES = ["stripe.create_customer", "stripe.charge", "stripe.create_invoice", "stripe.refund", "stripe.send_invoice"]
SECOND_OBJECT: dict[str, tuple[str, Any]] = {
    "stripe.create_customer": ("/v1/customers", lambda p: {"email": p.email}),
    "stripe.charge": ("/v1/payment_intents", lambda p: {"amount": "100", "currency": "usd", "customer": p.customer}),
    "stripe.create_invoice": ("/v1/invoices", lambda p: {"customer": p.customer}),
    "stripe.refund": ("/v1/refunds", lambda p: {"payment_intent": p.payment_intent, "amount": "100"}),
}
"""How somebody else would make a second object where the action's `find_all` looks."""


def kit_of(client: StripeClient, name: str) -> KeyedAction[Any, Any]:
    action = next(action for action in stripe_actions(client) if action.name == name)
    assert isinstance(action.kit, KeyedAction) and action.kit.action().name == name
    return action.kit



async def test_each_action_offers_the_hooks_its_kind_allows(stripe_client: StripeClient) -> None:
    kits = {name: kit_of(stripe_client, name) for name in NAMES}
    assert all(kit.offers("example") for kit in kits.values())
    assert {name for name, kit in kits.items() if kit.offers("find_all")} == set(SECOND_OBJECT)
    assert {name for name, kit in kits.items() if kit.offers("tamper")} == {"stripe.charge", "stripe.create_invoice"}


@pytest.mark.parametrize("name", NAMES)
async def test_the_example_verifies_and_find_all_sees_one_object(
    stripe_client: StripeClient, sandbox: Boxes, name: str
) -> None:
    kit = kit_of(stripe_client, name)
    params = await kit.example()
    keys = new_keys(name)

    result = await kit.forward(params, keys)

    assert result["ref"].startswith("stripe:")
    assert [found["id"] for found in await kit.find_all(params, keys.forward)] == [result["id"]]
    if name in SECOND_OBJECT:  # a duplicate carrying the key would show
        path, body = SECOND_OBJECT[name]
        made = sandbox.stripe.raw.post(path, data={**body(params), "metadata[pivot_key]": keys.forward})
        assert made.status_code == 200, made.text
        assert len(await kit.find_all(params, keys.forward)) == 2


async def tampered(client: StripeClient, name: str) -> tuple[KeyedAction[Any, Any], Any, StepKeys, JsonDict]:
    """The action's example written, then changed by a third party (`tamper`) before any undo."""
    kit = kit_of(client, name)
    params, keys, result = await written_then_tampered(kit, name)
    return kit, params, keys, result


async def test_a_paid_invoice_makes_the_undo_refuse(stripe_client: StripeClient, sandbox: Boxes) -> None:
    kit, params, keys, result = await tampered(stripe_client, "stripe.create_invoice")

    with pytest.raises(CompensationConflict):
        await kit.compensate(params, keys, result)

    assert sandbox.stripe.effects(op="void") == []
    assert sandbox.stripe.raw.get(f"/v1/invoices/{result['id']}").json()["status"] == "paid"


async def test_a_part_refunded_charge_is_undone_by_refunding_only_the_rest(
    stripe_client: StripeClient, sandbox: Boxes
) -> None:
    kit, params, keys, result = await tampered(stripe_client, "stripe.charge")

    first = await kit.compensate(params, keys, result)
    second = await kit.compensate(params, keys, None)

    assert (first.state, second.state) == ("compensated", "compensated")
    refunds = [(e["detail"]["amount"], e["idempotency_key"]) for e in sandbox.stripe.effects(obj="refund")]
    theirs = result["amount_received"] // 3
    assert refunds == [(theirs, f"conformance-tamper-{result['id']}"),
                       (result["amount_received"] - theirs, keys.compensation)]


@pytest.mark.parametrize(("name", "noun", "undone"), [
    ("stripe.create_customer", "customer", "Stripe customer {id} is deleted"),
    ("stripe.create_invoice", "invoice", "invoice {number} is void"),
])
async def test_a_second_undo_reads_the_object_by_id_and_finds_it_undone(
    stripe_client: StripeClient, sandbox: Boxes, name: str, noun: str, undone: str
) -> None:
    """Stripe lists no deleted customer: only the read by the id the result names still shows it."""
    kit = kit_of(stripe_client, name)
    params = await kit.example()
    keys = new_keys(name)
    result = await kit.forward(params, keys)

    first = await kit.compensate(params, keys, None)  # the forward's answer was lost: found by key
    again = await kit.compensate(params, keys, result)

    assert (first.state, again.state) == ("compensated", "compensated")
    assert again.detail == undone.format(**result)
    assert (await kit.compensate(params, new_keys(name), None)).detail == f"Stripe holds no {noun} for this step"
