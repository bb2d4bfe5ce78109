"""The ingress guard: a browser origin that is not allow-listed reaches no Pivot handler.

Restate's ingress answers every CORS preflight for any origin; these calls are what a page in
the developer's own browser would send after that preflight. Each one must be refused (403,
naming the origin) before anything is admitted or any provider is called.
"""

import json
import uuid
from typing import Any

import httpx
import pytest

from pivot.services.app import app_services
from pivot.services.client import PivotClient
from pivot.services.handlers.ingress_guard import browser_origin
from pivot.services.local.demo import flagship_plan
from pivot.services.local.stack import Stack
from tests.conftest import ALLOWED_ORIGIN
from tests.sandboxes import Sandboxes

EVIL = "http://evil.example"


def _ledgers(stack: Stack, sandboxes: Sandboxes) -> dict[str, int]:
    return {provider: len(sandboxes.ledger(provider)) for provider in stack.sandbox_urls}


def _calls(run_id: str) -> list[tuple[str, Any]]:
    """Every public handler, with a body that would do something if it were let in."""
    plan = flagship_plan(f"guard+{run_id}@example.com")
    step = {"step": "contact", "action": "hubspot.create_contact", "params": {"email": f"g+{run_id}@example.com"}}
    decision = {"approver": "finance", "approved": True, "comment": "", "proof": "0" * 64}
    read = {"approver": "finance", "at": 0, "proof": "0" * 64}
    return [
        (f"/SagaRun/{run_id}/run", plan), (f"/SagaRun/{run_id}/status", None),
        (f"/Saga/{run_id}/open", {}), (f"/Saga/{run_id}/step", step), (f"/Saga/{run_id}/commit", {}),
        (f"/Saga/{run_id}/abort", {}), (f"/Saga/{run_id}/status", None),
        (f"/Approval/{run_id}~invoice/decide", decision), (f"/Approval/{run_id}~invoice/get", read),
        ("/Approvals/pending", read), (f"/SagaRepair/{run_id}/retry", None),
    ]


@pytest.mark.parametrize("headers", [
    {"origin": EVIL},
    {"Origin": "null"},  # sandboxed iframes and file:// pages
    {"sec-fetch-site": "cross-site"},  # a browser that left Origin out still says where it comes from
], ids=["origin", "null-origin", "sec-fetch-site"])
def test_a_foreign_browser_page_is_refused_by_every_handler(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, headers: dict[str, str]
) -> None:
    run_id = f"guard-{uuid.uuid4().hex[:10]}"
    before = _ledgers(stack, sandboxes)
    for path, body in _calls(run_id):
        response = httpx.post(f"{stack.ingress_url}{path}", json=body, headers=headers, timeout=30)
        assert response.status_code == 403, (path, response.text)
        assert "may not call Pivot" in response.json()["message"], path
    assert pivot.status(run_id)["status"] == "not_found"
    assert _ledgers(stack, sandboxes) == before


def test_the_refusal_names_the_origin_and_how_to_allow_it(stack: Stack) -> None:
    response = httpx.post(f"{stack.ingress_url}/SagaRun/guard-named/status", headers={"origin": EVIL}, timeout=30)
    message = response.json()["message"]
    assert response.status_code == 403 and EVIL in message and "PIVOT_ALLOWED_ORIGINS" in message


def test_an_allowed_origin_and_a_non_browser_caller_pass(stack: Stack, pivot: PivotClient) -> None:
    run_id = f"guard-ok-{uuid.uuid4().hex[:10]}"
    plan = flagship_plan(f"guard-ok+{run_id}@example.com")
    allowed = httpx.post(f"{stack.ingress_url}/SagaRun/{run_id}/run", json=plan, timeout=120,
                         headers={"origin": ALLOWED_ORIGIN.upper() + "/"})  # origins compare case-insensitively
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["status"] == "committed"
    typed_url = httpx.post(f"{stack.ingress_url}/SagaRun/{run_id}/status", headers={"sec-fetch-site": "none"},
                           timeout=30)
    assert typed_url.status_code == 200  # the user's own navigation: no page behind it
    assert pivot.status(run_id)["status"] == "committed"  # the client sends no Origin at all


def test_internal_handlers_are_not_reachable_through_the_ingress(stack: Stack, pivot: PivotClient) -> None:
    """The inboxes, an open saga's engine, its gated steps and its reports, and the gate's open/close are Pivot's own:
    no caller may list an inbox without a proof or plant a gate with its own awakeable."""
    internal = [("/ApprovalInbox/finance~0/list", None), ("/SagaStep/run", {"run_id": "x"}),
                ("/Saga/x/run", None), ("/Saga/x/report", {"kind": "progress"}), ("/Saga/x/live", None),
                ("/SagaRun/x/repair_context", None),
                ("/SagaRepair/x/get", None), ("/Approval/x~y/close", {}),
                ("/Approval/x~y/open", {"pending": {}, "awakeable_id": "sign_1abc"})]
    for path, body in internal:
        response = httpx.post(f"{stack.ingress_url}{path}", json=body, timeout=30)
        assert response.status_code == 400 and "not public" in response.text, (path, response.text)


def test_every_handler_of_the_app_is_guarded() -> None:
    """The guard is put in front of every handler by the app, so a handler added later is covered."""
    handlers = [h for service in app_services() for h in service.handlers.values()]
    assert len(handlers) >= 20
    assert all(getattr((h.context_managers or [None])[0], "pivot_ingress_guard", False) for h in handlers)


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, None),
    ({"Origin": "HTTP://Evil.Example/"}, "http://evil.example"),
    ({"sec-fetch-site": "none"}, None),
    ({"Sec-Fetch-Site": "same-site"}, "an unnamed origin (Sec-Fetch-Site: same-site)"),
])
def test_browser_origin_reads_what_browsers_send(headers: dict[str, str], expected: str | None) -> None:
    assert browser_origin(headers) == expected


def test_a_run_id_outside_the_alphabet_is_refused_by_the_ingress(stack: Stack) -> None:
    for bad in ["%2E%2E", "%2E", "a%2Fb", "_probe", "x" * 129, "r~1"]:  # encoded: httpx would resolve ../
        response = httpx.post(f"{stack.ingress_url}/SagaRun/{bad}/status", timeout=30)
        assert response.status_code == 400, (bad, response.text)
        assert "is not valid" in json.loads(response.text)["message"], bad
