"""`Saga/{run_id}/run`: an open saga's engine, one Restate invocation for the saga's whole life.

It holds the saga's record in memory (a replay after a crash rebuilds it) and drives the engine's
one step API (`pivot.compensations.saga.Saga`) over it, as a plan does. Agents never call it: the
shared handlers deliver their calls through durable promises ("bells", `open_saga_waits`) and
wait for its reply. Everything that can take long is a future in one `restate.wait_completed`:
the next bell, the writes in flight, the gated steps' invocations, the idle/deadline timer, the
timers of calls waiting for the steps in flight. Restate journals the order in which they
complete, so the loop replays identically: each future is created once and kept until it
completes (a new `value()` or `sleep()` per turn would be a new journal entry every turn).

Per plain step this is: the bell's value, a fence (`protocol.fence`, which also dates the call for
the idle timeout), the write's `ctx.run`, the record's state write, the reply. A gated step (an
approval that may take days) runs in an invocation of its own (`SagaStep.run`), so that an abort
can cancel it; its progress comes back as a bell, its end as the result the engine attaches to.
The end — commit, abort, an idle timeout or deadline, a failure that closes the saga — first lets
the writes in flight land (gated steps are cancelled), then runs `Saga.commit`, `Saga.abort` or
`Saga.end_after_failure`; every caller waiting is answered with the final outcome, which is also
the workflow's output, and the calls that rang meanwhile are answered from the closed record.
"""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import restate
from pydantic import TypeAdapter
from restate import TerminalError, WorkflowContext

from pivot.compensations import clock
from pivot.compensations.actions import Catalog, JsonDict
from pivot.compensations.admission import StepRefused, admit
from pivot.compensations.attempts import is_cancel
from pivot.compensations.error_body import ErrorBody, error_body
from pivot.compensations.errors import ErrorInfo
from pivot.compensations.kinds import SagaStatus, StepKind, StepState
from pivot.compensations.open_calls import OpenRequest, StepRequest
from pivot.compensations.open_ledger import (
    absorb,
    check_timers,
    expiry_reason,
    finishing,
    progress,
    refuse_abort,
    settle,
)
from pivot.compensations.outcome import Outcome, summarize
from pivot.compensations.protocol import AlertSink, ApprovalGate, RunChain, fence, iso, start_write
from pivot.compensations.record import Ending, SagaRecord, StepRecord, public_of
from pivot.compensations.saga import Saga
from pivot.services.handlers.names import CLAIM_HEADER, SAGA_RUN, SAGA_STEP
from pivot.services.handlers.open_saga_waits import (
    ENGINE_STATE,
    RECORD_STATE,
    bell,
    refused,
    step_view,
)

log = logging.getLogger("pivot.saga")
_DURATION = TypeAdapter(timedelta)
Future = Any


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


@dataclass
class Waiter:
    """A caller waiting for its answer: a step's outcome (`target`), or the saga's (None)."""

    reply: str
    target: str | None = None
    asked: str | None = None
    duplicate: bool = False
    until_final: bool = False


