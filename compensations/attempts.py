"""One journaled attempt of a step's write or undo, and how its failures map onto Restate.

These functions run inside `ctx.run` (they must never touch ctx). A forward write retries
transient failures in process, because Restate counts every invocation attempt since the last
journal entry against `ctx.run`'s own budget; a compensation retries through Restate, with a
budget measured in days.
"""

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from restate import RunOptions, TerminalError
from restate.exceptions import RetryableError

from pivot.compensations.actions import Action, CompensationReport, JsonDict, RetryBudget
from pivot.compensations.connections import DEFAULT_CONNECTION, using_connection, writing_first
from pivot.compensations.errors import ErrorInfo, ProviderRejected, ProviderUnavailable
from pivot.compensations.keys import StepKeys

WAIT_WHOLE_WINDOW = -1.0
"""`fenced_until` when it is unknown when an earlier attempt began: wait a whole in-flight window."""
SETTLE_FIELD = "_pivot_settle_until"
"""Set by a write in its journaled result (or its failure's detail) when an earlier copy of it may
still land (see `forward_attempt`); the engine moves it to `StepRecord.settle_until`, out of the
verified result and the error an agent sees."""
MAX_IN_PROCESS_WAIT_S = 30.0
"""One in-process backoff wait; well under Restate's inactivity + abort timeouts."""
_PROVIDER_REJECTED_CODE = 422

log = logging.getLogger("pivot.saga")


def is_cancel(exc: TerminalError) -> bool:
    return exc.status_code == 409 and exc.message == "cancelled"


def run_options(budget: RetryBudget, type_hint: Any) -> RunOptions[Any]:
    return RunOptions(
        type_hint=type_hint,
        max_attempts=budget.max_attempts,
        max_duration=budget.max_duration,
        initial_retry_interval=budget.initial_interval,
        max_retry_interval=budget.max_interval,
    )


def transient(exc: ProviderUnavailable) -> Exception:
    """Honour Retry-After through Restate's delay override; otherwise the budget's backoff."""
    if exc.retry_after_s is not None:
        return RetryableError(exc.message, retry_after=timedelta(seconds=exc.retry_after_s))
    return exc


class FirstWrite:
    """A one-time pass: the first execution of a step's journaled write may skip the lookup when
    the engine proved no earlier attempt sent it; anything after that (an in-process retry, the
    SDK running the action again) looks up as usual."""

    def __init__(self, granted: bool):
        self._granted = granted
        self.granted = granted
        """Whether the pass was given at all: no earlier attempt can have sent this write."""

    def take(self) -> bool:
        granted, self._granted = self._granted, False
        return granted


