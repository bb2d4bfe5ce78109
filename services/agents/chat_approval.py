"""The chat channel's settings and words: who the agent's own user is, and what they are asked.

`pivot mcp` serves one person's agent. When that person is an approver, a gate that names them
alone (and the `chat` channel) can be decided in their MCP client, through elicitation, instead
of on the approval page. pivot mcp then decides as that approver, so it needs their name and
their token (which only keys the decision's proof and never travels):

    PIVOT_CHAT_APPROVER=<name>   the approver this pivot mcp's user is
    PIVOT_APPROVERS=<name>:<token>[,...]   where their token is found (only theirs is needed);
                                           else the running local stack's approvers file, as the
                                           CLI reads it for PIVOT_APPROVER

Both are read at each call (from the environment, never a flag, which `ps` shows), so a changed
setting needs no restart; the token is never logged, never in a tool result, never in a repr.
A gate naming anyone else, or several approvers, is never asked about here: an answer in the
chat comes from the agent's own client, which speaks for its user only (the service refuses
such a decision too).

Whoever cannot be asked here (another approver, a client without elicitation) is given the
approval page's address: `PIVOT_APPROVAL_PAGE_URL`, else the running local stack's page, else
the local stack's default address.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from pivot.services.approval_channels import DEFAULT_PAGE_URL, configured_page_url
from pivot.services.catalog import approver_tokens
from pivot.services.local.stack_file import approver_token, running_stack

CHAT_APPROVER_ENV = "PIVOT_CHAT_APPROVER"


@dataclass(frozen=True)
class ChatUser:
    """The approver this pivot mcp's user is, and their token (kept out of every repr)."""

    name: str
    token: str = field(repr=False)


def chat_user() -> ChatUser | None:
    """The configured chat approver, or None (no name set, or no token for that name)."""
    name = os.environ.get(CHAT_APPROVER_ENV, "").strip()
    if not name:
        return None
    token = approver_tokens().get(name)
    if token is None and (stack := running_stack()) is not None:
        token = approver_token(Path(stack.info.approvers_file), name)
    return ChatUser(name, token) if token else None


def page_link() -> str:
    """The approval page, where an approver signs in and finds the gates that name them. Just the
    page: a fragment `#approval=…` is an email's signed link there, which an unsigned one is not."""
    base = configured_page_url() or ""
    if not base and (stack := running_stack()) is not None:
        base = stack.info.approvals
    return f"{(base or DEFAULT_PAGE_URL).rstrip('/')}/"


def for_chat(step: Mapping[str, Any], user: ChatUser | None) -> bool:
    """Whether `step` waits at a gate its user may decide in the chat: the gate names the chat
    channel and `user` as its one approver."""
    gate = step.get("approval") or {}
    return (user is not None and step.get("state") == "waiting_approval" and "chat" in (gate.get("channels") or [])
            and gate.get("approvers") == [user.name])


class ChatVerdict(BaseModel):
    """What the user answers (flat primitives: what elicitation forms carry). `approve` has no
    default, so accepting an untouched form decides nothing by accident."""

    approve: bool = Field(title="Approve", description="Yes: the step runs. No: it is rejected and the saga unwinds.")
    comment: str = Field(default="", max_length=2000, title="Comment", description="Recorded with your decision")


def question(pending: Mapping[str, Any], user: ChatUser) -> str:
    """The gate's own text (`shown`, what the page, Slack and email show, verbatim), then the question.
    Made from the gate alone, so the same gate is asked in the same words every time."""
    return (f"{pending['shown']}\n\nApprove this, {user.name}? Your answer is recorded as your decision on "
            f"approval {pending['approval_id']}.")
