"""The chat channel's settings and words: who the agent's own user is, and what they are asked.

`pivot mcp` serves one person's agent. When that person is an approver, a gate that names them
alone (and the `chat` channel) can be decided in their MCP client, through elicitation, instead
of on the approval page. pivot mcp then decides as that approver, so it needs their name and
their token (which only keys the decision's proof and never travels):

    PIVOT_CHAT_APPROVER=<name>   the approver this pivot mcp's user is
    PIVOT_APPROVERS=<name>:<token>[,...]   where their token is found (only theirs is needed)

Both are read from the environment at each call (never a flag, which `ps` shows), so a changed
setting needs no restart; the token is never logged, never in a tool result, never in a repr.
A gate naming anyone else, or several approvers, is never asked about here: an answer in the
chat comes from the agent's own client, which speaks for its user only (the service refuses
such a decision too).

Whoever cannot be asked here (another approver, a client without elicitation) is given the
approval page's address: `PIVOT_APPROVAL_PAGE_URL`, by default the local stack's page.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field

from pivot.compensations.approvals import parse_approver_tokens

CHAT_APPROVER_ENV = "PIVOT_CHAT_APPROVER"
APPROVERS_ENV = "PIVOT_APPROVERS"
PAGE_URL_ENV = "PIVOT_APPROVAL_PAGE_URL"
DEFAULT_PAGE_URL = "http://127.0.0.1:9095"
"""The local stack's approval page (`pivot dev`)."""


@dataclass(frozen=True)
class ChatUser:
    """The approver this pivot mcp's user is, and their token (kept out of every repr)."""

    name: str
    token: str = field(repr=False)


def chat_user(environ: Mapping[str, str] = os.environ) -> ChatUser | None:
    """The configured chat approver, or None (no name set, or no token for that name)."""
    name = environ.get(CHAT_APPROVER_ENV, "").strip()
    token = parse_approver_tokens(environ.get(APPROVERS_ENV, "")).get(name) if name else None
    return ChatUser(name, token) if name and token else None


def page_link(approval_id: str, environ: Mapping[str, str] = os.environ) -> str:
    """The approval page, with the gate named in the fragment (which no server or log sees)."""
    base = (environ.get(PAGE_URL_ENV) or DEFAULT_PAGE_URL).rstrip("/")
    return f"{base}/#approval={quote(approval_id, safe='')}"


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
