"""The approval page in a real headless Chromium: see the pending gate, click approve, see the
saga finish. Playwright drives Debian's chromium (no browser download)."""

import os
import shutil
from pathlib import Path

import pytest

from pivot.services.client import PivotClient
from pivot.services.local.stack import Stack
from tests.conftest import APPROVER_TOKENS
from tests.test_approvals import park

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("chromium is required in CI (scripts/test.sh installs Debian's package)")
    pytest.skip("no chromium on this machine (scripts/test.sh installs it)", allow_module_level=True)


def test_approve_from_the_page_and_see_the_saga_finish(stack: Stack, pivot: PivotClient, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    run_id, approval = park(pivot)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.goto(stack.approvals_url)
            page.fill("#approver", "finance")
            page.fill("#token", APPROVER_TOKENS["finance"])
            page.click("#who button[type=submit]")

            card = page.locator(f'.card[data-approval-id="{approval}"]')
            expect(card).to_be_visible(timeout=30_000)
            expect(card.locator(".title")).to_contain_text("stripe.create_invoice")
            expect(card.locator(".reason")).to_have_text("first invoice for a new customer")
            card.locator("button.approve").click()

            result = card.locator('.result[data-final="committed"]')
            expect(result).to_be_visible(timeout=60_000)
            expect(result).to_contain_text("Stripe invoice")
            page.screenshot(path=str(tmp_path / "approval-page.png"), full_page=True)
        finally:
            browser.close()
    assert pivot.attach(run_id)["status"] == "committed"


def test_the_page_refuses_a_wrong_token(stack: Stack, pivot: PivotClient) -> None:
    """A wrong token lists nothing (reads need the approver's proof) and decides nothing."""
    from playwright.sync_api import expect, sync_playwright

    run_id, approval = park(pivot)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.goto(stack.approvals_url)
            page.fill("#approver", "finance")
            page.fill("#token", "wrong-token")
            page.click("#who button[type=submit]")
            expect(page.locator("#status")).to_contain_text("Refused", timeout=30_000)
            expect(page.locator(".card")).to_have_count(0)
        finally:
            browser.close()
    assert pivot.status(run_id)["status"] == "waiting_approval"
    pivot.decide(approval, approver="finance", token=APPROVER_TOKENS["finance"], approved=False, comment="cleanup")
    assert pivot.attach(run_id)["status"] == "compensated"
