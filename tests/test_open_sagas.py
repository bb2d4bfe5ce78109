"""Open sagas through the real ingress: an agent builds the saga one tool call at a time, and gets
every guarantee a plan has. Each test proves its effects against the sandboxes' ledgers."""

import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from pivot.compensations.keys import forward_key
from pivot.services.client import PivotClient, RunConflictError, StepConflictError, StepRejectedError
from pivot.services.local.demo import DEMO_CHANNEL, flagship_plan, flagship_steps
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes

CONTACT, INVOICE, NOTIFY = "hubspot.create_contact", "stripe.create_invoice", "slack.post_message"


def new_run(prefix: str = "open") -> tuple[str, str]:
    token = uuid.uuid4().hex[:12]
    return f"{prefix}-{token}", f"ada+{token}@example.com"


def take(client: PivotClient, run_id: str, call: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return client.step(run_id, call["step"], call["action"], call["params"], **extra)


def states(outcome: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["state"] for s in outcome["steps"]}


def ledgers(stack: Stack, sandboxes: Sandboxes) -> dict[str, int]:
    return {p: len(sandboxes.ledger(p)) for p in stack.sandbox_urls}


def test_flagship_as_tool_calls_defers_the_slack_post_to_commit(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run()
    contact, notify, invoice = flagship_steps(email)

    first = take(pivot, run_id, contact)
    assert first["step"]["state"] == "verified" and first["saga"]["status"] == "open"
    assert first["step"]["result"]["email"] == email  # the verified record, read back
    deferred = take(pivot, run_id, notify)
    assert deferred["step"]["state"] == "deferred" and "runs only at commit" in deferred["saga"]["summary"]
    assert sandboxes.effects_of("slack", run_id, "notify", NOTIFY) == []
    billed = take(pivot, run_id, invoice)
    assert billed["step"]["state"] == "verified" and billed["step"]["result"]["amount_due"] == 12000
    assert sandboxes.effects_of("slack", run_id, "notify", NOTIFY) == []  # still nothing announced

    outcome = pivot.commit(run_id)

    assert outcome["status"] == "committed", outcome
    assert states(outcome) == {"contact": "verified", "notify": "verified", "invoice": "verified"}
    assert outcome["mode"] == "open"
    assert next(s for s in outcome["steps"] if s["id"] == "invoice")["kind"] == "pivot"  # the implied pivot
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]
    assert Counter(sandboxes.ops("stripe", run_id, "invoice", INVOICE)) == Counter(
        {("create", "invoice"): 1, ("create", "invoiceitem"): 1, ("finalize", "invoice"): 1})
    assert sandboxes.ops("slack", run_id, "notify", NOTIFY) == [("send", "message")]
    posted = sandboxes.slack_messages_with_key(DEMO_CHANNEL, forward_key(run_id, "notify", NOTIFY))
    assert [m["text"] for m in posted] == [f"Invoice {billed['step']['result']['number']} is on its way to {email}"]
    assert pivot.status(run_id) == outcome
    assert pivot.commit(run_id) == outcome  # committing again answers the same outcome


def test_invoice_failing_after_the_post_was_asked_undoes_the_contact_and_sends_nothing(
    pivot: PivotClient, sandboxes: Sandboxes
) -> None:
    run_id, email = new_run()
    contact, notify, invoice = flagship_steps(email)
    rule = sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="error", status=500, times=None)
    take(pivot, run_id, contact)
    take(pivot, run_id, notify)

    answer = take(pivot, run_id, invoice)

    assert answer["step"]["state"] == "failed" and answer["step"]["error"]["code"] == "provider_unavailable"
    saga = answer["saga"]
    assert saga["status"] == "compensated", saga
    assert states(saga) == {"contact": "compensated", "notify": "not_run", "invoice": "failed"}
    assert "not sent" in next(s for s in saga["steps"] if s["id"] == "notify")["note"]
    assert sandboxes.fault_hits("stripe", rule) == 5
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact"), ("archive", "contact")]
    assert sandboxes.effects_of("slack", run_id, "notify", NOTIFY) == []
    assert sandboxes.slack_messages_with_key(DEMO_CHANNEL, forward_key(run_id, "notify", NOTIFY)) == []
    assert "No Slack message was sent" in saga["summary"] and "archived" in saga["summary"]
    assert pivot.status(run_id) == saga


