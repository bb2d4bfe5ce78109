"""The flagship saga (HubSpot contact → Stripe invoice (pivot) → Slack message) end to end,
through Restate's ingress as an agent calls it, proven against the sandboxes' ledgers."""

import uuid
from typing import Any

import httpx
import pytest

from pivot.compensations.keys import compensation_key, forward_key
from pivot.services.client import PivotClient
from pivot.services.local.demo import DEMO_CHANNEL, flagship_plan
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes

CONTACT, INVOICE, NOTIFY = "hubspot.create_contact", "stripe.create_invoice", "slack.post_message"


def new_run() -> tuple[str, str]:
    token = uuid.uuid4().hex[:12]
    return f"test-{token}", f"ada+{token}@example.com"


def states(outcome: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["state"] for s in outcome["steps"]}


def test_happy_path_commits_each_effect_once(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run()
    outcome = pivot.run(run_id, flagship_plan(email))

    assert outcome["status"] == "committed", outcome
    assert states(outcome) == {"contact": "verified", "invoice": "verified", "notify": "verified"}
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]
    assert sorted(sandboxes.ops("stripe", run_id, "invoice", INVOICE)) == sorted(
        [("create", "invoice"), ("create", "invoiceitem"), ("finalize", "invoice")]
    )
    assert sandboxes.ops("slack", run_id, "notify", NOTIFY) == [("send", "message")]

    invoice = next(s for s in outcome["steps"] if s["id"] == "invoice")
    assert invoice["result"]["amount_due"] == 12000 and invoice["result"]["status"] == "open"
    message = sandboxes.slack_messages_with_key(DEMO_CHANNEL, forward_key(run_id, "notify", NOTIFY))
    assert [m["text"] for m in message] == [f"Invoice {invoice['result']['number']} is on its way to {email}"]
    assert pivot.status(run_id) == outcome


def test_invoice_500_on_every_attempt_unwinds_and_sends_nothing(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run()
    rule = sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="error", status=500, times=None)

    outcome = pivot.run(run_id, flagship_plan(email))

    assert outcome["status"] == "compensated", outcome
    assert states(outcome) == {"contact": "compensated", "invoice": "failed", "notify": "not_run"}
    invoice = next(s for s in outcome["steps"] if s["id"] == "invoice")
    assert invoice["error"]["code"] == "provider_unavailable"
    assert sandboxes.fault_hits("stripe", rule) == 5  # the action's retry budget, then terminal
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact"), ("archive", "contact")]
    assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []
    assert sandboxes.effects_of("slack", run_id, "notify", NOTIFY) == []
    assert sandboxes.slack_messages_with_key(DEMO_CHANNEL, forward_key(run_id, "notify", NOTIFY)) == []
    assert "archived" in outcome["summary"] and "No Slack message was sent" in outcome["summary"]


def test_business_rejection_unwinds_at_once_without_retries(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run()
    plan = flagship_plan(email)
    plan["steps"][1]["params"]["customer"] = "cus_DoesNotExist0"
    counter = sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="latency", latency_ms=0,
                              times=None)

    outcome = pivot.run(run_id, plan)

    assert outcome["status"] == "compensated", outcome
    invoice = next(s for s in outcome["steps"] if s["id"] == "invoice")
    assert invoice["state"] == "failed" and invoice["error"]["code"] == "resource_missing"
    assert sandboxes.fault_hits("stripe", counter) == 1
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact"), ("archive", "contact")]
    assert sandboxes.effects_of("slack", run_id, "notify", NOTIFY) == []


def test_commit_then_timeout_is_found_by_key_not_repeated(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run()
    rule = sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="commit_then_timeout",
                           hang_s=5, times=1)

    outcome = pivot.run(run_id, flagship_plan(email))

    assert sandboxes.fault_hits("stripe", rule) == 1
    assert outcome["status"] == "committed", outcome
    creates = [op for op in sandboxes.ops("stripe", run_id, "invoice", INVOICE) if op == ("create", "invoice")]
    assert creates == [("create", "invoice")]
    assert sandboxes.ops("slack", run_id, "notify", NOTIFY) == [("send", "message")]


