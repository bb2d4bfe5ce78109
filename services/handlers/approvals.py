"""Approvals: one `Approval` object per gate, and a sharded `ApprovalInbox` per approver.

`Approval/{id}` serializes decisions (exclusive handlers): the first valid decision wins,
a second one, or one after the deadline, is answered clearly and changes nothing. It holds
the awakeable id — a capability — in its state and never returns it. `ApprovalInbox/{approver}`
is the index that `list` reads, so listing never scans sagas; it is private to the service.

Reads need the approver's read proof (`pivot.compensations.approvals.check_read`): `Approvals/pending`
lists only the gates that name the approver who proved it, and `Approval/{id}/get` answers a
gate only to an approver it names (anyone else gets the same 404 as for no gate at all).
"""

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

import restate
from restate import ObjectContext, ObjectSharedContext, RunOptions, TerminalError
from restate.serde import BytesSerde

from pivot.compensations.actions import Action
from pivot.compensations.approvals import PendingApproval, check_decision, check_read
from pivot.compensations.clock import stamped
from pivot.compensations.error_body import refusal
from pivot.compensations.protocol import iso
from pivot.services.approval_text import describe
from pivot.services.catalog import approver_tokens
from pivot.services.handlers.approval_notices import CHANNELS, announce
from pivot.services.handlers.approval_notices import settle as settle_notices
from pivot.services.handlers.names import SAGA, SAGA_RUN

approval = restate.VirtualObject("Approval")
inbox = restate.VirtualObject("ApprovalInbox", ingress_private=True)
approvals_service = restate.Service("Approvals")

INBOX_SHARDS = 16
"""An approver's inbox is 16 objects: adds to one object run one at a time, so a single inbox
per approver serialized every park (10,000 parks queued behind one key for minutes)."""


def inbox_shard(approver: str, approval_key: str) -> str:
    digest = hashlib.sha256(approval_key.encode()).digest()
    return f"{approver}~{digest[0] % INBOX_SHARDS}"


def _refused(ctx: ObjectContext | ObjectSharedContext, status: int, code: str, message: str) -> TerminalError:
    """A refusal about the gate this object is (keyed `<run id>~<step id>`): it names the approval,
    its run and its step."""
    run, _, step = ctx.key().partition("~")
    return refusal(status, code, message, approval=ctx.key(), run=run, step=step or None)


def _tokens() -> dict[str, str]:
    return approver_tokens()


FROM_DECIDE = "decided_through_gate"
"""`decide` resolves the awakeable with the decision wrapped in this one key: it has closed the gate
itself, so the saga need not. A decision resolved straight through Restate's awakeable endpoint
comes bare, and the saga closes the gate (the approval leaves the inboxes) after it. Whoever holds
the awakeable id could forge the wrapper; that only leaves the approval listed, since the proof
inside is checked all the same."""


def verify_decision(raw: bytes, pending: dict[str, Any]) -> dict[str, Any]:
    """Runs inside ctx.run: only this verdict is journaled, never an approver's token."""
    body: Any = raw
    through_gate = False
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None  # malformed: check_decision says so from the bytes
    if isinstance(parsed, dict) and set(parsed) == {FROM_DECIDE}:
        body, through_gate = parsed[FROM_DECIDE], True
    decision, problem = check_decision(body, PendingApproval.model_validate(pending), _tokens())
    if decision is None:
        return {"ok": False, "problem": problem}
    return {"ok": True, "approver": decision.approver, "approved": decision.approved, "comment": decision.comment,
            "channel": decision.channel, "gate_closed": through_gate}


class InboxGate:
    """The saga's side of approvals (pivot.compensations.protocol.ApprovalGate)."""

    def __init__(self, catalog: Mapping[str, Action]):
        self._catalog = catalog

    def describe(self, pending: dict[str, Any]) -> dict[str, Any]:
        return describe(PendingApproval.model_validate(pending), self._catalog)

    def opened(self, ctx: restate.Context, pending: PendingApproval, awakeable_id: str) -> None:
        ctx.object_send(open_approval, key=pending.approval_id,
                        arg={"pending": pending.model_dump(mode="json"), "awakeable_id": awakeable_id})

    def closed(self, ctx: restate.Context, approval_key: str, closing: dict[str, Any]) -> None:
        ctx.object_send(close_approval, key=approval_key, arg=closing)

    def verify(self, raw: bytes, pending: dict[str, Any]) -> dict[str, Any]:
        return verify_decision(raw, pending)


