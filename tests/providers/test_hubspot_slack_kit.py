"""The HubSpot and Slack actions as the action kit sees them, against the sandboxes: each is a
`KeyedAction`, and the hooks `pivot conformance` relies on work — an `example()` verifies through
`forward`, `find_all` finds one object after it (and two when there are two), `tamper` makes a
conditional undo refuse with `CompensationConflict`, and after an undo the lookup shows it undone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pivot.compensations.errors import CompensationConflict
from pivot.kit import KeyedAction, StepKind
from pivot.providers.hubspot.actions import hubspot_actions
from pivot.providers.hubspot.client import HubSpotClient
from pivot.providers.slack.actions import slack_actions
from pivot.providers.slack.client import SlackClient
from tests.providers.step_keys import new_keys, written_then_tampered

if TYPE_CHECKING:
    from tests.providers.catalog_fixtures import Boxes

pytest_plugins = ["tests.providers.catalog_fixtures"]  # fixtures: sandbox, *_client (no conftest here)
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]

ACTIONS = ["hubspot.create_contact", "hubspot.create_deal", "hubspot.update_properties", "hubspot.batch_create",
           "slack.post_message", "slack.update_message"]
TAMPERABLE = ["hubspot.update_properties", "slack.update_message"]
"""The actions whose undo is conditional: only they can be tampered with."""
COMPENSABLE = [name for name in ACTIONS if name != "slack.post_message"]

Kit = KeyedAction[Any, Any]



@pytest.fixture
def kits(hubspot_client: HubSpotClient, slack_client: SlackClient) -> dict[str, Kit]:
    return {action.name: action.kit for action in [*hubspot_actions(hubspot_client), *slack_actions(slack_client)]}


async def test_every_action_is_a_keyed_action_with_its_hooks(kits: dict[str, Kit]) -> None:
    assert sorted(kits) == sorted(ACTIONS)
    for name, kit in kits.items():
        assert isinstance(kit, KeyedAction), name
        assert (kit.offers("example"), kit.offers("tamper")) == (True, name in TAMPERABLE), name
    assert all(kits[name].kind is StepKind.COMPENSABLE for name in COMPENSABLE)


@pytest.mark.parametrize("name", ACTIONS)
async def test_an_example_verifies_and_is_found_exactly_once(kits: dict[str, Kit], sandbox: Boxes, name: str) -> None:
    kit = kits[name]
    params = await kit.example()
    assert await kit.example() != params  # unique per call: a second run never meets the first's object
    keys = new_keys(name)

    result = await kit.forward(params, keys)
    rerun = await kit.forward(params, keys)

    assert result == rerun and isinstance(result["ref"], str)
    assert len(await kit.find_all(params, keys.forward)) == 1


@pytest.mark.parametrize("name", TAMPERABLE)
async def test_a_tampered_object_makes_the_undo_refuse(kits: dict[str, Kit], sandbox: Boxes, name: str) -> None:
    kit = kits[name]
    params, keys, result = await written_then_tampered(kit, name)

    with pytest.raises(CompensationConflict):
        await kit.compensate(params, keys, result)
    with pytest.raises(CompensationConflict):  # without the forward result (its answer was lost): the same
        await kit.compensate(params, keys, None)


@pytest.mark.parametrize("name", COMPENSABLE)
async def test_after_the_undo_the_lookup_shows_it_undone_once(kits: dict[str, Kit], sandbox: Boxes,
                                                              name: str) -> None:
    kit = kits[name]
    params = await kit.example()
    keys = new_keys(name)
    result = await kit.forward(params, keys)

    first = await kit.compensate(params, keys, result)
    again = await kit.compensate(params, keys, None)

    assert (first.state, again.state) == ("compensated", "compensated")
    found = await kit.lookup(params, keys.forward)
    assert found is not None and kit.is_undone(found)
    assert again.detail == kit.already_undone(found)


async def test_find_all_sees_a_post_sent_twice(kits: dict[str, Kit], sandbox: Boxes) -> None:
    kit = kits["slack.post_message"]
    params = await kit.example()
    keys = new_keys("slack.post_message")
    await kit.forward(params, keys)
    twice = sandbox.slack.raw.post("/api/chat.postMessage", json={
        "channel": params.channel, "text": params.text,
        "metadata": {"event_type": "pivot_saga_step", "event_payload": {"pivot_key": keys.forward}}})
    assert twice.json()["ok"]

    assert len(await kit.find_all(params, keys.forward)) == 2


async def test_find_all_sees_a_contact_created_again_after_the_undo(kits: dict[str, Kit], sandbox: Boxes) -> None:
    kit = kits["hubspot.create_contact"]
    params = await kit.example()
    keys = new_keys("hubspot.create_contact")
    await kit.compensate(params, keys, await kit.forward(params, keys))
    again = sandbox.hubspot.raw.post("/crm/v3/objects/contacts", json={
        "properties": {"email": params.email, "pivot_key": keys.forward}})
    assert again.status_code == 201, again.text

    assert len(await kit.find_all(params, keys.forward)) == 2  # the archived one and the new one


async def test_find_all_sees_a_batch_input_created_again_after_the_undo(kits: dict[str, Kit],
                                                                       sandbox: Boxes) -> None:
    kit = kits["hubspot.batch_create"]
    params = await kit.example()
    keys = new_keys("hubspot.batch_create")
    await kit.compensate(params, keys, await kit.forward(params, keys))
    again = sandbox.hubspot.raw.post("/crm/v3/objects/contacts", json={
        "properties": {**params.inputs[1].properties, "pivot_key": keys.sub("1")}})
    assert again.status_code == 201, again.text

    assert len(await kit.find_all(params, keys.forward)) == 2
