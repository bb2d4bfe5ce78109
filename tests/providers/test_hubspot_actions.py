"""The HubSpot catalog actions against the HubSpot sandbox: deals, property updates with a
conditional restore, batch creates keyed per input, 409 and 429 handling."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from pivot.compensations.actions import Action, CompensationReport, JsonDict
from pivot.compensations.errors import CompensationConflict, ProviderRejected, ProviderUnavailable
from pivot.compensations.keys import StepKeys
from pivot.providers.hubspot.actions import hubspot_actions
from pivot.providers.hubspot.client import HubSpotClient
from tests.providers.step_keys import new_keys

if TYPE_CHECKING:
    from tests.providers.catalog_fixtures import Boxes

pytest_plugins = ["tests.providers.catalog_fixtures"]  # fixtures: sandbox, *_client (no conftest here)
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]



DEAL = {"dealname": "Pivot pilot", "amount": "1500.00", "dealstage": "qualifiedtobuy"}


class Catalog:
    def __init__(self, client: HubSpotClient):
        self.actions: dict[str, Action] = {action.name: action for action in hubspot_actions(client)}

    async def forward(self, name: str, params: dict[str, Any], keys: StepKeys) -> JsonDict:
        action = self.actions[name]
        return await action.forward(action.params.model_validate(params), keys)

    async def compensate(self, name: str, params: dict[str, Any], keys: StepKeys,
                         result: JsonDict | None) -> CompensationReport:
        action = self.actions[name]
        assert action.compensate is not None
        return await action.compensate(action.params.model_validate(params), keys, result)


@pytest.fixture
def hubspot(hubspot_client: HubSpotClient) -> Catalog:
    return Catalog(hubspot_client)


def create_contact_directly(sandbox: Boxes, **properties: str) -> str:
    response = sandbox.hubspot.raw.post("/crm/v3/objects/contacts", json={"properties": properties})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def properties_of(sandbox: Boxes, object_type: str, object_id: str, *names: str) -> dict[str, Any]:
    response = sandbox.hubspot.raw.get(f"/crm/v3/objects/{object_type}/{object_id}",
                                         params={"properties": ",".join(names)})
    response.raise_for_status()
    return {name: response.json()["properties"].get(name) for name in names}


# --------------------------------------------------------------------------- create_deal


async def test_create_deal_reads_back_and_a_rerun_writes_nothing(hubspot: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("hubspot.create_deal")
    first = await hubspot.forward("hubspot.create_deal", DEAL, keys)
    again = await hubspot.forward("hubspot.create_deal", DEAL, keys)

    assert first == again and first["ref"] == f"hubspot:deal/{first['id']}"
    assert (first["dealname"], first["amount"], first["pipeline"]) == ("Pivot pilot", "1500.00", "default")
    assert [(e["op"], e["idempotency_key"]) for e in sandbox.hubspot.effects(obj="deal")] == [
        ("create", keys.forward)
    ]


async def test_create_deal_after_a_lost_answer_is_found_by_key(hubspot: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("hubspot.create_deal")
    sandbox.hubspot.lost_answer("POST", "/crm/v3/objects/deals")
    with pytest.raises(ProviderUnavailable) as lost:
        await hubspot.forward("hubspot.create_deal", DEAL, keys)
    assert lost.value.ambiguous

    result = await hubspot.forward("hubspot.create_deal", DEAL, keys)

    assert [e["id"] for e in sandbox.hubspot.effects(op="create", obj="deal")] == [result["id"]]


async def test_archive_deal_is_idempotent_even_without_the_result(hubspot: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("hubspot.create_deal")
    result = await hubspot.forward("hubspot.create_deal", DEAL, keys)

    first = await hubspot.compensate("hubspot.create_deal", DEAL, keys, None)
    rerun = await hubspot.compensate("hubspot.create_deal", DEAL, keys, result)
    never = await hubspot.compensate("hubspot.create_deal", DEAL, new_keys("hubspot.create_deal"), None)

    assert (first.state, rerun.state, never.state) == ("compensated", "compensated", "nothing_to_undo")
    assert [e["id"] for e in sandbox.hubspot.effects(op="archive")] == [result["id"]]


async def test_an_email_taken_by_someone_else_is_terminal(hubspot: Catalog, sandbox: Boxes) -> None:
    existing = create_contact_directly(sandbox, email="taken@example.com")
    with pytest.raises(ProviderRejected) as taken:
        await hubspot.forward("hubspot.create_contact", {"email": "taken@example.com"},
                              new_keys("hubspot.create_contact"))
    assert taken.value.info.code == "contact_exists"
    assert taken.value.info.detail == {"existing_id": existing}


# --------------------------------------------------------------------------- update_properties


def update_params(contact_id: str, **properties: str | None) -> dict[str, Any]:
    return {"object_type": "contacts", "object_id": contact_id, "properties": properties}


async def test_update_then_restore_and_a_rerun_restores_nothing_twice(hubspot: Catalog, sandbox: Boxes) -> None:
    contact = create_contact_directly(sandbox, email="u@example.com", firstname="Ada", company="Analytical")
    keys = new_keys("hubspot.update_properties")
    params = update_params(contact, firstname="Augusta", company=None, jobtitle="Countess")

    result = await hubspot.forward("hubspot.update_properties", params, keys)

    assert result["before"] == {"firstname": "Ada", "company": "Analytical", "jobtitle": None}
    assert result["after"] == {"firstname": "Augusta", "company": None, "jobtitle": "Countess"}
    assert properties_of(sandbox, "contacts", contact, "firstname", "company", "jobtitle") == result["after"]
    first = await hubspot.compensate("hubspot.update_properties", params, keys, result)
    rerun = await hubspot.compensate("hubspot.update_properties", params, keys, None)
    assert (first.state, rerun.state) == ("compensated", "compensated")
    assert properties_of(sandbox, "contacts", contact, "firstname", "company", "jobtitle") == result["before"]
    assert len(sandbox.hubspot.effects(op="update")) == 2  # the update and one restore


async def test_a_lost_update_answer_keeps_the_true_before_image(hubspot: Catalog, sandbox: Boxes) -> None:
    """The replay re-reads the saga's own values; the stamp written with them keeps the real past."""
    contact = create_contact_directly(sandbox, email="l@example.com", firstname="Ada")
    keys = new_keys("hubspot.update_properties")
    params = update_params(contact, firstname="Augusta")
    sandbox.hubspot.lost_answer("PATCH", f"/crm/v3/objects/contacts/{contact}")
    with pytest.raises(ProviderUnavailable):
        await hubspot.forward("hubspot.update_properties", params, keys)
    assert properties_of(sandbox, "contacts", contact, "firstname") == {"firstname": "Augusta"}

    result = await hubspot.forward("hubspot.update_properties", params, keys)

    assert result["before"] == {"firstname": "Ada"}
    assert len(sandbox.hubspot.effects(op="update")) == 1  # the replay wrote nothing
    report = await hubspot.compensate("hubspot.update_properties", params, keys, result)
    assert report.state == "compensated"
    assert properties_of(sandbox, "contacts", contact, "firstname") == {"firstname": "Ada"}