async def forward_attempt(
    action: Action, params: BaseModel, keys: StepKeys, where: dict[str, str], fenced_until: float | None = None,
    connection: str = DEFAULT_CONNECTION, first: FirstWrite | None = None,
) -> JsonDict:
    """The forward write with its retry budget; runs inside `ctx.run`, so it must not touch ctx.

    Transient failures are retried here, in process, rather than by Restate's run retries:
    Restate counts every attempt of the *invocation* since the last journal entry, so a
    service that was down for a second would have spent the step's budget before its first
    real try. Every attempt starts with the provider's lookup by key, which is what resolves
    an ambiguous failure (the write may have landed) before anything is written again.
    """
    budget = action.retry
    attempts = budget.max_attempts or 1
    delay = budget.initial_interval.total_seconds()
    window = action.in_flight_window.total_seconds()
    failures: list[str] = []
    # When the last copy that may still land was given up on: one an earlier invocation attempt sent
    # (given up on before this one began), or one an attempt below gave up on (ambiguous failure).
    twin_given_up: float | None = None if first is not None and first.granted else time.time()

    def settle_until() -> float | None:
        if twin_given_up is None or not action.late_twin_risk:
            return None
        return twin_given_up + window

    def settle(info: ErrorInfo) -> ErrorInfo:
        """A failed step is undone too (its compensation was registered): the same wait applies."""
        until = settle_until()
        if until is None:
            return info
        return info.model_copy(update={"detail": {**(info.detail or {}), SETTLE_FIELD: until}})
    if fenced_until is not None:  # an earlier attempt's write may land: let it, then look it up
        until = time.time() + window if fenced_until == WAIT_WHOLE_WINDOW else fenced_until
        await asyncio.sleep(max(0.0, until - time.time()))
    for attempt in range(1, attempts + 1):
        started = time.time()
        try:
            with using_connection(connection), writing_first(first is not None and first.take()):
                result = await action.forward(params, keys)
            break
        except ProviderRejected as exc:
            info = exc.info
            if failures:
                info = info.model_copy(update={"detail": {**(info.detail or {}), "earlier_attempts": failures}})
            raise TerminalError(settle(info).model_dump_json(), status_code=_PROVIDER_REJECTED_CODE) from None
        except ProviderUnavailable as exc:
            failures.append(f"attempt {attempt}: {exc.message}")
            if exc.ambiguous:
                twin_given_up = time.time()
            if attempt == attempts:
                info = ErrorInfo(code="provider_unavailable",
                                 message=f"{exc.message}; gave up after {attempts} attempts",
                                 detail={"attempts": failures})
                raise TerminalError(settle(info).model_dump_json(), status_code=_PROVIDER_REJECTED_CODE) from None
            wait = exc.retry_after_s if exc.retry_after_s is not None else delay
            if action.fenced and exc.ambiguous:
                wait = max(wait, started + window - time.time())  # let the lost request land first
            log.info("run=%s step=%s attempt %d/%d failed (%s); retrying in %.2fs", where["run_id"],
                     where["step_id"], attempt, attempts, exc.message, wait, extra=where)
            await asyncio.sleep(min(wait, MAX_IN_PROCESS_WAIT_S))
            delay = min(delay * 2, budget.max_interval.total_seconds())
    # The journal stores JSON: coerce here, inside the attempt, so that a datetime or Decimal in a
    # provider's answer can never fail serialization *after* the write and re-run it.
    safe = to_jsonable_python(result, fallback=str)
    if not isinstance(safe, dict) or not isinstance(safe.get("ref"), str):
        raise TerminalError(
            ErrorInfo(code="bad_result", message=f"{action.name} returned no ref").model_dump_json(),
            status_code=_PROVIDER_REJECTED_CODE,
        )
    settle_at = settle_until()
    if settle_at is not None:  # an undo must not run before that copy can land
        safe[SETTLE_FIELD] = settle_at
    return safe


async def compensate_attempt(
    action: Action, params: BaseModel, keys: StepKeys, result: JsonDict | None, connection: str = DEFAULT_CONNECTION,
    settle_until: float | None = None,
) -> JsonDict:
    """The undo; first, if a late copy of the write may still land, it waits until it cannot (an undo
    before it would be undone by it: an archived contact made again, a restored value overwritten)."""
    assert action.compensate is not None
    if settle_until is not None:
        await asyncio.sleep(max(0.0, min(settle_until - time.time(), MAX_IN_PROCESS_WAIT_S)))
    try:
        with using_connection(connection):
            report: CompensationReport = await action.compensate(params, keys, result)
    except ProviderRejected as exc:
        raise TerminalError(exc.info.model_dump_json(), status_code=_PROVIDER_REJECTED_CODE) from None
    except ProviderUnavailable as exc:
        raise transient(exc) from None
    return report.model_dump(mode="json")


def error_info(exc: TerminalError, action: Action, budget: RetryBudget) -> ErrorInfo:
    """Turn what `ctx.run` raised back into a stable code and a sentence."""
    if exc.status_code == _PROVIDER_REJECTED_CODE:
        try:
            return ErrorInfo.model_validate_json(exc.message)
        except ValidationError:
            pass
    if is_cancel(exc):
        return ErrorInfo(code="cancelled", message="the saga was cancelled")
    attempts = f"{budget.max_attempts} attempts" if budget.max_attempts else "its retry budget"
    return ErrorInfo(
        code="provider_unavailable",
        message=f"{action.provider} kept failing and Pivot gave up after {attempts} (last error: {exc.message})",
    )
