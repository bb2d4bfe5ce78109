"""An undo that keeps failing: retried for its budget, then the saga is needs_attention, an
alert goes out (webhook + log line), the other undos still run, and an operator's retry
finishes the job once the provider is back."""

import uuid

from pivot.services.cli import main
from pivot.services.client import PivotClient
from pivot.services.local.demo import DEMO_CHANNEL
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import Stack
from tests.alerts import AlertInbox
from tests.sandboxes import Sandboxes


def plan(token: str) -> dict[str, object]:
    return {"steps": [
        {"id": "contact", "action": "hubspot.create_contact", "params": {"email": f"stuck+{token}@example.com"}},
        {"id": "account", "action": "salesforce.create_record",
         "params": {"sobject": "Account", "fields": {"Name": f"Stuck {token}"}}},
        {"id": "invoice", "action": "stripe.create_invoice", "pivot": True,
         "params": {"customer": "cus_DoesNotExist0",
                    "lines": [{"amount": 100, "currency": "usd", "description": "x"}]}},
        {"id": "notify", "action": "slack.post_message", "params": {"channel": DEMO_CHANNEL, "text": "never"}},
    ]}


def test_stuck_compensation_alerts_continues_and_can_be_retried(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, alerts: AlertInbox
) -> None:
    token = uuid.uuid4().hex[:10]
    run_id = f"stuck-{token}"
    broken = sandboxes.fault("hubspot", method="DELETE", path="/crm/v3/objects/contacts/*", action="error",
                             status=503, times=None)

    outcome = pivot.run(run_id, plan(token))

    assert outcome["status"] == "needs_attention", outcome
    states = {s["id"]: s["state"] for s in outcome["steps"]}
    assert states == {"contact": "compensation_failed", "account": "compensated", "invoice": "failed",
                      "notify": "not_run"}
    assert sandboxes.fault_hits("hubspot", broken) > 1  # it was retried, with backoff, for its budget
    assert "needs an operator" in outcome["summary"]
    wait_until(lambda: len(alerts.for_run(run_id)) == 1, timeout_s=30, what="the webhook alert")
    alert = alerts.for_run(run_id)[0]
    assert alert["event"] == "saga.needs_attention" and alert["outcome"]["status"] == "needs_attention"
    log = (stack.log_dir / "service.log").read_text()
    assert f"run={run_id} needs_attention: compensation of 'contact' failed" in log

    sandboxes.clear_faults()
    assert main(["retry", run_id, "--ingress", stack.ingress_url]) == 0
    repaired = pivot.status(run_id)
    assert repaired["status"] == "compensated", repaired
    assert {s["id"]: s["state"] for s in repaired["steps"]}["contact"] == "compensated"
    archives = [e for e in sandboxes.ledger("hubspot")
                if e["op"] == "archive" and e["id"] == outcome["steps"][0]["ref"].rsplit("/", 1)[-1]]
    assert len(archives) == 1
    assert main(["retry", run_id, "--ingress", stack.ingress_url]) == 0  # idempotent: nothing left to do
    assert len([e for e in sandboxes.ledger("hubspot") if e["op"] == "archive"
                and e["id"] == archives[0]["id"]]) == 1