def test_a_slow_step_is_not_suspended_and_replayed(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    """A provider call of a few seconds is a busy saga, not a parked one. Were it suspended mid-step
    (SUSPEND_AFTER shorter than the call), the saga would replay, and the Slack post after it could
    no longer prove it is a first attempt: it would scan the channel before posting (and first wait
    out an in-flight window)."""
    run_id, email = new_run()
    slow = sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="latency", latency_ms=3000, times=1)
    scans = sandboxes.fault("slack", path="/api/conversations.history", action="latency", latency_ms=0, times=None)

    outcome = pivot.run(run_id, flagship_plan(email))

    assert outcome["status"] == "committed", outcome
    assert sandboxes.fault_hits("stripe", slow) == 1
    assert sandboxes.fault_hits("slack", scans) == 1  # the post's read-back only: no lookup before it


def test_invalid_plan_lists_every_violation_and_runs_nothing(stack: Stack, sandboxes: Sandboxes) -> None:
    before = {p: len(sandboxes.ledger(p)) for p in stack.sandbox_urls}
    plan = {
        "steps": [
            {"id": "announce", "action": "slack.post_message",
             "params": {"channel": DEMO_CHANNEL, "text": {"$from": "invoice.number"}}},
            {"id": "contact", "action": "hubspot.create_contact", "pivot": True,
             "params": {"email": "x@example.com"}},
            {"id": "invoice", "action": "stripe.create_invoice", "pivot": True,
             "params": {"customer": "cus_9s6XKzkNRiz8i3",
                        "lines": [{"amount": 100, "currency": "usd", "description": "x"}]}},
            {"id": "fax", "action": "fax.send", "params": {}},
        ]
    }
    run_id = f"test-invalid-{uuid.uuid4().hex[:8]}"
    response = httpx.post(f"{stack.ingress_url}/SagaRun/{run_id}/run", json=plan, timeout=30)

    assert response.status_code == 400, response.text
    assert response.json()["metadata"]["code"] == "plan_rejected", response.text
    rejected = httpx.post(f"{stack.ingress_url}/SagaRun/{run_id}/status", timeout=30).json()  # the whole outcome
    assert rejected["status"] == "rejected"
    found = {(v["step"], v["rule"]) for v in rejected["violations"]}
    assert ("announce", "before_pivot") in found  # noncompensable before the pivot
    assert ("invoice", "one_pivot") in found  # two pivots
    assert ("announce", "reference_order") in found  # reference to a later step
    assert ("fax", "unknown_action") in found
    assert ("contact", "pivot_eligible") in found
    assert all(v["fix"] for v in rejected["violations"])
    assert {p: len(sandboxes.ledger(p)) for p in stack.sandbox_urls} == before


@pytest.mark.parametrize(
    ("plan", "rule"),
    [
        ({"steps": [{"id": "a", "action": "slack.post_message", "params": {"channel": "C024BE91L", "text": "x"}},
                    {"id": "b", "action": "hubspot.create_contact", "params": {"email": "b@example.com"}}]},
         "before_pivot"),
        ({"steps": [{"id": "a", "action": "nope.nothing", "params": {}}]}, "unknown_action"),
        ({"steps": [{"id": "a", "action": "hubspot.create_contact", "params": {"email": "a@example.com"},
                     "surprise": 1}]}, "shape"),
    ],
)
def test_each_rejection_names_its_rule(pivot: PivotClient, plan: dict[str, object], rule: str) -> None:
    from pivot.services.client import PlanRejectedError

    with pytest.raises(PlanRejectedError) as caught:
        pivot.run(f"test-reject-{uuid.uuid4().hex[:8]}", plan)
    assert rule in {v["rule"] for v in caught.value.outcome["violations"]}


