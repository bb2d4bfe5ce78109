"""A model that re-mints a step id does not write twice, a repeat it means does write twice, and a
preview says what a step would do without doing it. Effects are proven with the sandboxes' ledgers."""

import uuid
from typing import Any

import pytest

from pivot.compensations.keys import compensation_key, forward_key
from pivot.compensations.validation import PlanRejected, validate_plan
from pivot.services.catalog import build_catalog
from pivot.services.client import PivotClient
from pivot.services.local.demo import DEMO_CHANNEL, flagship_plan
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes
from tests.test_open_sagas import ledgers, new_run

CONTACT, UPDATE, POST = "hubspot.create_contact", "hubspot.update_properties", "slack.post_message"
CHARGE = {"amount": 1200, "currency": "usd", "customer": "cus_9s6XKzkNRiz8i3", "payment_method": "pm_card_visa"}
REFUND = {"payment_intent": {"$from": "charge.id"}, "amount": 500}


def test_the_same_write_under_a_new_step_id_answers_the_first_and_writes_nothing(
    pivot: PivotClient, sandboxes: Sandboxes
) -> None:
    run_id, email = new_run("dup")
    first = pivot.step(run_id, "contact", CONTACT, {"email": email})
    again = pivot.step(run_id, "call_7Hq2", CONTACT, {"email": email})  # a model's retry, a fresh tool-call id

    assert again["step"]["duplicate_of"] == "contact" and again["step"]["id"] == "call_7Hq2"
    assert again["step"]["ref"] == first["step"]["ref"] and again["step"]["state"] == "verified"
    assert [s["id"] for s in again["saga"]["steps"]] == ["contact"]  # nothing recorded under the new id
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]
    assert sandboxes.ops("hubspot", run_id, "call_7Hq2", CONTACT) == []
    assert pivot.step(run_id, "call_7Hq2", CONTACT, {"email": email})["step"]["duplicate_of"] == "contact"

    # The same write with a `$from` swapped for the value it names is the same write too.
    contact_id = first["step"]["result"]["id"]
    props = {"object_type": "contacts", "properties": {"firstname": "Ada"}}
    assert pivot.step(run_id, "name", UPDATE, {**props, "object_id": {"$from": "contact.id"}})["step"]["state"] == (
        "verified")
    written = len(sandboxes.ledger("hubspot"))
    literal = pivot.step(run_id, "name-again", UPDATE, {**props, "object_id": contact_id})
    assert literal["step"]["duplicate_of"] == "name"
    assert len(sandboxes.ledger("hubspot")) == written  # the update was not made again
    assert pivot.abort(run_id)["status"] == "compensated"


