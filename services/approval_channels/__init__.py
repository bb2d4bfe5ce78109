"""Where a gate is announced beyond Pivot's own inbox: a Slack message, an email with a link.

Each channel is a module with two coroutines, run by `ApprovalNotices/{approval}`
(services/handlers/approval_notices.py), one object per gate so that its announcement always
comes before its settling and neither holds up the gate itself:

- `announce(ctx, gate) -> posted | None`: tell the gate's approvers, once; what it returns (a
  message's channel and ts, an email's id — never a link or a token) is kept for `settle`;
- `settle(ctx, gate, posted, closing)`: the gate closed (decided, expired, cancelled): say so where
  it was announced.

A channel reads its credentials from the environment inside `ctx.run`; only references are journaled.
"""

import os

PAGE_URL_ENV = "PIVOT_APPROVAL_PAGE_URL"
DEFAULT_PAGE_URL = "http://127.0.0.1:9095"
"""The local stack's approval page (`pivot dev`)."""


def configured_page_url() -> str | None:
    """Where approvers reach the approval page, when configured (`PIVOT_APPROVAL_PAGE_URL`)."""
    return os.environ.get(PAGE_URL_ENV) or None
