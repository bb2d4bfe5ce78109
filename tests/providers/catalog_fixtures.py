"""Fixtures for the catalog's action tests: real sandboxes, real clients, short timeouts.

A test module loads them with `pytest_plugins = ["tests.providers.catalog_fixtures"]`
(tests/providers has no conftest.py, on purpose; the names here do not collide with the
end-to-end suite's fixtures, and nothing is autouse). One sandboxes process per session, started
exactly as the local stack starts it; every test that asks for `sandbox` starts from
`POST /_sandbox/reset`. Async tests run on asyncio through anyio's pytest plugin.

The clients talk to the sandboxes through the production `Endpoint` with a 1 s timeout, so a
"commit, then time out" fault (the sandbox applies the write and holds the answer back) turns
into the ambiguous failure a real lost answer is, within a second and without any sleep.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from pivot.providers.http import Endpoint
from pivot.providers.hubspot.client import HubSpotClient
from pivot.providers.slack.client import SlackClient
from pivot.providers.stripe.client import StripeClient
from tests.sandbox.process import HUBSPOT_TOKEN, SLACK_TOKEN, STRIPE_KEY, SandboxProcess, running_sandboxes

CLIENT_TIMEOUT_S = 1.0
CREDENTIALS = {
    "stripe": ("PIVOT_TEST_STRIPE_KEY", STRIPE_KEY, "Stripe"),
    "hubspot": ("PIVOT_TEST_HUBSPOT_TOKEN", HUBSPOT_TOKEN, "HubSpot"),
    "slack": ("PIVOT_TEST_SLACK_TOKEN", SLACK_TOKEN, "Slack"),
}
FAULT_HANG_S = 5.0
"""How long a commit_then_timeout fault holds the answer: well past the client's timeout."""


@dataclass
class Box:
    """One sandbox seen from a test: its instruments and a raw client for "somebody else"."""

    name: str
    url: str
    raw: httpx.Client

    def fault(self, **rule: Any) -> str:
        response = self.raw.post("/_sandbox/faults", json=rule)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def lost_answer(self, method: str, path: str) -> str:
        """The next matching request is applied, then its answer never arrives in time."""
        return self.fault(method=method, path=path, action="commit_then_timeout", hang_s=FAULT_HANG_S, times=1)

    def hits(self, rule_id: str) -> int:
        rules = self.raw.get("/_sandbox/faults").json()["rules"]
        return int(next(rule for rule in rules if rule["id"] == rule_id)["hits"])

    def effects(self, *, key_prefix: str | None = None, op: str | None = None,
                obj: str | None = None) -> list[dict[str, Any]]:
        params = {name: value for name, value in (("op", op), ("object", obj)) if value is not None}
        found = self.raw.get("/_sandbox/ledger", params=params).json()["effects"]
        return [e for e in found if key_prefix is None or (e.get("idempotency_key") or "").startswith(key_prefix)]

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        params = {"path": path} if path else None
        return list(self.raw.get("/_sandbox/requests", params=params).json()["requests"])


@dataclass
class Boxes:
    stripe: Box
    hubspot: Box
    slack: Box


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxProcess]:
    with running_sandboxes(("stripe", "hubspot", "slack")) as handle:
        yield handle


@pytest.fixture(scope="session")
def sandbox_boxes(sandbox_server: SandboxProcess) -> Iterator[Boxes]:
    auth = {"stripe": f"Bearer {STRIPE_KEY}", "hubspot": f"Bearer {HUBSPOT_TOKEN}",
            "slack": f"Bearer {SLACK_TOKEN}"}
    raws = {name: httpx.Client(base_url=url, headers={"Authorization": auth[name]}, timeout=10)
            for name, url in sandbox_server.urls.items()}
    try:
        yield Boxes(**{name: Box(name, sandbox_server.urls[name], raw) for name, raw in raws.items()})
    finally:
        for raw in raws.values():
            raw.close()


@pytest.fixture
def sandbox(sandbox_boxes: Boxes, monkeypatch: pytest.MonkeyPatch) -> Boxes:
    """Fresh sandboxes and the credentials in the environment, as a deployment has them."""
    for box in (sandbox_boxes.stripe, sandbox_boxes.hubspot, sandbox_boxes.slack):
        box.raw.post("/_sandbox/reset").raise_for_status()
    for env, value, _ in CREDENTIALS.values():
        monkeypatch.setenv(env, value)
    return sandbox_boxes


def endpoint(provider: str, url: str) -> Endpoint:
    env, _, label = CREDENTIALS[provider]
    return Endpoint(provider=provider, base_url=url, credential_env=env, timeout_s=CLIENT_TIMEOUT_S, label=label)


@pytest.fixture
async def stripe_client(sandbox: Boxes) -> AsyncIterator[StripeClient]:
    client = StripeClient(endpoint("stripe", sandbox.stripe.url))
    yield client
    await client.http.aclose()


@pytest.fixture
async def hubspot_client(sandbox: Boxes) -> AsyncIterator[HubSpotClient]:
    client = HubSpotClient(endpoint("hubspot", sandbox.hubspot.url))
    yield client
    await client.http.aclose()


@pytest.fixture
async def slack_client(sandbox: Boxes) -> AsyncIterator[SlackClient]:
    client = SlackClient(endpoint("slack", sandbox.slack.url))
    yield client
    await client.http.aclose()