@approval.handler("open", ingress_private=True)
async def open_approval(ctx: ObjectContext, request: dict[str, Any]) -> None:
    """Record the gate (again, with a fresh awakeable after a refused decision)."""
    if await ctx.get("closed", type_hint=dict) is not None:
        return
    first = await ctx.get("pending", type_hint=dict) is None
    ctx.set("pending", request["pending"])
    ctx.set("awakeable", request["awakeable_id"])
    if first:
        for approver in request["pending"]["approvers"]:
            ctx.object_send(inbox_add, key=inbox_shard(approver, ctx.key()), arg=request["pending"])
        if _announced(request["pending"]):
            ctx.object_send(announce, key=ctx.key(), arg=request["pending"])


@approval.handler("close", ingress_private=True)
async def close_approval(ctx: ObjectContext, closing: dict[str, Any]) -> None:
    """The saga stopped waiting without a decision through `decide` (which closes the gate itself):
    the deadline passed, it was cancelled, or the awakeable was resolved directly."""
    if await ctx.get("closed", type_hint=dict) is None:
        ctx.set("closed", closing)
    ctx.clear("awakeable")
    pending = await ctx.get("pending", type_hint=dict)
    _leave_inboxes(ctx, (pending or {}).get("approvers", []))
    _settle_notices(ctx, pending, closing)


def _announced(pending: dict[str, Any]) -> bool:
    """Whether the gate names a channel that announces it (ApprovalNotices)."""
    return bool(set(pending.get("channels", ())) & set(CHANNELS))


def _settle_notices(ctx: ObjectContext, pending: dict[str, Any] | None, closing: dict[str, Any]) -> None:
    if pending is not None and _announced(pending):
        ctx.object_send(settle_notices, key=ctx.key(), arg=closing)


def _leave_inboxes(ctx: ObjectContext, approvers: list[str]) -> None:
    for approver in approvers:
        ctx.object_send(inbox_remove, key=inbox_shard(approver, ctx.key()), arg=ctx.key())


def earlier_decision(decision: dict[str, Any]) -> str:
    """"approved by finance at 2025-…" from what is known of a decision, saying nothing it lacks
    (a gate closed before decisions kept their time has no `at`)."""
    words = ["approved" if decision.get("approved") else "rejected"]
    if decision.get("approver"):
        words.append(f"by {decision['approver']}")
    if decision.get("at"):
        words.append(f"at {decision['at']}")
    return " ".join(words)


@approval.handler("decide")
async def decide(ctx: ObjectContext, request: dict[str, Any]) -> dict[str, Any]:
    """Approve or reject. 404 unknown, 409 already decided, 410 past the deadline, 403 not
    allowed; in each of those cases nothing changes."""
    pending_raw = await ctx.get("pending", type_hint=dict)
    if pending_raw is None:
        raise _refused(ctx, 404, "no_approval", f"no approval {ctx.key()} is pending")
    pending = PendingApproval.model_validate(pending_raw)
    closed = await ctx.get("closed", type_hint=dict)
    if closed is not None:
        if closed.get("expired"):
            raise _refused(ctx, 410, "approval_expired",
                           f"approval {ctx.key()} expired at its deadline; nothing changed")
        if closed.get("cancelled"):
            raise _refused(ctx, 410, "approval_cancelled",
                           f"the saga of approval {ctx.key()} was cancelled; nothing changed")
        raise _refused(ctx, 409, "already_decided",
                       f"approval {ctx.key()} was already {earlier_decision(closed.get('decision', {}))}; "
                       "nothing changed")
    raw = json.dumps(request).encode()
    # One entry: the verdict and the time it was reached (the deadline is checked against it).
    verdict = await ctx.run_typed("verify_decision", stamped(verify_decision), RunOptions(type_hint=dict),
                                  raw, pending_raw)
    if verdict["at"] >= pending.deadline:
        raise _refused(ctx, 410, "approval_expired", f"approval {ctx.key()} is past its deadline; nothing changed")
    if not verdict["ok"]:
        raise _refused(ctx, 403, "decision_refused", f"refused: {verdict['problem']}; nothing changed")
    awakeable_id = await ctx.get("awakeable", type_hint=str)
    if awakeable_id is None:
        raise _refused(ctx, 409, "not_waiting", f"approval {ctx.key()} is not waiting for a decision")
    closing = {"decision": {"approved": verdict["approved"], "approver": verdict["approver"],
                            "at": iso(float(verdict["at"])), "channel": verdict.get("channel", "cli")}}
    ctx.set("closed", closing)
    ctx.resolve_awakeable(awakeable_id, json.dumps({FROM_DECIDE: request}).encode(), serde=restate.serde.BytesSerde())
    ctx.clear("awakeable")
    _leave_inboxes(ctx, pending.approvers)  # the gate is closed here: the saga sends no `close` after a decision
    _settle_notices(ctx, pending_raw, closing)
    return {"approval_id": ctx.key(), "approved": verdict["approved"], "approver": verdict["approver"]}


