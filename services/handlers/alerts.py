"""Alerts for sagas that need attention: a JSON POST to a configurable webhook.

The saga logs the full context anyway; the webhook is how a person hears about it. It runs
inside `ctx.run` (journaled once, retried a few times); a webhook that stays down is logged
and does not hold the saga.
"""

import os
from typing import Any

import httpx

from pivot.compensations.protocol import AlertSink

WEBHOOK_ENV = "PIVOT_ALERT_WEBHOOK_URL"


def webhook_alert() -> AlertSink | None:
    url = os.environ.get(WEBHOOK_ENV)
    if not url:
        return None

    def post(outcome: dict[str, Any]) -> bool:
        response = httpx.post(url, json={"event": "saga.needs_attention", "outcome": outcome}, timeout=10.0)
        response.raise_for_status()
        return True

    return post
