"""Provider-native atomicity inside a saga: one Salesforce allOrNone group is one step with one
compensation, undone as a whole when a later step before the pivot fails."""

import uuid
from typing import Any

from pivot.services.client import PivotClient
from pivot.services.local.demo import DEMO_CUSTOMER
from tests.sandboxes import Sandboxes

GROUP = "salesforce.create_records_atomic"


def plan(token: str, customer: str) -> dict[str, Any]:
    return {"steps": [
        {"id": "accounts", "action": GROUP,
         "params": {"records": [{"sobject": "Account", "fields": {"Name": f"Acme {token} {i}"}} for i in range(3)]}},
        {"id": "invoice", "action": "stripe.create_invoice", "pivot": True,
         "params": {"customer": customer, "lines": [{"amount": 5000, "currency": "usd", "description": "Setup"}]}},
    ]}


def test_atomic_group_commits_as_one_step(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    token = uuid.uuid4().hex[:10]
    run_id = f"test-sf-{token}"
    outcome = pivot.run(run_id, plan(token, DEMO_CUSTOMER))

    assert outcome["status"] == "committed", outcome
    effects = sandboxes.effects_of("salesforce", run_id, "accounts", GROUP)
    assert [(e["op"], e["object"]) for e in effects] == [("create", "Account")] * 3
    assert {e["detail"].get("allOrNone") for e in effects} == {True}


def test_atomic_group_is_undone_whole_when_the_pivot_fails(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    token = uuid.uuid4().hex[:10]
    run_id = f"test-sf-{token}"
    outcome = pivot.run(run_id, plan(token, "cus_DoesNotExist0"))

    assert outcome["status"] == "compensated", outcome
    assert [s["state"] for s in outcome["steps"]] == ["compensated", "failed"]
    effects = sandboxes.effects_of("salesforce", run_id, "accounts", GROUP)
    created = {e["id"] for e in effects if e["op"] == "create"}
    deleted = {e["id"] for e in sandboxes.ledger("salesforce") if e["op"] == "delete"}
    assert len(created) == 3 and created <= deleted