def test_replay_conflict_and_closed_saga_write_nothing(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes
) -> None:
    run_id, email = new_run()
    contact, _, invoice = flagship_steps(email)
    first = take(pivot, run_id, contact)
    before = ledgers(stack, sandboxes)

    assert take(pivot, run_id, contact)["step"] == first["step"]  # same id, same call: the recorded answer
    other = {**contact, "params": {**contact["params"], "email": "someone.else@example.com"}}
    with pytest.raises(StepConflictError) as conflict:
        take(pivot, run_id, other)
    assert conflict.value.code == "step_conflict"
    assert "params.email" in conflict.value.message and "someone.else@example.com" in conflict.value.message
    with pytest.raises(StepConflictError) as renamed:
        pivot.step(run_id, "contact", "hubspot.create_deal", {"dealname": "x"})
    assert "action" in renamed.value.message
    assert ledgers(stack, sandboxes) == before

    take(pivot, run_id, invoice)
    pivot.commit(run_id)
    after_commit = ledgers(stack, sandboxes)
    with pytest.raises(StepConflictError) as closed:
        pivot.step(run_id, "late", CONTACT, {"email": "late@example.com"})
    assert closed.value.code == "saga_closed"
    assert take(pivot, run_id, contact)["step"] == first["step"]  # a replay still answers, after commit too
    assert ledgers(stack, sandboxes) == after_commit


def test_bad_input_is_a_400_naming_the_problem_and_records_nothing(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes
) -> None:
    run_id, _ = new_run()
    before = ledgers(stack, sandboxes)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"step": "a", "action": "fax.send", "params": {}}, "unknown action"),
        ({"step": "a", "action": CONTACT, "params": {"emial": "x@example.com"}}, "emial"),
        ({"step": "a", "action": CONTACT, "params": {"email": "x" * 20_000}}, "longer than"),
        ({"step": "a", "action": CONTACT, "params": {"email": "a@b.c"}, "wait_s": "soon"}, "wait_s"),
        ({"step": "a", "action": CONTACT, "params": {"email": "a@b.c"}, "wait_s": 10_000}, "wait_s"),
        ({"step": "a", "action": CONTACT, "params": {"email": "a@b.c"}, "surprise": 1}, "surprise"),
        ({"step": "has space", "action": CONTACT, "params": {"email": "a@b.c"}}, "step"),
        ({"step": "a", "action": CONTACT, "params": {"email": {"$from": "ghost.email"}}}, "ghost"),
        ({"step": "a", "action": "slack.post_message", "pivot": True, "params": {"channel": "C1", "text": "x"}},
         "may not be the pivot"),
    ]
    for body, needle in cases:
        response = httpx.post(f"{stack.ingress_url}/Saga/{run_id}/step", json=body, timeout=30)
        assert response.status_code == 400, (body, response.text)
        assert needle in response.text, (needle, response.text)
    deep = "[" * 5_000 + "]" * 5_000
    for raw in (b"not json", deep.encode(), b"{" + b'"a":' * 3 + b"}", b"x" * 100_000):
        response = httpx.post(f"{stack.ingress_url}/Saga/{run_id}/step", content=raw, timeout=30,
                              headers={"content-type": "application/json"})
        assert response.status_code == 400, (raw[:40], response.text)
    bad_open = httpx.post(f"{stack.ingress_url}/Saga/{run_id}/open", json={"idle_timeout": "P90D"}, timeout=30)
    assert bad_open.status_code == 400 and "idle_timeout" in bad_open.text
    with pytest.raises(StepRejectedError) as rejected:
        pivot.step(run_id, "a", CONTACT, {"email": 7})
    assert rejected.value.violations and rejected.value.violations[0]["path"].startswith("params.email")

    assert pivot.status(run_id)["status"] == "not_found"  # nothing was recorded, not even the saga
    assert ledgers(stack, sandboxes) == before
    first = pivot.step(run_id, "a", CONTACT, {"email": f"{run_id}@example.com"})  # the run id is still free
    assert first["step"]["state"] == "verified" and first["saga"]["status"] == "open"
    assert pivot.abort(run_id)["status"] == "compensated"


