"""A decision is bound to what its approver was shown, and comes through a channel the gate names.

The gate's digest covers the action, its resolved params and the words every channel shows
(`pending["shown"]`); the proof covers the digest and the channel. So a decision made on other
params or another text is refused, a channel the gate does not name is refused, and the chat
channel (whose answers come from the agent's own client) decides only a gate with one approver."""

import uuid
from typing import Any

import pytest

from pivot.compensations.approvals import (
    PendingApproval,
    approval_digest,
    check_decision,
    decision_request,
)
from pivot.services.cli.main import main
from pivot.services.client import PivotClient, PivotError, PlanRejectedError
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import Stack
from tests.conftest import APPROVER_TOKENS
from tests.sandboxes import Sandboxes
from tests.test_approvals import gated_plan, park

TOKENS = {"finance": "finance-secret", "ops": "ops-secret"}


def pending(**changes: Any) -> PendingApproval:
    gate = PendingApproval(approval_id="run-1~invoice", run_id="run-1", step_id="invoice",
                           action="stripe.create_invoice", params={"amount": 12000, "currency": "usd"},
                           approvers=["finance"], requested_at=0.0, deadline=1e10, shown="Invoice · $120.00 USD",
                           channels=["page", "cli", "slack"])
    gate = gate.model_copy(update=changes)
    return gate.model_copy(update={"digest": approval_digest(gate)})


def decision(gate: PendingApproval, approver: str = "finance", **fields: Any) -> dict[str, Any]:
    body = {"digest": gate.digest, "channel": "slack", **fields}
    return decision_request(TOKENS[approver], gate.approval_id, approver, True, "ok", **body)


def test_a_decision_on_what_the_gate_shows_is_accepted() -> None:
    gate = pending()
    accepted, problem = check_decision(decision(gate), gate, TOKENS)
    assert problem == "" and accepted is not None and accepted.channel == "slack"


@pytest.mark.parametrize("shown_before", [
    {"params": {"amount": 1200, "currency": "usd"}},   # the params changed since it was shown
    {"shown": "Invoice · $12.00 USD"},                  # the text shown was another
])
def test_a_decision_made_on_anything_else_is_refused(shown_before: dict[str, Any]) -> None:
    gate = pending()
    refused, problem = check_decision(decision(pending(**shown_before)), gate, TOKENS)
    assert refused is None and "other than what this gate shows now" in problem


def test_a_channel_the_gate_does_not_name_is_refused() -> None:
    gate = pending()
    refused, problem = check_decision(decision(gate, channel="email"), gate, TOKENS)
    assert refused is None and problem == "this approval is decided through page, cli, slack, not email"


def test_chat_decides_only_a_gate_whose_one_approver_is_the_agents_user() -> None:
    shared = pending(approvers=["finance", "ops"], channels=["chat"])
    refused, problem = check_decision(decision(shared, channel="chat"), shared, TOKENS)
    assert refused is None and "one approver is the agent's user" in problem
    alone = pending(channels=["chat"])
    assert check_decision(decision(alone, channel="chat"), alone, TOKENS)[1] == ""


def test_the_proof_covers_the_digest_and_the_channel() -> None:
    gate = pending()
    for forged in ({"digest": approval_digest(pending(shown="other"))}, {"channel": "page"}):
        refused, problem = check_decision({**decision(gate), **forged}, gate, TOKENS)
        assert refused is None and "does not authenticate" in problem


def test_a_plan_that_asks_chat_of_several_approvers_is_refused_before_anything_runs(pivot: PivotClient) -> None:
    plan = gated_plan("ada@example.com")
    plan["steps"][1]["approval"] |= {"approvers": ["finance", "ops"], "channels": ["chat"]}
    with pytest.raises(PlanRejectedError) as refused:
        pivot.run(f"test-binding-{uuid.uuid4().hex[:10]}", plan)
    assert [(v["rule"], v["path"]) for v in refused.value.outcome["violations"]] == [
        ("approval", "steps[1].approval.channels")]


def test_a_gate_shows_its_text_and_refuses_channels_it_does_not_name(pivot: PivotClient,
                                                                     sandboxes: Sandboxes) -> None:
    run_id = f"test-binding-{uuid.uuid4().hex[:10]}"
    plan = gated_plan(f"ada+{run_id}@example.com")
    plan["steps"][1]["approval"] |= {"channels": ["page"], "requested_by": "the billing agent for Ada"}
    pivot.submit(run_id, plan)
    wait_until(lambda: pivot.status(run_id)["status"] == "waiting_approval", timeout_s=60, what="the saga to park")
    approval = f"{run_id}~invoice"
    gate = pivot.approval(approval, approver="finance", token=APPROVER_TOKENS["finance"])["pending"]
    assert gate["shown"].splitlines()[0].startswith("Create and finalize a Stripe invoice · $120.00 USD")
    assert "Asked by: the billing agent for Ada, because: first invoice for a new customer" in gate["shown"]
    assert gate["digest"] == approval_digest(PendingApproval.model_validate(gate))

    with pytest.raises(PivotError) as through_cli:
        pivot.decide(approval, approver="finance", token=APPROVER_TOKENS["finance"], approved=True)
    assert through_cli.value.status == 403 and "decided through page, not cli" in through_cli.value.message
    stale = approval_digest(PendingApproval.model_validate({**gate, "params": {**gate["params"], "days_until_due": 1}}))
    with pytest.raises(PivotError) as other_params:
        pivot.decide(approval, approver="finance", token=APPROVER_TOKENS["finance"], approved=True, digest=stale,
                     channel="page")
    assert other_params.value.status == 403 and "other than what this gate shows now" in other_params.value.message
    assert pivot.status(run_id)["status"] == "waiting_approval"
    assert sandboxes.effects_of("stripe", run_id, "invoice", "stripe.create_invoice") == []

    pivot.decide(approval, approver="finance", token=APPROVER_TOKENS["finance"], approved=True, channel="page")
    assert pivot.attach(run_id)["status"] == "committed"


def test_pivot_approve_prints_what_it_approves_and_decides_on_exactly_that(
        stack: Stack, pivot: PivotClient, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    run_id, approval = park(pivot)
    monkeypatch.setenv("PIVOT_APPROVER", "finance")
    monkeypatch.setenv("PIVOT_APPROVER_TOKEN", APPROVER_TOKENS["finance"])
    assert main(["approve", approval, "--comment", "read it", "--ingress", stack.ingress_url]) == 0
    printed = capsys.readouterr().out
    assert "Create and finalize a Stripe invoice · $120.00 USD" in printed and f"{approval} approved" in printed
    decision = next(s for s in pivot.attach(run_id)["steps"] if s["id"] == "invoice")["decision"]
    assert (decision["approver"], decision["channel"], decision["comment"]) == ("finance", "cli", "read it")
