"""Every Salesforce and Shopify action is a kit action (`pivot.kit.KeyedAction`) whose conformance
hooks work against its sandbox, as `pivot conformance` will use them: `example()` gives params
that verify through `forward` (prerequisites made through the client), `find_all` sees exactly one
object (or group) carrying the step's key, even after a replay, and where the undo is conditional
`tamper` changes the object as a person would, so that the undo refuses (`CompensationConflict`)
instead of overwriting it. Elsewhere the undo, delivered twice, is one undo that the action's own
lookup then shows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pivot.compensations.actions import Action
from pivot.compensations.errors import CompensationConflict
from pivot.compensations.keys import StepKeys
from pivot.compensations.kinds import StepKind
from pivot.compensations.kit import KeyedAction
from pivot.providers.http import Endpoint
from pivot.providers.salesforce.actions import salesforce_actions
from pivot.providers.salesforce.client import SalesforceClient
from pivot.providers.shopify.actions import shopify_actions
from pivot.providers.shopify.client import ShopifyClient
from tests.sandbox.process import SALESFORCE_TOKEN, SHOPIFY_TOKEN, SandboxProcess, running_sandboxes

ACTIONS = {
    "salesforce.create_record", "salesforce.create_records_atomic", "salesforce.update_record",
    "salesforce.upsert_record", "shopify.create_draft_order", "shopify.complete_draft_order",
    "shopify.cancel_order", "shopify.refund", "shopify.reserve_inventory", "shopify.create_fulfillment",
}
TAMPERED = {"salesforce.update_record", "shopify.create_draft_order", "shopify.complete_draft_order",
            "shopify.reserve_inventory", "shopify.create_fulfillment"}
"""The actions whose undo is conditional: a third party's change makes it refuse, or (`after_tamper`
"undone": a fulfillment the merchant cancelled) leaves nothing of the saga's to undo."""


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[SandboxProcess]:
    with running_sandboxes(("salesforce", "shopify")) as server:
        yield server
        code = server.stop()
        assert code == 0, f"the sandboxes exited with {code}:\n{server.stderr()}"


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIVOT_TEST_SALESFORCE_TOKEN", SALESFORCE_TOKEN)
    monkeypatch.setenv("PIVOT_TEST_SHOPIFY_TOKEN", SHOPIFY_TOKEN)


async def catalog(server: SandboxProcess) -> tuple[list[Action], list[Any]]:
    """Both providers' actions over clients bound to the sandboxes (and the clients, to close)."""
    salesforce = SalesforceClient(Endpoint("salesforce", server.urls["salesforce"], "PIVOT_TEST_SALESFORCE_TOKEN",
                                           timeout_s=5, label="Salesforce"))
    shopify = ShopifyClient(Endpoint("shopify", server.urls["shopify"], "PIVOT_TEST_SHOPIFY_TOKEN", timeout_s=5,
                                     label="Shopify"))
    return [*salesforce_actions(salesforce), *shopify_actions(shopify)], [salesforce.http, shopify]


async def hooks_hold(action: Action) -> None:
    kit = action.kit
    assert isinstance(kit, KeyedAction) and kit.action().name == action.name
    assert kit.offers("example") and kit.offers("tamper") == (action.name in TAMPERED)
    keys = StepKeys.derive(f"kit-{uuid.uuid4().hex[:12]}", "step", action.name)
    params = await kit.example()
    result = await action.forward(params, keys)
    assert result["ref"].startswith(f"{action.provider}:"), result
    await action.forward(params, keys)  # a replay of the step (its answer lost) finds what it wrote
    found = await kit.find_all(params, keys.forward)
    assert len(found) == 1, found
    if action.kind is not StepKind.COMPENSABLE:
        return
    assert action.compensate is not None
    if kit.offers("tamper"):
        current = await kit.lookup(params, keys.forward)
        assert current is not None
        await kit.tamper(params, current)
        if kit.after_tamper == "undone":
            assert (await action.compensate(params, keys, result)).state == "compensated"
            return
        with pytest.raises(CompensationConflict):
            await action.compensate(params, keys, result)
        return
    first = await action.compensate(params, keys, result)
    again = await action.compensate(params, keys, result)  # delivered twice
    assert (first.state, again.state) == ("compensated", "compensated")
    assert "already undone" in again.detail
    undone = await kit.recall(params, keys.forward, result)
    assert undone is not None and kit.is_undone(undone)


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_the_actions_conformance_hooks_work_against_the_sandbox(
    sandboxes: SandboxProcess, credentials: None, name: str
) -> None:
    async def scenario() -> None:
        actions, clients = await catalog(sandboxes)
        try:
            assert {action.name for action in actions} == ACTIONS
            await hooks_hold(next(action for action in actions if action.name == name))
        finally:
            for client in clients:
                await client.aclose()

    asyncio.run(scenario())
