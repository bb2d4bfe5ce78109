"""Parked sagas at scale: N sagas parked on approval at once, memory while parked, bulk resume.

    .venv/bin/python -m bench.parked [--sagas 10000] [--out bench/parked.json]

Each saga creates a HubSpot contact, then parks on an approval gate in front of its invoice.
Reported: time to park them all (every approval listed by the inbox), the service's and
restate-server's RSS while parked, and the time to resume them all after a bulk approval.
"""

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from compensations.approvals import decision_proof
from services.local.processes import wait_until
from services.local.stack import LOCAL_APPROVERS, LOCAL_CREDENTIALS, Ports, Stack

CONCURRENCY = 32


def rss_mib(pid: int | None, field: str = "VmRSS") -> float:
    """A process's resident memory (`VmRSS`) or its peak so far (`VmHWM`), in MiB."""
    assert pid is not None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def plan(token: str, index: int, customer: str) -> dict[str, Any]:
    return {"steps": [
        {"id": "contact", "action": "hubspot.create_contact",
         "params": {"email": f"park{index}+{token}@example.com"}},
        {"id": "invoice", "action": "stripe.create_invoice",
         "params": {"customer": customer, "lines": [{"amount": 100, "currency": "usd", "description": "parked"}]},
         "approval": {"approvers": ["finance"], "timeout": "P3D", "reason": "bench"}},
    ]}


async def _each(items: list[str], call: Any) -> None:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(item: str) -> None:
        async with limit:
            await call(item)

    await asyncio.gather(*(one(item) for item in items))


def run(stack: Stack, sagas: int) -> dict[str, Any]:
    token = uuid.uuid4().hex[:8]
    runs = [f"park-{token}-{i:05d}" for i in range(sagas)]
    mine = {f"{run}~invoice" for run in runs}
    customer = httpx.post(f"{stack.sandbox_urls['stripe']}/v1/customers", data={"email": f"park+{token}@example.com"},
                          headers={"Authorization": f"Bearer {LOCAL_CREDENTIALS['STRIPE_API_KEY']}"}).json()["id"]
    baseline = {"service": rss_mib(stack.service.pid), "restate": rss_mib(stack.restate.pid)}

    async def submit_all() -> None:
        async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=600) as http:
            async def submit(index: int) -> None:
                response = await http.post(f"/SagaRun/{runs[index]}/run/send", json=plan(token, index, customer))
                response.raise_for_status()
            await _each([str(i) for i in range(sagas)], lambda i: submit(int(i)))

    def listed() -> int:
        body = httpx.post(f"{stack.ingress_url}/Approvals/pending", json="finance", timeout=600).json()
        return len(mine & {a["approval_id"] for a in body})

    started = time.monotonic()
    asyncio.run(submit_all())
    wait_until(lambda: listed() == sagas, timeout_s=3600, what="every approval listed", interval_s=5.0)
    parked_s = time.monotonic() - started
    parked = {"service": rss_mib(stack.service.pid), "restate": rss_mib(stack.restate.pid)}
    peak = {"service": rss_mib(stack.service.pid, "VmHWM"), "restate": rss_mib(stack.restate.pid, "VmHWM")}

    async def approve_all() -> None:
        async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=3600) as http:
            async def approve(approval: str) -> None:
                body = {"approver": "finance", "approved": True, "comment": "bulk",
                        "proof": decision_proof(LOCAL_APPROVERS["finance"], approval, "finance", True)}
                (await http.post(f"/Approval/{approval}/decide", json=body)).raise_for_status()
            await _each(sorted(mine), approve)

            async def attach(run: str) -> None:
                response = await http.get(f"/restate/workflow/SagaRun/{run}/attach")
                assert response.json()["status"] == "committed", response.text
            await _each(runs, attach)

    started = time.monotonic()
    asyncio.run(approve_all())
    resumed_s = time.monotonic() - started
    return {"sagas": sagas, "park_all_s": round(parked_s, 1), "resume_all_s": round(resumed_s, 1),
            "rss_mib_before": {k: round(v) for k, v in baseline.items()},
            "rss_mib_parked": {k: round(v) for k, v in parked.items()},
            "rss_mib_peak_while_parking": {k: round(v) for k, v in peak.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.parked", description=__doc__)
    parser.add_argument("--sagas", type=int, default=10_000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--restate-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra RESTATE_* server setting, e.g. RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT=1s")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pivot-parked-"))
    restate_env = dict(item.split("=", 1) for item in args.restate_env)
    with Stack(ports=Ports.free(), data_dir=base / "data", log_dir=base / "logs", restate_env=restate_env) as stack:
        result = run(stack, args.sagas)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
