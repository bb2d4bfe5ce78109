"""The bodies of an open saga's calls (`/Saga/{run_id}/open|step|commit|abort`), strictly validated.

An open saga is driven by an agent one tool call at a time, so every call is checked on its
own, with the same bounds as a plan: a body that is not JSON, too big, nested too deep, or has
an unknown field is refused with 400 before anything is recorded.
"""

from datetime import timedelta
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pivot.compensations import strict_json
from pivot.compensations.connections import CONNECTION_PATTERN, DEFAULT_CONNECTION
from pivot.compensations.error_body import ErrorBody, error_body
from pivot.compensations.ids import STEP_ID_PATTERN
from pivot.compensations.outcome import Outcome, StepOutcome
from pivot.compensations.plan import ACTION_PATTERN, MAX_DEPTH, MAX_PARAMS_BYTES, Approval, StepSpec
from pivot.compensations.validation import Violation

MAX_CALL_BYTES = MAX_PARAMS_BYTES + 8 * 1024
"""One call's body: a step's params and the few fields around them."""
MAX_WAIT_S = 300.0
"""How long one call may hold the agent's HTTP request before it answers with the current state."""
DEFAULT_WAIT_S = 30.0
MAX_OPEN_FOR = timedelta(days=30)
MAX_BODY_DEPTH = MAX_DEPTH + 4
"""A step's params may nest MAX_DEPTH levels; the body around them adds a few."""


class OpenRequest(BaseModel):
    """How long the saga may stay open, and what a failure before the pivot does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    idle_timeout: timedelta = Field(default=timedelta(minutes=15), gt=timedelta(0), le=MAX_OPEN_FOR,
                                    description="Unwind by itself after this long without a call (ISO-8601)")
    deadline: timedelta = Field(default=timedelta(days=7), gt=timedelta(0), le=MAX_OPEN_FOR,
                                description="Unwind by itself (or, past the pivot, commit) this long after opening")
    on_failure: Literal["unwind", "report"] = Field(
        default="unwind",
        description="unwind: a failure before the pivot undoes everything and closes the saga; report: the "
                    "failed step is recorded (nothing of it took effect) and the saga stays open")


class StepRequest(BaseModel):
    """One step, as an agent's tool call asks for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: str = Field(pattern=STEP_ID_PATTERN,
                      description="Your label for this write (or your tool-call id); part of its idempotency key")
    action: str = Field(pattern=ACTION_PATTERN, max_length=80, description="A catalog action")
    params: dict[str, Any] = Field(default_factory=dict)
    pivot: bool = Field(default=False, description="This step is the point of no return")
    connection: str = Field(default=DEFAULT_CONNECTION, pattern=CONNECTION_PATTERN,
                            description="Which account of the provider to write to (a configured connection)")
    approval: Approval | None = None
    repeat: bool = Field(default=False, description="Write again although an earlier step of this saga made the "
                         "same write (same action, connection and params): both are meant, e.g. two equal refunds")
    wait_s: float = Field(default=DEFAULT_WAIT_S, ge=0, le=MAX_WAIT_S,
                          description="Answer with the current state after this long; the step keeps going")

    def spec(self) -> StepSpec:
        return StepSpec(id=self.step, action=self.action, params=self.params, pivot=self.pivot,
                        connection=self.connection, approval=self.approval, repeat=self.repeat)


class StepAnswer(BaseModel):
    """What a step call answers: the step's verified outcome, and the saga's."""

    step: StepOutcome
    saga: Outcome


class FinishRequest(BaseModel):
    """The body of `commit` and `abort` (both optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str | None = Field(default=None, max_length=500, description="abort: why, for the outcome")
    wait_s: float = Field(default=DEFAULT_WAIT_S, ge=0, le=MAX_WAIT_S)


Request = TypeVar("Request", bound=BaseModel)


class CallRejected(Exception):
    """A call body that cannot be taken: every problem, named."""

    def __init__(self, violations: list[Violation]):
        super().__init__("; ".join(f"{v.path or 'body'}: {v.message}" for v in violations))
        self.violations = violations

    def error(self, run: str) -> ErrorBody:
        """What the caller is answered (`ErrorBody.terminal()` raises it in a handler)."""
        return error_body(400, "invalid_request", str(self), violations=self.violations, run=run)


def _deeper_than(value: Any, limit: int) -> bool:
    if limit < 0:
        return True
    if isinstance(value, dict):
        return any(_deeper_than(v, limit - 1) for v in value.values())
    if isinstance(value, list):
        return any(_deeper_than(v, limit - 1) for v in value)
    return False


def decode_call(model: type[Request], body: bytes | None, *, optional: bool = False) -> Request:
    """Bytes from the wire to a validated request, or `CallRejected` naming each problem."""
    body = body or b""
    if len(body) > MAX_CALL_BYTES:
        raise CallRejected([Violation(step=None, path="", rule="size", message=f"body is {len(body)} bytes, the "
                                      f"limit is {MAX_CALL_BYTES}", fix="pass less data per step")])
    if optional and not body.strip():
        return model()
    try:
        raw = strict_json.loads(body or b"null")
    except (ValueError, RecursionError) as exc:
        message = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise CallRejected([Violation(step=None, path="", rule="json", message=f"not JSON: {message}",
                                      fix="send a JSON object")]) from None
    if optional and raw is None:
        return model()
    if _deeper_than(raw, MAX_BODY_DEPTH):
        raise CallRejected([Violation(step=None, path="", rule="size", message=f"nested deeper than "
                                      f"{MAX_BODY_DEPTH} levels", fix="shorten or flatten the value")])
    try:
        return strict_json.validate(model, raw)
    except ValidationError as exc:
        raise CallRejected([
            Violation(step=None, path=".".join(str(p) for p in err["loc"]), rule="shape", message=err["msg"],
                      fix=f"see the {model.__name__} JSON Schema (`pivot schema step`)")
            for err in exc.errors(include_url=False)
        ]) from None
