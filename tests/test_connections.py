"""Named connections: one saga writing to two Stripe accounts. Each invoice lands in its own
account, each undo happens in its own account, the outcome says which account a step used, and
a step naming an unknown connection is refused before anything runs."""

import uuid
from typing import Any

import pytest

from pivot.services.client import PivotClient, PlanRejectedError, StepRejectedError
from pivot.services.local.demo import DEMO_CUSTOMER
from tests.sandboxes import Sandboxes

INVOICE = "stripe.create_invoice"


def invoice(step: str, amount: int, **extra: Any) -> dict[str, Any]:
    return {"id": step, "action": INVOICE, **extra,
            "params": {"customer": DEMO_CUSTOMER, "lines": [{"amount": amount, "currency": "usd",
                                                             "description": f"{step} line"}]}}


def test_one_saga_two_stripe_accounts_each_undo_in_its_own_account(
    pivot: PivotClient, sandboxes: Sandboxes, eu_stripe: str
) -> None:
    run_id = f"conn-{uuid.uuid4().hex[:10]}"
    eu = Sandboxes({"stripe": eu_stripe})
    plan = {"steps": [
        invoice("us", 1100),
        invoice("eu", 2200, connection="eu"),
        {**invoice("fails", 3300), "pivot": True,
         "params": {"customer": "cus_DoesNotExist0", "lines": [{"amount": 1, "currency": "usd", "description": "x"}]}},
    ]}

    outcome = pivot.run(run_id, plan)

    assert outcome["status"] == "compensated", outcome
    steps = {s["id"]: s for s in outcome["steps"]}
    assert steps["eu"]["connection"] == "eu" and "connection" not in steps["us"]
    assert steps["us"]["state"] == steps["eu"]["state"] == "compensated"
    us_ops = sandboxes.ops("stripe", run_id, "us", INVOICE)
    eu_ops = eu.ops("stripe", run_id, "eu", INVOICE)
    assert ("create", "invoice") in us_ops and ("create", "invoice") in eu_ops
    # Each account holds only its own invoice, and its own undo.
    assert eu.effects_of("stripe", run_id, "us", INVOICE) == []
    assert sandboxes.effects_of("stripe", run_id, "eu", INVOICE) == []
    for ledger, step in ((sandboxes, "us"), (eu, "eu")):
        created = next(e["id"] for e in ledger.effects_of("stripe", run_id, step, INVOICE)
                       if (e["op"], e["object"]) == ("create", "invoice"))
        undone = [e["op"] for e in ledger.ledger("stripe") if e["id"] == created and e["op"] in {"void", "delete"}]
        assert len(undone) == 1, ledger.ledger("stripe")


def test_an_open_saga_step_names_its_connection(pivot: PivotClient, eu_stripe: str) -> None:
    run_id = f"conn-open-{uuid.uuid4().hex[:10]}"
    answer = pivot.step(run_id, "eu", INVOICE, invoice("eu", 500)["params"], connection="eu")
    assert answer["step"]["state"] == "verified" and answer["step"]["connection"] == "eu"
    eu = Sandboxes({"stripe": eu_stripe})
    assert ("create", "invoice") in eu.ops("stripe", run_id, "eu", INVOICE)
    assert pivot.commit(run_id)["status"] == "committed"


def test_an_unknown_connection_is_refused_before_anything_runs(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    before = len(sandboxes.ledger("stripe"))
    with pytest.raises(PlanRejectedError) as rejected:
        pivot.run(f"conn-bad-{uuid.uuid4().hex[:8]}", {"steps": [invoice("x", 100, connection="mars")]})
    violation = rejected.value.outcome["violations"][0]
    assert violation["rule"] == "connection" and "mars" in violation["message"] and "eu" in violation["message"]
    with pytest.raises(StepRejectedError) as refused:
        pivot.step(f"conn-bad-{uuid.uuid4().hex[:8]}", "x", INVOICE, invoice("x", 100)["params"], connection="mars")
    assert refused.value.violations[0]["path"] == "connection"
    assert len(sandboxes.ledger("stripe")) == before
