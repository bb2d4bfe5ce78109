"""The saga engine's one step API: take a step, commit, abort, inside any Restate handler.

    async with Saga(ctx, run_id, catalog) as saga:
        contact = await saga.step("contact", "hubspot.create_contact", {"email": "ada@example.com"})
        await saga.step("notify", "slack.post_message", {"channel": "C024BE91L", "text": "Welcome!"})
        await saga.step("invoice", "stripe.create_invoice", {...}, pivot=True)
    # leaving the block commits (the deferred Slack post is sent now); a TerminalError unwinds

Per step: keys from (run, step, action) → params resolved from verified results → approval, if
gated → the compensation registered (in memory: on replay the same code registers it again
before it reaches the journaled write, so it needs no journal entry) → one journaled `ctx.run`
that looks up by key, writes if absent, reads back and verifies → the verified result recorded.
A terminal failure before the point of no return unwinds the registered compensations in
reverse (or, under the `report` policy, undoes just the failed step and leaves the saga open);
after it, nothing is unwound and the saga needs attention.

Three drivers use this class: a user's own handler (as above), the plan runner (`plans.py`),
and the open saga, whose one long-lived engine invocation drives each step's parts from here.
"""

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

import restate
from pydantic import BaseModel, ValidationError
from restate import Context, TerminalError

from pivot.compensations import strict_json
from pivot.compensations.actions import Catalog, CompensationReport, JsonDict
from pivot.compensations.admission import StepRefused, admit, resolve_params
from pivot.compensations.attempts import SETTLE_FIELD, error_info, is_cancel
from pivot.compensations.connections import DEFAULT_CONNECTION
from pivot.compensations.error_body import error_body
from pivot.compensations.errors import ErrorInfo
from pivot.compensations.kinds import SagaStatus, StepKind, StepState
from pivot.compensations.outcome import Outcome, StepOutcome
from pivot.compensations.plan import Approval, StepSpec
from pivot.compensations.protocol import (
    AlertSink,
    ApprovalGate,
    Freshness,
    RunChain,
    await_approval,
    deliver_alert,
    fence,
    let_in_flight_land,
    sleep_until,
    start_undo,
    start_write,
)
from pivot.compensations.record import OnFailure, SagaRecord, StepRecord

log = logging.getLogger("pivot.saga")

Publisher = Callable[[SagaRecord], None]
"""Makes the record visible to `status` readers (a state write); called once per transition."""




class SagaEnded(TerminalError):
    """`Saga.step` raises this when the step's failure ended the saga: it unwound (or, past the
    point of no return, needs attention). `outcome` is the verified outcome; the message is its
    summary, so an uncaught one fails the handler with the truth."""

    def __init__(self, outcome: Outcome):
        failed = next((s.id for s in outcome.steps if s.state is StepState.FAILED), None)
        body = error_body(409, "saga_ended", outcome.summary or f"saga {outcome.run_id} ended",
                          run=outcome.run_id, step=failed)
        super().__init__(body.message, status_code=409, metadata=body.metadata())
        self.outcome = outcome


class StepRefusedError(TerminalError):
    """A step the saga refused as asked (nothing was recorded or written), as a Restate error with
    the status an agent gets over HTTP: 400 wrong on its own, 409 in conflict with the saga."""

    def __init__(self, refused: StepRefused, run: str):
        body = refused.error(run)
        super().__init__(body.message, status_code=refused.status, metadata=body.metadata())
        self.refused = refused


