"""Human approval gates: the saga parks on an awakeable until a listed approver decides or
the deadline passes, survives crashes while parked, and refuses bad decisions without moving."""

import uuid
from typing import Any

import httpx
import pytest

from pivot.compensations.approvals import decision_request
from pivot.compensations.keys import forward_key
from pivot.services.client import PivotClient, PivotError
from pivot.services.local.demo import flagship_plan
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import Stack
from tests.conftest import APPROVER_TOKENS
from tests.sandboxes import Sandboxes

INVOICE = "stripe.create_invoice"


def gated_plan(email: str, timeout: str = "P1D") -> dict[str, Any]:
    plan = flagship_plan(email)
    plan["steps"][1]["approval"] = {"approvers": ["finance"], "timeout": timeout,
                                    "reason": "first invoice for a new customer"}
    return plan


def park(pivot: PivotClient) -> tuple[str, str]:
    token = uuid.uuid4().hex[:12]
    run_id = f"test-approval-{token}"
    pivot.submit(run_id, gated_plan(f"ada+{token}@example.com"))
    wait_until(lambda: pivot.status(run_id)["status"] == "waiting_approval", timeout_s=60, what="the saga to park")
    return run_id, f"{run_id}~invoice"


def inbox(pivot: PivotClient, approver: str = "finance") -> list[dict[str, Any]]:
    """What `approver` sees pending (a read with the approver's own proof)."""
    return pivot.approvals(approver, APPROVER_TOKENS[approver])


def decide(pivot: PivotClient, approval: str, approver: str = "finance", approved: bool = True,
           comment: str = "") -> dict[str, Any]:
    return pivot.decide(approval, approver=approver, token=APPROVER_TOKENS[approver], approved=approved,
                        comment=comment)


