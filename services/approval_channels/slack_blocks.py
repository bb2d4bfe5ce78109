"""The Slack message of a gate, in Block Kit: the gate's text, Approve and Reject; once decided, the
same text with the decision in place of the buttons.

Plain text throughout (`plain_text`, never `mrkdwn`): params come from an agent, and mrkdwn would
let them ping a channel (`<!channel>`) or dress up a link. The gate's text (`shown`) is rendered
the same way each time, so the interactivity endpoint can tell whether the message clicked still
shows what the gate shows (`shown_in`), and refuse a click on a message edited since it was posted.
"""

import json
from typing import Any

from pivot.compensations.approvals import PendingApproval

APPROVE = "pivot_approve"
REJECT = "pivot_reject"
SHOWN_BLOCK = "pivot_shown"
DECIDE_BLOCK = "pivot_decide"
SECTION_LIMIT = 3000
"""Slack's limit on a section's text."""

Block = dict[str, Any]


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": False}


def _shown(gate: PendingApproval) -> str:
    text = gate.shown or f"{gate.action} (step {gate.step_id} of saga {gate.run_id})"
    return text if len(text) <= SECTION_LIMIT else text[:SECTION_LIMIT - 1] + "…"


def button_value(gate: PendingApproval) -> str:
    """What a click sends back: which gate, and the digest of what the message shows."""
    return json.dumps({"approval": gate.approval_id, "digest": gate.digest}, separators=(",", ":"))


def headline(gate: PendingApproval) -> str:
    return (gate.shown.splitlines() or [gate.action])[0]


def approval_blocks(gate: PendingApproval) -> list[Block]:
    value = button_value(gate)
    return [
        {"type": "header", "block_id": "pivot_title", "text": _plain("Approval needed")},
        {"type": "section", "block_id": SHOWN_BLOCK, "text": _plain(_shown(gate))},
        {"type": "actions", "block_id": DECIDE_BLOCK, "elements": [
            {"type": "button", "action_id": APPROVE, "text": _plain("Approve"), "style": "primary", "value": value},
            {"type": "button", "action_id": REJECT, "text": _plain("Reject"), "style": "danger", "value": value},
        ]},
    ]


def outcome_line(closing: dict[str, Any]) -> str:
    """"Approved by finance in Slack at 2026-…", "Expired: no decision before the deadline", …"""
    decision = closing.get("decision")
    if isinstance(decision, dict):
        verdict = "Approved" if decision.get("approved") else "Rejected"
        where = {"slack": " in Slack", "page": " on the approval page", "cli": " from the CLI",
                 "email": " from the email link", "chat": " in the agent's chat"}.get(str(decision.get("channel")), "")
        when = f" at {decision['at']}" if decision.get("at") else ""
        return f"{verdict} by {decision.get('approver', 'an approver')}{where}{when}"
    if closing.get("expired"):
        return "Expired: no decision before the deadline; the step did not run"
    if closing.get("cancelled"):
        return "Cancelled: the saga was cancelled; the step did not run"
    return "Closed"


def decided_blocks(gate: PendingApproval, closing: dict[str, Any]) -> list[Block]:
    return [
        {"type": "header", "block_id": "pivot_title", "text": _plain(outcome_line(closing)[:150])},
        {"type": "section", "block_id": SHOWN_BLOCK, "text": _plain(_shown(gate))},
    ]


def shown_in(blocks: Any) -> str | None:
    """The gate's text as a message shows it (from Slack's copy of the blocks), or None."""
    for block in blocks if isinstance(blocks, list) else []:
        if isinstance(block, dict) and block.get("block_id") == SHOWN_BLOCK:
            text = block.get("text")
            return str(text.get("text")) if isinstance(text, dict) else None
    return None


def shows(blocks: Any, gate: PendingApproval) -> bool:
    """Whether a message's blocks show this gate as it stands."""
    return shown_in(blocks) == _shown(gate)
