"""The approval page in a real headless Chromium: see the pending gate, click approve, see the
saga finish. Playwright drives Debian's chromium (no browser download)."""

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pivot.services.client import PivotClient
from pivot.services.local.demo import DEMO_CUSTOMER, flagship_steps
from pivot.services.local.stack import Stack
from tests.conftest import APPROVER_TOKENS
from tests.test_approvals import park
from tests.test_open_sagas import new_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("chromium is required in CI (scripts/test.sh installs Debian's package)")
    pytest.skip("no chromium on this machine (scripts/test.sh installs it)", allow_module_level=True)

if TYPE_CHECKING:
    from playwright.sync_api import Page


@contextmanager
def signed_in(stack: Stack, token: str) -> Iterator["Page"]:
    """The approval page in a fresh headless Chromium, signed in as finance with `token`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.goto(stack.approvals_url)
            page.fill("#approver", "finance")
            page.fill("#token", token)
            page.click("#who button[type=submit]")
            yield page
        finally:
            browser.close()


def test_approve_from_the_page_and_see_the_saga_finish(stack: Stack, pivot: PivotClient, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    run_id, approval = park(pivot)
    with signed_in(stack, APPROVER_TOKENS["finance"]) as page:
        card = page.locator(f'.card[data-approval-id="{approval}"]')
        expect(card).to_be_visible(timeout=30_000)
        # In words first: the action, the amount with its currency, the customer, who asked and why.
        expect(card.locator(".title")).to_have_text(
            f"Create and finalize a Stripe invoice · $120.00 USD · customer {DEMO_CUSTOMER}")
        expect(card.locator(".does")).to_contain_text("stripe.create_invoice (compensable)")
        expect(card.locator("dd.amount")).to_have_text(["$120.00 USD (Pro plan)"])
        expect(card.locator("dd.asker")).to_contain_text(f"saga {run_id}, step “invoice”")
        expect(card.locator("dd.reason")).to_have_text("first invoice for a new customer")
        expect(card.locator("dd.done")).to_contain_text("contact (hubspot.create_contact, hubspot:contact/")
        expect(card.locator("dd.deadline")).to_contain_text(re.compile(r"in (1d|23h \d+m)"))
        # The raw JSON is one click away, not in the way.
        raw = card.locator("details.raw pre.params")
        expect(raw).to_be_hidden()
        card.locator("details.raw summary").click()
        expect(raw).to_be_visible()
        expect(raw).to_contain_text('"amount": 12000')
        card.locator("button.approve").click()

        result = card.locator('.result[data-final="committed"]')
        expect(result).to_be_visible(timeout=60_000)
        expect(result).to_contain_text("Stripe invoice")
        page.screenshot(path=str(tmp_path / "approval-page.png"), full_page=True)
    assert pivot.attach(run_id)["status"] == "committed"


def test_an_open_sagas_gate_from_the_page_to_its_final_outcome(stack: Stack, pivot: PivotClient) -> None:
    """An open saga ends when its agent commits: after the approval the page shows the gated step
    verified while the saga stays open, then follows it to the final outcome."""
    from playwright.sync_api import expect

    run_id, email = new_run("page-open")
    contact, _, invoice = flagship_steps(email)
    pivot.step(run_id, contact["step"], contact["action"], contact["params"])
    gate = {"approvers": ["finance"], "timeout": "PT2H5M", "reason": "an agent's first invoice"}
    parked = pivot.step(run_id, invoice["step"], invoice["action"], invoice["params"], approval=gate, wait_s=1)
    assert parked["step"]["state"] == "waiting_approval"
    approval = f"{run_id}~invoice"
    with signed_in(stack, APPROVER_TOKENS["finance"]) as page:
        card = page.locator(f'.card[data-approval-id="{approval}"]')
        expect(card).to_be_visible(timeout=30_000)
        expect(card.locator(".title")).to_contain_text("Create and finalize a Stripe invoice · $120.00 USD")
        expect(card.locator("dd.reason")).to_have_text("an agent's first invoice")
        expect(card.locator("dd.deadline")).to_contain_text(re.compile(r"in (2h [0-5]m|1h 5\dm)"))
        card.locator("button.approve").click()

        verified = card.locator('.result[data-step-state="verified"]')
        expect(verified).to_be_visible(timeout=60_000)
        expect(verified).to_contain_text(f"Saga {run_id} is open")
        expect(card.locator(".result")).not_to_contain_text("not_found")
        assert pivot.commit(run_id)["status"] == "committed"

        result = card.locator('.result[data-final="committed"]')
        expect(result).to_be_visible(timeout=60_000)
        expect(result).to_contain_text("All steps were applied and verified")


def test_the_page_refuses_a_wrong_token(stack: Stack, pivot: PivotClient) -> None:
    """A wrong token lists nothing (reads need the approver's proof) and decides nothing."""
    from playwright.sync_api import expect

    run_id, approval = park(pivot)
    with signed_in(stack, "wrong-token") as page:
        expect(page.locator("#status")).to_contain_text("Refused", timeout=30_000)
        expect(page.locator(".card")).to_have_count(0)
    assert pivot.status(run_id)["status"] == "waiting_approval"
    pivot.decide(approval, approver="finance", token=APPROVER_TOKENS["finance"], approved=False, comment="cleanup")
    assert pivot.attach(run_id)["status"] == "compensated"
