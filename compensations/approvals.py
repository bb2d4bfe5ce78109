"""Human approval gates: the shapes of a pending approval and of a decision, and their proofs.

A decision must come from an approver on the gate's list. The approver proves it with an
HMAC keyed by their own token, so the token itself never travels and never lands in Restate's
journal (which stores every handler input). The decision proof covers every field of the
decision — the approval, the approver, the verdict and the comment — so nobody who sees a
proof in transit or in the journal can reuse it with another comment; an approval is decided
once, so a replayed proof is harmless.

Reading is gated too: what is pending shows amounts, customers and emails. A read proof is an
HMAC of the approver's name and the current time, valid for `READ_PROOF_TTL_S` either side of
the service's clock, so one seen in the journal opens nothing for long.
"""

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pivot.compensations import strict_json

PROOF_CONTEXT = "pivot-approval-v2"
READ_CONTEXT = "pivot-approval-read-v1"
READ_PROOF_TTL_S = 300
"""How far a read proof's time may be from the service's clock: long enough for a slow clock,
short enough that a proof copied out of a journal is stale before it is useful."""
APPROVER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class PendingApproval(BaseModel):
    """What an approver sees: which saga, what the step will do, who may decide, until when."""

    approval_id: str
    run_id: str
    step_id: str
    action: str
    params: dict[str, Any]
    approvers: list[str]
    reason: str = ""
    requested_at: float
    deadline: float
    done: list[dict[str, Any]] = Field(default_factory=list, description="Steps verified so far")


class DecisionRequest(BaseModel):
    """A decision as an approval UI sends it (to `Approval/{id}/decide` or to the awakeable)."""

    model_config = ConfigDict(extra="forbid")

    approver: str = Field(pattern=APPROVER_PATTERN)
    approved: bool
    comment: str = Field(default="", max_length=2000)
    proof: str = Field(pattern=r"^[0-9a-f]{64}$")


class ReadRequest(BaseModel):
    """Who is reading pending approvals, and their proof (see `read_proof`)."""

    model_config = ConfigDict(extra="forbid")

    approver: str = Field(pattern=APPROVER_PATTERN)
    at: int = Field(ge=0, description="Unix time (seconds) the proof was made")
    proof: str = Field(pattern=r"^[0-9a-f]{64}$")


def approval_id(run_id: str, step_id: str) -> str:
    return f"{run_id}~{step_id}"


def _mac(token: str, fields: dict[str, Any]) -> str:
    """HMAC-SHA256 over canonical JSON: every field is bound, none can be shifted into another."""
    message = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def decision_proof(token: str, approval: str, approver: str, approved: bool, comment: str = "") -> str:
    return _mac(token, {"context": PROOF_CONTEXT, "approval": approval, "approver": approver,
                        "approved": approved, "comment": comment})


def read_proof(token: str, approver: str, at: int) -> str:
    return _mac(token, {"context": READ_CONTEXT, "approver": approver, "at": at})


def read_request(approver: str, token: str, now: float) -> dict[str, Any]:
    """The body an approval UI sends to read what `approver` may decide."""
    at = int(now)
    return {"approver": approver, "at": at, "proof": read_proof(token, approver, at)}


def parse_approver_tokens(spec: str) -> dict[str, str]:
    """"finance:tok1,ops:tok2" → {"finance": "tok1", "ops": "tok2"} (the PIVOT_APPROVERS format)."""
    tokens: dict[str, str] = {}
    for item in spec.split(","):
        name, sep, token = item.strip().partition(":")
        if sep and name and token:
            tokens[name.strip()] = token.strip()
    return tokens


def check_decision(
    raw: bytes | Mapping[str, Any] | None, approval: PendingApproval, tokens: Mapping[str, str]
) -> tuple[DecisionRequest | None, str]:
    """(decision, "") when the decision is well formed, from a listed approver, with a valid
    proof; otherwise (None, why). Never raises: a bad decision must not move the saga."""
    try:
        value = strict_json.loads(bytes(raw) or b"null") if isinstance(raw, bytes | bytearray) else raw
        decision = strict_json.validate(DecisionRequest, value)
    except strict_json.NotJson:
        return None, "malformed decision: not JSON"
    except ValidationError as exc:
        return None, f"malformed decision: {exc.error_count()} problem(s)"
    if decision.approver not in approval.approvers:
        return None, f"{decision.approver} may not decide this approval"
    token = tokens.get(decision.approver)
    if token is None:
        return None, f"{decision.approver} has no credentials configured"
    expected = decision_proof(token, approval.approval_id, decision.approver, decision.approved, decision.comment)
    if not hmac.compare_digest(expected, decision.proof):
        return None, f"the proof does not authenticate {decision.approver} (it covers the approval, the verdict " \
                     "and the comment)"
    return decision, ""


def check_read(raw: bytes, tokens: Mapping[str, str], now: float) -> tuple[str | None, str]:
    """(approver, "") when `raw` is a read request with a valid, fresh proof; otherwise (None, why).
    Never says which part was wrong beyond what the caller could know: malformed, stale, or not
    authenticated."""
    try:
        request = strict_json.validate(ReadRequest, strict_json.loads(raw or b"null"))
    except (strict_json.NotJson, ValidationError):
        return None, ("send {\"approver\", \"at\", \"proof\"}: the approver's name, the unix time, and "
                      "HMAC-SHA256 of both keyed by the approver's token (PivotClient.approvals does it)")
    if abs(now - request.at) > READ_PROOF_TTL_S:
        return None, f"the read proof is stale or from the future (more than {READ_PROOF_TTL_S} s from the service's " \
                     "clock): make a new one"
    token = tokens.get(request.approver)
    if token is None or not hmac.compare_digest(read_proof(token, request.approver, request.at), request.proof):
        return None, f"the proof does not authenticate {request.approver}"
    return request.approver, ""