def test_report_policy_keeps_the_saga_open_for_another_route(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run()
    contact, notify, invoice = flagship_steps(email)
    opened = pivot.open(run_id, on_failure="report")
    assert opened["status"] == "open" and opened["on_failure"] == "report"
    take(pivot, run_id, contact)
    take(pivot, run_id, notify)

    wrong = pivot.step(run_id, "invoice-first-try", INVOICE,
                       {**invoice["params"], "customer": "cus_DoesNotExist0"})

    assert wrong["step"]["state"] == "failed" and wrong["step"]["error"]["code"] == "resource_missing"
    assert wrong["step"]["compensation"] == "Stripe holds no invoice for this step"  # its lookup by key
    assert wrong["saga"]["status"] == "open"
    assert states(wrong["saga"]) == {"contact": "verified", "notify": "deferred", "invoice-first-try": "failed"}
    assert sandboxes.effects_of("stripe", run_id, "invoice-first-try", INVOICE) == []

    take(pivot, run_id, invoice)  # another route: the customer that exists
    outcome = pivot.commit(run_id)

    assert outcome["status"] == "committed", outcome
    assert "without step 'invoice-first-try'" in outcome["summary"]
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]
    assert sandboxes.ops("slack", run_id, "notify", NOTIFY) == [("send", "message")]
    assert [op for op in sandboxes.ops("stripe", run_id, "invoice", INVOICE) if op[1] == "invoice"] == [
        ("create", "invoice"), ("finalize", "invoice")]


def test_five_parallel_steps_then_abort_undo_each_once(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run()
    calls = [{"step": f"c{i}", "action": CONTACT, "params": {"email": f"p{i}.{email}"}} for i in range(5)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda call: take(pivot, run_id, call), calls))
    assert [a["step"]["state"] for a in answers] == ["verified"] * 5
    assert len(pivot.status(run_id)["steps"]) == 5

    outcome = pivot.abort(run_id, "the user changed their mind")

    assert outcome["status"] == "compensated", outcome
    assert set(states(outcome).values()) == {"compensated"}
    assert outcome["reason"] == "the user changed their mind"
    for call in calls:
        assert sandboxes.ops("hubspot", run_id, call["step"], CONTACT) == [("create", "contact"),
                                                                           ("archive", "contact")]
    assert pivot.abort(run_id) == outcome  # aborting again answers the same outcome


def test_explicit_pivot_runs_later_steps_at_once_and_refuses_undoable_ones(
    pivot: PivotClient, sandboxes: Sandboxes
) -> None:
    run_id, email = new_run()
    contact, notify, invoice = flagship_steps(email)
    take(pivot, run_id, contact)
    take(pivot, run_id, invoice, pivot=True)
    with pytest.raises(StepConflictError) as late:
        pivot.step(run_id, "deal", "hubspot.create_deal", {"dealname": "after the pivot"})
    assert late.value.code == "after_pivot"
    with pytest.raises(StepConflictError) as no_abort:
        pivot.abort(run_id)
    assert no_abort.value.code == "past_pivot"

    sent = take(pivot, run_id, notify)  # past the pivot a noncompensable step runs at once
    assert sent["step"]["state"] == "verified"
    assert sandboxes.ops("slack", run_id, "notify", NOTIFY) == [("send", "message")]
    assert pivot.commit(run_id)["status"] == "committed"
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]


