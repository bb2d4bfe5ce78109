"""Approvals by email, end to end on the real stack: a gate naming the `email` channel sends each of its
approvers one email through Resend (the sandbox) with the gate's text and a signed link; the link opens the
gate on the approval page's server and decides it once, through the `email` channel.

Each email is one journaled send whose Idempotency-Key is structural (the gate, the approver), so a send
cut short by a crash and run again sends nothing twice. The link is a capability: it appears in the email
and nowhere in Restate's journal, state or the stack's logs."""

import json
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pivot.compensations.keys import notice_key
from pivot.providers.resend.sandbox.store import SANDBOX_DOMAIN
from pivot.services.approval_channels.email_link import NOT_VALID
from pivot.services.approval_channels.email_notice import PURPOSE
from pivot.services.client import PivotClient
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import LOCAL_CREDENTIALS, LOCAL_MAIL_DOMAIN, Stack
from tests.approval_pages import served_page
from tests.conftest import APPROVER_TOKENS
from tests.restate_scan import admin_query, stored
from tests.sandboxes import Sandboxes
from tests.test_approvals import gated_plan

INVOICE = "stripe.create_invoice"
LINK = re.compile(r"(http://\S+/#approval=\S+)")


def park_email_gate(pivot: PivotClient, *, approvers: tuple[str, ...] = ("finance", "ops"),
                    channels: tuple[str, ...] = ("email",), timeout: str = "P1D", wait: bool = True) -> tuple[str, str]:
    token = uuid.uuid4().hex[:12]
    run_id = f"test-email-{token}"
    plan = gated_plan(f"ada+{token}@example.com", timeout=timeout)
    plan["steps"][1]["approval"] |= {"approvers": list(approvers), "channels": list(channels)}
    pivot.submit(run_id, plan)
    if wait:
        wait_until(lambda: pivot.status(run_id)["status"] == "waiting_approval", timeout_s=60, what="the saga to park")
    return run_id, f"{run_id}~invoice"


def sends_to(sandboxes: Sandboxes, approval: str, approver: str) -> list[dict[str, Any]]:
    """The Resend sandbox's sends under that approver's key for that gate."""
    key = notice_key(approval, approver, PURPOSE)
    return [e for e in sandboxes.ledger("resend") if e["op"] == "send" and e["idempotency_key"] == key]


def announced(stack: Stack, approval: str) -> dict[str, Any] | None:
    """What `ApprovalNotices/<approval>` kept of the email announcement, once it is done."""
    rows = admin_query(stack.admin_url, "SELECT value_utf8 FROM state WHERE service_name = 'ApprovalNotices' "
                                        f"AND service_key = '{approval}' AND key = 'posted:email'")
    return json.loads(str(rows[0]["value_utf8"])) if rows else None


def wait_announced(stack: Stack, approval: str) -> dict[str, Any]:
    wait_until(lambda: announced(stack, approval) is not None, timeout_s=60, what="the approval emails")
    found = announced(stack, approval)
    assert found is not None
    return found


