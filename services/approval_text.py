"""The one text an approver reads, whichever channel shows it: page, Slack, email or the agent's chat.

A gate's decision is bound to a digest of this text and of the step's params
(`pivot.compensations.approvals.approval_digest`), so every channel must show exactly the same
words: they are made once, when the gate opens, from the step's resolved params and the catalog
(`approval_summary.summarize_step`), and journaled. A channel renders `shown` as it is, never a
text of its own.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pivot.compensations.actions import Action
from pivot.compensations.approvals import PendingApproval
from pivot.services.local.approval_summary import summarize_step


def when(epoch_s: float) -> str:
    """"2026-12-10 14:05 UTC": a deadline as people read it, with its zone."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M UTC")


def asked_by(pending: PendingApproval) -> str:
    who = pending.requested_by or f"the agent running saga {pending.run_id}"
    return f"{who}, because: {pending.reason}" if pending.reason else who


def describe(pending: PendingApproval, catalog: Mapping[str, Action]) -> dict[str, Any]:
    """`{"summary": <StepSummary>, "shown": <the text>}` for a gate about to open."""
    summary = summarize_step(pending.action, pending.params, catalog)
    lines = [summary.headline, summary.does]
    lines += [f"Amount: {amount}" for amount in summary.amounts]
    lines += [f"{label}: {value}" for label, value in summary.details]
    lines += [f"Asked by: {asked_by(pending)}", f"Decide before: {when(pending.deadline)}",
              f"Step {pending.step_id} of saga {pending.run_id} ({pending.action})"]
    return {"summary": summary.model_dump(), "shown": "\n".join(lines)}
