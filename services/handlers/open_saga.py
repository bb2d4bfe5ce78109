"""`Saga/{run_id}`: an open saga that an agent builds one tool call at a time.

Restate runs a virtual object's exclusive handlers one at a time per key, so an exclusive
handler that waited (for an approval, for a provider's long retries) would hold every other
call on the saga, `abort` and the idle timer included. Here nothing exclusive ever waits:

- the ledger (`admit`, `settle`, `progress`, `publish`, `snapshot`, `expire`, `admit_commit`,
  `admit_abort`: exclusive, private to the service) only reads and writes the saga's record;
- each step runs as its own invocation (`SagaStep.run`), and so does the end, commit or unwind
  (`SagaFinish.run`); the ledger keeps their invocation ids to attach to or cancel;
- what the agent calls (`step`, `commit`, `abort`, `status`) is shared: it asks the ledger,
  then waits on the step's (or the end's) invocation for at most `wait_s`, and answers with
  what is true then. Asking again attaches to the same invocation: nothing runs twice.

Several step calls at once are admitted one after the other (a few milliseconds each, in the
ledger) and their writes then run concurrently, each in its own invocation.
"""

import json
from datetime import timedelta
from typing import Any

import restate
from pydantic import TypeAdapter
from restate import ObjectContext, ObjectSharedContext, TerminalError
from restate.serde import BytesSerde

from pivot.compensations import clock
from pivot.compensations.actions import Catalog, JsonDict
from pivot.compensations.admission import StepRefused, admit, refuse_if_invalid
from pivot.compensations.error_body import refusal
from pivot.compensations.kinds import SagaStatus
from pivot.compensations.open_calls import CallRejected, FinishRequest, OpenRequest, StepRequest, decode_call
from pivot.compensations.open_ledger import check_timers, expiry_reason, progress, settle
from pivot.compensations.outcome import Outcome, summarize
from pivot.compensations.preview import preview
from pivot.compensations.protocol import iso
from pivot.compensations.record import Ending, SagaRecord, StepRecord
from pivot.services.handlers.empty_body import expect_empty
from pivot.services.handlers.names import CLAIM_HEADER, SAGA, SAGA_FINISH, SAGA_RUN, SAGA_STEP, SUSPEND_AFTER
from pivot.services.handlers.open_saga_waits import attach_within, wait_all_within

