"""Parked sagas at scale: N sagas parked on approval at once, memory while parked, bulk resume.

    .venv/bin/python -m bench.parked [--sagas 10000] [--out bench/parked.json]

Each saga creates a HubSpot contact, then parks on an approval gate in front of its invoice.
Reported: time to park them all (every approval listed by the inbox), the service's and
restate-server's RSS while parked, and the time to resume them all after a bulk approval. The
yardstick, in the same run and on the same stack first: as many plain sagas (the same two steps,
no gate), submitted and awaited the same way; the resume rate is reported against theirs. CPU
seconds per saga of each process are reported for every phase, which is what says where the time
goes.
"""

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import httpx

from bench.engine_overhead import py_spy
from bench.harness import stack_cpu_s
from pivot.compensations.approvals import decision_request, read_request
from pivot.services.local.processes import wait_until
from pivot.services.local.stack import LOCAL_CREDENTIALS, Ports, Stack

CONCURRENCY = 32


def rss_mib(pid: int | None, field: str = "VmRSS") -> float:
    """A process's resident memory (`VmRSS`) or its peak so far (`VmHWM`), in MiB."""
    assert pid is not None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def plan(token: str, index: int, customer: str, gated: bool = True) -> dict[str, Any]:
    kind = "park" if gated else "plain"
    invoice: dict[str, Any] = {
        "id": "invoice", "action": "stripe.create_invoice",
        "params": {"customer": customer, "lines": [{"amount": 100, "currency": "usd", "description": "parked"}]}}
    if gated:
        invoice["approval"] = {"approvers": ["finance"], "timeout": "P3D", "reason": "bench"}
    return {"steps": [
        {"id": "contact", "action": "hubspot.create_contact",
         "params": {"email": f"{kind}{index}+{token}@example.com"}},
        invoice,
    ]}


class Meter:
    """CPU seconds each stack process spends during a phase, per saga."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.started = stack_cpu_s(stack)

    def per_saga_ms(self, sagas: int) -> dict[str, float]:
        now = stack_cpu_s(self.stack)
        return {name: round(1000 * (now[name] - self.started[name]) / sagas, 1) for name in now}


async def _each(items: list[str], call: Any) -> None:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(item: str) -> None:
        async with limit:
            await call(item)

    await asyncio.gather(*(one(item) for item in items))


def run(stack: Stack, sagas: int, plain: int, profile: Path | None = None) -> dict[str, Any]:
    token = uuid.uuid4().hex[:8]
    runs = [f"park-{token}-{i:05d}" for i in range(sagas)]
    mine = {f"{run}~invoice" for run in runs}
    customer = httpx.post(f"{stack.sandbox_urls['stripe']}/v1/customers", data={"email": f"park+{token}@example.com"},
                          headers={"Authorization": f"Bearer {LOCAL_CREDENTIALS['STRIPE_API_KEY']}"}).json()["id"]

    async def submit_all(names: list[str], gated: bool) -> None:
        async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=600) as http:
            async def submit(index: int) -> None:
                response = await http.post(f"/SagaRun/{names[index]}/run/send",
                                           json=plan(token, index, customer, gated))
                response.raise_for_status()
            await _each([str(i) for i in range(len(names))], lambda i: submit(int(i)))

    async def attach_all(names: list[str]) -> None:
        async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=3600) as http:
            async def attach(run: str) -> None:
                response = await http.get(f"/restate/workflow/SagaRun/{run}/attach")
                assert response.json()["status"] == "committed", response.text
            await _each(names, attach)

    # The yardstick first: the same sagas without the gate, submitted and awaited the same way.
    plains = [f"plain-{token}-{i:05d}" for i in range(plain)]
    meter = Meter(stack)
    started = time.monotonic()
    asyncio.run(submit_all(plains, gated=False))
    asyncio.run(attach_all(plains))
    plain_s = time.monotonic() - started
    plain_cpu = meter.per_saga_ms(plain)
    baseline = {"service": rss_mib(stack.service.pid), "restate": rss_mib(stack.restate.pid)}

    digests: dict[str, str] = {}

    def listed() -> int:
        proof = read_request("finance", stack.approver_tokens["finance"], time.time())
        body = httpx.post(f"{stack.ingress_url}/Approvals/pending", json=proof, timeout=600).json()
        digests.update({a["approval_id"]: a["digest"] for a in body if a["approval_id"] in mine})
        return len(mine & {a["approval_id"] for a in body})

    meter = Meter(stack)
    started = time.monotonic()
    asyncio.run(submit_all(runs, gated=True))
    wait_until(lambda: listed() == sagas, timeout_s=3600, what="every approval listed", interval_s=5.0)
    parked_s = time.monotonic() - started
    parked = {"service": rss_mib(stack.service.pid), "restate": rss_mib(stack.restate.pid)}
    peak = {"service": rss_mib(stack.service.pid, "VmHWM"), "restate": rss_mib(stack.restate.pid, "VmHWM")}
    park_cpu = meter.per_saga_ms(sagas)

    async def approve_all() -> None:
        async with httpx.AsyncClient(base_url=stack.ingress_url, timeout=3600) as http:
            async def approve(approval: str) -> None:
                body = decision_request(stack.approver_tokens["finance"], approval, "finance", True, "bulk",
                                        digest=digests[approval])
                (await http.post(f"/Approval/{approval}/decide", json=body)).raise_for_status()
            await _each(sorted(mine), approve)

    meter = Meter(stack)
    started = time.monotonic()
    spying: AbstractContextManager[dict[str, Any]] = py_spy(stack.service.pid, profile) if profile else nullcontext({})
    with spying as spied:
        asyncio.run(approve_all())
        asyncio.run(attach_all(runs))
    resumed_s = time.monotonic() - started
    resume_cpu = meter.per_saga_ms(sagas)
    resume_rate, plain_rate = sagas / resumed_s, plain / plain_s
    return {"sagas": sagas, "park_all_s": round(parked_s, 1), "resume_all_s": round(resumed_s, 1),
            "plain_sagas": plain, "plain_all_s": round(plain_s, 1),
            "sagas_per_s": {"plain": round(plain_rate, 1), "park": round(sagas / parked_s, 1),
                            "resume": round(resume_rate, 1)},
            "resume_over_plain": round(resume_rate / plain_rate, 3),
            "cpu_ms_per_saga": {"plain": plain_cpu, "park": park_cpu, "resume": resume_cpu},
            "resume_profile": spied or None,
            "rss_mib_service_peak_all_run": round(rss_mib(stack.service.pid, "VmHWM")),
            "rss_mib_before": {k: round(v) for k, v in baseline.items()},
            "rss_mib_parked": {k: round(v) for k, v in parked.items()},
            "rss_mib_peak_while_parking": {k: round(v) for k, v in peak.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.parked", description=__doc__)
    parser.add_argument("--sagas", type=int, default=10_000)
    parser.add_argument("--plain", type=int, help="plain sagas for the yardstick (default: as many as --sagas)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--profile", type=Path, help="py-spy the service while the sagas resume, into this folder")
    parser.add_argument("--restate-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra RESTATE_* server setting, e.g. RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT=1s")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pivot-parked-"))
    restate_env = dict(item.split("=", 1) for item in args.restate_env)
    with Stack(ports=Ports.free(), data_dir=base / "data", log_dir=base / "logs", restate_env=restate_env) as stack:
        result = run(stack, args.sagas, args.plain or args.sagas, args.profile)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
