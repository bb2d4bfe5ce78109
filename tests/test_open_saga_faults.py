"""Open sagas under crashes and long waits: SIGKILL of the service or of restate-server mid-step,
mid-commit (while deferred steps run), mid-abort and mid-idle-unwind; an approval gate on a step.
Every saga ends committed or compensated, and the ledgers show each effect exactly once."""

from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from pivot.services.client import PivotClient, StepConflictError
from pivot.services.local.demo import flagship_steps
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import Stack
from tests.conftest import APPROVER_TOKENS
from tests.sandboxes import Sandboxes
from tests.test_approvals import decide, inbox, park
from tests.test_open_sagas import CONTACT, INVOICE, NOTIFY, new_run, states, take

POOL = ThreadPoolExecutor(max_workers=4)


def in_background(call: Callable[[], dict[str, Any]]) -> Future[dict[str, Any]]:
    return POOL.submit(call)


def hold(sandboxes: Sandboxes, provider: str, method: str, path: str, *, ms: int = 1500, times: int = 1) -> str:
    """Hold the next matching request(s) at the provider for 1.5 s: it lands after the crash."""
    return sandboxes.fault(provider, method=method, path=path, action="latency", latency_ms=ms, times=times)


def hold_contacts(sandboxes: Sandboxes, *, ms: int = 1500, times: int = 1) -> str:
    return hold(sandboxes, "hubspot", "POST", "/crm/v3/objects/contacts", ms=ms, times=times)


def crash(stack: Stack, what: str) -> None:
    if what == "service":
        stack.restart_service()
    else:
        stack.restart_restate()
        stack.register()


def settled(sandboxes: Sandboxes, provider: str, rule: str) -> None:
    wait_until(lambda: sandboxes.fault_held(provider, rule) == 0, timeout_s=30, what="the held request")


