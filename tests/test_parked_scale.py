"""Many sagas parked on approval at once (120 in the default run; `PIVOT_PARKED_SAGAS=1000` or more
for the scale run): the inbox lists every one, a bulk approval finishes them all, and the
service's memory while they are parked is reported (not asserted: a figure, not a timing claim;
bench/ owns speed, and `python -m bench.parked` parks 10,000)."""

import asyncio
import os
import time
import uuid
from collections import Counter

import httpx
import pytest

from bench.parked import rss_mib
from pivot.compensations.approvals import decision_request
from pivot.compensations.keys import forward_key
from pivot.services.client import PivotClient
from pivot.services.local.demo import DEMO_CUSTOMER
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import LOCAL_CREDENTIALS, Stack
from tests.conftest import APPROVER_TOKENS
from tests.sandboxes import Sandboxes
from tests.test_approvals import inbox

PARKED = int(os.environ.get("PIVOT_PARKED_SAGAS", "120"))
"""Enough to hit every inbox shard many times over and to run the batches concurrently; the
1,000-saga run costs the default suite a minute more, so it is the scale run's."""
CONCURRENCY = 32


def plan(token: str, index: int, customer: str = DEMO_CUSTOMER) -> dict[str, object]:
    return {"steps": [
        {"id": "contact", "action": "hubspot.create_contact",
         "params": {"email": f"bulk{index}+{token}@example.com", "firstname": "Bulk"}},
        {"id": "invoice", "action": "stripe.create_invoice",
         "params": {"customer": customer, "lines": [{"amount": 100 + index, "currency": "usd",
                                                          "description": f"bulk {index}"}]},
         "approval": {"approvers": ["finance"], "timeout": "P3D", "reason": "bulk"}},
    ]}


async def _each(items: list[str], call: object) -> None:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(item: str) -> None:
        async with limit:
            await call(item)  # type: ignore[operator]

    await asyncio.gather(*(one(item) for item in items))


@pytest.mark.timeout(900)
def test_parked_sagas_list_and_finish(
    stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, record_property: object
) -> None:
    token = uuid.uuid4().hex[:8]
    runs = [f"bulk-{token}-{i:04d}" for i in range(PARKED)]
    customer = httpx.post(f"{stack.sandbox_urls['stripe']}/v1/customers", data={"email": f"bulk+{token}@example.com"},
                          headers={"Authorization": f"Bearer {LOCAL_CREDENTIALS['STRIPE_API_KEY']}"}).json()["id"]
    mine = {f"{run}~invoice" for run in runs}

    async def submit_all() -> None:
        async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=60) as http:
            async def submit(run: str) -> None:
                response = await http.post(f"/SagaRun/{run}/run/send", json=plan(token, runs.index(run), customer))
                assert response.status_code in {200, 202}, response.text
            await _each(runs, submit)

    started = time.monotonic()
    asyncio.run(submit_all())
    wait_until(lambda: mine <= {a["approval_id"] for a in inbox(pivot)}, timeout_s=600,
               what=f"{PARKED} approvals in the inbox", interval_s=1.0)
    listed = [a for a in inbox(pivot) if a["approval_id"] in mine]
    digests = {a["approval_id"]: a["digest"] for a in listed}
    assert len(listed) == PARKED and {a["run_id"] for a in listed} == set(runs)
    assert [a["deadline"] for a in listed] == sorted(a["deadline"] for a in listed)

    parked_after = time.monotonic() - started
    service_rss, restate_rss = rss_mib(stack.service.pid), rss_mib(stack.restate.pid)
    print(f"\n{PARKED} parked: service RSS {service_rss:.0f} MiB, restate-server RSS {restate_rss:.0f} MiB")
    record_property("parked_service_rss_mib", round(service_rss))  # type: ignore[operator]
    record_property("parked_restate_rss_mib", round(restate_rss))  # type: ignore[operator]
    assert sandboxes.effects_of("stripe", runs[0], "invoice", "stripe.create_invoice") == []

    async def approve_all() -> None:
        async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=600) as http:
            async def approve(approval: str) -> None:
                body = decision_request(APPROVER_TOKENS["finance"], approval, "finance", True, "bulk",
                                        digest=digests[approval])
                response = await http.post(f"/Approval/{approval}/decide", json=body)
                assert response.status_code == 200, response.text
            await _each(sorted(mine), approve)

            async def outcome(run: str) -> None:
                response = await http.get(f"/restate/workflow/SagaRun/{run}/attach")
                assert response.status_code == 200 and response.json()["status"] == "committed", response.text
            await _each(runs, outcome)

    started = time.monotonic()
    asyncio.run(approve_all())
    print(f"parked all in {parked_after:.0f} s; approved and finished all in {time.monotonic() - started:.0f} s")
    keys = {forward_key(run, "invoice", "stripe.create_invoice") for run in runs}
    creates = Counter(e["idempotency_key"] for e in sandboxes.ledger("stripe")
                      if e["idempotency_key"] in keys and e["op"] == "create" and e["object"] == "invoice")
    assert len(creates) == PARKED and set(creates.values()) == {1}
    wait_until(lambda: not mine & {a["approval_id"] for a in inbox(pivot)}, timeout_s=120,
               what="the inbox to empty", interval_s=1.0)
