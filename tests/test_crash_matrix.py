"""The crash matrix: SIGKILL the service (or restate-server) with the flagship saga held at
each step boundary, inside a forward write, a read-back and a compensation. Every saga must
end committed or compensated, and every provider effect must be applied exactly once.

A saga is held at a point by a sandbox `latency` rule on the request that point makes; the
request lands at the provider *after* the crash (the sandbox finishes it), which is the
hardest case: the write happened, its answer was lost.
"""

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from pivot.compensations.keys import compensation_key
from pivot.services.client import PivotClient
from pivot.services.local.demo import flagship_plan
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes

CONTACT, INVOICE, NOTIFY = "hubspot.create_contact", "stripe.create_invoice", "slack.post_message"


@dataclass(frozen=True)
class Point:
    name: str
    provider: str
    method: str
    path: str
    skip: int = 0
    """Matching requests to let through before the one that is held."""
    failing: bool = False
    """Use a plan whose invoice is rejected, so the saga unwinds (to hold a compensation)."""
    operation: str | None = None
    """GraphQL: the operation of the held request (every request shares one path)."""
    hold_ms: int = 1500
    """How long the request is held: it must still be held when the process is killed."""


POINTS = [
    Point("contact create (forward write)", "hubspot", "POST", "/crm/v3/objects/contacts"),
    Point("contact read-back", "hubspot", "GET", "/crm/v3/objects/contacts/[0-9]*"),
    Point("boundary contact→invoice: invoice create", "stripe", "POST", "/v1/invoices"),
    Point("invoice line", "stripe", "POST", "/v1/invoiceitems"),
    Point("invoice finalize", "stripe", "POST", "/v1/invoices/*/finalize"),
    Point("invoice read-back", "stripe", "GET", "/v1/invoices/in_*"),
    # Slack: the post's first attempt has no history scan before it (nothing can be there yet), so the
    # first history request after the invoice is the post's read-back; a retry scans, then reads back.
    Point("boundary invoice→notify", "slack", "GET", "/api/conversations.history"),
    Point("slack post", "slack", "POST", "/api/chat.postMessage"),
    Point("slack read-back", "slack", "GET", "/api/conversations.history"),
    Point("contact archive (compensation)", "hubspot", "DELETE", "/crm/v3/objects/contacts/*", failing=True),
]


def _plan(email: str, failing: bool) -> dict[str, Any]:
    plan = flagship_plan(email)
    if failing:
        plan["steps"][1]["params"]["customer"] = "cus_DoesNotExist0"
    return plan


def _hold(sandboxes: Sandboxes, point: Point) -> str:
    if point.skip:
        sandboxes.fault(point.provider, method=point.method, path=point.path, operation=point.operation,
                        action="latency", latency_ms=0, times=point.skip)
    return sandboxes.fault(point.provider, method=point.method, path=point.path, operation=point.operation,
                           action="latency", latency_ms=point.hold_ms, times=1)


def _assert_exactly_once(sandboxes: Sandboxes, run_id: str, outcome: dict[str, Any], failing: bool) -> None:
    hubspot = [op for op, _ in sandboxes.ops("hubspot", run_id, "contact", CONTACT)]
    if failing:
        assert outcome["status"] == "compensated", outcome
        assert Counter(hubspot) == Counter({"create": 1, "archive": 1})
        assert sandboxes.effects_of("slack", run_id, "notify", NOTIFY) == []
        return
    assert outcome["status"] == "committed", outcome
    assert hubspot == ["create"]
    stripe = Counter(sandboxes.ops("stripe", run_id, "invoice", INVOICE))
    assert stripe == Counter({("create", "invoice"): 1, ("create", "invoiceitem"): 1, ("finalize", "invoice"): 1})
    assert sandboxes.ops("slack", run_id, "notify", NOTIFY) == [("send", "message")]
    assert compensation_key(run_id, "invoice", INVOICE) not in {
        e.get("idempotency_key") for e in sandboxes.ledger("stripe")}


@pytest.mark.parametrize("point", POINTS, ids=[p.name for p in POINTS])
def test_service_sigkill(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, point: Point) -> None:
    run_id = f"crash-{uuid.uuid4().hex[:10]}"
    hold = _hold(sandboxes, point)
    pivot.submit(run_id, _plan(f"{run_id}@example.com", point.failing))
    wait_until(lambda: sandboxes.fault_hits(point.provider, hold) == 1, timeout_s=60, what=point.name)

    stack.restart_service()
    outcome = pivot.attach(run_id)
    # The held request completes at the provider after the crash: wait for it, then count.
    wait_until(lambda: sandboxes.fault_held(point.provider, hold) == 0, timeout_s=30, what="the held request")

    _assert_exactly_once(sandboxes, run_id, outcome, point.failing)


@pytest.mark.parametrize("point", [POINTS[2], POINTS[7], POINTS[9]], ids=lambda p: p.name)
def test_restate_server_sigkill(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, point: Point) -> None:
    run_id = f"crash-rs-{uuid.uuid4().hex[:10]}"
    hold = _hold(sandboxes, point)
    pivot.submit(run_id, _plan(f"{run_id}@example.com", point.failing))
    wait_until(lambda: sandboxes.fault_hits(point.provider, hold) == 1, timeout_s=60, what=point.name)

    stack.restart_restate()
    stack.register()
    outcome = pivot.attach(run_id)
    wait_until(lambda: sandboxes.fault_held(point.provider, hold) == 0, timeout_s=30, what="the held request")

    _assert_exactly_once(sandboxes, run_id, outcome, point.failing)
