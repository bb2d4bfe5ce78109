"""The soak: many flagship sagas under random provider faults and a crash of the service.

    .venv/bin/python -m bench.soak --sagas 200          # starts its own stack on free ports

Faults (seeded, reproducible) hit about 20% of provider calls: 500s, 429s with Retry-After,
commit-then-timeout (the write lands, its answer is lost) and latency. Half-way through the
submissions the service is SIGKILLed and restarted. Then the ledgers are audited:

- duplicates: a step's effect applied more than once (must be 0);
- orphans: an effect of a compensated saga that was not undone (must be 0);
- lost: a saga that never reached a final status (must be 0).
"""

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pivot.compensations.keys import compensation_key, forward_key
from pivot.services.local.demo import flagship_plan
from pivot.services.local.stack import Ports, Stack

CONTACT, INVOICE, NOTIFY = "hubspot.create_contact", "stripe.create_invoice", "slack.post_message"
FINAL = {"committed", "compensated", "needs_attention"}


@dataclass
class SoakReport:
    sagas: int
    statuses: dict[str, int]
    duplicates: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    fault_hits: int = 0
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.orphans or self.lost)


def fault_rules(seed: int) -> dict[str, list[dict[str, Any]]]:
    """~20% of calls per provider: 6% 500, 5% 429, 4% commit-then-timeout (writes), 5% latency."""
    def rules(write_path: str) -> list[dict[str, Any]]:
        return [
            {"path": "*", "action": "error", "status": 500, "probability": 0.06, "seed": seed},
            {"path": "*", "action": "rate_limit", "retry_after": 1, "probability": 0.05, "seed": seed + 1},
            {"method": "POST", "path": write_path, "action": "commit_then_timeout", "hang_s": 3,
             "probability": 0.04, "seed": seed + 2},
            {"path": "*", "action": "latency", "latency_ms": 200, "probability": 0.05, "seed": seed + 3},
        ]
    return {"hubspot": rules("/crm/v3/objects/contacts"), "stripe": rules("/v1/*"),
            "slack": rules("/api/chat.postMessage")}


def plan_for(index: int, token: str, rng: random.Random) -> dict[str, Any]:
    plan = flagship_plan(f"soak{index}+{token}@example.com")
    if rng.random() < 0.15:  # a business rejection: the saga must unwind
        plan["steps"][1]["params"]["customer"] = "cus_DoesNotExist0"
    return plan


def audit(runs: dict[str, str], ledgers: dict[str, list[dict[str, Any]]]) -> tuple[list[str], list[str]]:
    by_key: dict[str, Counter[tuple[str, str]]] = {}
    by_id: dict[str, list[str]] = {}
    for effects in ledgers.values():
        for effect in effects:
            key = (effect.get("idempotency_key") or "").split(":")[0]
            by_key.setdefault(key, Counter())[(effect["op"], effect["object"])] += 1
            by_id.setdefault(str(effect["id"]), []).append(effect["op"])
    duplicates, orphans = [], []
    for run_id, status in runs.items():
        contact = by_key.get(forward_key(run_id, "contact", CONTACT), Counter())
        invoice = by_key.get(forward_key(run_id, "invoice", INVOICE), Counter())
        notify = by_key.get(forward_key(run_id, "notify", NOTIFY), Counter())
        for what, count in ((f"{run_id} contact", contact[("create", "contact")]),
                            (f"{run_id} invoice", invoice[("create", "invoice")]),
                            (f"{run_id} finalize", invoice[("finalize", "invoice")]),
                            (f"{run_id} message", notify[("send", "message")])):
            if count > 1:
                duplicates.append(f"{what} x{count}")
        if status == "compensated":
            if contact[("create", "contact")] and not contact[("archive", "contact")]:
                orphans.append(f"{run_id}: contact not archived")
            voided = by_key.get(compensation_key(run_id, "invoice", INVOICE), Counter())[("void", "invoice")]
            if invoice[("create", "invoice")] and not voided and not _deleted_invoice(ledgers, run_id):
                orphans.append(f"{run_id}: invoice not voided or deleted")
            if notify[("send", "message")]:
                orphans.append(f"{run_id}: a message was sent by a compensated saga")
    return duplicates, orphans


def _deleted_invoice(ledgers: dict[str, list[dict[str, Any]]], run_id: str) -> bool:
    key = forward_key(run_id, "invoice", INVOICE)
    created = {e["id"] for e in ledgers["stripe"] if e.get("idempotency_key") == key and e["object"] == "invoice"}
    return any(e["op"] == "delete" and e["id"] in created for e in ledgers["stripe"])


async def _soak(stack: Stack, sagas: int, seed: int, concurrency: int, crash: bool) -> SoakReport:
    rng = random.Random(seed)
    token = uuid.uuid4().hex[:8]
    runs = {f"soak-{token}-{i:04d}": plan_for(i, token, rng) for i in range(sagas)}
    async with httpx.AsyncClient(timeout=600) as http:
        for provider, rules in fault_rules(seed).items():
            for rule in rules:
                (await http.post(f"{stack.sandbox_urls[provider]}/_sandbox/faults", json=rule)).raise_for_status()
        started = time.monotonic()
        limit = asyncio.Semaphore(concurrency)

        async def submit(run_id: str) -> None:
            async with limit:
                response = await http.post(f"{stack.ingress_url}/SagaRun/{run_id}/run/send", json=runs[run_id])
                response.raise_for_status()

        names = list(runs)
        half = len(names) // 2
        await asyncio.gather(*(submit(r) for r in names[:half]))
        if crash:
            await asyncio.to_thread(stack.restart_service)
        await asyncio.gather(*(submit(r) for r in names[half:]))

        statuses: dict[str, str] = {}

        async def finish(run_id: str) -> None:
            async with limit:
                response = await http.get(f"{stack.ingress_url}/restate/workflow/SagaRun/{run_id}/attach")
                statuses[run_id] = response.json().get("status", "?") if response.status_code == 200 else "?"

        await asyncio.gather(*(finish(r) for r in names))
        seconds = time.monotonic() - started
        hits = 0
        for url in stack.sandbox_urls.values():
            rules = (await http.get(f"{url}/_sandbox/faults")).json()["rules"]
            hits += sum(int(r["hits"]) for r in rules)
            (await http.delete(f"{url}/_sandbox/faults")).raise_for_status()
        ledgers = {p: (await http.get(f"{stack.sandbox_urls[p]}/_sandbox/ledger")).json()["effects"]
                   for p in ("hubspot", "stripe", "slack")}
    duplicates, orphans = audit(statuses, ledgers)
    return SoakReport(sagas=sagas, statuses=dict(Counter(statuses.values())), duplicates=duplicates,
                      orphans=orphans, lost=[r for r, s in statuses.items() if s not in FINAL],
                      fault_hits=hits, seconds=round(seconds, 1))


def run_soak(stack: Stack, sagas: int, *, seed: int = 7, concurrency: int = 16, crash: bool = True) -> SoakReport:
    return asyncio.run(_soak(stack, sagas, seed, concurrency, crash))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--sagas", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pivot-soak-"))
    with Stack(ports=Ports.free(), data_dir=base / "data", log_dir=base / "logs",
               service_env={"PIVOT_HTTP_TIMEOUT_S": "2"}) as stack:
        report = run_soak(stack, args.sagas, seed=args.seed, concurrency=args.concurrency)
    body = {**asdict(report), "clean": report.clean}
    print(json.dumps(body, indent=2))
    if args.out:
        args.out.write_text(json.dumps(body, indent=2))


if __name__ == "__main__":
    main()