def verify_read(raw: bytes) -> dict[str, Any]:
    """Runs inside ctx.run (the time and the tokens are read there): only the verdict is journaled."""
    approver, problem = check_read(raw, _tokens(), time.time())
    return {"approver": approver, "problem": problem}


async def reader(ctx: restate.Context | ObjectSharedContext, raw: bytes) -> str:
    """The approver whose read proof `raw` is, or a 401 that says what a read needs."""
    verdict = await ctx.run_typed("verify_read", verify_read, RunOptions(type_hint=dict), raw)
    if verdict["approver"] is None:
        raise refusal(401, "read_refused", f"refused: {verdict['problem']}", field="proof")
    return str(verdict["approver"])


async def _saga_status(ctx: ObjectSharedContext, run_id: str, step_id: str) -> dict[str, Any]:
    """Where the gate's saga stands now, plan or open saga, in a few fields an approver needs: its
    status and summary, whether it is an open saga (which ends when its agent commits), and the
    gated step's state."""
    raw = await ctx.generic_call(SAGA_RUN, "status", arg=b"", key=run_id)
    body = json.loads(raw or b"{}")
    if body.get("mode") == "open":
        body = json.loads(await ctx.generic_call(SAGA, "status", arg=b"", key=run_id) or b"{}")
    step = next((s for s in body.get("steps") or [] if s.get("id") == step_id), None)
    shown = {"status": body.get("status"), "summary": body.get("summary"), "mode": body.get("mode") or "plan"}
    if step is not None:
        shown["step"] = {name: step[name] for name in ("id", "state", "ref") if step.get(name) is not None}
    return shown


@approval.handler("get", kind="shared", input_serde=BytesSerde())
async def get_approval(ctx: ObjectSharedContext, proof: bytes) -> dict[str, Any]:
    """The gate, its decision if any, and its saga's status, for an approver it names. Never the
    awakeable id."""
    approver = await reader(ctx, proof)
    pending = await ctx.get("pending", type_hint=dict)
    if pending is None or approver not in pending.get("approvers", []):
        raise _refused(ctx, 404, "no_approval", f"no approval {ctx.key()} for {approver}")
    return {"pending": pending, "closed": await ctx.get("closed", type_hint=dict),
            "saga": await _saga_status(ctx, str(pending["run_id"]), str(pending["step_id"]))}


# add/remove touch one entry: lazy state, so an inbox with thousands of entries is not shipped
# to the service on every change (eager state made 1,000 parks quadratic). list wants them all.
@inbox.handler("add", enable_lazy_state=True)
async def inbox_add(ctx: ObjectContext, pending: dict[str, Any]) -> None:
    ctx.set(pending["approval_id"], pending)


@inbox.handler("remove", enable_lazy_state=True)
async def inbox_remove(ctx: ObjectContext, approval_key: str) -> None:
    ctx.clear(approval_key)


@inbox.handler("list", kind="shared")
async def inbox_list(ctx: ObjectSharedContext) -> list[dict[str, Any]]:
    """Pending approvals this approver may decide, soonest deadline first."""
    items = []
    for key in await ctx.state_keys():
        item = await ctx.get(key, type_hint=dict)
        if item is not None:
            items.append(item)
    return sorted(items, key=lambda item: float(item["deadline"]))


@approvals_service.handler("pending", input_serde=BytesSerde())
async def pending_for(ctx: restate.Context, proof: bytes) -> list[dict[str, Any]]:
    """Every pending approval the approver who proved it may decide, from all shards, soonest
    deadline first."""
    approver = await reader(ctx, proof)
    shards = [ctx.object_call(inbox_list, key=f"{approver}~{shard}", arg=None) for shard in range(INBOX_SHARDS)]
    await restate.gather(*shards)
    items = [item for shard in shards for item in await shard]
    return sorted(items, key=lambda item: float(item["deadline"]))