async def test_restore_without_a_result_uses_the_stamp(hubspot: Catalog, sandbox: Boxes) -> None:
    contact = create_contact_directly(sandbox, email="s@example.com", lastname="Byron")
    keys = new_keys("hubspot.update_properties")
    params = update_params(contact, lastname="King")
    await hubspot.forward("hubspot.update_properties", params, keys)

    report = await hubspot.compensate("hubspot.update_properties", params, keys, None)

    assert report.state == "compensated"
    assert properties_of(sandbox, "contacts", contact, "lastname") == {"lastname": "Byron"}
    stamp = json.loads(properties_of(sandbox, "contacts", contact, "pivot_undo")["pivot_undo"])
    assert stamp == {"k": keys.forward, "b": {"lastname": "Byron"}, "u": keys.compensation}


async def test_restore_is_a_conflict_when_someone_changed_a_field_after_the_saga(
    hubspot: Catalog, sandbox: Boxes
) -> None:
    contact = create_contact_directly(sandbox, email="c@example.com", firstname="Ada", lastname="Byron")
    keys = new_keys("hubspot.update_properties")
    params = update_params(contact, firstname="Augusta", lastname="King")
    result = await hubspot.forward("hubspot.update_properties", params, keys)
    sandbox.hubspot.raw.patch(f"/crm/v3/objects/contacts/{contact}",
                                json={"properties": {"lastname": "Lovelace"}}).raise_for_status()

    with pytest.raises(CompensationConflict) as conflict:
        await hubspot.compensate("hubspot.update_properties", params, keys, result)

    assert conflict.value.info.detail == {"expected": {"lastname": "King"}, "current": {"lastname": "Lovelace"}}
    assert properties_of(sandbox, "contacts", contact, "firstname", "lastname") == {
        "firstname": "Augusta", "lastname": "Lovelace"}  # nothing restored, not even the untouched field
    assert len(sandbox.hubspot.effects(op="update")) == 2  # the saga's update and the other person's


async def test_an_update_that_changed_nothing_restores_nothing(hubspot: Catalog, sandbox: Boxes) -> None:
    contact = create_contact_directly(sandbox, email="n@example.com", firstname="Ada")
    keys = new_keys("hubspot.update_properties")
    params = update_params(contact, firstname="Ada")
    result = await hubspot.forward("hubspot.update_properties", params, keys)

    report = await hubspot.compensate("hubspot.update_properties", params, keys, result)

    assert result["before"] == result["after"] == {"firstname": "Ada"}
    assert report.state == "compensated" and len(sandbox.hubspot.effects(op="update")) == 1