def test_a_deferred_message_asked_twice_is_sent_once(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    """The classic double announcement: the post waits for commit, and its twin answers it."""
    run_id, email = new_run("dup-post")
    pivot.step(run_id, "contact", CONTACT, {"email": email})
    text = {"channel": DEMO_CHANNEL, "text": {"$template": "Welcome {contact.email}"}}
    assert pivot.step(run_id, "announce", POST, text)["step"]["state"] == "deferred"
    twin = pivot.step(run_id, "announce-2", POST, text)
    assert twin["step"]["duplicate_of"] == "announce" and twin["step"]["state"] == "deferred"

    outcome = pivot.commit(run_id)
    assert outcome["status"] == "committed"
    posted = [m for m in sandboxes.ledger("slack") if (m.get("idempotency_key") or "").startswith(
        forward_key(run_id, "announce", POST))]
    assert len(posted) == 1 and sandboxes.ops("slack", run_id, "announce-2", POST) == []
    assert next(s for s in outcome["steps"] if s["id"] == "announce")["result"]["text"] == f"Welcome {email}"


def test_repeat_means_a_second_write(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    """Two equal refunds can both be meant: with `repeat` the second is a write of its own."""
    run_id, _ = new_run("repeat")
    pivot.step(run_id, "charge", "stripe.charge", CHARGE)
    pivot.step(run_id, "refund", "stripe.refund", REFUND)
    assert pivot.step(run_id, "refund-2", "stripe.refund", REFUND)["step"]["duplicate_of"] == "refund"
    meant = pivot.step(run_id, "refund-3", "stripe.refund", REFUND, repeat=True)
    assert "duplicate_of" not in meant["step"] and meant["step"]["state"] == "deferred"

    outcome = pivot.commit(run_id)
    assert outcome["status"] == "committed", outcome
    refunds = [e for e in sandboxes.ledger("stripe") if e["object"] == "refund" and e["op"] == "create"
               and any((e.get("idempotency_key") or "").startswith(forward_key(run_id, step, "stripe.refund"))
                       for step in ("refund", "refund-2", "refund-3"))]
    assert len(refunds) == 2


def test_a_failed_step_asked_again_under_a_new_id_is_a_real_retry(
    pivot: PivotClient, sandboxes: Sandboxes
) -> None:
    run_id, email = new_run("retry")
    pivot.open(run_id, on_failure="report")
    sandboxes.fault("hubspot", method="POST", path="/crm/v3/objects/contacts", action="error", status=400, times=1)
    failed = pivot.step(run_id, "contact", CONTACT, {"email": email})
    assert failed["step"]["state"] == "failed"
    retried = pivot.step(run_id, "contact-2", CONTACT, {"email": email})
    assert retried["step"]["state"] == "verified" and "duplicate_of" not in retried["step"]
    assert pivot.abort(run_id)["status"] == "compensated"


def test_preview_says_what_a_step_would_do_and_writes_nothing(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes
) -> None:
    run_id, email = new_run("preview")
    before = ledgers(stack, sandboxes)
    fresh = pivot.preview(run_id, "contact", CONTACT, {"email": email})
    assert fresh["verdict"] == "run" and fresh["kind"] == "compensable" and fresh["order"]["ok"]
    assert fresh["keys"] == {"forward": forward_key(run_id, "contact", CONTACT),
                             "compensation": compensation_key(run_id, "contact", CONTACT)}
    assert fresh["resolved_params"]["email"] == email and "archive" in fresh["compensation"]
    assert pivot.status(run_id)["status"] == "not_found"  # no saga was opened by the preview
    assert ledgers(stack, sandboxes) == before

    first = pivot.step(run_id, "contact", CONTACT, {"email": email})
    post = {"channel": DEMO_CHANNEL, "text": {"$template": "Hi {contact.email}"}}
    deferred = pivot.preview(run_id, "hello", POST, post, approval={"approvers": ["finance"], "timeout": "P1D"})
    assert deferred["verdict"] == "deferred" and deferred["kind"] == "noncompensable"
    assert deferred["resolved_params"]["text"] == f"Hi {email}" and deferred["approval"]["approvers"] == ["finance"]
    assert pivot.preview(run_id, "again", CONTACT, {"email": email})["duplicate_of"] == "contact"
    assert pivot.preview(run_id, "contact", CONTACT, {"email": email})["verdict"] == "replay"
    later = pivot.preview(run_id, "name", UPDATE, {"object_type": "contacts", "object_id": {"$from": "nope.id"},
                                                    "properties": {"firstname": "A"}})
    assert later["verdict"] == "refused" and later["order"]["violations"][0]["rule"] == "reference_order"

    invoice = flagship_plan()["steps"][1]["params"]
    pivot.step(run_id, "invoice", "stripe.create_invoice", invoice, pivot=True)
    past = pivot.preview(run_id, "deal", "hubspot.create_deal", {"dealname": "late"})
    assert past["verdict"] == "refused" and past["order"]["code"] == "after_pivot"
    assert [s["id"] for s in pivot.status(run_id)["steps"]] == ["contact", "invoice"]
    assert first["step"]["state"] == "verified"
    assert pivot.commit(run_id)["status"] == "committed"


def test_preview_of_a_run_id_a_plan_holds_is_refused(pivot: PivotClient) -> None:
    run_id, email = new_run("preview-plan")
    assert pivot.run(run_id, flagship_plan(email))["status"] == "committed"
    answer = pivot.preview(run_id, "contact", CONTACT, {"email": email})
    assert answer["verdict"] == "refused" and answer["order"]["code"] == "run_id_taken"


def _plan(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"steps": list(steps)}


def test_a_plan_with_the_same_write_twice_is_rejected_unless_marked() -> None:
    catalog = build_catalog()
    email = f"p+{uuid.uuid4().hex[:6]}@example.com"
    one = {"id": "contact", "action": CONTACT, "params": {"email": email}}
    with pytest.raises(PlanRejected) as rejected:
        validate_plan(_plan(one, {**one, "id": "contact2"}), catalog)
    [violation] = rejected.value.violations
    assert violation.rule == "duplicate_step" and "'contact2'" in violation.message and "'contact'" in violation.message
    assert "repeat" in violation.fix
    refunds = _plan({"id": "charge", "action": "stripe.charge", "params": CHARGE},
                    {"id": "refund", "action": "stripe.refund", "params": REFUND},
                    {"id": "refund2", "action": "stripe.refund", "params": REFUND, "repeat": True})
    assert len(validate_plan(refunds, catalog).steps) == 3
