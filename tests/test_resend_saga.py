"""resend.send_email and resend.send_correction through the real engine, against the Resend sandbox.

- The crash-matrix points the built-in actions use, for the send: SIGKILL of the service with the
  send held in flight and with its read-back held, and SIGKILL of restate-server with the send held
  (the held request lands at the sandbox after the crash: the write happened, its answer was lost).
  The replay of the step's Idempotency-Key resolves it: one email in the ledger, the saga committed.
- Commit, then time out: Resend sent it, the answer never came; the retry's replay answers the first
  email's id: one email.
- The email is deferred to commit and placed last: a saga that unwinds (its pivot refused) never sends
  it, and neither does an aborted open saga in which the email was asked for first.
- A correction is an explicit follow-up step: it replies to the original's recipients, once.
"""

import uuid
from typing import Any

import pytest

from pivot.compensations.keys import forward_key
from pivot.services.client import PivotClient
from pivot.services.local.demo import flagship_plan
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes

SEND, CORRECT = "resend.send_email", "resend.send_correction"
SENDER = "Acme Billing <billing@example.com>"


def email_step(run_id: str) -> dict[str, Any]:
    return {"id": "email", "action": SEND,
            "params": {"sender": SENDER, "to": [f"{run_id}@example.org"],
                       "subject": {"$template": "Invoice {invoice.number} is on its way"},
                       "text": "Thank you for your order."}}


def checkout_plan(run_id: str, *, failing: bool = False) -> dict[str, Any]:
    plan = flagship_plan(f"{run_id}@example.com")
    plan["steps"] = [*plan["steps"][:2], email_step(run_id)]
    if failing:
        plan["steps"][1]["params"]["customer"] = "cus_DoesNotExist0"
    return plan


def sends(sandboxes: Sandboxes, run_id: str, step: str = "email", action: str = SEND) -> list[dict[str, Any]]:
    key = forward_key(run_id, step, action)
    return [e for e in sandboxes.ledger("resend") if e["op"] == "send" and e["idempotency_key"] == key]


def assert_sent_once(sandboxes: Sandboxes, run_id: str, outcome: dict[str, Any]) -> dict[str, Any]:
    assert outcome["status"] == "committed", outcome
    step = next(s for s in outcome["steps"] if s["id"] == "email")
    assert step["state"] == "verified" and step["kind"] == "noncompensable", step
    effects = sends(sandboxes, run_id)
    assert len(effects) == 1, effects
    assert step["result"]["id"] == effects[0]["id"] and step["ref"] == f"resend:email/{effects[0]['id']}"
    assert effects[0]["detail"]["tags"]["pivot_key"] == forward_key(run_id, "email", SEND)
    return step


HELD = {"send": ("POST", "/emails"), "read-back": ("GET", "/emails/*")}


@pytest.mark.parametrize("point", list(HELD))
def test_service_sigkill_at_the_send(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, point: str) -> None:
    run_id = f"resend-crash-{uuid.uuid4().hex[:10]}"
    method, path = HELD[point]
    hold = sandboxes.fault("resend", method=method, path=path, action="latency", latency_ms=1500, times=1)
    pivot.submit(run_id, checkout_plan(run_id))
    wait_until(lambda: sandboxes.fault_hits("resend", hold) == 1, timeout_s=60, what=f"the email's {point}")
    stack.restart_service()
    outcome = pivot.attach(run_id)
    wait_until(lambda: sandboxes.fault_held("resend", hold) == 0, timeout_s=30, what="the held request")
    assert_sent_once(sandboxes, run_id, outcome)


def test_restate_server_sigkill_at_the_send(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id = f"resend-crash-rs-{uuid.uuid4().hex[:10]}"
    hold = sandboxes.fault("resend", method="POST", path="/emails", action="latency", latency_ms=1500, times=1)
    pivot.submit(run_id, checkout_plan(run_id))
    wait_until(lambda: sandboxes.fault_hits("resend", hold) == 1, timeout_s=60, what="the email's send")
    stack.restart_restate()
    stack.register()
    outcome = pivot.attach(run_id)
    wait_until(lambda: sandboxes.fault_held("resend", hold) == 0, timeout_s=30, what="the held request")
    assert_sent_once(sandboxes, run_id, outcome)


def test_lost_answer_is_resolved_by_the_keys_replay(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id = f"resend-lost-{uuid.uuid4().hex[:10]}"
    lost = sandboxes.fault("resend", method="POST", path="/emails", action="commit_then_timeout", hang_s=10, times=1)
    sandboxes.fault("resend", method="POST", path="/emails", action="error", status=500, times=1)
    outcome = pivot.run(run_id, checkout_plan(run_id))
    assert sandboxes.fault_hits("resend", lost) == 1
    step = assert_sent_once(sandboxes, run_id, outcome)
    assert step["result"]["subject"].startswith("Invoice ") and step["result"]["to"] == [f"{run_id}@example.org"]


def test_an_unwinding_saga_never_sends_its_email(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id = f"resend-unwind-{uuid.uuid4().hex[:10]}"
    outcome = pivot.run(run_id, checkout_plan(run_id, failing=True))
    assert outcome["status"] == "compensated", outcome
    assert next(s for s in outcome["steps"] if s["id"] == "email")["state"] == "not_run"
    assert "No email was sent" in outcome["summary"]
    assert sends(sandboxes, run_id) == []


def test_open_saga_defers_the_email_and_an_abort_drops_it(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id = f"resend-open-{uuid.uuid4().hex[:10]}"
    asked = pivot.step(run_id, "email", SEND, {"sender": SENDER, "to": ["ada@example.org"], "subject": "Confirmed",
                                               "text": "Your order is confirmed."})
    assert asked["step"]["state"] == "deferred", asked
    pivot.step(run_id, "contact", "hubspot.create_contact", {"email": f"{run_id}@example.com", "firstname": "Ada"})
    aborted = pivot.abort(run_id)
    assert aborted["status"] == "compensated", aborted
    assert sends(sandboxes, run_id) == []


def test_correction_follows_up_on_a_sent_email(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id = f"resend-fix-{uuid.uuid4().hex[:10]}"
    plan = checkout_plan(run_id)
    plan["steps"].append({"id": "fix", "action": CORRECT,
                          "params": {"email_id": {"$from": "email.id"}, "sender": SENDER,
                                     "text": "Sorry: the invoice number in our last email was wrong."}})
    outcome = pivot.run(run_id, plan)
    email = assert_sent_once(sandboxes, run_id, outcome)
    fix = next(s for s in outcome["steps"] if s["id"] == "fix")
    assert fix["state"] == "verified", fix
    assert fix["result"]["corrects"] == email["result"]["id"]
    assert fix["result"]["to"] == email["result"]["to"]
    assert fix["result"]["subject"] == f"Correction: {email['result']['subject']}"
    effects = sends(sandboxes, run_id, "fix", CORRECT)
    assert len(effects) == 1
    assert effects[0]["detail"]["headers"]["In-Reply-To"].startswith(f"<{email['result']['id']}@")
    assert effects[0]["detail"]["tags"]["pivot_corrects"] == email["result"]["id"]
