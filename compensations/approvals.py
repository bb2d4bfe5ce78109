"""Human approval gates: the shapes of a pending approval and of a decision, and their proof.

A decision must come from an approver on the gate's list. The approver proves it with an
HMAC of the decision keyed by their own token, so the token itself never travels, and never
lands in Restate's journal (which stores every handler input). The proof is bound to one
approval and one verdict, and an approval is decided once, so a replayed proof is harmless.
"""

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROOF_CONTEXT = "pivot-approval-v1"


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

    approver: str = Field(min_length=1, max_length=100)
    approved: bool
    comment: str = Field(default="", max_length=2000)
    proof: str = Field(pattern=r"^[0-9a-f]{64}$")


def approval_id(run_id: str, step_id: str) -> str:
    return f"{run_id}~{step_id}"


def decision_proof(token: str, approval: str, approver: str, approved: bool) -> str:
    message = "\x1f".join([PROOF_CONTEXT, approval, approver, "approve" if approved else "reject"])
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


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
        if isinstance(raw, bytes | bytearray):
            decision = DecisionRequest.model_validate_json(raw or b"null")
        else:
            decision = DecisionRequest.model_validate(raw)
    except ValidationError as exc:
        return None, f"malformed decision: {exc.error_count()} problem(s)"
    if decision.approver not in approval.approvers:
        return None, f"{decision.approver} may not decide this approval"
    token = tokens.get(decision.approver)
    if token is None:
        return None, f"{decision.approver} has no credentials configured"
    expected = decision_proof(token, approval.approval_id, decision.approver, decision.approved)
    if not hmac.compare_digest(expected, decision.proof):
        return None, f"the proof does not authenticate {decision.approver}"
    return decision, ""
