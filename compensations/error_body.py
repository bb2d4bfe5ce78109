"""Pivot's one error shape, `{"error": ErrorBody}`, and how it rides Restate's envelope.

A caller must read why a call was refused as JSON, with a stable code, on every surface: the
ingress, the approval page's API, the MCP server's tool results, `pivot … --json` and the HTTP
client's exceptions. Restate owns the ingress's envelope — `{"code": <HTTP status>, "message",
"metadata": {str: str}}` — so there the message is plain words and the other fields of the
body travel in `metadata`, flat:

    {"code": 409, "message": "step 'invoice' was already asked for with other arguments …",
     "metadata": {"code": "step_conflict", "run": "r-1", "step": "invoice", "field": "params.amount"}}

Restate's `code` is the HTTP status; Pivot's is `metadata.code`. A list of violations (a rejected
plan, an invalid step or call body) becomes `violation_count` and, for the first
`MAX_LISTED_VIOLATIONS`, one key per field: `violation.0.path`, `violation.0.rule`,
`violation.0.message`, `violation.0.fix`, `violation.0.step`. Every Pivot-owned surface turns that
back into the body below (`from_envelope`); a rejected plan's whole list also stays readable at
`SagaRun/<id>/status`.
"""

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from restate import TerminalError

from pivot.compensations.validation import Violation

MAX_LISTED_VIOLATIONS = 20
"""Violations carried one key per field; `violation_count` says how many there were in all."""
_VIOLATION_KEY = re.compile(r"^violation\.(\d+)\.([a-z_]+)$")
_ENVELOPE_FIELDS = frozenset({"message", "status", "violations"})

STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
                410: "gone", 413: "too_large", 415: "unsupported_media_type", 429: "rate_limited",
                470: "not_ready", 500: "server_error", 502: "unavailable", 503: "unavailable",
                504: "unavailable"}
"""The code of an error that carries none of its own (Restate's or a proxy's answer, not Pivot's)."""


def status_code_name(status: int) -> str:
    return STATUS_CODES.get(status, f"http_{status}")


class ErrorBody(BaseModel):
    """Why a call did not do what it asked: a stable snake_case `code`, a sentence for people, and,
    where they apply, the input `field` at fault, the `run` and `step` it concerns, and every
    `violation`. Extra fields (`approval`, …) are allowed: a newer server may add some."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str
    status: int | None = None
    """The HTTP status (where there is no HTTP answer of its own: the CLI, MCP tool results)."""
    field: str | None = None
    run: str | None = None
    step: str | None = None
    violations: list[Violation] | None = None
    violation_count: int | None = None
    """How many violations there were: more than `violations` lists when the envelope held only
    the first `MAX_LISTED_VIOLATIONS`."""

    def body(self) -> dict[str, Any]:
        """`{"error": {...}}`: what every Pivot-owned surface answers."""
        return {"error": self.model_dump(mode="json", exclude_none=True)}

    def metadata(self) -> dict[str, str]:
        """The fields beside the message, as Restate's metadata map (strings only)."""
        scalars = self.model_dump(mode="json", exclude_none=True, exclude=set(_ENVELOPE_FIELDS))
        flat = {name: str(value) for name, value in scalars.items()}
        if self.violations:
            flat["violation_count"] = str(self.violation_count or len(self.violations))
            for index, violation in enumerate(self.violations[:MAX_LISTED_VIOLATIONS]):
                for name, value in violation.model_dump(exclude_none=True).items():
                    flat[f"violation.{index}.{name}"] = str(value)
        return flat

    def terminal(self) -> TerminalError:
        """The Restate error a handler raises: the message in words, the rest in metadata."""
        return TerminalError(self.message, status_code=self.status or 500, metadata=self.metadata())

    @classmethod
    def from_envelope(cls, status: int, message: str, metadata: Mapping[str, str] | None) -> "ErrorBody":
        """The body again from Restate's envelope (or from `TerminalError`'s fields); an error with
        no Pivot code (Restate's own, a proxy's) gets one named after its status."""
        fields: dict[str, Any] = {}
        listed: dict[int, dict[str, str]] = {}
        for name, value in (metadata or {}).items():
            if (match := _VIOLATION_KEY.match(name)) is not None:
                listed.setdefault(int(match[1]), {})[match[2]] = value
            elif name not in _ENVELOPE_FIELDS:
                fields[name] = value
        violations = [Violation.model_validate(listed[i]) for i in sorted(listed)]
        count = fields.pop("violation_count", None)
        return cls.model_validate({
            **fields, "code": fields.get("code") or status_code_name(status), "message": message, "status": status,
            "violations": violations or None,
            "violation_count": int(count) if count is not None and str(count).isdigit() else None,
        })

    @classmethod
    def of(cls, error: TerminalError) -> "ErrorBody":
        return cls.from_envelope(error.status_code, error.message, error.metadata)


def error_body(status: int | None, code: str, message: str, *, violations: list[Violation] | None = None,
               **fields: str | None) -> ErrorBody:
    """An error's body from its parts; with violations, `field` and `step` default to the first one's."""
    first = violations[0] if violations else None
    if first is not None:
        fields["field"] = fields.get("field") or first.path or None
        fields["step"] = fields.get("step") or first.step
    present = {name: value for name, value in fields.items() if value is not None}
    return ErrorBody.model_validate({**present, "code": code, "message": message, "status": status,
                                     "violations": violations or None,
                                     "violation_count": len(violations) if violations else None})


def refusal(status: int, code: str, message: str, *, violations: list[Violation] | None = None,
            **fields: str | None) -> TerminalError:
    """A handler's refusal, as the Restate error to raise: `raise refusal(409, "step_conflict", "…",
    run=…, step=…)`."""
    return error_body(status, code, message, violations=violations, **fields).terminal()


def violations_text(violations: list[Violation], limit: int = 5) -> str:
    """The first few problems in words, for a message: `path: what is wrong; …`."""
    said = "; ".join(f"{v.path or 'body'}: {v.message}" for v in violations[:limit])
    more = len(violations) - limit
    return said + (f"; and {more} more" if more > 0 else "")
