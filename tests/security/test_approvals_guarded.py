"""Approvals: reads need the approver's proof and show only their own gates; a decision's proof
covers every field; local tokens are random and private; the page is rate-limited and sends the
headers a browser app needs."""

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pivot.compensations.approvals import decision_request, read_request
from pivot.services.client import PivotClient, PivotError
from pivot.services.local.approver_tokens import ensure_approver_tokens
from pivot.services.local.stack import Stack
from tests.approval_pages import served_page
from tests.conftest import APPROVER_TOKENS
from tests.test_approvals import inbox, park

FINANCE = APPROVER_TOKENS["finance"]


def _read(stack: Stack, path: str, body: object) -> httpx.Response:
    return httpx.post(f"{stack.ingress_url}{path}", json=body, timeout=60)


@pytest.fixture
def parked(pivot: PivotClient) -> Iterator[tuple[str, str]]:
    """A saga parked on a gate that names finance only; rejected afterwards so nothing is left waiting."""
    run_id, approval = park(pivot)
    yield run_id, approval
    if pivot.status(run_id)["status"] == "waiting_approval":
        pivot.decide(approval, approver="finance", token=FINANCE, approved=False, comment="cleanup")


def test_pending_approvals_need_the_approvers_proof(stack: Stack, parked: tuple[str, str]) -> None:
    _, approval = parked
    now = time.time()
    for body in ("finance",  # the old, unauthenticated form
                 read_request("finance", "wrong-token", now),
                 read_request("finance", FINANCE, now - 3600),  # a proof copied from an old journal entry
                 read_request("finance", FINANCE, now + 3600),
                 {**read_request("finance", FINANCE, now), "approver": "ops"}):  # finance's proof, ops's name
        response = _read(stack, "/Approvals/pending", body)
        assert response.status_code == 401, (body, response.text)
        assert "finance" not in response.text.replace("authenticate finance", "")  # no listing leaks out
    listed = _read(stack, "/Approvals/pending", read_request("finance", FINANCE, now)).json()
    assert approval in {a["approval_id"] for a in listed}


def test_each_approver_sees_only_the_gates_that_name_them(pivot: PivotClient, parked: tuple[str, str]) -> None:
    run_id, approval = parked
    assert approval in {a["approval_id"] for a in inbox(pivot, "finance")}
    assert approval not in {a["approval_id"] for a in inbox(pivot, "ops")}
    mine = pivot.approval(approval, approver="finance", token=FINANCE)
    assert mine["pending"]["params"]["lines"][0]["amount"] == 12000
    assert mine["saga"]["status"] == "waiting_approval" and mine["closed"] is None
    with pytest.raises(PivotError) as theirs:
        pivot.approval(approval, approver="ops", token=APPROVER_TOKENS["ops"])
    assert theirs.value.status == 404 and "12000" not in theirs.value.message
    with pytest.raises(PivotError) as unproven:
        pivot.approval(approval, approver="finance", token="guess")
    assert unproven.value.status == 401
    assert pivot.status(run_id)["status"] == "waiting_approval"


def test_the_decision_proof_covers_the_comment(stack: Stack, pivot: PivotClient, parked: tuple[str, str]) -> None:
    """A proof seen in transit cannot be replayed with another comment (or verdict, or channel)."""
    run_id, approval = parked
    digest = pivot.approval(approval, approver="finance", token=FINANCE)["pending"]["digest"]
    valid = decision_request(FINANCE, approval, "finance", True, "looks right", digest=digest)
    for changed in ({"comment": "approved by the CFO"}, {"approved": False}, {"channel": "page"}):
        body = {**valid, **changed}
        response = _read(stack, f"/Approval/{approval}/decide", body)
        assert response.status_code == 403 and "does not authenticate" in response.text, response.text
    assert pivot.status(run_id)["status"] == "waiting_approval"
    assert _read(stack, f"/Approval/{approval}/decide", valid).status_code == 200
    invoice = next(s for s in pivot.attach(run_id)["steps"] if s["id"] == "invoice")
    assert invoice["decision"]["comment"] == "looks right"