def email(stack: Stack, email_id: str) -> dict[str, Any]:
    response = httpx.get(f"{stack.sandbox_urls['resend']}/emails/{email_id}", timeout=30,
                         headers={"Authorization": f"Bearer {LOCAL_CREDENTIALS['RESEND_API_KEY']}"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def link_in(stack: Stack, email_id: str) -> str:
    found = LINK.search(str(email(stack, email_id)["text"]))
    assert found is not None
    return found.group(1)


def page(url: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, timeout=60)


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, str(body["code"]), str(body["message"])


def gate_of(pivot: PivotClient, approval: str) -> dict[str, Any]:
    return pivot.approval(approval, approver="finance", token=APPROVER_TOKENS["finance"])


def test_the_local_stack_mails_from_the_sandboxes_verified_domain(stack: Stack) -> None:
    assert LOCAL_MAIL_DOMAIN == SANDBOX_DOMAIN
    assert stack.service.env["PIVOT_APPROVAL_PAGE_URL"] == stack.approvals_url
    assert stack.service.env["PIVOT_APPROVER_EMAILS"] == "finance:finance@example.com,ops:ops@example.com"


def test_each_approver_gets_one_email_even_when_the_send_is_cut_short(
        stack: Stack, pivot: PivotClient, sandboxes: Sandboxes) -> None:
    """The first send is held at the sandbox and the service killed meanwhile: Restate runs the
    announcement again, its send replays the same Idempotency-Key, and Resend sends nothing twice."""
    hold = sandboxes.fault("resend", method="POST", path="/emails", action="latency", latency_ms=1500, times=1)
    run_id, approval = park_email_gate(pivot)
    wait_until(lambda: sandboxes.fault_hits("resend", hold) == 1, timeout_s=60, what="the first email's send")
    stack.restart_service()
    posted = wait_announced(stack, approval)
    wait_until(lambda: sandboxes.fault_held("resend", hold) == 0, timeout_s=30, what="the held request")

    assert [e["approver"] for e in posted["emails"]] == ["finance", "ops"] and "not_sent" not in posted
    gate = gate_of(pivot, approval)["pending"]
    for sent in posted["emails"]:
        approver = sent["approver"]
        assert [e["id"] for e in sends_to(sandboxes, approval, approver)] == [sent["id"]], approver
        mail = email(stack, sent["id"])
        assert mail["to"] == [f"{approver}@example.com"] and mail["from"] == "Pivot approvals <approvals@example.com>"
        assert mail["subject"] == f"Approval needed: {gate['shown'].splitlines()[0]}"
        assert gate["shown"] in mail["text"]  # exactly the text every channel shows
        assert LINK.search(mail["text"]) and f"approver={approver}&" in mail["text"]
    pivot.decide(approval, approver="finance", token=APPROVER_TOKENS["finance"], approved=False, comment="cleanup",
                 channel="email")
    assert pivot.attach(run_id)["status"] == "compensated"


def test_the_link_opens_the_gate_and_decides_it_once(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, approval = park_email_gate(pivot)
    posted = wait_announced(stack, approval)
    link = link_in(stack, next(e["id"] for e in posted["emails"] if e["approver"] == "finance"))

    opened = page(stack.approvals_url, "/api/link", {"link": link})
    assert opened.status_code == 200, opened.text
    body = opened.json()
    assert body["pending"]["approval_id"] == approval and body["closed"] is None
    assert body["pending"]["shown"] == gate_of(pivot, approval)["pending"]["shown"]
    assert body["link"]["approver"] == "finance" and body["saga"]["status"] == "waiting_approval"
    assert body["pending"]["summary"]["headline"].startswith("Create and finalize a Stripe invoice · $120.00 USD")

    decided = page(stack.approvals_url, "/api/link/decide", {"link": link, "approved": True, "comment": "by email"})
    assert decided.status_code == 200, decided.text
    outcome = pivot.attach(run_id)
    assert outcome["status"] == "committed", outcome
    invoice = next(s for s in outcome["steps"] if s["id"] == "invoice")
    assert (invoice["decision"]["approver"], invoice["decision"]["channel"], invoice["decision"]["comment"]) == (
        "finance", "email", "by email")
    made = [op for op, obj in sandboxes.ops("stripe", run_id, "invoice", INVOICE) if obj == "invoice"]
    assert made == ["create", "finalize"]

    # Used twice: refused, saying so; nothing changes.
    again = page(stack.approvals_url, "/api/link/decide", {"link": link, "approved": False, "comment": "twice"})
    status, code, message = error(again)
    assert (status, code) == (409, "link_used") and "already approved by finance" in message
    assert "nothing changed" in message
    assert pivot.attach(run_id) == outcome
    assert [op for op, obj in sandboxes.ops("stripe", run_id, "invoice", INVOICE) if obj == "invoice"] == made
    # Opened again, it shows the decision (the page then shows no buttons).
    shown = page(stack.approvals_url, "/api/link", {"link": link}).json()
    assert shown["closed"]["decision"]["channel"] == "email" and shown["saga"]["status"] == "committed"

    # A capability: the link is in the email and nowhere Restate or the stack keeps anything.
    signature = link.rsplit("sig=", 1)[1]
    found = stored(stack)
    assert any(approval in text for text in found.decoded)  # the scan reads this gate's entries
    assert found.containing([link, signature]) == [], found.places(signature)


def test_a_gate_decided_elsewhere_shows_its_decision_through_the_link(stack: Stack, pivot: PivotClient) -> None:
    run_id, approval = park_email_gate(pivot, channels=("email", "cli"))
    link = link_in(stack, next(e["id"] for e in wait_announced(stack, approval)["emails"] if e["approver"] == "ops"))
    pivot.decide(approval, approver="finance", token=APPROVER_TOKENS["finance"], approved=True, comment="by cli")
    assert pivot.attach(run_id)["status"] == "committed"

    shown = page(stack.approvals_url, "/api/link", {"link": link}).json()
    assert shown["link"]["approver"] == "ops"
    assert {k: shown["closed"]["decision"][k] for k in ("approver", "approved", "channel")} == {
        "approver": "finance", "approved": True, "channel": "cli"}
    late = page(stack.approvals_url, "/api/link/decide", {"link": link, "approved": False, "comment": "late"})
    status, code, message = error(late)
    assert (status, code) == (409, "already_decided") and "approved by finance" in message


def test_an_expired_link_is_refused(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, approval = park_email_gate(pivot, approvers=("finance",), timeout="PT2S", wait=False)
    link = link_in(stack, wait_announced(stack, approval)["emails"][0]["id"])
    outcome = pivot.attach(run_id)  # the deadline passed: the gate expired and the saga unwound
    assert outcome["status"] == "compensated", outcome

    for path, body in (("/api/link", {"link": link}),
                       ("/api/link/decide", {"link": link, "approved": True, "comment": ""})):
        status, code, message = error(page(stack.approvals_url, path, body))
        assert (status, code) == (410, "link_expired") and "expired with its approval" in message, path
    assert pivot.attach(run_id) == outcome
    assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []


def _tampered(link: str, name: str, value: str) -> str:
    head, _, fragment = link.partition("#")
    fields = dict(pair.split("=", 1) for pair in fragment.split("&"))
    fields[name] = value
    return head + "#" + "&".join(f"{k}={v}" for k, v in fields.items())


def test_a_tampered_link_is_refused_without_saying_which_part(
        stack: Stack, pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, approval = park_email_gate(pivot)
    link = link_in(stack, next(e["id"] for e in wait_announced(stack, approval)["emails"] if e["approver"] == "ops"))
    fields = dict(pair.split("=", 1) for pair in link.partition("#")[2].split("&"))
    tampered = [
        _tampered(link, "approver", "finance"),  # ops's link made finance's
        _tampered(link, "digest", "0" * 64),
        _tampered(link, "expires", str(int(fields["expires"]) + 86_400)),
        _tampered(link, "approval", f"{run_id}~contact"),
        _tampered(link, "sig", "f" * 64),
        link[:-1],
    ]
    answers = {error(page(stack.approvals_url, path, {"link": forged, "approved": True, "comment": ""}
                          if path.endswith("decide") else {"link": forged}))
               for forged in tampered for path in ("/api/link", "/api/link/decide")}
    assert answers == {(403, "link_refused", NOT_VALID)}
    assert pivot.status(run_id)["status"] == "waiting_approval"
    assert gate_of(pivot, approval)["closed"] is None
    assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []
    pivot.decide(approval, approver="ops", token=APPROVER_TOKENS["ops"], approved=False, comment="cleanup",
                 channel="email")
    assert pivot.attach(run_id)["status"] == "compensated"


@pytest.fixture
def page_without_tokens(stack: Stack) -> Iterator[str]:
    """An approval page whose server has no `PIVOT_APPROVERS`: it cannot check a link."""
    env = {name: value for name, value in os.environ.items() if name != "PIVOT_APPROVERS"}
    with served_page(stack, "approval-page-no-tokens", env) as url:
        yield url


def test_a_page_without_approver_tokens_says_it_cannot_open_links(page_without_tokens: str) -> None:
    status, code, message = error(page(page_without_tokens, "/api/link", {"link": "#approval=x"}))
    assert (status, code) == (503, "links_unavailable") and "PIVOT_APPROVERS" in message


def test_the_link_routes_keep_the_pages_guards(stack: Stack) -> None:
    foreign = httpx.post(f"{stack.approvals_url}/api/link", json={"link": "#approval=x"}, timeout=30,
                         headers={"origin": "http://evil.example"})
    assert error(foreign)[:2] == (403, "origin_refused")
    form = httpx.post(f"{stack.approvals_url}/api/link/decide", content=b'{"link": "#approval=x"}', timeout=30,
                      headers={"content-type": "text/plain"})
    assert form.status_code == 415
    assert "frame-ancestors 'none'" in form.headers["content-security-policy"]
