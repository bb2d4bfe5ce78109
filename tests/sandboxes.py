"""Test-side access to the sandboxes' instruments: fault rules and effect ledgers."""

from typing import Any

import httpx

from pivot.compensations.keys import forward_key
from pivot.services.local.stack import LOCAL_CREDENTIALS


class Sandboxes:
    def __init__(self, urls: dict[str, str]):
        self.urls = urls

    def fault(self, provider: str, **rule: Any) -> str:
        response = httpx.post(f"{self.urls[provider]}/_sandbox/faults", json=rule)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def fault_hits(self, provider: str, rule_id: str) -> int:
        rules = httpx.get(f"{self.urls[provider]}/_sandbox/faults").json()["rules"]
        return int(next(r for r in rules if r["id"] == rule_id)["hits"])

    def fault_held(self, provider: str, rule_id: str) -> int:
        rules = httpx.get(f"{self.urls[provider]}/_sandbox/faults").json()["rules"]
        return int(next(r for r in rules if r["id"] == rule_id)["held"])

    def clear_faults(self) -> None:
        for url in self.urls.values():
            httpx.delete(f"{url}/_sandbox/faults").raise_for_status()

    def ledger(self, provider: str) -> list[dict[str, Any]]:
        effects = httpx.get(f"{self.urls[provider]}/_sandbox/ledger").json()["effects"]
        assert isinstance(effects, list)
        return effects

    def effects_of(self, provider: str, run_id: str, step_id: str, action: str) -> list[dict[str, Any]]:
        """Every effect whose idempotency key belongs to that step (forward or sub-request)."""
        key = forward_key(run_id, step_id, action)
        return [e for e in self.ledger(provider) if (e.get("idempotency_key") or "").startswith(key)]

    def ops(self, provider: str, run_id: str, step_id: str, action: str) -> list[tuple[str, str]]:
        return [(e["op"], e["object"]) for e in self.effects_of(provider, run_id, step_id, action)]

    def slack_messages_with_key(self, channel: str, key: str) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.urls['slack']}/api/conversations.history",
            params={"channel": channel, "limit": 999, "include_all_metadata": "true"},
            headers={"Authorization": f"Bearer {LOCAL_CREDENTIALS['SLACK_BOT_TOKEN']}"},
        )
        body = response.json()
        assert body["ok"], body
        return [m for m in body["messages"]
                if ((m.get("metadata") or {}).get("event_payload") or {}).get("pivot_key") == key]
