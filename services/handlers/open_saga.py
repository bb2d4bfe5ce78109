"""`Saga/{run_id}`: an open saga that an agent builds one tool call at a time.

A Restate workflow keyed by the run id. Its main handler `run` is the saga's engine: one
invocation for the saga's whole life (`open_saga_engine`), private to the service. What agents
call (`open`, `step`, `commit`, `abort`, `status`, `preview`) are shared handlers: they validate
the call, answer at once what the published record already decides (a closed saga's replays and
refusals, a plain read), and otherwise deliver the call to the engine through a bell and wait for
its reply at most `wait_s`, answering with what is true then. Asking again attaches to the same
step: nothing runs twice. Nothing shared ever holds the saga: an abort reaches the engine while a
step waits for an approval, and the idle timer is the engine's own.

Starting the engine is the first call's job (`ctx.generic_send` of `run`); a second start is
refused by Restate (a workflow runs once per key), which is what makes it safe to race.
"""

import json
from dataclasses import dataclass

import restate
from restate import WorkflowContext, WorkflowSharedContext
from restate.serde import BytesSerde

from pivot.compensations.actions import Catalog, JsonDict
from pivot.compensations.admission import StepRefused, admit, refuse_if_invalid
from pivot.compensations.error_body import refusal
from pivot.compensations.kinds import SagaStatus
from pivot.compensations.open_calls import CallRejected, FinishRequest, OpenRequest, StepRequest, decode_call
from pivot.compensations.open_ledger import refuse_abort
from pivot.compensations.outcome import Outcome
from pivot.compensations.preview import preview
from pivot.compensations.protocol import AlertSink, ApprovalGate
from pivot.compensations.record import SagaRecord, public_of
from pivot.services.handlers.empty_body import expect_empty
from pivot.services.handlers.names import SAGA, SAGA_RUN, SUSPEND_AFTER
from pivot.services.handlers.open_saga_engine import Engine
from pivot.services.handlers.open_saga_waits import (
    ENGINE_STATE,
    RECORD_STATE,
    Timer,
    answered,
    ring,
    step_view,
    timer_for,
    within,
)

SharedContext = WorkflowSharedContext
CLOSED = frozenset(s.value for s in SagaStatus if s.is_final)


@dataclass
class Known:
    """What the published state says: the record (as stored, with the engine's next bell), or
    whether the run id names a plan (no record then)."""

    raw: JsonDict | None
    taken: bool = False

    @property
    def bell(self) -> int:
        return int((self.raw or {}).get("bell") or 0)

    @property
    def started(self) -> bool:
        """The engine runs (or ran): it published the record. Before that, every caller starts it
        (a second start of a workflow is refused by Restate: harmless)."""
        return self.raw is not None

    @property
    def is_open(self) -> bool:
        return self.raw is not None and self.raw.get("status") == SagaStatus.OPEN.value

    @property
    def is_closed(self) -> bool:
        """Committed, compensated or needing attention: its answers are all in the record."""
        return self.raw is not None and self.raw.get("status") in CLOSED

    def record(self) -> SagaRecord:
        assert self.raw is not None
        return SagaRecord.model_validate(self.raw)


