"""A gate decided in Slack, end to end: the gate posts its Block Kit message, a click in the Slack
sandbox reaches the approval page's interactivity endpoint signed exactly as Slack signs it, and the
decision is the same durable record as every other channel's.

The sandbox plays Slack's side (providers/slack/sandbox/interactivity.py): it builds the
`block_actions` payload from the message as it stands, signs it with the app's signing secret and
POSTs it; ephemeral answers through `response_url` are kept per user. What these tests assert would
hold against real Slack: who may click, what a forged or stale request gets, that a replayed click
decides nothing, that an edited message decides nothing, and that the message ends up saying the
outcome."""

import uuid
from typing import Any

import httpx
import pytest

from pivot.services.approval_channels.slack_blocks import APPROVE, REJECT, SHOWN_BLOCK
from pivot.services.approval_channels.slack_notice import notice_key
from pivot.services.client import PivotClient
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import LOCAL_CREDENTIALS, LOCAL_SLACK_APPROVALS_CHANNEL, Stack
from tests.sandboxes import Sandboxes
from tests.test_approvals import gated_plan

INVOICE = "stripe.create_invoice"
FINANCE, OPS, SOMEONE = "U07FINLEAD", "U07OPSLEAD", "U07SOMEONE"
CHANNEL = LOCAL_SLACK_APPROVALS_CHANNEL


def park_in_slack(pivot: PivotClient, sandboxes: Sandboxes) -> tuple[str, str, dict[str, Any]]:
    """A flagship plan whose invoice waits for finance, decided in Slack only; its posted message."""
    run_id = f"test-slack-{uuid.uuid4().hex[:10]}"
    plan = gated_plan(f"ada+{run_id}@example.com")
    plan["steps"][1]["approval"] |= {"channels": ["slack"], "requested_by": "the billing agent"}
    pivot.submit(run_id, plan)
    approval = f"{run_id}~invoice"
    wait_until(lambda: len(sandboxes.slack_messages_with_key(CHANNEL, notice_key(approval))) == 1, timeout_s=60,
               what="the approval message in Slack")
    return run_id, approval, sandboxes.slack_messages_with_key(CHANNEL, notice_key(approval))[0]


def click(stack: Stack, message: dict[str, Any], user: str, action_id: str = APPROVE, **staged: Any) -> dict[str, Any]:
    answer = httpx.post(f"{stack.sandbox_urls['slack']}/_sandbox/click", timeout=30, json={
        "channel": CHANNEL, "ts": message["ts"], "action_id": action_id, "user": user, **staged})
    assert answer.status_code == 200, answer.text
    return answer.json()


def told(stack: Stack, user: str) -> list[str]:
    """The ephemeral lines `user` was shown in the channel."""
    answer = httpx.get(f"{stack.sandbox_urls['slack']}/_sandbox/ephemeral", params={"channel": CHANNEL, "user": user})
    return [item["text"] for item in answer.json()["ephemeral"]]


def mark(stack: Stack) -> dict[str, int]:
    """How many ephemeral lines each user has had so far: a test reads only what comes after."""
    return {user: len(told(stack, user)) for user in (FINANCE, OPS, SOMEONE)}


def told_since(stack: Stack, user: str, seen: dict[str, int]) -> list[str]:
    return told(stack, user)[seen[user]:]


def hears(stack: Stack, user: str, words: str, seen: dict[str, int]) -> None:
    wait_until(lambda: any(words in line for line in told_since(stack, user, seen)), timeout_s=30,
               what=f"{user} told {words!r}")


def shown(message: dict[str, Any]) -> str:
    return next(b["text"]["text"] for b in message["blocks"] if b.get("block_id") == SHOWN_BLOCK)


def invoices_made(sandboxes: Sandboxes, run_id: str) -> int:
    return sandboxes.ops("stripe", run_id, "invoice", INVOICE).count(("create", "invoice"))


def current(sandboxes: Sandboxes, approval: str) -> dict[str, Any]:
    return sandboxes.slack_messages_with_key(CHANNEL, notice_key(approval))[0]


