"""Steps that write concurrently: adjacent compensable steps sharing a `group`, and independent
steps on different systems without one (the plan's waves, compensations/schedule.py). Both are in
flight together, are undone when a later step before the pivot fails, and survive a crash while
in flight with every write applied once."""

import uuid
from collections import Counter
from typing import Any

import pytest

from pivot.services.client import PivotClient
from pivot.services.local.demo import DEMO_CUSTOMER
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes


def plan(token: str, customer: str = DEMO_CUSTOMER) -> dict[str, Any]:
    return {"steps": [
        {"id": "contact", "action": "hubspot.create_contact", "group": "crm",
         "params": {"email": f"par+{token}@example.com"}},
        {"id": "account", "action": "salesforce.create_record", "group": "crm",
         "params": {"sobject": "Account", "fields": {"Name": f"Parallel {token}"}}},
        {"id": "invoice", "action": "stripe.create_invoice", "pivot": True,
         "params": {"customer": customer, "lines": [{"amount": 700, "currency": "usd", "description": "x"}]}},
    ]}


def test_group_members_write_at_the_same_time(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    token = uuid.uuid4().hex[:10]
    hubspot = sandboxes.fault("hubspot", method="POST", path="/crm/v3/objects/contacts", action="latency",
                              latency_ms=3000, times=1)
    salesforce = sandboxes.fault("salesforce", path="/services/data/*/sobjects/Account/*", action="latency",
                                 latency_ms=3000, times=1)
    run_id = f"par-{token}"
    pivot.submit(run_id, plan(token))

    # Both writes are held by the sandboxes at once: they were in flight together.
    wait_until(lambda: sandboxes.fault_held("hubspot", hubspot) == 1 and
               sandboxes.fault_held("salesforce", salesforce) == 1, timeout_s=30, what="both writes in flight")
    outcome = pivot.attach(run_id)
    assert outcome["status"] == "committed", outcome
    assert [s["state"] for s in outcome["steps"]] == ["verified", "verified", "verified"]


def test_group_is_undone_whole_when_the_pivot_fails(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    token = uuid.uuid4().hex[:10]
    run_id = f"par-{token}"
    outcome = pivot.run(run_id, plan(token, "cus_DoesNotExist0"))

    assert outcome["status"] == "compensated", outcome
    assert [s["state"] for s in outcome["steps"]] == ["compensated", "compensated", "failed"]
    assert [op for op, _ in sandboxes.ops("hubspot", run_id, "contact", "hubspot.create_contact")] == [
        "create", "archive"]
    created = {e["id"] for e in sandboxes.effects_of("salesforce", run_id, "account", "salesforce.create_record")}
    assert len(created) == 1
    assert created <= {e["id"] for e in sandboxes.ledger("salesforce") if e["op"] == "delete"}


def test_a_failing_member_unwinds_the_members_that_succeeded(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    token = uuid.uuid4().hex[:10]
    run_id = f"par-{token}"
    bad = plan(token)
    bad["steps"][1]["params"] = {"sobject": "Contact", "fields": {"FirstName": "No last name"}}
    outcome = pivot.run(run_id, bad)

    assert outcome["status"] == "compensated", outcome
    states = {s["id"]: s["state"] for s in outcome["steps"]}
    assert states == {"contact": "compensated", "account": "failed", "invoice": "not_run"}
    assert [op for op, _ in sandboxes.ops("hubspot", run_id, "contact", "hubspot.create_contact")] == [
        "create", "archive"]


# -- overlap without a group: independent steps on different systems (compensations/schedule.py) ---------

def ungrouped(token: str, customer: str = DEMO_CUSTOMER) -> dict[str, Any]:
    steps = plan(token, customer)["steps"]
    return {"steps": [{k: v for k, v in step.items() if k != "group"} for step in steps]}


HUBSPOT_WRITE = ("hubspot", "POST", "/crm/v3/objects/contacts")
HUBSPOT_READ = ("hubspot", "GET", "/crm/v3/objects/contacts/[0-9]*")
SALESFORCE_WRITE = ("salesforce", "PATCH", "/services/data/*/sobjects/Account/*")
SALESFORCE_READ = ("salesforce", "GET", "/services/data/*/sobjects/Account/*")


def _hold_both(sandboxes: Sandboxes, *points: tuple[str, str, str], hold_ms: int = 3000) -> list[tuple[str, str]]:
    return [(provider, sandboxes.fault(provider, method=method, path=path, action="latency", latency_ms=hold_ms,
                                       times=1))
            for provider, method, path in points]


def _all_held(sandboxes: Sandboxes, holds: list[tuple[str, str]]) -> bool:
    return all(sandboxes.fault_held(provider, rule) == 1 for provider, rule in holds)


@pytest.mark.parametrize("held", [(HUBSPOT_WRITE, SALESFORCE_WRITE), (HUBSPOT_READ, SALESFORCE_WRITE)],
                         ids=["both writes", "a read-back and the other write"])
def test_independent_steps_are_in_flight_together_without_a_group(
    pivot: PivotClient, sandboxes: Sandboxes, held: tuple[tuple[str, str, str], ...],
) -> None:
    token = uuid.uuid4().hex[:10]
    holds = _hold_both(sandboxes, *held)
    run_id = f"ovl-{token}"
    pivot.submit(run_id, ungrouped(token))

    wait_until(lambda: _all_held(sandboxes, holds), timeout_s=30, what="both requests in flight")
    live = {s["id"]: s["state"] for s in pivot.status(run_id)["steps"]}
    assert live == {"contact": "running", "account": "running", "invoice": "pending"}  # the wave, shown whole
    outcome = pivot.attach(run_id)
    assert outcome["status"] == "committed", outcome
    assert [s["state"] for s in outcome["steps"]] == ["verified", "verified", "verified"]


def _exactly_once(sandboxes: Sandboxes, run_id: str, outcome: dict[str, Any], failing: bool) -> None:
    contact = [op for op, _ in sandboxes.ops("hubspot", run_id, "contact", "hubspot.create_contact")]
    created = {e["id"] for e in sandboxes.effects_of("salesforce", run_id, "account", "salesforce.create_record")}
    deleted = {e["id"] for e in sandboxes.ledger("salesforce") if e["op"] == "delete"}
    assert len(created) == 1
    if failing:
        assert outcome["status"] == "compensated", outcome
        assert Counter(contact) == Counter({"create": 1, "archive": 1})
        assert created <= deleted
    else:
        assert outcome["status"] == "committed", outcome
        assert contact == ["create"]
        assert not created & deleted
        assert Counter(sandboxes.ops("stripe", run_id, "invoice", "stripe.create_invoice"))[("create", "invoice")] == 1


CRASHES = {
    "both writes in flight": ((HUBSPOT_WRITE, SALESFORCE_WRITE), False),
    "a read-back and a write in flight": ((HUBSPOT_READ, SALESFORCE_WRITE), False),
    "both writes in flight, the pivot then fails": ((HUBSPOT_WRITE, SALESFORCE_WRITE), True),
}


@pytest.mark.parametrize("kill", ["service", "restate-server"])
@pytest.mark.parametrize("name", list(CRASHES))
def test_a_crash_while_overlapping_steps_are_in_flight_applies_each_once(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, name: str, kill: str,
) -> None:
    """SIGKILL with both of a wave's requests held at the providers: they land after the crash (the
    answer was lost); the replay makes the same wave, looks both up by key and writes neither again."""
    points, failing = CRASHES[name]
    token = uuid.uuid4().hex[:10]
    holds = _hold_both(sandboxes, *points, hold_ms=1500)
    run_id = f"ovl-crash-{token}"
    pivot.submit(run_id, ungrouped(token, "cus_DoesNotExist0" if failing else DEMO_CUSTOMER))
    wait_until(lambda: _all_held(sandboxes, holds), timeout_s=30, what=name)

    if kill == "service":
        stack.restart_service()
    else:
        stack.restart_restate()
        stack.register()
    outcome = pivot.attach(run_id)
    wait_until(lambda: not any(sandboxes.fault_held(p, r) for p, r in holds), timeout_s=30, what="the held requests")

    _exactly_once(sandboxes, run_id, outcome, failing)
