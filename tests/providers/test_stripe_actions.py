"""The Stripe catalog actions against the Stripe sandbox: forward + read-back, exactly-once after a
lost answer, idempotent compensations, and the no-isolation cases (refunds never exceed what is
still refundable; an invoice paid meanwhile is a conflict, never a void)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

from pivot.compensations.actions import Action, CompensationReport, JsonDict
from pivot.compensations.errors import CompensationConflict, ProviderRejected, ProviderUnavailable
from pivot.compensations.keys import StepKeys
from pivot.compensations.kinds import StepKind
from pivot.providers.stripe.actions import stripe_actions
from pivot.providers.stripe.client import StripeClient, refuse_settled_failures
from pivot.providers.stripe.sandbox import SEED_CUSTOMER_ID
from tests.providers.step_keys import new_keys

if TYPE_CHECKING:
    from tests.providers.catalog_fixtures import Boxes

pytest_plugins = ["tests.providers.catalog_fixtures"]  # fixtures: sandbox, *_client (no conftest here)
pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("anyio_backend", ["asyncio"])]



CUSTOMER = SEED_CUSTOMER_ID


class Catalog:
    """The Stripe actions bound to one client, called the way the engine calls them."""

    def __init__(self, client: StripeClient):
        self.actions = {action.name: action for action in stripe_actions(client)}

    def __getitem__(self, name: str) -> Action:
        return self.actions[name]

    async def forward(self, name: str, params: dict[str, Any], keys: StepKeys) -> JsonDict:
        action = self.actions[name]
        return await action.forward(action.params.model_validate(params), keys)

    async def compensate(self, name: str, params: dict[str, Any], keys: StepKeys,
                         result: JsonDict | None) -> CompensationReport:
        action = self.actions[name]
        assert action.compensate is not None
        return await action.compensate(action.params.model_validate(params), keys, result)


@pytest.fixture
def stripe(stripe_client: StripeClient) -> Catalog:
    return Catalog(stripe_client)


def charge_params(amount: int = 5000, payment_method: str = "pm_card_visa") -> dict[str, Any]:
    return {"amount": amount, "currency": "usd", "customer": CUSTOMER, "payment_method": payment_method}


LINE = {"amount": 12000, "currency": "usd", "description": "Pro plan"}
INVOICE: dict[str, Any] = {"customer": CUSTOMER, "lines": [LINE]}


async def test_catalog_entries_declare_kind_pivot_and_compensation(stripe_client: StripeClient) -> None:
    table = {a.name: a for a in stripe_actions(stripe_client)}
    assert {name: (a.kind, a.pivot_eligible, a.compensate is not None) for name, a in table.items()} == {
        "stripe.create_customer": (StepKind.COMPENSABLE, False, True),
        "stripe.charge": (StepKind.COMPENSABLE, True, True),
        "stripe.create_invoice": (StepKind.COMPENSABLE, True, True),
        "stripe.refund": (StepKind.RETRYABLE, False, False),
        "stripe.send_invoice": (StepKind.NONCOMPENSABLE, False, False),
    }
    assert "conflict" in table["stripe.create_invoice"].compensation.lower()


# --------------------------------------------------------------------------- create_customer


async def test_create_customer_reads_back_and_a_rerun_writes_nothing(stripe: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("stripe.create_customer")
    params = {"email": "grace@example.com", "name": "Grace Hopper"}
    first = await stripe.forward("stripe.create_customer", params, keys)
    again = await stripe.forward("stripe.create_customer", params, keys)

    assert first == again
    assert first["ref"] == f"stripe:customer/{first['id']}" and first["email"] == "grace@example.com"
    creates = sandbox.stripe.effects(op="create", obj="customer")
    assert [(e["id"], e["idempotency_key"]) for e in creates] == [(first["id"], keys.forward)]


async def test_create_customer_after_a_lost_answer_is_found_not_repeated(stripe: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("stripe.create_customer")
    params = {"email": "lost@example.com", "name": "Lost Answer"}
    rule = sandbox.stripe.lost_answer("POST", "/v1/customers")
    with pytest.raises(ProviderUnavailable) as lost:
        await stripe.forward("stripe.create_customer", params, keys)
    assert lost.value.ambiguous

    result = await stripe.forward("stripe.create_customer", params, keys)

    assert sandbox.stripe.hits(rule) == 1
    assert [e["id"] for e in sandbox.stripe.effects(op="create", obj="customer")] == [result["id"]]


async def test_delete_customer_is_idempotent_with_or_without_the_result(stripe: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("stripe.create_customer")
    params = {"email": "del@example.com", "name": "To Delete"}
    result = await stripe.forward("stripe.create_customer", params, keys)

    lost = await stripe.compensate("stripe.create_customer", params, keys, None)  # found by email + key
    rerun = await stripe.compensate("stripe.create_customer", params, keys, result)

    assert (lost.state, rerun.state) == ("compensated", "compensated")
    assert [e["id"] for e in sandbox.stripe.effects(op="delete", obj="customer")] == [result["id"]]
    other = await stripe.compensate("stripe.create_customer", params, new_keys("stripe.create_customer"), None)
    assert other.state == "nothing_to_undo"


# --------------------------------------------------------------------------- charge


async def test_charge_creates_and_confirms_with_one_key_per_endpoint(stripe: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("stripe.charge")
    result = await stripe.forward("stripe.charge", charge_params(), keys)

    assert (result["status"], result["amount"], result["amount_received"]) == ("succeeded", 5000, 5000)
    assert result["ref"] == f"stripe:payment_intent/{result['id']}"
    ops = [(e["op"], e["idempotency_key"]) for e in sandbox.stripe.effects(key_prefix=keys.forward)]
    assert ops == [("create", keys.forward), ("confirm", keys.sub("confirm"))]


async def test_charge_after_a_lost_confirm_answer_charges_once(stripe: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("stripe.charge")
    sandbox.stripe.lost_answer("POST", "/v1/payment_intents/*/confirm")
    with pytest.raises(ProviderUnavailable):
        await stripe.forward("stripe.charge", charge_params(), keys)

    result = await stripe.forward("stripe.charge", charge_params(), keys)

    assert result["status"] == "succeeded"
    assert [e["op"] for e in sandbox.stripe.effects(obj="payment_intent")] == ["create", "confirm"]


async def test_a_declined_card_is_terminal_and_never_retried_into_a_charge(
    stripe: Catalog, sandbox: Boxes
) -> None:
    keys = new_keys("stripe.charge")
    params = charge_params(payment_method="pm_card_chargeDeclined")
    for _ in range(2):  # the engine's retry of a step would look exactly like this
        with pytest.raises(ProviderRejected) as declined:
            await stripe.forward("stripe.charge", params, keys)
        assert declined.value.info.code == "card_declined"
        assert declined.value.info.detail is not None and declined.value.info.detail["decline_code"]

    assert [e["op"] for e in sandbox.stripe.effects(obj="payment_intent")] == ["create", "confirm"]
    first = await stripe.compensate("stripe.charge", params, keys, None)
    second = await stripe.compensate("stripe.charge", params, keys, None)
    assert "canceled" in first.detail and (first.state, second.state) == ("compensated", "compensated")
    assert len(sandbox.stripe.effects(op="cancel")) == 1
    assert sandbox.stripe.effects(obj="refund") == []


async def test_undo_charge_refunds_once_under_the_compensation_key(stripe: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("stripe.charge")
    result = await stripe.forward("stripe.charge", charge_params(), keys)

    first = await stripe.compensate("stripe.charge", charge_params(), keys, result)
    rerun = await stripe.compensate("stripe.charge", charge_params(), keys, None)

    assert (first.state, rerun.state) == ("compensated", "compensated")
    refunds = sandbox.stripe.effects(obj="refund")
    assert [(e["detail"]["amount"], e["idempotency_key"]) for e in refunds] == [(5000, keys.compensation)]


async def test_undo_charge_refunds_only_what_someone_else_left_refundable(
    stripe: Catalog, sandbox: Boxes
) -> None:
    keys = new_keys("stripe.charge")
    result = await stripe.forward("stripe.charge", charge_params(5000), keys)
    other = sandbox.stripe.raw.post("/v1/refunds", data={"payment_intent": result["id"], "amount": "1500"})
    assert other.status_code == 200, other.text

    report = await stripe.compensate("stripe.charge", charge_params(5000), keys, result)
    rerun = await stripe.compensate("stripe.charge", charge_params(5000), keys, result)

    amounts = [e["detail"]["amount"] for e in sandbox.stripe.effects(obj="refund")]
    assert amounts == [1500, 3500] and sum(amounts) == result["amount_received"]
    assert "35.00 USD" in report.detail and rerun.state == "compensated"
    charge = sandbox.stripe.raw.get(f"/v1/charges/{result['latest_charge']}").json()
    assert (charge["amount_refunded"], charge["refunded"]) == (5000, True)


async def test_undo_of_a_charge_someone_fully_refunded_refunds_nothing(stripe: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("stripe.charge")
    result = await stripe.forward("stripe.charge", charge_params(), keys)
    sandbox.stripe.raw.post("/v1/refunds", data={"payment_intent": result["id"]}).raise_for_status()

    report = await stripe.compensate("stripe.charge", charge_params(), keys, result)

    assert report.state == "compensated" and "already fully refunded" in report.detail
    assert len(sandbox.stripe.effects(obj="refund")) == 1


async def test_undo_of_a_charge_that_never_happened_is_nothing_to_undo(stripe: Catalog) -> None:
    report = await stripe.compensate("stripe.charge", charge_params(), new_keys("stripe.charge"), None)
    assert report.state == "nothing_to_undo"


# --------------------------------------------------------------------------- refund (retryable)


async def test_refund_reads_back_and_survives_a_lost_answer(stripe: Catalog, sandbox: Boxes) -> None:
    charge = await stripe.forward("stripe.charge", charge_params(4000), new_keys("stripe.charge"))
    keys = new_keys("stripe.refund")
    params = {"payment_intent": charge["id"], "amount": 2500}
    sandbox.stripe.lost_answer("POST", "/v1/refunds")
    with pytest.raises(ProviderUnavailable):
        await stripe.forward("stripe.refund", params, keys)

    result = await stripe.forward("stripe.refund", params, keys)

    assert (result["amount"], result["status"], result["payment_intent"]) == (2500, "succeeded", charge["id"])
    assert [e["idempotency_key"] for e in sandbox.stripe.effects(obj="refund")] == [keys.forward]


async def test_refund_beyond_the_refundable_balance_is_refused(stripe: Catalog, sandbox: Boxes) -> None:
    charge = await stripe.forward("stripe.charge", charge_params(1000), new_keys("stripe.charge"))
    with pytest.raises(ProviderRejected) as refused:
        await stripe.forward("stripe.refund", {"payment_intent": charge["id"], "amount": 1001},
                             new_keys("stripe.refund"))
    assert refused.value.info.code == "amount_too_large"
    assert sandbox.stripe.effects(obj="refund") == []


# --------------------------------------------------------------------------- invoices


async def test_void_of_an_invoice_paid_meanwhile_is_a_conflict_and_changes_nothing(
    stripe: Catalog, sandbox: Boxes
) -> None:
    keys = new_keys("stripe.create_invoice")
    result = await stripe.forward("stripe.create_invoice", INVOICE, keys)
    paid = sandbox.stripe.raw.post(f"/v1/invoices/{result['id']}/pay", data={"paid_out_of_band": "true"})
    assert paid.status_code == 200, paid.text

    with pytest.raises(CompensationConflict) as conflict:
        await stripe.compensate("stripe.create_invoice", INVOICE, keys, result)

    detail = conflict.value.info.detail or {}
    assert detail["expected"] == {"status": "open"}
    assert detail["current"] == {"status": "paid", "amount_paid": 12000}
    assert sandbox.stripe.effects(op="void") == [] and sandbox.stripe.effects(obj="refund") == []
    assert sandbox.stripe.raw.get(f"/v1/invoices/{result['id']}").json()["status"] == "paid"


async def test_void_is_idempotent_and_finds_the_invoice_without_a_result(stripe: Catalog, sandbox: Boxes) -> None:
    keys = new_keys("stripe.create_invoice")
    result = await stripe.forward("stripe.create_invoice", INVOICE, keys)

    first = await stripe.compensate("stripe.create_invoice", INVOICE, keys, None)
    rerun = await stripe.compensate("stripe.create_invoice", INVOICE, keys, result)

    assert (first.state, rerun.state) == ("compensated", "compensated")
    assert [(e["id"], e["idempotency_key"]) for e in sandbox.stripe.effects(op="void")] == [
        (result["id"], keys.compensation)
    ]


async def test_send_invoice_emails_once_even_when_the_mark_fails(stripe: Catalog, sandbox: Boxes) -> None:
    invoice = await stripe.forward("stripe.create_invoice", INVOICE, new_keys("stripe.create_invoice"))
    keys = new_keys("stripe.send_invoice")
    sandbox.stripe.fault(method="POST", path=f"/v1/invoices/{invoice['id']}", action="error", status=500, times=1)
    with pytest.raises(ProviderUnavailable):  # sent, but the metadata mark failed
        await stripe.forward("stripe.send_invoice", {"invoice": invoice["id"]}, keys)

    result = await stripe.forward("stripe.send_invoice", {"invoice": invoice["id"]}, keys)
    again = await stripe.forward("stripe.send_invoice", {"invoice": invoice["id"]}, keys)

    assert result == again and result["sent"] is True and result["number"] == invoice["number"]
    assert [e["idempotency_key"] for e in sandbox.stripe.effects(op="send")] == [keys.forward]
    replays = [r for r in sandbox.stripe.requests(f"/v1/invoices/{invoice['id']}/send")
               if (r["response_headers"] or {}).get("idempotent-replayed") == "true"]
    assert len(replays) == 1  # the retry's send was Stripe's replay, not a second email


async def test_send_after_a_lost_answer_is_stripes_replay(stripe: Catalog, sandbox: Boxes) -> None:
    invoice = await stripe.forward("stripe.create_invoice", INVOICE, new_keys("stripe.create_invoice"))
    keys = new_keys("stripe.send_invoice")
    sandbox.stripe.lost_answer("POST", f"/v1/invoices/{invoice['id']}/send")
    with pytest.raises(ProviderUnavailable):
        await stripe.forward("stripe.send_invoice", {"invoice": invoice["id"]}, keys)

    result = await stripe.forward("stripe.send_invoice", {"invoice": invoice["id"]}, keys)

    assert result["sent"] is True
    assert [e["idempotency_key"] for e in sandbox.stripe.effects(op="send")] == [keys.forward]


async def test_send_of_a_draft_is_refused(stripe: Catalog, sandbox: Boxes) -> None:
    draft = sandbox.stripe.raw.post("/v1/invoices", data={"customer": CUSTOMER, "collection_method": "send_invoice",
                                                            "days_until_due": "30"}).json()
    with pytest.raises(ProviderRejected) as refused:
        await stripe.forward("stripe.send_invoice", {"invoice": draft["id"]}, new_keys("stripe.send_invoice"))
    assert refused.value.info.code == "invoice_not_editable"


# --------------------------------------------------------------------------- keys and replays


async def test_every_idempotency_key_is_used_on_exactly_one_endpoint(stripe: Catalog, sandbox: Boxes) -> None:
    invoice = await stripe.forward("stripe.create_invoice", {**INVOICE, "lines": [LINE, LINE]},
                                   new_keys("stripe.create_invoice"))
    await stripe.forward("stripe.send_invoice", {"invoice": invoice["id"]}, new_keys("stripe.send_invoice"))
    charge_keys = new_keys("stripe.charge")
    charge = await stripe.forward("stripe.charge", charge_params(), charge_keys)
    await stripe.compensate("stripe.charge", charge_params(), charge_keys, charge)

    paths_by_key: dict[str, set[str]] = {}
    for exchange in sandbox.stripe.requests():
        key = exchange["headers"].get("idempotency-key")
        if exchange["method"] == "POST":
            assert key, f"POST {exchange['path']} carried no Idempotency-Key"
            paths_by_key.setdefault(key, set()).add(exchange["path"])
    assert len(paths_by_key) >= 8
    assert {key: paths for key, paths in paths_by_key.items() if len(paths) > 1} == {}


async def test_idempotency_errors_are_classified(stripe_client: StripeClient, sandbox: Boxes) -> None:
    await stripe_client.post("/v1/customers", {"email": "a@example.com"}, idempotency_key="pv1_test_reuse")
    with pytest.raises(ProviderRejected) as mismatch:  # same key, other parameters: terminal
        await stripe_client.post("/v1/customers", {"email": "b@example.com"}, idempotency_key="pv1_test_reuse")
    assert mismatch.value.info.code == "idempotency_mismatch"

    in_use = {"error": {"type": "idempotency_error", "code": "idempotency_key_in_use",
                        "message": "There is currently another in-progress request using this Idempotent Key"}}
    sandbox.stripe.fault(method="POST", path="/v1/customers", action="error", status=409, body=in_use, times=1)
    with pytest.raises(ProviderUnavailable):  # another request with the key is in flight: transient
        await stripe_client.post("/v1/customers", {"email": "c@example.com"}, idempotency_key="pv1_test_busy")
    replay = await stripe_client.post("/v1/customers", {"email": "a@example.com"}, idempotency_key="pv1_test_reuse")
    assert replay["email"] == "a@example.com"
    assert len(sandbox.stripe.effects(op="create", obj="customer")) == 1


async def test_a_replayed_server_error_is_terminal_not_transient() -> None:
    """The response hook on its own (Stripe saves 500s; the sandbox has no way to produce one)."""
    request = httpx.Request("POST", "http://stripe.test/v1/refunds")
    replayed = httpx.Response(500, headers={"Idempotent-Replayed": "true"}, request=request, json={})
    with pytest.raises(ProviderRejected) as settled:
        await refuse_settled_failures(replayed)
    assert settled.value.info.code == "stripe_settled_failure"
    await refuse_settled_failures(httpx.Response(500, request=request, json={}))  # first answer: retryable
