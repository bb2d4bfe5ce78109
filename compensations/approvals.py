"""Human approval gates: the shapes of a pending approval and of a decision, and their proofs.

A decision must come from an approver on the gate's list. The approver proves it with an
HMAC keyed by their own token, so the token itself never travels and never lands in Restate's
journal (which stores every handler input). The decision proof covers every field of the
decision — the approval, the approver, the verdict, the comment, the channel it came through and
the digest of what the approver was shown — so nobody who sees a proof in transit or in the
journal can reuse it with another comment; an approval is decided once, so a replayed proof is
harmless.

What was shown is bound: when a gate opens, the service writes down in words what the step will
do (`shown`, the same text on the page, in Slack, in an email and in the agent's chat), and the
gate's `digest` is a hash of the action, its resolved params and that text. A decision names the
digest it was made on; one made on anything else — other params, an edited message — is refused,
so a changed step needs a new approval.

Every channel (`page`, `cli`, `slack`, `email`, `chat`) ends in the same decision with the same
proof; a gate names the channels it may be decided through. `chat` answers come from the agent's
own client, so a gate may use it only when it names one approver: the agent's user.

Reading is gated too: what is pending shows amounts, customers and emails. A read proof is an
HMAC of the approver's name and the current time, valid for `READ_PROOF_TTL_S` either side of
the service's clock, so one seen in the journal opens nothing for long.
"""

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pivot.compensations import strict_json

PROOF_CONTEXT = "pivot-approval-v3"
DIGEST_CONTEXT = "pivot-approval-shown-v1"
READ_CONTEXT = "pivot-approval-read-v1"
READ_PROOF_TTL_S = 300
"""How far a read proof's time may be from the service's clock: long enough for a slow clock,
short enough that a proof copied out of a journal is stale before it is useful."""
APPROVER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
DIGEST_PATTERN = r"^[0-9a-f]{64}$"
NO_DIGEST = "0" * 64
"""A digest that matches no gate: for a decision whose sender could not read what it decides."""

Channel = Literal["page", "cli", "slack", "email", "chat"]
CHANNELS: tuple[Channel, ...] = ("page", "cli", "slack", "email", "chat")
DEFAULT_CHANNELS: tuple[Channel, ...] = ("page", "cli")
"""Where a gate is decided unless it says otherwise: Pivot's own page and the CLI (or any client of
the HTTP API): what a gate offered before it could name channels."""


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
    channels: list[Channel] = Field(default_factory=lambda: list(DEFAULT_CHANNELS))
    requested_by: str = ""
    summary: dict[str, Any] | None = None
    """What the step will do in words, structured (headline, does, amounts, details), for pages."""
    shown: str = ""
    """The same, as the one text every channel shows; bound by `digest`."""
    digest: str = ""
    """`approval_digest(self)`, fixed when the gate opened (empty on gates opened before digests:
    `bound_digest` computes it then)."""


class DecisionRequest(BaseModel):
    """A decision as an approval UI sends it (to `Approval/{id}/decide` or to the awakeable)."""

    model_config = ConfigDict(extra="forbid")

    approver: str = Field(pattern=APPROVER_PATTERN)
    approved: bool
    comment: str = Field(default="", max_length=2000)
    digest: str = Field(pattern=DIGEST_PATTERN, description="The digest of what the approver was shown")
    channel: Channel = "cli"
    proof: str = Field(pattern=DIGEST_PATTERN)


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


def approval_digest(pending: "PendingApproval") -> str:
    """SHA-256 over what an approver decides on: the approval, the action, its resolved params and
    the text shown. Not keyed: it names what was shown; the proof is what authenticates."""
    fields = {"context": DIGEST_CONTEXT, "approval": pending.approval_id, "action": pending.action,
              "params": pending.params, "shown": pending.shown}
    message = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(message.encode()).hexdigest()


def bound_digest(pending: "PendingApproval") -> str:
    return pending.digest or approval_digest(pending)


def decision_proof(token: str, approval: str, approver: str, approved: bool, comment: str = "", *,
                   digest: str, channel: Channel = "cli") -> str:
    return _mac(token, {"context": PROOF_CONTEXT, "approval": approval, "approver": approver,
                        "approved": approved, "comment": comment, "digest": digest, "channel": channel})


def decision_request(token: str, approval: str, approver: str, approved: bool, comment: str = "", *,
                     digest: str, channel: Channel = "cli") -> dict[str, Any]:
    """The body `Approval/{id}/decide` (or the gate's awakeable) takes, with its proof."""
    return {"approver": approver, "approved": approved, "comment": comment, "digest": digest, "channel": channel,
            "proof": decision_proof(token, approval, approver, approved, comment, digest=digest, channel=channel)}


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
    expected = decision_proof(token, approval.approval_id, decision.approver, decision.approved, decision.comment,
                              digest=decision.digest, channel=decision.channel)
    if not hmac.compare_digest(expected, decision.proof):
        return None, f"the proof does not authenticate {decision.approver} (it covers the approval, the verdict, " \
                     "the comment, the channel and the digest of what was shown)"
    if problem := channel_problem(approval, decision.approver, decision.channel) or digest_problem(
            approval, decision.digest):
        return None, problem
    return decision, ""


def channel_problem(approval: PendingApproval, approver: str, channel: Channel) -> str:
    """Why `approver` may not decide `approval` through `channel`, or ""."""
    if channel not in approval.channels:
        return f"this approval is decided through {', '.join(approval.channels)}, not {channel}"
    if channel == "chat" and approval.approvers != [approver]:
        return ("an answer in the agent's chat comes from the agent's own client: it decides only a gate whose one "
                "approver is the agent's user")
    return ""


def digest_problem(approval: PendingApproval, digest: str) -> str:
    """Why a decision made on `digest` does not decide `approval` as it stands, or ""."""
    if hmac.compare_digest(digest, bound_digest(approval)):
        return ""
    return ("the decision was made on something other than what this gate shows now (its params or its text "
            "differ): look at it again and decide")


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