RECORD_STATE = "outcome"
"""The record is a superset of the outcome, under the same state key as a plan's outcome, so
`pivot list` and `pivot journal` read both kinds of saga alike."""
_DURATION = TypeAdapter(timedelta)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def open_saga_object(catalog: Catalog) -> restate.VirtualObject:
    saga = restate.VirtualObject(SAGA, inactivity_timeout=SUSPEND_AFTER)

    # -- the record ------------------------------------------------------------------------
    async def load(ctx: ObjectContext | ObjectSharedContext) -> SagaRecord | None:
        raw = await ctx.get(RECORD_STATE, type_hint=dict)
        return SagaRecord.model_validate(raw) if raw else None

    def store(ctx: ObjectContext, record: SagaRecord) -> None:
        record.summary = summarize(record, catalog)
        ctx.set(RECORD_STATE, record.model_dump(mode="json", exclude_none=True))

    def view(record: SagaRecord, step_id: str | None = None) -> JsonDict:
        """What an agent is answered: the step's outcome (if any) and the saga's."""
        public = record.public_json(catalog)
        answer: JsonDict = {"saga": public, "finisher": record.finisher}
        if step_id is not None:
            answer["step"] = next(s for s in public["steps"] if s["id"] == step_id)
        return answer

    async def create(ctx: ObjectContext, request: OpenRequest) -> SagaRecord:
        # One run id names one saga: a plan under the same id would share this saga's idempotency
        # keys. Claim it through the plan workflow, which runs once per key: its answer is the claim,
        # or the outcome of the plan that had the id first. (Asking its status first answers a taken
        # id at once, instead of waiting for a plan that may be parked for days.)
        status = json.loads(await ctx.generic_call(SAGA_RUN, "status", arg=b"", key=ctx.key()) or b"{}")
        claimed = status.get("mode") == "open"  # claimed already, by a first call that was then refused
        if not claimed and status.get("status") == "not_found":
            try:
                raw = await ctx.generic_call(SAGA_RUN, "run", arg=b"{}", key=ctx.key(),
                                             headers={CLAIM_HEADER: "open"})
                claimed = json.loads(raw or b"{}").get("mode") == "open"
            except TerminalError:  # a plan took the id in between (and was rejected)
                claimed = False
        if not claimed:
            raise refusal(409, "run_id_taken", f"run id {ctx.key()} already names a plan saga; use a new run id",
                          run=ctx.key())
        now = await clock.now(ctx)
        return SagaRecord(
            run_id=ctx.key(), status=SagaStatus.OPEN, mode="open", on_failure=request.on_failure,
            idle_timeout=_DURATION.dump_python(request.idle_timeout, mode="json"),
            deadline=iso(now + request.deadline.total_seconds()), opened_at=now, last_call_at=now,
            idle_timeout_s=request.idle_timeout.total_seconds(), deadline_at=now + request.deadline.total_seconds(),
        )

    def arm(ctx: ObjectContext, record: SagaRecord, now: float) -> None:
        """Make sure an `expire` will look at the saga by the time it could be abandoned (the caller
        stores the record, which says when the pending one fires)."""
        due = check_timers(record, now).next_at
        if due is None or (record.timer_at is not None and record.timer_at <= due):
            return  # none needed, or the pending one fires first and re-arms for what is left
        ctx.object_send(expire, key=ctx.key(), arg=None, send_delay=timedelta(seconds=max(0.0, due - now)))
        record.timer_at = due

    async def start_finisher(ctx: ObjectContext, record: SagaRecord, mode: Ending, **job: Any) -> None:
        """Start the end of the saga. With no step to wait for, the record goes along (the finisher
        owns it from now on); otherwise the finisher reads it once those steps have reported."""
        record.ending = mode
        if not job.get("wait_for"):
            job["record"] = record.model_dump(mode="json", exclude_none=True)
        handle = ctx.generic_send(SAGA_FINISH, "run", arg=_json({"run_id": record.run_id, "mode": mode, **job}))
        record.finisher = await handle.invocation_id()

    async def begin_abort(ctx: ObjectContext, record: SagaRecord, reason: str) -> None:
        """Cancel the steps in flight (a step parked on an approval stops waiting), drop the deferred
        ones unsent, and let the finisher unwind once the cancelled steps have settled."""
        in_flight = [s.invocation for s in record.in_flight() if s.invocation]
        for invocation in in_flight:
            ctx.cancel_invocation(invocation)
        record.reason = reason
        record.status = SagaStatus.RUNNING
        record.drop_pending()
        await start_finisher(ctx, record, "abort", reason=reason, wait_for=in_flight)

    # -- the ledger (exclusive, never waits) -------------------------------------------------
    @saga.handler("open", input_serde=BytesSerde())
    async def open_(ctx: ObjectContext, body: bytes) -> JsonDict:
        """Open the saga with its timeouts and failure policy (optional: the first step opens it
        with the defaults). Opening again with the same settings answers the saga as it is."""
        try:
            request = decode_call(OpenRequest, body, optional=True)
        except CallRejected as rejected:
            raise rejected.error(ctx.key()).terminal() from None
        record = await load(ctx)
        if record is None:
            record = await create(ctx, request)
            arm(ctx, record, record.opened_at or 0)
            store(ctx, record)
        elif (record.on_failure, record.idle_timeout_s) != (request.on_failure, request.idle_timeout.total_seconds()):
            raise refusal(409, "saga_exists", f"saga {ctx.key()} is already open with other settings "
                          f"(on_failure={record.on_failure}, idle_timeout={record.idle_timeout})", run=ctx.key(),
                          field="on_failure" if record.on_failure != request.on_failure else "idle_timeout")
        return view(record)["saga"]  # type: ignore[no-any-return]

    @saga.handler("admit", ingress_private=True)
    async def admit_step(ctx: ObjectContext, request: JsonDict) -> JsonDict:
        step_request = StepRequest.model_validate(request)
        record = await load(ctx) or await create(ctx, OpenRequest())
        try:
            admission = admit(record, step_request.spec(), catalog)
        except StepRefused as refused:
            raise refused.error(ctx.key()).terminal() from None
        if admission.verdict == "busy":
            return {"verdict": "busy", "busy": [s.id for s in admission.busy],
                    "wait_for": [s.invocation for s in admission.busy if s.invocation]}
        step = admission.step
        assert step is not None
        if admission.verdict == "run":
            job = {"record": record.model_dump(mode="json", exclude_none=True), "step": step.id}
            step.invocation = await ctx.generic_send(SAGA_STEP, "run", arg=_json(job)).invocation_id()
        if record.is_open:
            now = await clock.now(ctx)
            record.last_call_at = now
            arm(ctx, record, now)
            store(ctx, record)
        duplicate = {"duplicate_of": step.id} if admission.verdict == "duplicate" else {}
        return {"verdict": admission.verdict, "invocation": step.invocation, **duplicate, **view(record, step.id)}

    @saga.handler("settle", ingress_private=True)
    async def settle_step(ctx: ObjectContext, report: JsonDict) -> JsonDict:
        """A step's invocation reports its final state (exactly the state it verified, or why not)."""
        record = await load(ctx)
        if record is None:
            raise refusal(404, "no_saga", f"no saga {ctx.key()}", run=ctx.key())
        incoming = StepRecord.model_validate(report)
        if settle(record, incoming):
            await start_finisher(ctx, record, "fail", step=incoming.id)
        now = await clock.now(ctx)
        if record.is_open:
            record.last_call_at = now
            arm(ctx, record, now)
        store(ctx, record)
        return view(record, incoming.id)

    @saga.handler("progress", ingress_private=True)
    async def progress_step(ctx: ObjectContext, report: JsonDict) -> None:
        record = await load(ctx)
        if record is not None:
            progress(record, StepRecord.model_validate(report))
            store(ctx, record)

    @saga.handler("publish", ingress_private=True)
    async def publish(ctx: ObjectContext, body: JsonDict) -> None:
        """The finisher owns the record while it commits or unwinds; this makes its progress visible."""
        store(ctx, SagaRecord.model_validate(body))

    @saga.handler("snapshot", ingress_private=True)
    async def snapshot(ctx: ObjectContext) -> JsonDict | None:
        """The record as it stands after every report queued before this call (exclusive: in order)."""
        record = await load(ctx)
        return record.model_dump(mode="json", exclude_none=True) if record else None

    @saga.handler("expire", ingress_private=True)
    async def expire(ctx: ObjectContext) -> None:
        """The idle timeout or the deadline, checked against the record: a late timer changes nothing."""
        record = await load(ctx)
        if record is None or not record.is_open:
            return
        record.timer_at = None
        now = await clock.now(ctx)
        check = check_timers(record, now)
        if check.expired is None:
            arm(ctx, record, now)
            store(ctx, record)
            return
        reason = expiry_reason(record, check.expired)
        if record.crossed:  # past the point of no return the only way is forward
            record.reason = f"{reason}; it was past its point of no return, so it was committed"
            record.status = SagaStatus.RUNNING
            await start_finisher(ctx, record, "commit")
        else:
            await begin_abort(ctx, record, reason)
        store(ctx, record)

    @saga.handler("admit_commit", ingress_private=True)
    async def admit_commit(ctx: ObjectContext) -> JsonDict:
        record = await load(ctx)
        if record is None:
            raise refusal(404, "no_saga", f"no saga {ctx.key()}: nothing to commit", run=ctx.key())
        if record.finisher is not None or not record.is_open:
            return {"verdict": "finishing" if record.finisher else "closed", **view(record)}
        if record.in_flight():
            return {"verdict": "busy", "busy": [s.id for s in record.in_flight()],
                    "wait_for": [s.invocation for s in record.in_flight() if s.invocation]}
        record.status = SagaStatus.RUNNING
        await start_finisher(ctx, record, "commit")
        store(ctx, record)
        return {"verdict": "finishing", **view(record)}

    @saga.handler("admit_abort", ingress_private=True)
    async def admit_abort(ctx: ObjectContext, reason: str | None) -> JsonDict:
        record = await load(ctx)
        if record is None:
            raise refusal(404, "no_saga", f"no saga {ctx.key()}: nothing to abort", run=ctx.key())
        if record.status is SagaStatus.COMMITTED or record.ending == "commit":
            done = "was committed" if record.status is SagaStatus.COMMITTED else "is being committed"
            raise refusal(409, "saga_committed", f"saga {ctx.key()} {done}: abort cannot undo a committed saga. "
                          "Nothing changed.", run=ctx.key())
        if record.crossed:
            rest = "it can only be committed" if record.is_open else f"it is {record.status.value}"
            raise refusal(409, "past_pivot", f"saga {ctx.key()} is past its point of no return; {rest} (nothing "
                          "was undone)", run=ctx.key())
        if record.finisher is not None or not record.is_open:
            return {"verdict": "finishing" if record.finisher else "closed", **view(record)}
        await begin_abort(ctx, record, reason or "the agent aborted the saga")
        store(ctx, record)
        return {"verdict": "finishing", **view(record)}

    # -- what agents call (shared: they wait, the ledger does not) ----------------------------
    @saga.handler("step", kind="shared", input_serde=BytesSerde(), enable_lazy_state=True)
    async def step(ctx: ObjectSharedContext, body: bytes) -> JsonDict:
        """Take one step: run it now (compensable), defer it to commit (retryable, noncompensable
        before the pivot), or answer its recorded result (a step id that ran already)."""
        try:
            request = decode_call(StepRequest, body)
        except CallRejected as rejected:
            raise rejected.error(ctx.key()).terminal() from None
        try:
            refuse_if_invalid(request.spec(), catalog)  # here already: a bad step never reaches the ledger
        except StepRefused as refused:
            raise refused.error(ctx.key()).terminal() from None
        timer = ctx.sleep(timedelta(seconds=request.wait_s)) if request.wait_s > 0 else None
        while True:
            answer: JsonDict = await ctx.object_call(admit_step, key=ctx.key(), arg=request.model_dump(mode="json"))
            if answer["verdict"] != "busy":
                break
            if not await wait_all_within(ctx, answer["wait_for"], timer):
                raise refusal(409, "busy", f"the pivot waits for steps in flight ({', '.join(answer['busy'])}); "
                              "ask for it again once they have finished", run=ctx.key(), step=request.step)
        twin = answer.get("duplicate_of")
        target = twin or request.step  # a duplicate answers the earlier step it repeats
        if answer["step"]["state"] in {"running", "waiting_approval"} and answer.get("invocation"):
            settled = await attach_within(ctx, answer["invocation"], timer)
            answer = settled if settled and "step" in settled else await current(ctx, target)
        if answer.get("finisher") and answer["saga"]["status"] == "running":
            final = await attach_within(ctx, answer["finisher"], timer)
            if final is not None:
                answer = {"saga": final, "step": next(s for s in final["steps"] if s["id"] == target)}
        step_answer = {**answer["step"], "id": request.step, "duplicate_of": twin} if twin else answer["step"]
        return {"step": step_answer, "saga": answer["saga"]}

    async def current(ctx: ObjectSharedContext, step_id: str | None = None) -> JsonDict:
        raw = await ctx.object_call(snapshot, key=ctx.key(), arg=None)
        return view(SagaRecord.model_validate(raw), step_id)

    async def finish(ctx: ObjectSharedContext, timer: Any, answer: JsonDict) -> JsonDict:
        if answer["verdict"] == "finishing" and answer.get("finisher"):
            final: JsonDict | None = await attach_within(ctx, answer["finisher"], timer)
            if final is not None:
                return final
            return (await current(ctx))["saga"]  # type: ignore[no-any-return]
        return answer["saga"]  # type: ignore[no-any-return]

    @saga.handler("commit", kind="shared", input_serde=BytesSerde(), enable_lazy_state=True)
    async def commit(ctx: ObjectSharedContext, body: bytes) -> JsonDict:
        """Cross the point of no return and run the deferred steps; answers the final outcome (or,
        after `wait_s`, the live one)."""
        try:
            request = decode_call(FinishRequest, body, optional=True)
        except CallRejected as rejected:
            raise rejected.error(ctx.key()).terminal() from None
        timer = ctx.sleep(timedelta(seconds=request.wait_s)) if request.wait_s > 0 else None
        while True:
            answer: JsonDict = await ctx.object_call(admit_commit, key=ctx.key(), arg=None)
            if answer["verdict"] != "busy":
                break
            if not await wait_all_within(ctx, answer["wait_for"], timer):
                raise refusal(409, "busy", f"steps are still in flight ({', '.join(answer['busy'])}); commit once "
                              "they have finished, or abort", run=ctx.key())
        return await finish(ctx, timer, answer)

    @saga.handler("abort", kind="shared", input_serde=BytesSerde(), enable_lazy_state=True)
    async def abort(ctx: ObjectSharedContext, body: bytes) -> JsonDict:
        """Undo every step that took effect, in reverse; steps in flight are cancelled first and
        deferred steps are dropped unsent."""
        try:
            request = decode_call(FinishRequest, body, optional=True)
        except CallRejected as rejected:
            raise rejected.error(ctx.key()).terminal() from None
        timer = ctx.sleep(timedelta(seconds=request.wait_s)) if request.wait_s > 0 else None
        answer: JsonDict = await ctx.object_call(admit_abort, key=ctx.key(), arg=request.reason)
        return await finish(ctx, timer, answer)

    @saga.handler("preview", kind="shared", input_serde=BytesSerde(), enable_lazy_state=True)
    async def preview_step(ctx: ObjectSharedContext, body: bytes) -> JsonDict:
        """What `step` would decide for this body — verdict, kind, keys, deferral, gate, the order
        check, resolved `$from` values, a duplicate — through the same admission code, writing nothing."""
        try:
            request = decode_call(StepRequest, body)
        except CallRejected as rejected:
            raise rejected.error(ctx.key()).terminal() from None
        record = await load(ctx)
        taken = False
        if record is None:  # the first step would claim the run id: is a plan holding it?
            status = json.loads(await ctx.generic_call(SAGA_RUN, "status", arg=b"", key=ctx.key()) or b"{}")
            taken = status.get("status") != "not_found" and status.get("mode") != "open"
        answer = preview(record, ctx.key(), request.spec(), catalog, taken_by_plan=taken)
        return answer.model_dump(mode="json")

    @saga.handler("status", kind="shared", input_serde=BytesSerde())
    async def status(ctx: ObjectSharedContext, body: bytes) -> JsonDict:
        expect_empty(body)
        record = await load(ctx)
        if record is None:
            missing = Outcome(run_id=ctx.key(), status=SagaStatus.NOT_FOUND,
                              summary="No saga with this run id has been opened.")
            return missing.model_dump(mode="json")
        return record.public_json(catalog)

    return saga
