"""An approval email's link in a real headless Chromium: the page opens the gate as the link's approver
with no token typed, shows the gate in words, approves it, and follows the saga to its end.
Playwright drives Debian's chromium (no browser download), as in tests/test_approval_page.py."""

from pathlib import Path

from pivot.services.client import PivotClient
from pivot.services.local.stack import Stack
from tests.conftest import APPROVER_TOKENS
from tests.sandboxes import Sandboxes
from tests.test_approval_email import INVOICE, link_in, park_email_gate, wait_announced
from tests.test_approval_page import CHROMIUM, CHROMIUM_FLAGS


def test_open_the_email_link_and_approve(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes,
                                         tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    run_id, approval = park_email_gate(pivot, approvers=("finance",))
    link = link_in(stack, wait_announced(stack, approval)["emails"][0]["id"])
    gate = pivot.approval(approval, approver="finance", token=APPROVER_TOKENS["finance"])["pending"]
    shown = gate["shown"].splitlines()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.goto(link)
            card = page.locator(f'.card[data-approval-id="{approval}"]')
            expect(card).to_be_visible(timeout=30_000)
            expect(page.locator("#status")).to_have_text("Opened from your approval email, as finance.")
            expect(page.locator("#who")).to_be_hidden()  # no token to type
            assert "#" not in page.url  # the link left the address bar (it stays in the tab only)
            # The words of the email: its first two lines are the card's title and what it does.
            expect(card.locator(".title")).to_have_text(shown[0])
            expect(card.locator(".does")).to_have_text(shown[1])
            expect(card.locator("dd.reason")).to_have_text("first invoice for a new customer")
            card.locator("button.approve").click()

            result = card.locator('.result[data-final="committed"]')
            expect(result).to_be_visible(timeout=60_000)
            page.screenshot(path=str(tmp_path / "approval-email-link.png"), full_page=True)

            # Opened again (a second click in the email, a new tab): the decision, and no buttons.
            page = browser.new_page()
            page.goto(link)
            again = page.locator(f'.card[data-approval-id="{approval}"][data-closed="decided"]')
            expect(again).to_be_visible(timeout=30_000)
            expect(again.locator(".closed")).to_contain_text("Already approved by finance (through email)")
            expect(again.locator("button")).to_have_count(0)
        finally:
            browser.close()

    outcome = pivot.attach(run_id)
    assert outcome["status"] == "committed"
    assert [op for op, obj in sandboxes.ops("stripe", run_id, "invoice", INVOICE) if obj == "invoice"] == [
        "create", "finalize"]