class Saga:
    """One saga inside one Restate handler invocation. Its record is in memory; replay rebuilds it."""

    def __init__(
        self, ctx: Context, run_id: str, catalog: Catalog, *, on_failure: OnFailure = "unwind",
        gate: ApprovalGate | None = None, alert: AlertSink | None = None, publish: Publisher | None = None,
        record: SagaRecord | None = None,
    ):
        self.ctx = ctx
        self.run_id = run_id
        self.catalog = catalog
        self.gate = gate
        self.alert = alert
        self._publish = publish
        self.record = record or SagaRecord(run_id=run_id, status=SagaStatus.OPEN, on_failure=on_failure)
        self.params: dict[str, BaseModel] = {}
        self.chain = RunChain()

    @property
    def outcome(self) -> Outcome:
        return self.record.public(self.catalog)

    def publish(self) -> None:
        if self._publish is not None:
            self._publish(self.record)

    def _public_step(self, step: StepRecord) -> StepOutcome:
        return StepOutcome.model_validate(step.model_dump(include=set(StepOutcome.model_fields)))

    # -- the step API ------------------------------------------------------------------------
    async def step(
        self, step_id: str, action: str, params: dict[str, Any] | None = None, *, pivot: bool = False,
        approval: Approval | dict[str, Any] | None = None, connection: str = DEFAULT_CONNECTION,
        repeat: bool = False,
    ) -> StepOutcome:
        """Take one step. Compensable steps run now; retryable and noncompensable ones asked for
        before the point of no return are deferred to `commit`. Returns the step's verified outcome
        (or `deferred`); raises `SagaEnded` when its failure ended the saga, and a 400/409
        `TerminalError` when the step is refused (nothing was recorded or written). A step that makes
        the same write as an earlier one under another id answers that step's outcome marked
        `duplicate_of`, writing nothing, unless `repeat` says both writes are meant."""
        try:
            gate = strict_json.validate(Approval, approval) if isinstance(approval, dict) else approval
            spec = StepSpec(id=step_id, action=action, params=params or {}, pivot=pivot, connection=connection,
                            approval=gate, repeat=repeat)
            admission = admit(self.record, spec, self.catalog)
        except ValidationError as exc:
            raise StepRefusedError(StepRefused(400, "invalid_step", str(exc), step=step_id), self.run_id) from None
        except StepRefused as refused:
            raise StepRefusedError(refused, self.run_id) from None
        step = admission.step
        if admission.verdict == "busy" or step is None:
            raise StepRefusedError(StepRefused(409, "busy", "other steps are still running; await them first",
                                               step=step_id), self.run_id)
        if admission.verdict == "duplicate":
            return self._public_step(step).model_copy(update={"id": step_id, "duplicate_of": step.id})
        if admission.verdict == "deferred":
            self.publish()
        elif admission.verdict == "run":
            failure = await self.run_steps([step])
            if failure is not None:
                await self.fail(*failure)
                if not self.record.is_open:
                    raise SagaEnded(self.outcome)
        return self._public_step(step)

    async def commit(self) -> Outcome:
        """Cross the point of no return and run the deferred steps, in order; every one of them
        must succeed (a failure now is `needs_attention`, nothing is unwound)."""
        if self.record.status.is_final:
            raise StepRefusedError(StepRefused(409, "saga_closed", f"saga {self.run_id} is {self.record.status.value}"),
                                   self.run_id)
        deferred = self.record.deferred()
        for step in deferred:  # a deferred step that cannot run must stop the commit before it crosses
            resolved = resolve_params(step.params, self.catalog[step.action], self.record.results())
            if isinstance(resolved, ErrorInfo):
                if self.record.crossed:  # past an explicit pivot: nothing is undone, an operator must look
                    await self.fail(step, resolved)
                else:
                    await self._unwind_for(step, resolved)
                return self.outcome
        self.cross()
        self.record.status = SagaStatus.RUNNING
        self.publish()
        for step in deferred:
            failure = await self.run_steps([step])
            if failure is not None:
                await self.fail(*failure)
                return self.outcome
            if step is not deferred[-1]:
                self.publish()
        await self.finish(SagaStatus.COMMITTED)
        return self.outcome

    async def abort(self, reason: str | None = None) -> Outcome:
        """Undo every step that took effect, in reverse; deferred steps are dropped unsent."""
        if self.record.crossed:
            raise StepRefusedError(StepRefused(
                409, "past_pivot", f"saga {self.run_id} is past its point of no return; it can only be committed"),
                self.run_id)
        if self.record.status.is_final:
            return self.outcome
        self.record.reason = reason
        self.record.drop_pending()
        self.record.status = SagaStatus.RUNNING
        self.publish()
        clean = await self.unwind()
        await self.finish(SagaStatus.COMPENSATED if clean else SagaStatus.NEEDS_ATTENTION)
        return self.outcome

    async def __aenter__(self) -> "Saga":
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        """Commit when the block ends normally; unwind when it raised a TerminalError (a retryable
        exception is left to Restate, whose retry replays the journal and comes back here)."""
        if exc is None:
            if self.record.is_open:
                await self.commit()
        elif (isinstance(exc, TerminalError) and not isinstance(exc, SagaEnded) and self.record.is_open
              and not self.record.crossed):
            await self.abort(f"the handler failed: {exc.message}")

    # -- the parts every driver shares -------------------------------------------------------
    async def prepare(self, step: StepRecord) -> BaseModel | ErrorInfo:
        """Everything before a step's write: params from verified results, a schedule, an approval,
        and the compensation registered before the write (so a lost answer is undone too)."""
        action = self.catalog[step.action]
        params = resolve_params(step.params, action, self.record.results())
        if isinstance(params, ErrorInfo):
            return params
        self.params[step.id] = params
        try:
            if step.not_before is not None:
                await sleep_until(self.ctx, step.not_before.timestamp(), step.id)
            refusal = await self._approve(step, params) if step.gate is not None else None
        except TerminalError as exc:
            if not is_cancel(exc):
                raise
            refusal = ErrorInfo(code="cancelled", message="the saga was cancelled before this step ran")
        if refusal is not None:
            return refusal
        if not self.record.crossed and action.compensate is not None and step.kind in {
                StepKind.COMPENSABLE, StepKind.PIVOT}:
            step.registered = True
        step.state = StepState.RUNNING
        return params

    async def _approve(self, step: StepRecord, params: BaseModel) -> ErrorInfo | None:
        def changed(waiting: bool) -> None:
            if self.record.status in {SagaStatus.RUNNING, SagaStatus.WAITING_APPROVAL}:
                self.record.status = SagaStatus.WAITING_APPROVAL if waiting else SagaStatus.RUNNING
            self.publish()

        done = [{"id": s.id, "action": s.action, "ref": s.ref} for s in self.record.steps[: self._index(step)]]
        return await await_approval(self.ctx, self.gate, self.run_id, step, params, done, changed)

    def _index(self, step: StepRecord) -> int:
        return next(i for i, s in enumerate(self.record.steps) if s.id == step.id)

    async def run_steps(self, steps: list[StepRecord]) -> tuple[StepRecord, ErrorInfo] | None:
        """Prepare each step in turn, then let their writes run together and record each result.
        Returns the first failure; every other step keeps its own state and error."""
        writes: dict[str, Awaitable[JsonDict]] = {}
        # What the runs before this unit say, for every write of the unit (they are sent together, so
        # one member's freshness says nothing about another's); the invocation's first unit asks a fence.
        prior = self.chain.latest
        fresh = None if prior is None else Freshness(first=prior)
        for step in steps:
            prepared = await self.prepare(step)
            if isinstance(prepared, ErrorInfo):
                earlier = await self.collect(writes)  # a started write is awaited, never orphaned
                return earlier or (step, prepared)
            action = self.catalog[step.action]
            try:
                if fresh is None:
                    fresh = await fence(self.ctx, step.id)
                writes[step.id] = start_write(self.ctx, self.run_id, step, action, prepared, self.chain, fresh)
            except TerminalError as exc:  # cancelled at the fence: an earlier attempt's write may be in flight
                if not is_cancel(exc):
                    raise
                earlier = await self.collect(writes)
                await let_in_flight_land(self.ctx, [action], step.id)
                return earlier or (step, error_info(exc, action, action.retry))
        return await self.collect(writes)

    async def collect(self, writes: dict[str, Awaitable[JsonDict]]) -> tuple[StepRecord, ErrorInfo] | None:
        if not writes:
            return None
        steps = [self._must(step_id) for step_id in writes]
        actions = [self.catalog[s.action] for s in steps]
        try:
            if len(writes) > 1:
                await restate.gather(*writes.values())  # type: ignore[arg-type]
        except TerminalError as exc:
            if not is_cancel(exc):
                raise
            await let_in_flight_land(self.ctx, actions, steps[0].id)
            return steps[0], error_info(exc, actions[0], actions[0].retry)
        failure: tuple[StepRecord, ErrorInfo] | None = None
        for step, action, write in zip(steps, actions, writes.values(), strict=True):
            try:
                result = await write
            except TerminalError as exc:
                error = error_info(exc, action, action.retry)
                if error.detail and SETTLE_FIELD in error.detail:
                    step.settle_until = error.detail.pop(SETTLE_FIELD)
                    error.detail = error.detail or None
                if error.code == "cancelled":
                    await let_in_flight_land(self.ctx, [action], step.id)
                if failure is None:
                    failure = (step, error)
                else:
                    step.state, step.error = StepState.FAILED, error
                continue
            step.settle_until = result.pop(SETTLE_FIELD, None)
            step.state, step.ref, step.result = StepState.VERIFIED, result["ref"], result
        return failure

    def _must(self, step_id: str) -> StepRecord:
        step = self.record.step(step_id)
        assert step is not None, step_id
        return step

    def cross(self) -> None:
        self.record.cross()

    async def fail(self, step: StepRecord, error: ErrorInfo) -> None:
        """A step failed terminally. Past the point of no return: needs attention. Before it: unwind,
        or under the `report` policy undo just this step and keep the saga open."""
        if not await self.absorb_failure(step, error):
            await self.end_after_failure(step)

    async def absorb_failure(self, step: StepRecord, error: ErrorInfo) -> bool:
        """Record a step's terminal failure; True when the saga stays open (the `report` policy,
        before the point of no return, with the step's own effect undone), False when it must end
        (`end_after_failure`). A driver that has other steps in flight lets them land in between."""
        step.state, step.error = StepState.FAILED, error
        log.warning("run=%s step=%s failed: %s %s", self.run_id, step.id, error.code, error.message,
                    extra={"run_id": self.run_id, "step_id": step.id})
        # Under `report`, only a step that reached its write can have left an effect: its undo looks it
        # up by key, shows that nothing took effect (or undoes what did), and the saga stays open.
        if self.record.on_failure == "report" and self.record.is_open and not self.record.crossed and (
                not step.registered or await self.undo([step])):
            self.publish()
            return True
        return False

    async def end_after_failure(self, step: StepRecord) -> None:
        """Close the saga after `step` failed: past the point of no return it needs attention (nothing
        is unwound); before it, every registered compensation runs in reverse."""
        self.record.drop_pending()
        if self.record.crossed:
            self._log_attention(f"step '{step.id}' failed after the point of no return")
            await self.finish(SagaStatus.NEEDS_ATTENTION)
            return
        await self._unwind_for(step, None)

    async def _unwind_for(self, step: StepRecord, error: ErrorInfo | None) -> None:
        if error is not None:
            step.state, step.error = StepState.FAILED, error
        self.record.drop_pending()
        if not self.record.status.is_final:
            self.record.status = SagaStatus.RUNNING
        self.publish()
        clean = await self.unwind()
        await self.finish(SagaStatus.COMPENSATED if clean else SagaStatus.NEEDS_ATTENTION)

    async def unwind(self) -> bool:
        """Run the registered compensations in reverse; members of one parallel group together.
        One failure never stops the rest. True when every undo finished."""
        for batch in self._undo_batches(self.record.stack()):
            await self.undo(batch)
            self.publish()
        return all(s.state is not StepState.COMPENSATION_FAILED for s in self.record.steps)

    async def undo(self, batch: list[StepRecord]) -> bool:
        undos: dict[str, Awaitable[JsonDict]] = {}
        for step in batch:
            action = self.catalog[step.action]
            params = self.params.get(step.id) or resolve_params(step.params, action, self.record.results())
            if isinstance(params, ErrorInfo):  # cannot happen for a step that ran: its params resolved then
                raise TerminalError(f"cannot undo '{step.id}': {params.message}")
            undos[step.id] = start_undo(self.ctx, self.run_id, step, action, params)
        if len(undos) > 1:
            await restate.gather(*undos.values())  # type: ignore[arg-type]
        clean = True
        for step in batch:
            clean = await self._record_undo(step, undos[step.id]) and clean
        return clean

    def _undo_batches(self, stack: list[StepRecord]) -> list[list[StepRecord]]:
        batches: list[list[StepRecord]] = []
        for step in reversed(stack):
            if batches and step.group is not None and batches[-1][0].group == step.group:
                batches[-1].append(step)
            else:
                batches.append([step])
        return batches

    async def _record_undo(self, step: StepRecord, undo: Awaitable[JsonDict]) -> bool:
        action = self.catalog[step.action]
        step.registered = False
        try:
            raw = await undo
        except TerminalError as exc:
            step.state = StepState.COMPENSATION_FAILED
            step.error = error_info(exc, action, action.compensation_retry)
            self._log_attention(f"compensation of '{step.id}' failed: {step.error.message}")
            return False
        report = CompensationReport.model_validate(raw)
        step.compensation = report.detail
        if report.state == "compensated":
            step.state = StepState.COMPENSATED
        elif step.state is StepState.VERIFIED:
            step.state = StepState.NOTHING_TO_UNDO
        return True

    def _log_attention(self, reason: str) -> None:
        log.error("run=%s needs_attention: %s; outcome=%s", self.run_id, reason,
                  self.outcome.model_dump_json(exclude={"summary"}), extra={"run_id": self.run_id})

    async def finish(self, status: SagaStatus) -> None:
        self.record.status = status
        self.publish()
        if status is SagaStatus.NEEDS_ATTENTION and self.alert is not None:
            await deliver_alert(self.ctx, self.alert, self.run_id, self.record.public_json(self.catalog))
        log.info("run=%s finished %s", self.run_id, status.value, extra={"run_id": self.run_id})
