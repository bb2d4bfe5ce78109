"""What Pivot says is true for each step's kind: abort is not offered where it undoes nothing, abort
after commit is a 409 that changes nothing, durations read "3d" / "2h 5m", and no sentence says None."""

import uuid
from datetime import timedelta

import pytest
from rich.console import Console

from pivot.compensations.durations import short_duration
from pivot.compensations.kinds import SagaStatus, StepKind, StepState
from pivot.compensations.open_ledger import expiry_reason
from pivot.compensations.outcome import Outcome, StepOutcome, summarize
from pivot.compensations.record import SagaRecord
from pivot.services.catalog import build_catalog
from pivot.services.cli import render
from pivot.services.client import PivotClient, PivotError, StepConflictError
from pivot.services.local.demo import flagship_steps
from tests.sandboxes import Sandboxes
from tests.test_approvals import decide, park

CATALOG = build_catalog()
CONTACT, INVOICE, NOTIFY = "hubspot.create_contact", "stripe.create_invoice", "slack.post_message"


def open_outcome(*steps: StepOutcome) -> Outcome:
    return Outcome(run_id="r", status=SagaStatus.OPEN, mode="open", steps=list(steps))


def contact(state: StepState = StepState.VERIFIED) -> StepOutcome:
    return StepOutcome(id="contact", action=CONTACT, kind=StepKind.COMPENSABLE, state=state,
                       result={"ref": "hubspot:contact/512", "id": "512", "email": "ada@example.com"})


def test_an_open_saga_past_its_pivot_does_not_offer_abort_to_undo() -> None:
    invoice = StepOutcome(id="invoice", action=INVOICE, kind=StepKind.PIVOT, state=StepState.VERIFIED,
                          result={"ref": "stripe:invoice/in_1", "id": "in_1", "number": "INV-1", "amount_due": 12000,
                                  "currency": "usd", "customer": "cus_1", "status": "open"})
    past = summarize(open_outcome(contact(), invoice), CATALOG)
    assert "abort to undo" not in past and "past its point of no return ('invoice')" in past
    assert "abort is refused" in past

    before = summarize(open_outcome(contact()), CATALOG)
    assert "abort to undo 'contact'" in before
    nothing = summarize(open_outcome(StepOutcome(id="notify", action=NOTIFY, kind=StepKind.NONCOMPENSABLE,
                                                 state=StepState.DEFERRED)), CATALOG)
    assert "nothing has taken effect" in nothing and "abort to undo" not in nothing
    for sentence in (past, before, nothing):
        assert "None" not in sentence


def test_durations_read_like_3d_and_2h_5m() -> None:
    assert [short_duration(s) for s in (0, 45, 65, 900, 3600, 7500, 259200, 90061)] == [
        "0s", "45s", "1m 5s", "15m", "1h", "2h 5m", "3d", "1d 1h"]
    assert short_duration(timedelta(days=3)) == "3d" and short_duration(-4) == "0s"
    record = SagaRecord(run_id="r", status=SagaStatus.OPEN, idle_timeout_s=900.0)
    assert "no call for 15m (idle timeout)" in expiry_reason(record, "idle")

    console = Console(record=True, width=200)
    now = 1_000_000.0
    render.approvals(console, [{"approval_id": "r~invoice", "action": INVOICE, "reason": "first invoice",
                                "requested_at": now - 7500, "deadline": now + 3 * 86400}], now=now)
    shown = console.export_text()
    assert "2h 5m" in shown and "3d" in shown and "days," not in shown


def test_abort_after_commit_is_a_409_that_changes_nothing(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    token = uuid.uuid4().hex[:12]
    run_id = f"wording-{token}"
    first, _, invoice = flagship_steps(f"ada+{token}@example.com")
    pivot.step(run_id, first["step"], first["action"], first["params"])
    pivot.step(run_id, invoice["step"], invoice["action"], invoice["params"])
    committed = pivot.commit(run_id)
    assert committed["status"] == "committed"

    with pytest.raises(StepConflictError) as late:
        pivot.abort(run_id, "too late")

    assert late.value.status == 409 and late.value.code == "saga_committed"
    assert "was committed" in late.value.message and "Nothing changed" in late.value.message
    assert pivot.status(run_id) == committed
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]


def test_a_second_decision_says_who_decided_and_when_never_none(pivot: PivotClient) -> None:
    run_id, approval = park(pivot)
    decide(pivot, approval, comment="ok")
    with pytest.raises(PivotError) as twice:
        decide(pivot, approval, approved=False, comment="changed my mind")
    assert twice.value.status == 409
    assert "already approved by finance at 20" in twice.value.message and "None" not in twice.value.message
    outcome = pivot.attach(run_id)
    assert outcome["status"] == "committed" and "None" not in outcome["summary"]
