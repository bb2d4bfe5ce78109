"""Screenshots of an approval as approvers see it: the Slack message before and after a decision
(rendered from the Block Kit JSON the Slack sandbox holds) and the approval page.

    .venv/bin/python -m docs.approvals.screenshots       # writes docs/approvals/*.png

Starts a stack of its own on free loopback ports, parks the flagship's invoice on a gate that names
Slack and the page, screenshots the page with the gate open, clicks Approve as finance in the Slack
sandbox (signed as Slack signs it), and screenshots the message before and after. Needs Chromium
(Debian's `chromium`, as the browser tests use).
"""

import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from docs.approvals.render_block_kit import message_html
from pivot.services.approval_channels.slack_notice import notice_key
from pivot.services.client import PivotClient
from pivot.services.local.demo import flagship_plan
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import LOCAL_CREDENTIALS, LOCAL_SLACK_APPROVALS_CHANNEL, Ports, Stack

HERE = Path(__file__).parent
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def message(stack: Stack, approval: str) -> dict[str, Any] | None:
    answer = httpx.get(f"{stack.sandbox_urls['slack']}/api/conversations.history", timeout=10,
                       params={"channel": LOCAL_SLACK_APPROVALS_CHANNEL, "include_all_metadata": "true"},
                       headers={"Authorization": f"Bearer {LOCAL_CREDENTIALS['SLACK_BOT_TOKEN']}"}).json()
    key = notice_key(approval)
    return next((m for m in answer.get("messages", [])
                 if ((m.get("metadata") or {}).get("event_payload") or {}).get("pivot_key") == key), None)


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("no chromium on this machine (scripts/test.sh installs Debian's package)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="pivot-shots-") as base, \
            Stack(ports=Ports.free(), data_dir=Path(base) / "data", log_dir=Path(base) / "logs") as stack, \
            PivotClient(stack.ingress_url, admin_url=stack.admin_url) as pivot, sync_playwright() as playwright:
        run_id = f"screenshot-{uuid.uuid4().hex[:8]}"
        plan = flagship_plan("ada@example.com")
        plan["steps"][1]["approval"] = {"approvers": ["finance"], "timeout": "P3D", "channels": ["slack", "page"],
                                        "reason": "first invoice for a new customer",
                                        "requested_by": "the billing agent, for Ada Lovelace"}
        pivot.submit(run_id, plan)
        approval = f"{run_id}~invoice"
        wait_until(lambda: message(stack, approval) is not None, timeout_s=60, what="the Slack message")
        before = message(stack, approval)
        assert before is not None
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)

        def shoot(html: str, name: str) -> None:
            blank = browser.new_page(viewport={"width": 760, "height": 600})  # no page's CSP applies
            blank.set_content(html)
            blank.locator(".msg").screenshot(path=str(HERE / name))
            blank.close()
            print(f"wrote {HERE / name}")

        shoot(message_html(before, time_text=time.strftime("%H:%M")), "slack-before.png")

        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(stack.approvals_url)
        page.fill("#approver", "finance")
        page.fill("#token", stack.approver_tokens["finance"])
        page.click("#who button[type=submit]")
        page.locator(f'.card[data-approval-id="{approval}"]').wait_for(timeout=30_000)
        page.screenshot(path=str(HERE / "approval-page.png"), full_page=True)
        print(f"wrote {HERE / 'approval-page.png'}")

        clicked = httpx.post(f"{stack.sandbox_urls['slack']}/_sandbox/click", timeout=30, json={
            "channel": LOCAL_SLACK_APPROVALS_CHANNEL, "ts": before["ts"], "action_id": "pivot_approve",
            "user": "U07FINLEAD"}).json()
        assert clicked["status"] == 200, clicked
        assert pivot.attach(run_id)["status"] == "committed"
        def decided() -> bool:
            return not [b for b in (message(stack, approval) or {}).get("blocks", []) if b["type"] == "actions"]
        wait_until(decided, timeout_s=30, what="the message to show the decision")
        after = message(stack, approval)
        assert after is not None
        shoot(message_html(after, time_text=time.strftime("%H:%M")), "slack-after.png")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
