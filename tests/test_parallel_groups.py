"""Parallel groups: adjacent compensable steps sharing a `group` write concurrently, and are
undone concurrently when a later step before the pivot fails."""

import uuid
from typing import Any

from pivot.services.client import PivotClient
from pivot.services.local.demo import DEMO_CUSTOMER
from pivot.services.local.processes import wait_until
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