def test_same_run_id_applies_nothing_new_and_keeps_the_first_outcome(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    run_id, email = new_run()
    first = pivot.run(run_id, flagship_plan(email))
    assert first["status"] == "committed"
    ledgers = {p: sandboxes.ledger(p) for p in stack.sandbox_urls}

    again = httpx.post(f"{stack.ingress_url}/SagaRun/{run_id}/run", json=flagship_plan("other@example.com"),
                       timeout=30)
    assert again.status_code == 409, again.text
    output = httpx.get(f"{stack.ingress_url}/restate/workflow/SagaRun/{run_id}/output", timeout=30)
    assert output.status_code == 200 and output.json() == first
    assert pivot.status(run_id) == first
    assert pivot.run(run_id, flagship_plan(email)) == first

    from pathlib import Path

    from pivot.services.cli import main

    plan_file = Path(str(tmp_path)) / "plan.json"
    plan_file.write_text(__import__("json").dumps(flagship_plan(email)))
    code = main(["run", str(plan_file), "--run-id", run_id, "--ingress", stack.ingress_url, "--json"])
    assert code == 0
    assert __import__("json").loads(capsys.readouterr().out) == first
    assert {p: sandboxes.ledger(p) for p in stack.sandbox_urls} == ledgers


def test_service_killed_mid_saga_finishes_without_doubling(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes
) -> None:
    run_id, email = new_run()
    hold = sandboxes.fault("stripe", method="POST", path="/v1/invoices/*/finalize", action="latency",
                           latency_ms=1500, times=1)
    pivot.submit(run_id, flagship_plan(email))

    from pivot.services.local.processes import wait_until

    wait_until(lambda: sandboxes.fault_hits("stripe", hold) == 1, timeout_s=60, what="the finalize in flight")
    stack.restart_service()
    outcome = pivot.attach(run_id)

    assert outcome["status"] == "committed", outcome
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]
    assert sorted(sandboxes.ops("stripe", run_id, "invoice", INVOICE)) == sorted(
        [("create", "invoice"), ("create", "invoiceitem"), ("finalize", "invoice")]
    )
    assert sandboxes.ops("slack", run_id, "notify", NOTIFY) == [("send", "message")]
    assert compensation_key(run_id, "invoice", INVOICE) not in {
        e.get("idempotency_key") for e in sandboxes.ledger("stripe")
    }


def test_failure_after_the_pivot_never_unwinds(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run()
    plan = flagship_plan(email)
    plan["steps"][2]["params"]["channel"] = "C0NOSUCHCHAN"

    outcome = pivot.run(run_id, plan)

    assert outcome["status"] == "needs_attention", outcome
    assert states(outcome) == {"contact": "verified", "invoice": "verified", "notify": "failed"}
    assert next(s for s in outcome["steps"] if s["id"] == "notify")["error"]["code"] == "channel_not_found"
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]
    assert ("void", "invoice") not in sandboxes.ops("stripe", run_id, "invoice", INVOICE)
    assert compensation_key(run_id, "invoice", INVOICE) not in {
        e.get("idempotency_key") for e in sandboxes.ledger("stripe")
    }


def test_cancel_mid_saga_unwinds_like_a_failure(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run()
    hold = sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="latency", latency_ms=1500, times=1)
    pivot.submit(run_id, flagship_plan(email))

    from pivot.services.local.processes import wait_until

    wait_until(lambda: sandboxes.fault_hits("stripe", hold) == 1, timeout_s=60, what="the invoice create in flight")
    assert pivot.cancel(run_id) is True
    outcome = pivot.attach(run_id)

    assert outcome["status"] == "compensated", outcome
    invoice = next(s for s in outcome["steps"] if s["id"] == "invoice")
    assert invoice["error"]["code"] == "cancelled"
    assert sandboxes.effects_of("slack", run_id, "notify", NOTIFY) == []
    # The create was on the wire when the cancel arrived (the sandbox held it): the unwind waited
    # out the in-flight window, found the invoice by key and undid it (void if the attempt got as
    # far as finalizing it, delete if it was still a draft): no orphan invoice is left behind.
    assert invoice["state"] == "compensated", invoice
    stripe_effects = sandboxes.ledger("stripe")
    created = [e for e in stripe_effects
               if e["idempotency_key"] == forward_key(run_id, "invoice", INVOICE) and e["object"] == "invoice"]
    assert [e["op"] for e in created] == ["create"]
    undone = [e["op"] for e in stripe_effects if e["id"] == created[0]["id"] and e["op"] in {"void", "delete"}]
    assert len(undone) == 1, stripe_effects
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact"), ("archive", "contact")]


def test_same_run_id_with_a_different_plan_is_a_conflict_not_a_second_saga(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes
) -> None:
    from pivot.services.client import RunConflictError

    run_id, email = new_run()
    first = pivot.run(run_id, flagship_plan(email))
    ledgers = {p: len(sandboxes.ledger(p)) for p in stack.sandbox_urls}

    with pytest.raises(RunConflictError) as conflict:
        pivot.run(run_id, flagship_plan("someone.else@example.com"))
    assert run_id in str(conflict.value)
    with pytest.raises(RunConflictError):
        pivot.submit(run_id, flagship_plan("someone.else@example.com"))
    assert pivot.submit(run_id, flagship_plan(email)) == run_id
    assert pivot.attach(run_id) == first
    assert pivot.cancel(run_id) is False
    assert {p: len(sandboxes.ledger(p)) for p in stack.sandbox_urls} == ledgers