def test_idle_timeout_unwinds_an_abandoned_saga(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run()
    contact, notify, _ = flagship_steps(email)
    pivot.open(run_id, idle_timeout="PT2S")
    take(pivot, run_id, contact)
    take(pivot, run_id, notify)

    wait_until(lambda: pivot.status(run_id)["status"] == "compensated", timeout_s=60, what="the idle unwind")
    outcome = pivot.status(run_id)

    assert "idle timeout" in outcome["reason"] and "idle timeout" in outcome["summary"]
    assert states(outcome) == {"contact": "compensated", "notify": "not_run"}
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact"), ("archive", "contact")]
    assert sandboxes.effects_of("slack", run_id, "notify", NOTIFY) == []


def test_deadline_unwinds_a_saga_kept_busy_past_it(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, email = new_run()
    pivot.open(run_id, idle_timeout="PT1H", deadline="PT3S")
    take(pivot, run_id, flagship_steps(email)[0])

    wait_until(lambda: pivot.status(run_id)["status"] == "compensated", timeout_s=60, what="the deadline unwind")

    outcome = pivot.status(run_id)
    assert "deadline" in outcome["reason"]
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact"), ("archive", "contact")]


def test_one_run_id_names_one_saga(pivot: PivotClient, sandboxes: Sandboxes) -> None:
    plan_run, email = new_run("plan")
    assert pivot.run(plan_run, flagship_plan(email))["status"] == "committed"
    with pytest.raises(StepConflictError) as taken:
        take(pivot, plan_run, flagship_steps(email)[0])
    assert taken.value.code == "run_id_taken"
    assert pivot.status(plan_run)["status"] == "committed"  # the plan's outcome, untouched

    open_run, email = new_run()
    take(pivot, open_run, flagship_steps(email)[0])
    with pytest.raises(RunConflictError):
        pivot.run(open_run, flagship_plan(email))
    response = httpx.post(f"{pivot._http.base_url}/SagaRun/{open_run}/run", json=flagship_plan(email), timeout=30)
    assert response.status_code == 409
    assert pivot.status(open_run)["mode"] == "open"
    assert sandboxes.ops("hubspot", open_run, "contact", CONTACT) == [("create", "contact")]
    assert sandboxes.effects_of("hubspot", plan_run, "contact", CONTACT)[0]["op"] == "create"
    assert len(sandboxes.effects_of("hubspot", plan_run, "contact", CONTACT)) == 1


def test_contract_shapes_over_plain_http(stack: Stack, sandboxes: Sandboxes) -> None:
    run_id, email = new_run()
    url = f"{stack.ingress_url}/Saga/{run_id}"
    opened = httpx.post(f"{url}/open", json={"idle_timeout": "PT15M", "deadline": "P7D", "on_failure": "unwind"},
                        timeout=30)
    assert opened.status_code == 200 and opened.json()["status"] == "open"
    assert opened.json()["idle_timeout"] == "PT15M"
    step = httpx.post(f"{url}/step", json={**flagship_steps(email)[0], "wait_s": 30}, timeout=60).json()
    assert set(step) == {"step", "saga"} and step["saga"]["steps"][0] == step["step"]
    assert not {"params", "registered", "invocation", "request", "gate"} & set(step["step"])  # engine-only fields
    status = httpx.post(f"{url}/status", timeout=30).json()
    assert status == step["saga"]
    aborted = httpx.post(f"{url}/abort", json={"reason": "testing the contract"}, timeout=60)
    assert aborted.status_code == 200 and aborted.json()["status"] == "compensated"
    assert httpx.post(f"{url}/commit", timeout=60).json()["status"] == "compensated"


def test_a_step_that_parks_at_a_gate_is_answered_at_once_not_after_its_wait(
        pivot: PivotClient, sandboxes: Sandboxes) -> None:
    """An approval may take days: the caller hears "waiting_approval" as the gate opens, though it
    asked to wait the longest a call may (before, the call held on for its whole `wait_s`)."""
    from pivot.compensations.open_calls import MAX_WAIT_S
    from tests.conftest import APPROVER_TOKENS

    run_id, email = new_run()
    contact, _, invoice = flagship_steps(email)
    take(pivot, run_id, contact)
    answered = take(pivot, run_id, invoice, approval={"approvers": ["finance"]}, wait_s=MAX_WAIT_S)
    assert answered["step"]["state"] == "waiting_approval" and answered["step"]["approval"]["approvers"] == ["finance"]
    assert sandboxes.effects_of("stripe", run_id, "invoice", "stripe.create_invoice") == []
    pivot.decide(f"{run_id}~invoice", approver="finance", token=APPROVER_TOKENS["finance"], approved=True)
    assert take(pivot, run_id, invoice, approval={"approvers": ["finance"]})["step"]["state"] == "verified"
    assert pivot.commit(run_id)["status"] == "committed"