def test_approve_runs_the_step(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, approval = park(pivot)
    status = pivot.status(run_id)
    invoice = next(s for s in status["steps"] if s["id"] == "invoice")
    assert invoice["state"] == "waiting_approval" and invoice["approval"]["approvers"] == ["finance"]
    assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []
    pending = [a for a in inbox(pivot) if a["approval_id"] == approval]
    assert len(pending) == 1 and pending[0]["params"]["lines"][0]["amount"] == 12000
    assert [d["id"] for d in pending[0]["done"]] == ["contact"]
    assert all(a["approval_id"] != approval for a in inbox(pivot, "ops"))

    assert decide(pivot, approval, comment="ok")["approved"] is True
    outcome = pivot.attach(run_id)

    assert outcome["status"] == "committed", outcome
    invoice = next(s for s in outcome["steps"] if s["id"] == "invoice")
    assert invoice["decision"]["approver"] == "finance" and invoice["decision"]["comment"] == "ok"
    assert [op for op, obj in sandboxes.ops("stripe", run_id, "invoice", INVOICE) if obj == "invoice"] == [
        "create", "finalize"]
    wait_until(lambda: all(a["approval_id"] != approval for a in inbox(pivot)), timeout_s=30,
               what="the inbox to drop the decided approval")


def test_reject_unwinds(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, approval = park(pivot)
    decide(pivot, approval, approved=False, comment="wrong customer")
    outcome = pivot.attach(run_id)

    assert outcome["status"] == "compensated", outcome
    invoice = next(s for s in outcome["steps"] if s["id"] == "invoice")
    assert invoice["error"]["code"] == "approval_rejected" and "wrong customer" in invoice["error"]["message"]
    assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []
    assert [op for op, _ in sandboxes.ops("hubspot", run_id, "contact", "hubspot.create_contact")] == [
        "create", "archive"]


def test_deadline_unwinds_and_late_decisions_change_nothing(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    token = uuid.uuid4().hex[:12]
    run_id = f"test-deadline-{token}"
    outcome = pivot.run(run_id, gated_plan(f"ada+{token}@example.com", timeout="PT2S"))

    assert outcome["status"] == "compensated", outcome
    invoice = next(s for s in outcome["steps"] if s["id"] == "invoice")
    assert invoice["error"]["code"] == "approval_expired"
    with pytest.raises(PivotError) as late:
        decide(pivot, f"{run_id}~invoice")
    assert late.value.status == 410
    assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []


def test_unlisted_or_unproven_approvers_are_refused_and_twice_is_answered(pivot: PivotClient) -> None:
    run_id, approval = park(pivot)
    with pytest.raises(PivotError) as outsider:
        decide(pivot, approval, approver="ops")
    assert outsider.value.status == 403 and "may not decide" in outsider.value.message
    with pytest.raises(PivotError) as forged:
        pivot.decide(approval, approver="finance", token="not-the-token", approved=True)
    assert forged.value.status == 403
    assert pivot.status(run_id)["status"] == "waiting_approval"

    decide(pivot, approval)
    with pytest.raises(PivotError) as twice:
        decide(pivot, approval, approved=False)
    assert twice.value.status == 409 and "already approved by finance" in twice.value.message
    assert pivot.attach(run_id)["status"] == "committed"


def _awakeable_of(stack: Stack, approval: str) -> str | None:
    query = ("SELECT value_utf8 FROM state WHERE service_name = 'Approval' "
             f"AND service_key = '{approval}' AND key = 'awakeable'")
    rows = httpx.post(f"{stack.admin_url}/query", json={"query": query},
                      headers={"accept": "application/json"}, timeout=10).json()["rows"]
    return str(rows[0]["value_utf8"]).strip('"') if rows else None


def test_restate_awakeable_endpoint_with_a_malformed_body_does_not_resume(stack: Stack, pivot: PivotClient) -> None:
    run_id, approval = park(pivot)
    wait_until(lambda: _awakeable_of(stack, approval) is not None, timeout_s=30, what="the awakeable")
    first = _awakeable_of(stack, approval)

    bad = httpx.post(f"{stack.ingress_url}/restate/awakeables/{first}/resolve", json={"approved": True}, timeout=10)
    assert bad.status_code in {200, 202}, bad.text
    wait_until(lambda: _awakeable_of(stack, approval) not in {None, first}, timeout_s=30,
               what="a fresh awakeable after the refused decision")
    assert pivot.status(run_id)["status"] == "waiting_approval"

    second = _awakeable_of(stack, approval)
    digest = pivot.approval(approval, approver="finance", token=APPROVER_TOKENS["finance"])["pending"]["digest"]
    good = decision_request(APPROVER_TOKENS["finance"], approval, "finance", True, "via the awakeable", digest=digest)
    assert httpx.post(f"{stack.ingress_url}/restate/awakeables/{second}/resolve", json=good,
                      timeout=10).status_code in {200, 202}
    outcome = pivot.attach(run_id)
    assert outcome["status"] == "committed"
    assert next(s for s in outcome["steps"] if s["id"] == "invoice")["decision"]["comment"] == "via the awakeable"
    # The saga closed the gate itself: the approval left the inbox, and a late decide changes nothing.
    wait_until(lambda: approval not in {a["approval_id"] for a in inbox(pivot)}, timeout_s=30,
               what="the approval to leave the inbox")
    with pytest.raises(PivotError) as late:
        decide(pivot, approval)
    assert late.value.status == 409, late.value.message


def test_parked_saga_survives_service_kill_and_restate_restart(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes
) -> None:
    run_id, approval = park(pivot)
    stack.restart_service()
    stack.restart_restate()
    stack.register()
    assert pivot.status(run_id)["status"] == "waiting_approval"

    decide(pivot, approval)
    outcome = pivot.attach(run_id)
    assert outcome["status"] == "committed", outcome
    assert [op for op, _ in sandboxes.ops("hubspot", run_id, "contact", "hubspot.create_contact")] == ["create"]
    assert len([e for e in sandboxes.ledger("stripe")
                if e["idempotency_key"] == forward_key(run_id, "invoice", INVOICE)]) == 1
