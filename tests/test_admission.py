"""The open saga's rules, offline: what a saga does with one more step, and when it is abandoned."""

import pytest

from pivot.compensations.admission import StepRefused, admit
from pivot.compensations.kinds import SagaStatus, StepKind, StepState
from pivot.compensations.open_ledger import check_timers, settle
from pivot.compensations.plan import StepSpec
from pivot.compensations.record import SagaRecord
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