def open_saga_workflow(catalog: Catalog, gate: ApprovalGate | None = None,
                       alert: AlertSink | None = None) -> restate.Workflow:
    saga = restate.Workflow(SAGA, inactivity_timeout=SUSPEND_AFTER)

    @saga.main(name="run", input_serde=BytesSerde(), ingress_private=True)
    async def run(ctx: WorkflowContext, _: bytes) -> JsonDict:
        """The engine: takes every call, runs every step, commits or unwinds; returns the final outcome."""
        return await Engine(ctx, catalog, gate, alert).serve()

    # -- what the shared handlers know ------------------------------------------------------
    async def known(ctx: SharedContext) -> Known:
        raw = await ctx.get(RECORD_STATE, type_hint=dict)
        if raw:
            return Known(raw)
        return Known(None, bool((await ctx.get(ENGINE_STATE, type_hint=dict) or {}).get("taken")))

    @saga.handler("live", input_serde=BytesSerde(), ingress_private=True)
    async def live(ctx: SharedContext, _: bytes) -> JsonDict:
        """The published state as it is now (a handler's own reads are as of its start)."""
        return {"record": await ctx.get(RECORD_STATE, type_hint=dict),
                "engine": await ctx.get(ENGINE_STATE, type_hint=dict)}

    async def known_now(ctx: SharedContext) -> Known:
        now: JsonDict = json.loads(await ctx.generic_call(SAGA, "live", arg=b"", key=ctx.key()))
        return Known(now.get("record") or None, bool((now.get("engine") or {}).get("taken")))

    def taken(ctx: SharedContext) -> Exception:
        return refusal(409, "run_id_taken", f"run id {ctx.key()} already names a plan saga; use a new run id",
                       run=ctx.key())

    async def tell(ctx: SharedContext, seen: Known, message: JsonDict) -> str:
        """Deliver a call to the engine (starting it on the first call); returns the reply's name."""
        if not seen.started:
            ctx.generic_send(SAGA, "run", arg=b"", key=ctx.key())
        reply = f"reply:{ctx.uuid()}"
        await ring(ctx, seen.bell, {**message, "reply": reply})
        return reply

    # -- what agents call ---------------------------------------------------------------------
    @saga.handler("open", input_serde=BytesSerde())
    async def open_(ctx: SharedContext, body: bytes) -> JsonDict:
        """Open the saga with its timeouts and failure policy (optional: the first step opens it
        with the defaults). Opening again with the same settings answers the saga as it is."""
        try:
            request = decode_call(OpenRequest, body, optional=True)
        except CallRejected as rejected:
            raise rejected.error(ctx.key()).terminal() from None
        seen = await known(ctx)
        if seen.taken:
            raise taken(ctx)
        if seen.raw is not None:
            record = seen.record()
            if (record.on_failure, record.idle_timeout_s) != (request.on_failure,
                                                              request.idle_timeout.total_seconds()):
                raise refusal(409, "saga_exists", f"saga {ctx.key()} is already open with other settings "
                              f"(on_failure={record.on_failure}, idle_timeout={record.idle_timeout})", run=ctx.key(),
                              field="on_failure" if record.on_failure != request.on_failure else "idle_timeout")
            return public_of(seen.raw)
        reply = await tell(ctx, seen, {"kind": "open", "open": request.model_dump(mode="json")})
        answer, pending = await within(ctx, reply, timer_for(ctx, 0))
        if answer is None:
            now = await known_now(ctx)
            if now.taken:
                raise taken(ctx)
            answer = await pending  # the engine is alive: it answers an open as soon as it reads it
        return answered(answer)

    @saga.handler("step", input_serde=BytesSerde())
    async def step(ctx: SharedContext, body: bytes) -> JsonDict:
        """Take one step: run it now (compensable), defer it to commit (retryable, noncompensable
        before the pivot), or answer its recorded result (a step id that ran already)."""
        try:
            request = decode_call(StepRequest, body)
        except CallRejected as rejected:
            raise rejected.error(ctx.key()).terminal() from None
        spec = request.spec()
        try:
            refuse_if_invalid(spec, catalog)  # here already: a bad step never reaches the engine
            seen = await known(ctx)
            if seen.taken:
                raise taken(ctx)
            if seen.raw is None:  # the saga's first step: refused on its own, it must not open one
                admit(SagaRecord(run_id=ctx.key(), status=SagaStatus.OPEN, mode="open"), spec, catalog)
            elif seen.is_closed:
                return closed_step(seen.record(), request)
        except StepRefused as refused:
            raise refused.error(ctx.key()).terminal() from None
        timer = timer_for(ctx, request.wait_s)
        reply = await tell(ctx, seen, {"kind": "step", "step": request.model_dump(mode="json"),
                                       "wait": request.wait_s > 0})
        answer, pending = await within(ctx, reply, timer)
        if answer is not None:
            return answered(answer)
        # wait_s passed: the step's state now
        now = await known_now(ctx)
        if now.taken:
            raise taken(ctx)
        if now.raw is not None and not now.is_open:  # ending: the engine may be busy with the end
            try:
                return closed_step(now.record(), request)
            except StepRefused as refused:  # what the engine answers too, once it reads the call
                raise refused.error(ctx.key()).terminal() from None
        await ring(ctx, now.bell, {"kind": "hurry", "reply": reply})  # the engine answers with what is true now
        return answered(await pending)

    def closed_step(record: SagaRecord, request: StepRequest) -> JsonDict:
        """A step call on a saga that takes no more steps: a replay answers the step as recorded;
        anything else is refused (`StepRefused`), as the engine would."""
        admission = admit(record, request.spec(), catalog)
        target = admission.step
        assert target is not None
        return step_view(record.public_json(catalog), target.id, request.step, admission.verdict == "duplicate")

    @saga.handler("commit", input_serde=BytesSerde())
    async def commit(ctx: SharedContext, body: bytes) -> JsonDict:
        """Cross the point of no return and run the deferred steps; answers the final outcome (or,
        after `wait_s`, the live one)."""
        try:
            request = decode_call(FinishRequest, body, optional=True)
        except CallRejected as rejected:
            raise rejected.error(ctx.key()).terminal() from None
        seen = await known(ctx)
        if seen.raw is None:
            raise refusal(404, "no_saga", f"no saga {ctx.key()}: nothing to commit", run=ctx.key())
        return await finish(ctx, seen, {"kind": "commit", "wait_s": request.wait_s}, timer_for(ctx, request.wait_s))

    @saga.handler("abort", input_serde=BytesSerde())
    async def abort(ctx: SharedContext, body: bytes) -> JsonDict:
        """Undo every step that took effect, in reverse; steps in flight land (or, waiting for an
        approval, are cancelled) first, and deferred steps are dropped unsent."""
        try:
            request = decode_call(FinishRequest, body, optional=True)
        except CallRejected as rejected:
            raise rejected.error(ctx.key()).terminal() from None
        seen = await known(ctx)
        if seen.raw is None:
            raise refusal(404, "no_saga", f"no saga {ctx.key()}: nothing to abort", run=ctx.key())
        try:
            refuse_abort(seen.record())
        except StepRefused as refused:
            raise refused.error(ctx.key()).terminal() from None
        message = {"kind": "abort", "reason": request.reason, "wait": request.wait_s > 0}
        return await finish(ctx, seen, message, timer_for(ctx, request.wait_s))

    async def finish(ctx: SharedContext, seen: Known, message: JsonDict, timer: Timer) -> JsonDict:
        if seen.is_closed:
            return public_of(seen.raw or {})
        reply = await tell(ctx, seen, message)  # open, or ending: the engine answers with its end
        answer, pending = await within(ctx, reply, timer)
        if answer is not None:
            return answered(answer)
        now = await known_now(ctx)
        if now.raw is not None and not now.is_open:  # the engine took it: the saga is ending (or ended)
            return public_of(now.raw)
        await ring(ctx, now.bell, {"kind": "hurry", "reply": reply})  # a commit waiting for steps: its own timer
        return answered(await pending)

    @saga.handler("preview", input_serde=BytesSerde())
    async def preview_step(ctx: SharedContext, body: bytes) -> JsonDict:
        """What `step` would decide for this body — verdict, kind, keys, deferral, gate, the order
        check, resolved `$from` values, a duplicate — through the same admission code, writing nothing."""
        try:
            request = decode_call(StepRequest, body)
        except CallRejected as rejected:
            raise rejected.error(ctx.key()).terminal() from None
        seen = await known(ctx)
        record = seen.record() if seen.raw is not None else None
        taken_by_plan = seen.taken
        if record is None and not taken_by_plan:  # the first step would claim the run id: is a plan holding it?
            status = json.loads(await ctx.generic_call(SAGA_RUN, "status", arg=b"", key=ctx.key()) or b"{}")
            taken_by_plan = status.get("status") != "not_found" and status.get("mode") != "open"
        answer = preview(record, ctx.key(), request.spec(), catalog, taken_by_plan=taken_by_plan)
        return answer.model_dump(mode="json")

    @saga.handler("status", input_serde=BytesSerde())
    async def status(ctx: SharedContext, body: bytes) -> JsonDict:
        expect_empty(body)
        raw = await ctx.get(RECORD_STATE, type_hint=dict)
        if not raw:
            missing = Outcome(run_id=ctx.key(), status=SagaStatus.NOT_FOUND,
                              summary="No saga with this run id has been opened.")
            return missing.model_dump(mode="json")
        return SagaRecord.model_validate(raw).public_json(catalog)

    @saga.handler("report", ingress_private=True)
    async def report(ctx: SharedContext, message: JsonDict) -> None:
        """A gated step's invocation reports a change (its gate opened or was decided) to the engine."""
        seen = await known(ctx)
        await ring(ctx, seen.bell, message)

    return saga
