"""A real browser tab, a page from another loopback origin: it tries `fetch` and HTML form posts
against Restate's ingress and the approval page's API. Nothing may be admitted, decided or
written: the journal of each refused invocation holds only its input and its refusal, and no
sandbox ledger moves.

Playwright drives Debian's chromium (no browser download), as in tests/test_approval_page.py.
"""

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from pivot.services.client import PivotClient
from pivot.services.local.demo import flagship_plan
from pivot.services.local.processes import free_port
from pivot.services.local.stack import Stack
from tests.conftest import APPROVER_TOKENS
from tests.sandboxes import Sandboxes
from tests.test_approval_page import CHROMIUM, CHROMIUM_FLAGS
from tests.test_approvals import park

ATTACK = (Path(__file__).parent / "attack_page.html").read_text()
"""The page in the other tab: placeholders in capitals are filled in by the test."""


@pytest.fixture
def attacker() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A page server on another origin (`localhost`, its own port), like any site in another tab:
    its origin, and the pages it serves by path."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, b"not found")
            self.send_response(200 if self.path in pages else 404)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}", pages
    finally:
        server.shutdown()
        server.server_close()


def _journal_types(stack: Stack, run_id: str) -> list[str]:
    query = ("SELECT j.entry_type FROM sys_journal j JOIN sys_invocation i ON j.id = i.id "
             f"WHERE i.target_service_key = '{run_id}' AND i.target_handler_name = 'run'")
    response = httpx.post(f"{stack.admin_url}/query", json={"query": query}, headers={"accept": "application/json"},
                          timeout=30)
    return sorted(str(row["entry_type"]) for row in response.json()["rows"])


def test_a_page_in_another_tab_cannot_drive_pivot(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, attacker: tuple[str, dict[str, bytes]]
) -> None:
    from playwright.sync_api import sync_playwright

    parked_run, approval = park(pivot)
    token = uuid.uuid4().hex[:8]
    runs = {name: f"tab-{name}-{token}" for name in ("fetch", "step", "form", "simple")}
    html = ATTACK
    for placeholder, value in {"INGRESS": stack.ingress_url, "APPROVALS": stack.approvals_url,
                               "RUN_FETCH": runs["fetch"], "RUN_STEP": runs["step"], "RUN_FORM": runs["form"],
                               "RUN_SIMPLE": runs["simple"], "PARKED": parked_run, "APPROVAL": approval,
                               "PLAN": json.dumps(flagship_plan(f"tab+{token}@example.com"))}.items():
        html = html.replace(placeholder, value)
    before = {provider: len(sandboxes.ledger(provider)) for provider in stack.sandbox_urls}

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            origin, pages = attacker
            pages["/attack.html"] = html.encode()
            page.goto(f"{origin}/attack.html")
            page.wait_for_function("window.done === true", timeout=60_000)
            results = page.evaluate("window.results")
            for form in ("#ingress-form", "#decide-form"):
                with page.expect_event("framenavigated", timeout=30_000):
                    page.eval_on_selector(form, "form => form.submit()")
        finally:
            browser.close()

    # Restate's CORS lets the page read the ingress's answers: each is Pivot's refusal (a text/plain
    # body, what a form or a "simple" request sends, Restate itself refuses for a JSON handler).
    assert {name: results[name] for name in ("run", "step", "abort", "status", "decide")} == {
        "run": 403, "step": 403, "abort": 403, "status": 403, "decide": 403}, results
    assert results["simple-post"] in {400, 403}, results
    assert results["page-pending"] == "blocked"  # the approval page grants no CORS: the preflight fails
    for run_id in runs.values():
        assert pivot.status(run_id)["status"] == "not_found", run_id
    assert _journal_types(stack, runs["fetch"]) == ["Command: Input", "Command: Output"]  # refused at the door
    for run_id in (runs["form"], runs["simple"]):
        assert set(_journal_types(stack, run_id)) <= {"Command: Input", "Command: Output"}, run_id
    assert pivot.status(parked_run)["status"] == "waiting_approval"
    assert {provider: len(sandboxes.ledger(provider)) for provider in stack.sandbox_urls} == before
    pivot.decide(approval, approver="finance", token=APPROVER_TOKENS["finance"], approved=False, comment="cleanup")
    assert pivot.attach(parked_run)["status"] == "compensated"