def test_local_approver_tokens_are_random_and_private(stack: Stack, tmp_path: Path) -> None:
    first = ensure_approver_tokens(tmp_path / "a" / "approvers")
    second = ensure_approver_tokens(tmp_path / "b" / "approvers")
    assert set(first) == {"finance", "ops"}
    assert all(len(token) >= 32 for token in first.values())
    assert not set(first.values()) & set(second.values())
    assert ensure_approver_tokens(tmp_path / "a" / "approvers") == first  # kept across restarts
    for path in (tmp_path / "a" / "approvers", stack.approvers_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "finance-local-token" not in stack.approvers_file.read_text()


def _page(stack: Stack, path: str, body: object, **headers: str) -> httpx.Response:
    return httpx.post(f"{stack.approvals_url}{path}", json=body, headers=headers, timeout=60)


def test_the_page_reads_only_with_the_token(stack: Stack, parked: tuple[str, str]) -> None:
    _, approval = parked
    assert httpx.get(f"{stack.approvals_url}/api/pending?approver=finance", timeout=30).status_code == 405
    assert _page(stack, "/api/pending", {"approver": "finance"}).status_code == 400
    assert _page(stack, "/api/pending", {"approver": "finance", "token": "guess"}).status_code == 401
    listed = _page(stack, "/api/pending", {"approver": "finance", "token": FINANCE})
    assert approval in {a["approval_id"] for a in listed.json()}
    theirs = _page(stack, "/api/pending", {"approver": "ops", "token": APPROVER_TOKENS["ops"]})
    assert theirs.status_code == 200 and approval not in {a["approval_id"] for a in theirs.json()}
    followed = _page(stack, "/api/approval", {"approval_id": approval, "approver": "finance", "token": FINANCE})
    assert followed.json()["saga"]["status"] == "waiting_approval"


def test_the_page_answers_its_own_page_only(stack: Stack) -> None:
    body = {"approver": "finance", "token": FINANCE}
    assert _page(stack, "/api/pending", body, origin="http://evil.example").status_code == 403
    assert _page(stack, "/api/pending", body, **{"sec-fetch-site": "cross-site"}).status_code == 403
    own = _page(stack, "/api/pending", body, origin=stack.approvals_url)
    assert own.status_code == 200
    form = httpx.post(f"{stack.approvals_url}/api/decide", content=b'{"approval_id": "a~b"}', timeout=30,
                      headers={"content-type": "text/plain"})  # what an HTML form can send cross-site
    assert form.status_code == 415
    rebound = httpx.get(f"{stack.approvals_url}/", headers={"host": "evil.example"}, timeout=30)
    assert rebound.status_code == 400  # DNS rebinding: a foreign host name is not this page


def test_the_page_sends_the_headers_of_a_browser_app(stack: Stack) -> None:
    for path in ("/", "/approval_page.js", "/approval_page.css"):
        response = httpx.get(f"{stack.approvals_url}{path}", timeout=30)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    api = _page(stack, "/api/pending", {"approver": "finance", "token": "guess"})
    assert api.headers["x-content-type-options"] == "nosniff" and "content-security-policy" in api.headers
    html = httpx.get(f"{stack.approvals_url}/", timeout=30).text
    assert "<script>" not in html and "<style>" not in html  # nothing inline for the policy to allow


@pytest.fixture
def own_page(stack: Stack) -> Iterator[str]:
    """An approval page of this test's own: its limits count only this test's attempts (the stack's
    page is shared by every test, all from 127.0.0.1, one client to its per-client limit)."""
    with served_page(stack, "approval-page-limits", dict(os.environ)) as url:
        yield url


def test_decisions_are_rate_limited_per_approver(own_page: str, pivot: PivotClient, parked: tuple[str, str]) -> None:
    """Guessing ops's token through the page: the eleventh try within a minute is 429, with Retry-After."""
    run_id, approval = parked
    body = {"approval_id": approval, "approver": "ops", "token": "guess", "approved": True, "comment": ""}
    answers = [httpx.post(f"{own_page}/api/decide", json=body, timeout=60) for _ in range(11)]
    assert [a.status_code for a in answers[:10]] == [403] * 10
    assert answers[10].status_code == 429 and int(answers[10].headers["retry-after"]) >= 1
    assert pivot.status(run_id)["status"] == "waiting_approval"
