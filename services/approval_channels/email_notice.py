"""The email channel: each approver of a gate gets one email with the gate's text and a signed link.

Configuration, in the service's environment (read inside `ctx.run`, never journaled):
- `PIVOT_APPROVER_EMAILS="finance:finance@example.com,ops:ops@example.com"`: who is emailed (an
  approver without an address gets no email and decides through another channel the gate names);
- `PIVOT_APPROVALS_FROM`: the sender, on a domain verified at Resend;
- `PIVOT_APPROVAL_PAGE_URL`: where links land (default the local page, http://127.0.0.1:9095);
- Resend as for the `resend.*` actions (`RESEND_API_KEY`, `PIVOT_RESEND_BASE_URL`), and the approvers'
  tokens (`PIVOT_APPROVERS`), which sign the links.

Exactly once: each approver's email is one `ctx.run` that sends through `resend.send_email`'s own code
with a structural `Idempotency-Key` (`notice_key(approval, approver, "approval-email")`, never a hash of
content). The payload is a function of the gate and the approver's token (a link has no nonce), so a
retried send, or one replayed after a crash, matches the first and Resend answers the first email's id
without sending again. `ApprovalNotices` announces a gate once: a redelivered `announce` finds it done.

The link is a capability (it decides the gate as its approver): it is made inside the `ctx.run` and
leaves it only inside the email; the run returns the email's id, and nothing logs the body.

`settle` sends nothing. An email cannot be edited the way a Slack message is, and the link needs no
follow-up: it opens the gate as it stands, so once the gate is closed it shows the decision (or says
the link expired) instead of buttons. A second email per approver per gate would double the mail to
say what the link already says.
"""

import logging
import os
from typing import Any

from pydantic import ValidationError
from restate import ObjectContext, TerminalError

from pivot.compensations.approvals import PendingApproval, bound_digest, parse_approver_tokens
from pivot.compensations.attempts import is_cancel, run_options, transient
from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.compensations.keys import notice_key
from pivot.providers.redaction import APPROVERS_ENV, redact
from pivot.providers.resend.actions import SendEmail, SendEmailParams
from pivot.providers.resend.actions.emails import RETRY
from pivot.services.approval_channels import DEFAULT_PAGE_URL, configured_page_url
from pivot.services.approval_channels.email_link import EmailLink, make_link
from pivot.services.approval_text import when
from pivot.services.catalog import approver_tokens, resend_client

APPROVER_EMAILS_ENV = "PIVOT_APPROVER_EMAILS"
SENDER_ENV = "PIVOT_APPROVALS_FROM"
PURPOSE = "approval-email"
MAX_SUBJECT_CHARS = 200

log = logging.getLogger("pivot.approvals")


def page_url() -> str:
    return configured_page_url() or DEFAULT_PAGE_URL


def approver_emails() -> dict[str, str]:
    """approver → address, from `PIVOT_APPROVER_EMAILS` (the `name:value,…` format of `PIVOT_APPROVERS`)."""
    return parse_approver_tokens(os.environ.get(APPROVER_EMAILS_ENV, ""))


def subject(gate: PendingApproval) -> str:
    headline = (gate.shown.splitlines() or [gate.action])[0]
    text = f"Approval needed: {headline}"
    return text if len(text) <= MAX_SUBJECT_CHARS else text[:MAX_SUBJECT_CHARS - 1] + "…"


def body(gate: PendingApproval, approver: str, link: str) -> str:
    """The email: the gate's own text exactly as every channel shows it, then the link."""
    return (f"{approver}, a step is waiting for your approval.\n\n"
            f"{gate.shown}\n\n"
            f"Open it to approve or reject (the link is yours alone, decides once, and expires with the approval "
            f"at {when(gate.deadline)}):\n{link}\n\n"
            "Without a decision before then, the step is rejected and the saga undoes what it did.\n")


def _params(sender: str, address: str, gate: PendingApproval, approver: str, link: str) -> SendEmailParams:
    try:
        return SendEmailParams(sender=sender, to=[address], subject=subject(gate), text=body(gate, approver, link))
    except ValidationError as exc:
        # Name the fields only: an error's input would quote the body, and the body holds the link.
        fields = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
        raise TerminalError(f"cannot email {approver}: {', '.join(fields)} not valid (check {SENDER_ENV} and "
                            f"{APPROVER_EMAILS_ENV})") from None


async def send_approval_email(pending: dict[str, Any], approver: str) -> dict[str, Any]:
    """Runs inside `ctx.run`: sign the link, send the email, return its id (never the link)."""
    gate = PendingApproval.model_validate(pending)
    address = approver_emails().get(approver)
    if address is None:
        return {"skipped": f"{approver} has no address in {APPROVER_EMAILS_ENV}"}
    token = approver_tokens().get(approver)
    if token is None:
        return {"skipped": f"{approver} has no token in {APPROVERS_ENV}: no link can be signed"}
    sender = os.environ.get(SENDER_ENV)
    if not sender:
        raise TerminalError(f"set {SENDER_ENV} to the sender of approval emails (on a domain verified at Resend)")
    link = make_link(page_url(), token, EmailLink(approval_id=gate.approval_id, approver=approver,
                                                  digest=bound_digest(gate), expires=int(gate.deadline)))
    params = _params(sender, address, gate, approver, link)
    client = resend_client()
    try:
        sent = await SendEmail(client).write(params, notice_key(gate.approval_id, approver, PURPOSE))
    except ProviderRejected as exc:
        raise TerminalError(redact(f"Resend refused the email to {approver}: {exc.info.code} ({exc.info.message})"),
                            ) from None
    except ProviderUnavailable as exc:
        raise transient(exc) from None
    finally:
        await client.http.aclose()
    return {"id": str(sent["id"])}


async def announce(ctx: ObjectContext, gate: PendingApproval) -> dict[str, Any] | None:
    """One email per approver with an address, each its own journaled send (one approver's failure
    does not keep the others from theirs). Returns the emails' ids and why any were not sent."""
    emails: list[dict[str, str]] = []
    not_sent: dict[str, str] = {}
    for approver in gate.approvers:
        try:
            result = await ctx.run_typed(f"email {approver}", send_approval_email, run_options(RETRY, dict),
                                         gate.model_dump(mode="json"), approver)
        except TerminalError as exc:
            if is_cancel(exc):
                raise
            not_sent[approver] = exc.message
            log.warning("approval=%s no email to %s: %s", gate.approval_id, approver, exc.message,
                        extra={"approval_id": gate.approval_id})
            continue
        if "id" in result:
            emails.append({"approver": approver, "id": str(result["id"])})
            log.info("approval=%s emailed %s (Resend email %s)", gate.approval_id, approver, result["id"],
                     extra={"approval_id": gate.approval_id})
        else:
            not_sent[approver] = str(result.get("skipped"))
    if not emails and not not_sent:
        return None
    return {"emails": emails, **({"not_sent": not_sent} if not_sent else {})}


async def settle(ctx: ObjectContext, gate: PendingApproval, posted: dict[str, Any], closing: dict[str, Any]) -> None:
    """Nothing to send: the link shows the gate as it stands (see the module's docstring)."""
    return None