async def test_reserved_properties_cannot_be_updated(hubspot: Catalog) -> None:
    action = hubspot.actions["hubspot.update_properties"]
    with pytest.raises(ValueError, match="pivot_key"):
        action.params.model_validate(update_params("1", pivot_key="pv1_x"))


# --------------------------------------------------------------------------- batch_create


def batch(count: int) -> dict[str, Any]:
    return {"object_type": "contacts",
            "inputs": [{"properties": {"email": f"b{i}@example.com", "firstname": f"B{i}"}} for i in range(count)]}


async def test_batch_create_keys_each_input_and_a_rerun_creates_nothing(hubspot: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("hubspot.batch_create")
    result = await hubspot.forward("hubspot.batch_create", batch(3), keys)
    again = await hubspot.forward("hubspot.batch_create", batch(3), keys)

    assert result == again and result["count"] == 3
    created = sandbox.hubspot.effects(op="create")
    assert [e["idempotency_key"] for e in created] == [keys.sub(str(i)) for i in range(3)]
    assert [e["id"] for e in created] == result["ids"]


async def test_batch_create_after_a_lost_answer_creates_only_the_missing(hubspot: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("hubspot.batch_create")
    params = batch(3)
    # Input 1 already exists under its key (an earlier attempt got that far), and the next batch
    # create lands but its answer is lost.
    create_contact_directly(sandbox, **params["inputs"][1]["properties"], pivot_key=keys.sub("1"))
    sandbox.hubspot.lost_answer("POST", "/crm/v3/objects/contacts/batch/create")
    with pytest.raises(ProviderUnavailable):
        await hubspot.forward("hubspot.batch_create", params, keys)

    result = await hubspot.forward("hubspot.batch_create", params, keys)

    assert result["count"] == 3
    assert sorted(e["idempotency_key"] for e in sandbox.hubspot.effects(op="create")) == sorted(
        keys.sub(str(i)) for i in range(3))
    batch_creates = sandbox.hubspot.requests("/crm/v3/objects/contacts/batch/create")
    assert [len(json.loads(r["body"])["inputs"]) for r in batch_creates] == [2]  # only inputs 0 and 2


async def test_batch_archive_is_idempotent(hubspot: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("hubspot.batch_create")
    result = await hubspot.forward("hubspot.batch_create", batch(2), keys)

    first = await hubspot.compensate("hubspot.batch_create", batch(2), keys, result)
    rerun = await hubspot.compensate("hubspot.batch_create", batch(2), keys, None)

    assert (first.state, rerun.state) == ("compensated", "compensated")
    assert "2 already archived" in rerun.detail
    assert sorted(e["id"] for e in sandbox.hubspot.effects(op="archive")) == sorted(result["ids"])


async def test_batch_with_an_email_someone_else_holds_is_terminal(hubspot: Catalog, sandbox: Boxes) -> None:
    create_contact_directly(sandbox, email="b1@example.com")
    with pytest.raises(ProviderRejected) as taken:
        await hubspot.forward("hubspot.batch_create", batch(3), new_keys("hubspot.batch_create"))
    assert taken.value.info.code == "already_exists"
    assert len(sandbox.hubspot.effects(op="create")) == 1  # only the other person's contact


async def test_batch_of_more_than_100_inputs_is_refused_by_the_params(hubspot: Catalog) -> None:
    with pytest.raises(ValueError, match="at most 100"):
        hubspot.actions["hubspot.batch_create"].params.model_validate(batch(101))


# --------------------------------------------------------------------------- rate limits


async def test_429_waits_as_hubspots_policy_says_not_as_retry_after(hubspot: Catalog, sandbox: Boxes) -> None:
    sandbox.hubspot.fault(method="GET", path="/crm/v3/objects/deals/*", action="rate_limit", retry_after=2,
                            times=1)
    with pytest.raises(ProviderUnavailable) as limited:
        await hubspot.forward("hubspot.create_deal", DEAL, new_keys("hubspot.create_deal"))
    assert limited.value.retry_after_s == 10.0  # TEN_SECONDLY_ROLLING, 10 000 ms window
    assert "TEN_SECONDLY_ROLLING" in limited.value.message
    assert sandbox.hubspot.effects() == []


async def test_a_daily_limit_waits_the_longest_the_layer_allows(hubspot: Catalog, sandbox: Boxes) -> None:
    body = {"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
            "category": "RATE_LIMITS", "policyName": "DAILY", "correlationId": "x"}
    sandbox.hubspot.fault(method="GET", path="/crm/v3/objects/deals/*", action="error", status=429, body=body,
                            times=1)
    with pytest.raises(ProviderUnavailable) as limited:
        await hubspot.forward("hubspot.create_deal", DEAL, new_keys("hubspot.create_deal"))
    assert limited.value.retry_after_s == 300.0
