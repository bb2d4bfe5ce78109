"""The open saga's rules, offline: what a saga does with one more step, and when it is abandoned."""

import pytest

from pivot.compensations.admission import StepRefused, admit
from pivot.compensations.kinds import SagaStatus, StepKind, StepState
from pivot.compensations.open_ledger import check_timers, finishing, refuse_abort, settle
from pivot.compensations.plan import StepSpec
from pivot.compensations.record import SagaRecord, public_of
from pivot.services.catalog import build_catalog
from pivot.services.local.demo import flagship_steps

CATALOG = build_catalog()
CONTACT, NOTIFY, INVOICE = (StepSpec(id=c["step"], action=c["action"], params=c["params"])
                            for c in flagship_steps("ada@example.com"))


def opened() -> SagaRecord:
    return SagaRecord(run_id="r", status=SagaStatus.OPEN, on_failure="unwind", opened_at=0.0, last_call_at=0.0,
                      idle_timeout_s=900.0, deadline_at=86400.0)


def verify(record: SagaRecord, step_id: str) -> None:
    step = record.step(step_id)
    assert step is not None
    step.state, step.result = StepState.VERIFIED, {"ref": f"x:{step_id}", "number": "INV-1", "email": "a@b.c"}


def test_kinds_decide_run_or_defer_and_replay_or_conflict() -> None:
    record = opened()
    assert admit(record, CONTACT, CATALOG).verdict == "run"
    assert admit(record, NOTIFY, CATALOG).verdict == "deferred"  # may reference the invoice asked later
    assert admit(record, CONTACT, CATALOG).verdict == "replay"
    with pytest.raises(StepRefused) as conflict:
        admit(record, CONTACT.model_copy(update={"params": {"email": "eve@example.com"}}), CATALOG)
    assert conflict.value.status == 409 and "params.email" in conflict.value.message
    assert [s.state for s in record.steps] == [StepState.RUNNING, StepState.DEFERRED]


def test_the_pivot_waits_for_steps_in_flight_and_closes_the_door_behind_it() -> None:
    record = opened()
    admit(record, CONTACT, CATALOG)
    pivot = INVOICE.model_copy(update={"pivot": True})
    busy = admit(record, pivot, CATALOG)
    assert busy.verdict == "busy" and [s.id for s in busy.busy] == ["contact"] and len(record.steps) == 1
    verify(record, "contact")
    assert admit(record, pivot, CATALOG).verdict == "run"
    with pytest.raises(StepRefused) as after:
        admit(record, StepSpec(id="deal", action="hubspot.create_deal", params={"dealname": "x"}), CATALOG)
    assert after.value.code == "after_pivot"
    invoice = record.step("invoice")
    assert invoice is not None
    settled = invoice.model_copy(update={"state": StepState.VERIFIED, "result": {"ref": "stripe:invoice/in_1",
                                                                                  "number": "INV-7"}})
    assert settle(record, settled) is False and record.crossed
    assert invoice.kind is StepKind.PIVOT
    assert admit(record, NOTIFY, CATALOG).verdict == "run"  # past the pivot: at once, not deferred


def test_a_reference_to_nothing_verified_is_refused_before_anything_is_recorded() -> None:
    record = opened()
    ghost = StepSpec(id="a", action="hubspot.create_contact", params={"email": {"$from": "ghost.email"}})
    with pytest.raises(StepRefused) as refused:
        admit(record, ghost, CATALOG)
    assert refused.value.status == 400 and "ghost" in refused.value.message and record.steps == []


def test_a_failure_unwinds_or_is_reported_by_policy() -> None:
    for policy, ends in (("unwind", True), ("report", False)):
        record = opened()
        record.on_failure = policy  # type: ignore[assignment]
        admit(record, CONTACT, CATALOG)
        admit(record, NOTIFY, CATALOG)
        contact = record.step("contact")
        assert contact is not None
        failed = contact.model_copy(update={"state": StepState.FAILED, "error": {"code": "x", "message": "no"}})
        assert settle(record, failed) is ends
        assert record.status is (SagaStatus.RUNNING if ends else SagaStatus.OPEN)
        notify = record.step("notify")
        assert notify is not None and notify.state is (StepState.NOT_RUN if ends else StepState.DEFERRED)


def test_idle_time_counts_only_while_nothing_is_in_flight() -> None:
    record = opened()
    assert check_timers(record, 100.0).next_at == 900.0
    assert check_timers(record, 901.0).expired == "idle"
    admit(record, CONTACT, CATALOG)  # in flight: a step parked on an approval is not an idle agent
    assert check_timers(record, 5000.0).expired is None
    assert check_timers(record, 90000.0).expired == "deadline"


def test_what_an_abort_may_do_is_decided_by_the_record_alone() -> None:
    record = opened()
    admit(record, CONTACT, CATALOG)
    refuse_abort(record)  # open, before the pivot: an abort may undo it
    assert not finishing(record)
    record.ending, record.status = "abort", SagaStatus.RUNNING
    assert finishing(record)
    refuse_abort(record)  # an abort during an abort answers its end
    record.ending = "commit"
    with pytest.raises(StepRefused) as committing:
        refuse_abort(record)
    assert committing.value.code == "saga_committed" and "is being committed" in committing.value.message
    record.status = SagaStatus.COMMITTED
    assert not finishing(record)
    with pytest.raises(StepRefused) as committed:
        refuse_abort(record)
    assert "was committed" in committed.value.message
    crossed = opened()
    crossed.crossed = True
    with pytest.raises(StepRefused) as past:
        refuse_abort(crossed)
    assert past.value.code == "past_pivot" and "it can only be committed" in past.value.message


def test_the_public_outcome_from_a_stored_record_is_the_records_own() -> None:
    record = opened()
    admit(record, CONTACT, CATALOG)
    admit(record, NOTIFY, CATALOG)
    verify(record, "contact")
    contact = record.step("contact")
    assert contact is not None and contact.result is not None
    contact.result["id"] = "512"
    record.bell, record.timer_at, record.ending = 7, 900.0, "commit"
    public = record.public_json(CATALOG)  # says the summary, as the engine does before it stores
    stored = record.model_dump(mode="json", exclude_none=True)
    assert public_of(stored) == public == record.stored_public_json()
    assert not {"bell", "timer_at", "ending", "crossed"} & set(public_of(stored))
    assert all(not {"params", "request", "registered"} & set(step) for step in public_of(stored)["steps"])
