"""Test-side plumbing for the Salesforce provider tests: the sandbox as a real subprocess, a
client bound to it, and the sandbox's instruments (ledger, faults).

The sandbox is started exactly as the brief's runner starts it
(`python -m pivot.providers.serve_sandboxes --salesforce …`); readiness is its ready line,
never a sleep, and it is stopped by its pid.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx

from pivot.providers.http import Endpoint
from pivot.providers.salesforce.client import SalesforceClient
from tests.sandbox.process import SALESFORCE_TOKEN, OneSandbox
from tests.sandbox.process import running_sandbox as running_one

TOKEN_ENV = "PIVOT_TEST_SALESFORCE_TOKEN"
TOKEN = SALESFORCE_TOKEN
API = "/services/data/v60.0"

T = TypeVar("T")


@contextlib.contextmanager
def running_sandbox() -> Iterator[OneSandbox]:
    """The salesforce sandbox as a real subprocess (`python -m pivot.providers.serve_sandboxes --salesforce …`)."""
    with running_one("salesforce") as sandbox:
        yield sandbox


def drive(url: str, scenario: Callable[[SalesforceClient], Awaitable[T]], *, timeout_s: float = 5.0) -> T:
    """Run an async scenario with a fresh client (its own event loop), closing the client after."""

    async def main() -> T:
        client = SalesforceClient(Endpoint("salesforce", url, TOKEN_ENV, timeout_s=timeout_s, label="Salesforce"))
        try:
            return await scenario(client)
        finally:
            await client.http.aclose()

    return asyncio.run(main())


class Instruments:
    """The sandbox's `/_sandbox/*` routes and direct REST calls that play "someone else"."""

    def __init__(self, client: httpx.Client):
        self.client = client

    def effects(self, **filters: str) -> list[dict[str, Any]]:
        response = self.client.get("/_sandbox/ledger", params=filters)
        response.raise_for_status()
        return list(response.json()["effects"])

    def fault(self, **rule: Any) -> str:
        response = self.client.post("/_sandbox/faults", json=rule)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def fault_hits(self, rule_id: str) -> int:
        rules = self.client.get("/_sandbox/faults").json()["rules"]
        return int(next(rule for rule in rules if rule["id"] == rule_id)["hits"])

    def record(self, sobject: str, record_id: str, *fields: str) -> httpx.Response:
        return self.client.get(f"{API}/sobjects/{sobject}/{record_id}", params={"fields": ",".join(fields)})

    def patch(self, sobject: str, record_id: str, values: dict[str, Any]) -> None:
        response = self.client.patch(f"{API}/sobjects/{sobject}/{record_id}", json=values)
        assert response.status_code == 204, response.text

    def create(self, sobject: str, values: dict[str, Any]) -> str:
        response = self.client.post(f"{API}/sobjects/{sobject}", json=values)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])