def survive(future: Future[dict[str, Any]], again: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The agent's answer: the call it was making, or, if restate-server died under that call, the
    same call asked again (same step id, so it attaches to what ran instead of running twice)."""
    try:
        return future.result(timeout=120)
    except httpx.HTTPError:
        return again()


def assert_committed_once(sandboxes: Sandboxes, run_id: str, outcome: dict[str, Any]) -> None:
    assert outcome["status"] == "committed", outcome
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]
    assert Counter(sandboxes.ops("stripe", run_id, "invoice", INVOICE)) == Counter(
        {("create", "invoice"): 1, ("create", "invoiceitem"): 1, ("finalize", "invoice"): 1})
    assert sandboxes.ops("slack", run_id, "notify", NOTIFY) == [("send", "message")]


@pytest.mark.parametrize("what", ["service", "restate"])
def test_crash_mid_step(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, what: str) -> None:
    run_id, email = new_run(f"crash-step-{what}")
    contact, notify, invoice = flagship_steps(email)
    rule = hold_contacts(sandboxes)
    call = in_background(lambda: take(pivot, run_id, contact))
    wait_until(lambda: sandboxes.fault_hits("hubspot", rule) == 1, timeout_s=60, what="the contact create in flight")

    crash(stack, what)
    answer = survive(call, lambda: take(pivot, run_id, contact))
    settled(sandboxes, "hubspot", rule)

    assert answer["step"]["state"] == "verified", answer
    take(pivot, run_id, notify)
    take(pivot, run_id, invoice)
    assert_committed_once(sandboxes, run_id, pivot.commit(run_id))


@pytest.mark.parametrize("what", ["service", "restate"])
def test_crash_mid_commit_while_deferred_steps_run(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, what: str
) -> None:
    run_id, email = new_run(f"crash-commit-{what}")
    for call in flagship_steps(email):
        take(pivot, run_id, call)
    rule = hold(sandboxes, "slack", "POST", "/api/chat.postMessage")
    commit = in_background(lambda: pivot.commit(run_id))
    wait_until(lambda: sandboxes.fault_hits("slack", rule) == 1, timeout_s=60, what="the deferred post in flight")

    crash(stack, what)
    outcome = survive(commit, lambda: pivot.commit(run_id))
    settled(sandboxes, "slack", rule)

    assert_committed_once(sandboxes, run_id, outcome)


@pytest.mark.parametrize("what", ["service", "restate"])
def test_crash_mid_abort(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, what: str) -> None:
    run_id, email = new_run(f"crash-abort-{what}")
    contact, notify, _ = flagship_steps(email)
    take(pivot, run_id, contact)
    take(pivot, run_id, notify)
    rule = hold(sandboxes, "hubspot", "DELETE", "/crm/v3/objects/contacts/*")
    abort = in_background(lambda: pivot.abort(run_id, "crash test"))
    wait_until(lambda: sandboxes.fault_hits("hubspot", rule) == 1, timeout_s=60, what="the archive in flight")

    crash(stack, what)
    outcome = survive(abort, lambda: pivot.abort(run_id))
    settled(sandboxes, "hubspot", rule)

    assert outcome["status"] == "compensated", outcome
    assert Counter(op for op, _ in sandboxes.ops("hubspot", run_id, "contact", CONTACT)) == Counter(
        {"create": 1, "archive": 1})
    assert sandboxes.effects_of("slack", run_id, "notify", NOTIFY) == []


@pytest.mark.parametrize("what", ["service", "restate"])
def test_crash_with_two_steps_in_flight(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, what: str) -> None:
    """The engine runs both writes in one invocation: after the crash each is resolved by its own
    lookup (one contact each), each caller gets its own step, and the abort undoes each once."""
    run_id, email = new_run(f"crash-two-{what}")
    calls = [{"step": f"c{i}", "action": CONTACT, "params": {"email": f"p{i}.{email}"}} for i in range(2)]
    rule = hold_contacts(sandboxes, times=2)
    running = [in_background(lambda call=call: take(pivot, run_id, call)) for call in calls]
    wait_until(lambda: sandboxes.fault_hits("hubspot", rule) == 2, timeout_s=60, what="both creates in flight")

    crash(stack, what)
    answers = [survive(future, lambda call=call: take(pivot, run_id, call))
               for future, call in zip(running, calls, strict=True)]
    settled(sandboxes, "hubspot", rule)

    assert [a["step"]["id"] for a in answers] == ["c0", "c1"]
    assert [a["step"]["state"] for a in answers] == ["verified", "verified"], answers
    outcome = pivot.abort(run_id, "crash test")
    assert outcome["status"] == "compensated", outcome
    for call in calls:
        assert Counter(op for op, _ in sandboxes.ops("hubspot", run_id, call["step"], CONTACT)) == Counter(
            {"create": 1, "archive": 1})


def test_service_crash_mid_idle_unwind(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run("crash-idle")
    pivot.open(run_id, idle_timeout="PT2S")
    take(pivot, run_id, flagship_steps(email)[0])
    rule = hold(sandboxes, "hubspot", "DELETE", "/crm/v3/objects/contacts/*")
    wait_until(lambda: sandboxes.fault_hits("hubspot", rule) == 1, timeout_s=60, what="the idle unwind's archive")

    stack.restart_service()
    wait_until(lambda: pivot.status(run_id)["status"] == "compensated", timeout_s=60, what="the unwind to finish")
    settled(sandboxes, "hubspot", rule)

    assert "idle timeout" in pivot.status(run_id)["reason"]
    assert Counter(op for op, _ in sandboxes.ops("hubspot", run_id, "contact", CONTACT)) == Counter(
        {"create": 1, "archive": 1})


def _gated(pivot: PivotClient, run_id: str, email: str) -> dict[str, Any]:
    contact, notify, invoice = flagship_steps(email)
    take(pivot, run_id, contact)
    take(pivot, run_id, notify)
    return take(pivot, run_id, invoice, approval={"approvers": ["finance"], "timeout": "P1D",
                                                   "reason": "first invoice for a new customer"}, wait_s=1)


def test_approval_gate_on_a_step(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run("open-approval")
    parked = _gated(pivot, run_id, email)

    assert parked["step"]["state"] == "waiting_approval", parked
    assert parked["step"]["approval"]["approvers"] == ["finance"] and parked["saga"]["status"] == "open"
    assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []
    approval = f"{run_id}~invoice"
    wait_until(lambda: any(a["approval_id"] == approval for a in inbox(pivot)), timeout_s=30,
               what="the approval in the inbox")
    pending = next(a for a in inbox(pivot) if a["approval_id"] == approval)
    assert [d["id"] for d in pending["done"]] == ["contact", "notify"]

    pivot.decide(approval, approver="finance", token=APPROVER_TOKENS["finance"], approved=True, comment="ok")
    invoice = flagship_steps(email)[2]
    answer = take(pivot, run_id, invoice, approval={"approvers": ["finance"], "timeout": "P1D",
                                                    "reason": "first invoice for a new customer"})

    assert answer["step"]["state"] == "verified", answer
    assert answer["step"]["decision"]["approver"] == "finance"
    assert_committed_once(sandboxes, run_id, pivot.commit(run_id))


def test_abort_cancels_a_step_waiting_for_approval(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run("open-approval-abort")
    assert _gated(pivot, run_id, email)["step"]["state"] == "waiting_approval"

    outcome = pivot.abort(run_id, "no longer needed")

    assert outcome["status"] == "compensated", outcome
    assert states(outcome) == {"contact": "compensated", "notify": "not_run", "invoice": "failed"}
    assert next(s for s in outcome["steps"] if s["id"] == "invoice")["error"]["code"] == "cancelled"
    wait_until(lambda: all(a["approval_id"] != f"{run_id}~invoice" for a in inbox(pivot)),
               timeout_s=30, what="the inbox to drop the cancelled approval")
    assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []
    assert sandboxes.effects_of("slack", run_id, "notify", NOTIFY) == []
    assert [op for op, _ in sandboxes.ops("hubspot", run_id, "contact", CONTACT)] == ["create", "archive"]


def test_pivot_and_commit_wait_for_steps_in_flight(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run("open-in-flight")
    contact, notify, invoice = flagship_steps(email)
    rule = hold_contacts(sandboxes)
    slow = in_background(lambda: take(pivot, run_id, contact))
    wait_until(lambda: sandboxes.fault_hits("hubspot", rule) == 1, timeout_s=60, what="the contact create in flight")

    crossed = take(pivot, run_id, invoice, pivot=True)  # asked while the contact is still being written

    assert crossed["step"]["state"] == "verified", crossed
    assert slow.result(timeout=60)["step"]["state"] == "verified"
    assert [s["id"] for s in crossed["saga"]["steps"]] == ["contact", "invoice"]
    take(pivot, run_id, notify)
    assert_committed_once(sandboxes, run_id, pivot.commit(run_id))


def test_a_run_id_that_a_parked_plan_holds_is_refused_at_once(pivot: PivotClient) -> None:
    """The claim on the run id does not wait for a plan parked on its approval: it is refused."""
    run_id, approval = park(pivot)
    with pytest.raises(StepConflictError) as taken:
        pivot.step(run_id, "other", CONTACT, {"email": f"{run_id}@example.com"})
    assert taken.value.code == "run_id_taken"
    with pytest.raises(StepConflictError):
        pivot.open(run_id)
    assert pivot.status(run_id)["status"] == "waiting_approval"  # the plan's, untouched
    decide(pivot, approval, approved=False, comment="cleanup")
    assert pivot.attach(run_id)["status"] == "compensated"


def test_a_step_longer_than_its_wait_answers_running_and_asking_again_attaches(
    pivot: PivotClient, sandboxes: Sandboxes
) -> None:
    run_id, email = new_run("open-long-step")
    contact, _, invoice = flagship_steps(email)
    rule = hold_contacts(sandboxes, ms=3000)

    early = take(pivot, run_id, contact, wait_s=0.5)  # the write is held longer than that
    assert early["step"]["state"] == "running" and early["saga"]["status"] == "open", early
    assert pivot.status(run_id) == early["saga"]  # what it was answered is what the status says
    at_once = take(pivot, run_id, contact, wait_s=0)
    assert at_once["step"]["state"] == "running"
    later = take(pivot, run_id, contact)  # the same step id: attaches, writes nothing more

    assert later["step"]["state"] == "verified", later
    assert sandboxes.fault_hits("hubspot", rule) == 1
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]
    take(pivot, run_id, invoice)
    assert pivot.commit(run_id)["status"] == "committed"


def test_a_pivot_or_commit_that_waits_too_long_for_steps_in_flight_is_busy_and_records_nothing(
    pivot: PivotClient, sandboxes: Sandboxes
) -> None:
    run_id, email = new_run("open-busy")
    contact, notify, invoice = flagship_steps(email)
    rule = hold_contacts(sandboxes, ms=3000)
    slow = in_background(lambda: take(pivot, run_id, contact))
    wait_until(lambda: sandboxes.fault_hits("hubspot", rule) == 1, timeout_s=60, what="the contact create in flight")

    with pytest.raises(StepConflictError) as pivot_busy:
        take(pivot, run_id, invoice, pivot=True, wait_s=0.5)
    with pytest.raises(StepConflictError) as commit_busy:
        pivot.commit(run_id, wait_s=0)

    assert pivot_busy.value.code == "busy" and "contact" in pivot_busy.value.message
    assert commit_busy.value.code == "busy"
    assert slow.result(timeout=60)["step"]["state"] == "verified"
    assert [s["id"] for s in pivot.status(run_id)["steps"]] == ["contact"]  # the pivot was not recorded
    assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []
    take(pivot, run_id, notify)
    take(pivot, run_id, invoice, pivot=True)
    assert_committed_once(sandboxes, run_id, pivot.commit(run_id))