def test_the_right_approver_approves_in_slack_and_the_step_runs(stack: Stack, pivot: PivotClient,
                                                                 sandboxes: Sandboxes) -> None:
    run_id, approval, message = park_in_slack(pivot, sandboxes)
    seen = mark(stack)
    text = shown(message)
    assert text.startswith("Create and finalize a Stripe invoice · $120.00 USD")  # what will happen, the amount
    assert "Asked by: the billing agent, because: first invoice for a new customer" in text  # who asked and why
    assert "Decide before: " in text  # the deadline
    assert [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        APPROVE, REJECT]

    answered = click(stack, message, FINANCE)
    assert answered["acknowledged"] and answered["status"] == 200 and answered["within_3s"]
    outcome = pivot.attach(run_id)
    assert outcome["status"] == "committed"
    invoice = next(s for s in outcome["steps"] if s["id"] == "invoice")
    assert invoice["decision"]["approver"] == "finance" and invoice["decision"]["channel"] == "slack"
    assert invoices_made(sandboxes, run_id) == 1
    hears(stack, FINANCE, "You approved it, as finance.", seen)
    wait_until(lambda: current(sandboxes, approval)["blocks"][0]["text"]["text"].startswith(
        "Approved by finance in Slack"), timeout_s=30, what="the message to show the decision")
    updated = current(sandboxes, approval)
    assert shown(updated) == text and not [b for b in updated["blocks"] if b["type"] == "actions"]

    # The same click replayed, byte for byte, within Slack's five minutes: it decides nothing again.
    replay = httpx.post(answered["request"]["url"], content=answered["request"]["body"],
                        headers=answered["request"]["headers"], timeout=10)
    assert replay.status_code == 200
    hears(stack, FINANCE, "already closed: Approved by finance in Slack", seen)
    assert invoices_made(sandboxes, run_id) == 1
    assert pivot.status(run_id)["steps"][1]["decision"] == invoice["decision"]


def test_anyone_else_is_refused_and_nothing_changes(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes) -> None:
    run_id, approval, message = park_in_slack(pivot, sandboxes)
    seen = mark(stack)
    assert click(stack, message, SOMEONE)["status"] == 200
    hears(stack, SOMEONE, "You are not a configured approver", seen)
    assert click(stack, message, OPS)["status"] == 200  # an approver, but not of this gate
    hears(stack, OPS, "You (ops) may not decide this approval", seen)
    assert told_since(stack, FINANCE, seen) == []  # refusals are ephemeral: only the clicker sees them
    assert pivot.status(run_id)["status"] == "waiting_approval"
    assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []

    click(stack, message, FINANCE, REJECT)
    assert pivot.attach(run_id)["status"] == "compensated"
    assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []
    wait_until(lambda: current(sandboxes, approval)["blocks"][0]["text"]["text"].startswith(
        "Rejected by finance in Slack"), timeout_s=30, what="the message to show the rejection")


@pytest.mark.parametrize("staged", [{"signature": "bad"}, {"timestamp_offset_s": -600}],
                         ids=["a bad signature", "a timestamp ten minutes old"])
def test_a_request_slack_did_not_sign_now_is_401(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes,
                                                 staged: dict[str, Any]) -> None:
    run_id, _, message = park_in_slack(pivot, sandboxes)
    seen = mark(stack)
    answered = click(stack, message, FINANCE, **staged)
    assert answered["status"] == 401 and "bad_signature" in answered["body"]
    assert pivot.status(run_id)["status"] == "waiting_approval" and told_since(stack, FINANCE, seen) == []
    unsigned = httpx.post(answered["request"]["url"], content=answered["request"]["body"], timeout=10,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert unsigned.status_code == 401


def test_a_message_edited_after_it_was_posted_decides_nothing(stack: Stack, pivot: PivotClient,
                                                              sandboxes: Sandboxes) -> None:
    """Someone with the bot's token makes the message show $1.20: the click is on what was shown, which
    is not what the gate asks, so it is refused."""
    run_id, approval, message = park_in_slack(pivot, sandboxes)
    seen = mark(stack)
    blocks = [{**b, "text": {**b["text"], "text": shown(message).replace("$120.00", "$1.20")}}
              if b.get("block_id") == SHOWN_BLOCK else b for b in message["blocks"]]
    edited = httpx.post(f"{stack.sandbox_urls['slack']}/api/chat.update", timeout=10,
                        headers={"Authorization": f"Bearer {LOCAL_CREDENTIALS['SLACK_BOT_TOKEN']}"},
                        json={"channel": CHANNEL, "ts": message["ts"], "text": "edited", "blocks": blocks})
    assert edited.json()["ok"], edited.text
    click(stack, current(sandboxes, approval), FINANCE)
    hears(stack, FINANCE, "no longer shows the approval as Pivot posted it", seen)
    assert pivot.status(run_id)["status"] == "waiting_approval"
    assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []
