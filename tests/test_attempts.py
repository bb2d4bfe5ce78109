"""When a step's undo must wait for a late copy of its write (`attempts.SETTLE_FIELD`).

`forward_attempt` is plain async code (it runs inside `ctx.run`), so these call it directly with
an action whose provider answers as scripted; the crash tests in test_parallel_groups.py show the
same rule end to end (a Salesforce record made again by a copy that landed after the unwind)."""

import asyncio
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from restate import TerminalError

from pivot.compensations.actions import Action, CompensationReport, JsonDict, RetryBudget
from pivot.compensations.attempts import SETTLE_FIELD, FirstWrite, forward_attempt
from pivot.compensations.errors import ProviderUnavailable
from pivot.compensations.keys import StepKeys
from pivot.compensations.kinds import StepKind

WINDOW = timedelta(seconds=3)


class Params(BaseModel):
    name: str = "x"


def action(answers: list[Exception | None], idempotency: str = "unique", write_s: float = 0.0) -> Action:
    """An action whose provider raises each scripted exception in turn, then writes (taking `write_s`)."""
    script = list(answers)

    async def forward(params: Any, keys: StepKeys) -> JsonDict:
        outcome = script.pop(0) if script else None
        if outcome is not None:
            raise outcome
        await asyncio.sleep(write_s)
        return {"ref": "test:thing/1"}

    async def compensate(params: Any, keys: StepKeys, result: JsonDict | None) -> CompensationReport:
        return CompensationReport(state="compensated", detail="undone")

    return Action(name="test.create_thing", kind=StepKind.COMPENSABLE, params=Params, forward=forward,
                  key_carrier="a unique field", readback="GET", describe=lambda r: "made", not_run="nothing",
                  compensate=compensate, idempotency=idempotency, in_flight_window=WINDOW,
                  retry=RetryBudget(max_attempts=3, initial_interval=timedelta(milliseconds=1)))


def run(act: Action, first: bool) -> JsonDict:
    keys = StepKeys.derive("run-1", "thing", act.name)
    return asyncio.run(forward_attempt(act, Params(), keys, {"run_id": "run-1", "step_id": "thing"},
                                       first=FirstWrite(first)))


def settles_within_the_window(value: Any, before: float) -> bool:
    """Counted from when the copy was given up on (after `before`), not from when the write ended."""
    return isinstance(value, float) and before + WINDOW.total_seconds() <= value <= time.time() + WINDOW.total_seconds()


def test_a_proven_first_write_needs_no_wait() -> None:
    assert SETTLE_FIELD not in run(action([]), first=True)


@pytest.mark.parametrize("idempotency, waits", [("unique", True), ("natural", True), ("lookup", True),
                                                ("key", False), ("transaction", False)])
def test_a_replayed_write_makes_its_undo_wait_unless_the_provider_deduplicates(idempotency: str, waits: bool) -> None:
    before = time.time()
    result = run(action([], idempotency), first=False)
    assert (SETTLE_FIELD in result) is waits
    if waits:
        assert settles_within_the_window(result[SETTLE_FIELD], before)


AMBIGUOUS: Callable[[], Exception] = lambda: ProviderUnavailable("timed out", ambiguous=True)  # noqa: E731
REFUSED_CONNECTION: Callable[[], Exception] = lambda: ProviderUnavailable("connection refused")  # noqa: E731


def test_an_ambiguous_failure_in_this_attempt_makes_the_undo_wait_too() -> None:
    before = time.time()
    assert settles_within_the_window(run(action([AMBIGUOUS()]), first=True)[SETTLE_FIELD], before)


def test_the_wait_counts_from_when_the_copy_was_given_up_on_not_from_the_end_of_the_write() -> None:
    """A slow successful retry does not stretch the wait: only the lost copy can land late."""
    before = time.time()
    settle = run(action([AMBIGUOUS()], write_s=0.5), first=True)[SETTLE_FIELD]
    assert settle < before + 0.5 + WINDOW.total_seconds()
    assert settles_within_the_window(settle, before)


def test_a_failure_that_sent_nothing_does_not() -> None:
    assert SETTLE_FIELD not in run(action([REFUSED_CONNECTION()]), first=True)


def test_a_write_that_gave_up_after_ambiguous_failures_carries_the_wait_in_its_error() -> None:
    """The failed step is undone as well (its compensation was registered before the write)."""
    before = time.time()
    with pytest.raises(TerminalError) as raised:
        run(action([AMBIGUOUS(), AMBIGUOUS(), AMBIGUOUS()]), first=True)
    detail = json.loads(raised.value.message)["detail"]
    assert detail["attempts"] and settles_within_the_window(detail[SETTLE_FIELD], before)