class Engine:
    def __init__(self, ctx: WorkflowContext, catalog: Catalog, gate: ApprovalGate | None,
                 alert: AlertSink | None):
        self.ctx = ctx
        self.key = ctx.key()
        self.catalog = catalog
        self.gate = gate
        self.alert = alert
        self.record: SagaRecord | None = None
        self.saga: Saga | None = None
        self.taken = False
        self.next_bell = 0
        self.bell: Future = ctx.promise(bell(0), type_hint=dict).value()
        self.timer: Future | None = None
        self.writes: dict[str, Future] = {}
        """Plain steps whose journaled write is in flight, by step id."""
        self.gated: dict[str, Future] = {}
        """Gated steps running in their own invocation (`SagaStep.run`), attached to, by step id."""
        self.queued: list[tuple[JsonDict, Future | None]] = []
        """Calls that wait for the steps in flight (a pivot, a commit), each with its own timer."""
        self.waiting: list[Waiter] = []
        self.outbox: list[tuple[str, Waiter | ErrorBody]] = []
        self.ending: Ending | None = None
        self.end_reason: str | None = None
        self.failed_step: str | None = None
        self.dirty = False
        """The record changed and readers must see it: it is written at the end of this turn."""
        self.stale = False
        """The record changed, but it is written only with an answer (a plain step's "running")."""
        self.shown: JsonDict | None = None

    # -- the loop ------------------------------------------------------------------------------
    async def serve(self) -> JsonDict:
        while not self.over():
            self.flush()
            await self.turn()
        self.flush()
        if self.ending is not None:
            await self.finish()
            self.flush()
        final = self.final_outcome()
        await self.drain()
        return final

    def over(self) -> bool:
        return self.taken or (self.ending is not None and not self.in_flight())

    def in_flight(self) -> bool:
        return bool(self.writes or self.gated)

    async def turn(self) -> None:
        waits: list[Future] = [*self.writes.values(), *self.gated.values(), self.bell]
        waits += [t for t in (self.timer,) if t is not None]
        waits += [timer for _, timer in self.queued if timer is not None]
        try:
            done, _ = await restate.wait_completed(*waits)
        except TerminalError as exc:
            if not is_cancel(exc):
                raise
            self.on_cancel()
            return
        for step_id, write in list(self.writes.items()):
            if write in done:
                del self.writes[step_id]
                await self.on_write(step_id, write)
        for step_id, attached in list(self.gated.items()):
            if attached in done:
                del self.gated[step_id]
                await self.on_gated(step_id, attached)
        if self.timer is not None and self.timer in done:
            await self.timer
            await self.on_timer()
        for entry in list(self.queued):
            if entry[1] is not None and entry[1] in done:
                await entry[1]
                self.queued.remove(entry)
                self.refuse(entry[0]["reply"], self.busy(entry[0]))
        if self.bell in done:
            message: JsonDict = await self.bell
            self.next_bell += 1
            self.bell = self.ctx.promise(bell(self.next_bell), type_hint=dict).value()
            await self.on_message(message)
        if self.queued and (not self.in_flight() or self.ending is not None):
            queued, self.queued = self.queued, []
            for message, timer in queued:
                await self.on_message(message, timer)

    async def drain(self) -> None:
        """Answer the calls that rang after the end (the saga is closed: replays and refusals)."""
        while True:
            peeked: Any = self.ctx.promise(bell(self.next_bell), type_hint=dict).peek()
            message: JsonDict | None = await peeked
            if message is None:
                return
            self.next_bell += 1
            await self.on_message(message)
            self.flush()

    # -- the record and the answers --------------------------------------------------------------
    def write_record(self, record: SagaRecord) -> None:
        """Make the record visible to readers (`status`, the shared handlers), once per change."""
        record.summary = summarize(record, self.catalog)
        record.bell = self.next_bell
        body = record.model_dump(mode="json", exclude_none=True)
        if body != self.shown:
            self.shown = body
            self.ctx.set(RECORD_STATE, body)

    def flush(self) -> None:
        """Publish what changed when someone is answered now or readers must see it (a gate, an end
        that waits for writes in flight), then answer: after the state write, so that a caller who
        reads the status next sees what it was answered. A plain step's "running" is never written
        on its own: its one write is its verified (or failed) state, with its answer."""
        if self.record is not None and (self.dirty or (self.stale and self.outbox)):
            self.dirty = self.stale = False
            self.write_record(self.record)
        if not self.outbox:
            return
        public = public_of(self.shown) if self.shown is not None and self.record is not None else None
        for reply, answer in self.outbox:
            if isinstance(answer, ErrorBody):
                body = refused(answer)
            else:
                assert public is not None
                view = public if answer.target is None else step_view(public, answer.target, answer.asked,
                                                                       answer.duplicate)
                body = {"ok": view}
            self.ctx.promise(reply, type_hint=dict).resolve(body)
        self.outbox.clear()

    def final_outcome(self) -> JsonDict:
        if self.record is None or self.shown is None:
            missing = Outcome(run_id=self.key, status=SagaStatus.NOT_FOUND,
                              summary=f"Run id {self.key} names a plan saga, not an open one.")
            return missing.model_dump(mode="json")
        return public_of(self.shown)

    def answer(self, waiter: Waiter, wait: bool) -> None:
        """Answer now, or once the step settles (or the saga ends) for a caller that waits."""
        record = self.record
        assert record is not None
        step = record.step(waiter.target) if waiter.target is not None else None
        if wait and step is not None and step.in_flight:
            waiter.until_final = self.ending is not None
            self.waiting.append(waiter)
        elif wait and finishing(record):
            waiter.until_final = True
            self.waiting.append(waiter)
        else:
            self.outbox.append((waiter.reply, waiter))

    def release(self, step_id: str | None = None) -> None:
        """Answer the callers waiting for a step that settled (None: for the saga's end)."""
        keep = []
        for waiter in self.waiting:
            if step_id is None or (waiter.target == step_id and not waiter.until_final):
                self.outbox.append((waiter.reply, waiter))
            else:
                keep.append(waiter)
        self.waiting = keep

    def hurry(self, reply: str) -> None:
        """A caller's `wait_s` passed: answer it now with what is true (its step keeps going). A call
        that waits for the steps in flight is answered by its own timer instead."""
        for waiter in self.waiting:
            if waiter.reply == reply:
                self.waiting.remove(waiter)
                self.outbox.append((reply, waiter))
                return

    def refuse(self, reply: str, refusal: StepRefused | ErrorBody) -> None:
        body = refusal.error(self.key) if isinstance(refusal, StepRefused) else refusal
        self.outbox.append((reply, body))

    def busy(self, message: JsonDict) -> ErrorBody:
        record = self.record
        ids = ", ".join(s.id for s in record.in_flight()) if record is not None else ""
        if message.get("kind") == "commit":
            return error_body(409, "busy", f"steps are still in flight ({ids}); commit once they have finished, "
                              "or abort", run=self.key)
        return error_body(409, "busy", f"the pivot waits for steps in flight ({ids}); ask for it again once they "
                          "have finished", run=self.key, step=message["step"]["step"])

    def queue(self, message: JsonDict, wait_s: float, timer: Future | None) -> None:
        """A call that must wait for the steps in flight waits at most its `wait_s` (then 409 busy)."""
        if timer is None and wait_s <= 0:
            self.refuse(message["reply"], self.busy(message))
            return
        self.queued.append((message, timer or self.ctx.sleep(timedelta(seconds=wait_s))))

    # -- the saga's life ------------------------------------------------------------------------
    async def create(self, request: OpenRequest, reply: str) -> bool:
        """Open the saga (the first call: `open`, or a step with the defaults). One run id names one
        saga: a plan under the same id would share its idempotency keys, so the id is claimed through
        the plan workflow, which runs once per key. A key whose workflow was invoked already (a plan,
        finished or parked for days, or this saga's own earlier claim) is refused at once by Restate
        (409 "the workflow method was already invoked"): only then is its status asked, to tell
        which."""
        ctx = self.ctx
        try:
            raw = await ctx.generic_call(SAGA_RUN, "run", arg=b"{}", key=self.key, headers={CLAIM_HEADER: "open"})
            claimed = json.loads(raw or b"{}").get("mode") == "open"
        except TerminalError:
            status = json.loads(await ctx.generic_call(SAGA_RUN, "status", arg=b"", key=self.key) or b"{}")
            claimed = status.get("mode") == "open"  # claimed already, by a first call that was then refused
        if not claimed:
            self.taken = True
            ctx.set(ENGINE_STATE, {"bell": self.next_bell, "taken": True})
            self.refuse(reply, error_body(409, "run_id_taken", f"run id {self.key} already names a plan saga; "
                                          "use a new run id", run=self.key))
            return False
        now = await clock.now(ctx)
        self.record = SagaRecord(
            run_id=self.key, status=SagaStatus.OPEN, mode="open", on_failure=request.on_failure,
            idle_timeout=_DURATION.dump_python(request.idle_timeout, mode="json"),
            deadline=iso(now + request.deadline.total_seconds()), opened_at=now, last_call_at=now,
            idle_timeout_s=request.idle_timeout.total_seconds(), deadline_at=now + request.deadline.total_seconds(),
        )
        self.saga = Saga(ctx, self.key, self.catalog, gate=self.gate, alert=self.alert, record=self.record,
                         publish=self.write_record)
        return True

    def arm(self, now: float) -> None:
        """Keep one timer for the idle timeout and the deadline; a call moves the idle time later, so
        the pending timer fires first and re-arms for what is left (no new timer per call)."""
        record = self.record
        assert record is not None
        due = check_timers(record, now).next_at
        if due is None or (self.timer is not None and record.timer_at is not None and record.timer_at <= due):
            return
        self.timer = self.ctx.sleep(timedelta(seconds=max(0.0, due - now)))
        record.timer_at = due

    async def on_timer(self) -> None:
        self.timer = None
        record = self.record
        if record is None or not record.is_open or self.ending is not None:
            return
        record.timer_at = None
        now = await clock.now(self.ctx)
        check = check_timers(record, now)
        if check.expired is None:
            self.arm(now)
            return
        reason = expiry_reason(record, check.expired)
        if record.crossed:  # past the point of no return the only way is forward
            record.reason = f"{reason}; it was past its point of no return, so it was committed"
            self.end("commit")
        else:
            self.end("abort", reason)

    def on_cancel(self) -> None:
        """Restate cancelled the engine (an operator): unwind, as a cancelled plan does."""
        record = self.record
        if record is not None and self.ending is None and not record.crossed:
            self.end("abort", "the saga was cancelled")

    def end(self, mode: Ending, reason: str | None = None, step: str | None = None) -> None:
        """Stop taking steps. The end itself runs once the writes in flight have landed; a gated step
        is cancelled (its approval stops waiting) unless the saga commits."""
        record = self.record
        assert record is not None
        self.ending, self.end_reason, self.failed_step = mode, reason, step
        record.ending = mode
        if mode != "commit":
            record.drop_pending()
            for step_id in self.gated:
                gated = record.step(step_id)
                if gated is not None and gated.invocation:
                    self.ctx.cancel_invocation(gated.invocation)
        if mode == "abort":
            record.reason = reason
        record.status = SagaStatus.RUNNING
        self.timer = None
        if self.in_flight():  # readers must not take it for open while the writes land
            self.dirty = True
        else:  # the end starts at once, and shows itself
            self.stale = True
        for waiter in self.waiting:
            waiter.until_final = True

    async def finish(self) -> None:
        saga, record = self.saga, self.record
        assert saga is not None and record is not None
        if self.ending == "commit":
            saga.chain = RunChain()  # the commit's first unit proves its freshness with a fence of its own
            await saga.commit()
        elif self.ending == "abort":
            await saga.abort(self.end_reason)
        else:
            failed = record.step(self.failed_step or "")
            assert failed is not None
            await saga.end_after_failure(failed)
        self.dirty = True
        self.release()

    # -- the calls ------------------------------------------------------------------------------
    async def on_message(self, message: JsonDict, timer: Future | None = None) -> None:
        kind = message.get("kind")
        if kind == "progress":
            if self.record is not None:
                incoming = StepRecord.model_validate(message["step"])
                progress(self.record, incoming)
                self.dirty = True
                parked = self.record.step(incoming.id)
                if parked is not None and parked.state is StepState.WAITING_APPROVAL and self.ending is None:
                    self.release(incoming.id)  # a gate may wait for days: its callers hear it now
        elif kind == "hurry":
            self.hurry(message["reply"])
        elif self.taken:
            self.refuse(message["reply"], error_body(409, "run_id_taken", f"run id {self.key} already names a plan "
                                                     "saga; use a new run id", run=self.key))
        elif kind == "open":
            await self.on_open(message)
        elif kind == "step":
            await self.on_step(message, timer)
        elif kind == "commit":
            self.on_commit(message, timer)
        elif kind == "abort":
            self.on_abort(message)

    async def on_open(self, message: JsonDict) -> None:
        reply = message["reply"]
        request = OpenRequest.model_validate(message["open"])
        record = self.record
        if record is None:
            if not await self.create(request, reply):
                return
            assert self.record is not None
            self.arm(self.record.opened_at or 0)
            self.dirty = True
        elif (record.on_failure, record.idle_timeout_s) != (request.on_failure, request.idle_timeout.total_seconds()):
            self.refuse(reply, error_body(
                409, "saga_exists", f"saga {self.key} is already open with other settings "
                f"(on_failure={record.on_failure}, idle_timeout={record.idle_timeout})", run=self.key,
                field="on_failure" if record.on_failure != request.on_failure else "idle_timeout"))
            return
        self.outbox.append((reply, Waiter(reply)))

    async def on_step(self, message: JsonDict, timer: Future | None) -> None:
        request = StepRequest.model_validate(message["step"])
        reply, wait = message["reply"], bool(message.get("wait"))
        created = self.record is None
        if created and not await self.create(OpenRequest(), reply):
            return
        record, saga = self.record, self.saga
        assert record is not None and saga is not None
        try:
            admission = admit(record, request.spec(), self.catalog)
        except StepRefused as refusal:
            if created:  # a refused first step opens nothing (the claim on the run id stays)
                self.record = self.saga = None
            self.refuse(reply, refusal)
            return
        if admission.verdict == "busy":
            self.queue(message, request.wait_s, timer)
            return
        step = admission.step
        assert step is not None
        began = await self.start(step) if admission.verdict == "run" else None
        if record.is_open:
            now = began if began is not None else await clock.now(self.ctx)
            record.last_call_at = now
            self.arm(now)
        if admission.verdict == "run" and step.gate is None and step.in_flight:
            self.stale = True  # shown with its verified state, or when its caller is answered first
        elif admission.verdict in {"run", "deferred"}:
            self.dirty = True
        self.answer(Waiter(reply, step.id, request.step, admission.verdict == "duplicate"), wait)

    def on_commit(self, message: JsonDict, timer: Future | None) -> None:
        reply, wait_s = message["reply"], float(message.get("wait_s") or 0)
        record = self.record
        if record is None:
            self.refuse(reply, error_body(404, "no_saga", f"no saga {self.key}: nothing to commit", run=self.key))
            return
        if record.is_open and self.ending is None:
            if self.in_flight():
                self.queue(message, wait_s, timer)
                return
            record.status = SagaStatus.RUNNING
            self.end("commit")
        self.answer(Waiter(reply), wait_s > 0)

    def on_abort(self, message: JsonDict) -> None:
        reply = message["reply"]
        record = self.record
        if record is None:
            self.refuse(reply, error_body(404, "no_saga", f"no saga {self.key}: nothing to abort", run=self.key))
            return
        try:
            refuse_abort(record)
        except StepRefused as refusal:
            self.refuse(reply, refusal)
            return
        if record.is_open and self.ending is None:
            self.end("abort", message.get("reason") or "the agent aborted the saga")
        self.answer(Waiter(reply), bool(message.get("wait")))

    # -- steps ----------------------------------------------------------------------------------
    async def start(self, step: StepRecord) -> float | None:
        """Start a step's write (a future the loop waits on); returns the call's journaled time when
        its fence gave one. A gated step runs in an invocation of its own, which an abort cancels."""
        ctx, record, saga = self.ctx, self.record, self.saga
        assert record is not None and saga is not None
        if step.gate is not None:
            job = {"record": record.model_dump(mode="json", exclude_none=True), "step": step.id}
            step.invocation = await ctx.generic_send(SAGA_STEP, "run", arg=_json(job)).invocation_id()
            self.gated[step.id] = ctx.attach_invocation(step.invocation, type_hint=dict)
            return None
        prepared = await saga.prepare(step)  # a plain step: params, its compensation registered first
        if isinstance(prepared, ErrorInfo):
            await self.failed(step, prepared)
            return None
        # A fence per step: whether it runs now or is replayed tells whether an earlier attempt may
        # have sent this write (the engine's writes are concurrent and it suspends between calls, so
        # the previous write says nothing), and its journaled time dates the call.
        fresh = await fence(ctx, step.id)
        self.writes[step.id] = start_write(ctx, self.key, step, self.catalog[step.action], prepared, saga.chain,
                                           fresh)
        return fresh.began

    async def on_write(self, step_id: str, write: Future) -> None:
        record, saga = self.record, self.saga
        assert record is not None and saga is not None
        step = record.step(step_id)
        assert step is not None
        failure = await saga.collect({step_id: write})
        if failure is None:
            # A pivot that lands while the saga ends (an abort waited for it) is undone with the rest.
            if step.kind is StepKind.PIVOT and not record.crossed and self.ending is None:
                record.cross()
        else:
            await self.failed(*failure)
        self.dirty = True
        if self.ending is None:
            self.release(step_id)

    async def failed(self, step: StepRecord, error: ErrorInfo) -> None:
        saga = self.saga
        assert saga is not None
        if self.ending is not None:
            step.state, step.error = StepState.FAILED, error
        elif not await saga.absorb_failure(step, error):
            self.end("fail", step=step.id)

    async def on_gated(self, step_id: str, attached: Future) -> None:
        record = self.record
        assert record is not None
        step = record.step(step_id)
        assert step is not None
        try:
            incoming = StepRecord.model_validate(await attached)
        except TerminalError as exc:  # never leave a step "running" forever
            incoming = step.model_copy(update={"state": StepState.FAILED, "error": ErrorInfo(
                code="cancelled" if is_cancel(exc) else "step_failed", message=exc.message)})
        if self.ending is not None:
            absorb(step, incoming)  # the saga is ending: a pivot that landed now is undone with the rest
        elif settle(record, incoming):
            self.end("fail", step=step_id)
        self.dirty = True
        if self.ending is None:
            self.release(step_id)
