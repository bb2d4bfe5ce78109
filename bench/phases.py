"""Two shape benchmarks, one run, one stack:

    .venv/bin/python -m bench.phases [--repeats 5]

1. **Parallel compensable phase.** With 100 ms of latency on every provider call, a saga of 4
   independent compensable steps then a pivot: the 4 steps in sequence vs as one parallel group.
   Target: the group's phase costs close to one step's latency, not four.
2. **Batching.** 20 Salesforce records as 20 `create_record` steps vs one `create_records_atomic`
   step (allOrNone=true): provider API calls (counted by the sandbox) and wall time.
"""

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from pivot.services.client import PivotClient
from pivot.services.local.demo import DEMO_CUSTOMER
from pivot.services.local.stack import Ports, Stack

LATENCY_MS = 100


def phase_plan(token: str, parallel: bool) -> dict[str, Any]:
    group = {"group": "crm"} if parallel else {}
    steps: list[dict[str, Any]] = [
        {"id": f"account{i}", "action": "salesforce.create_record", **group,
         "params": {"sobject": "Account", "fields": {"Name": f"Phase {token} {i}"}}}
        for i in range(4)
    ]
    steps.append({"id": "invoice", "action": "stripe.create_invoice", "pivot": True,
                  "params": {"customer": DEMO_CUSTOMER,
                             "lines": [{"amount": 900, "currency": "usd", "description": "phase"}]}})
    return {"steps": steps}


def batch_plan(token: str, atomic: bool) -> dict[str, Any]:
    records = [{"sobject": "Account", "fields": {"Name": f"Batch {token} {i}"}} for i in range(20)]
    if atomic:
        return {"steps": [{"id": "accounts", "action": "salesforce.create_records_atomic",
                           "params": {"records": records}}]}
    return {"steps": [{"id": f"account{i}", "action": "salesforce.create_record", "params": r}
                      for i, r in enumerate(records)]}


def counted(stack: Stack, provider: str) -> str:
    """A zero-latency rule that fires on every request: its hit count is the API call count."""
    response = httpx.post(f"{stack.sandbox_urls[provider]}/_sandbox/faults",
                          json={"path": "*", "action": "latency", "latency_ms": 0})
    response.raise_for_status()
    return str(response.json()["id"])


def hits(stack: Stack, provider: str, rule: str) -> int:
    rules = httpx.get(f"{stack.sandbox_urls[provider]}/_sandbox/faults").json()["rules"]
    return int(next(r for r in rules if r["id"] == rule)["hits"])


def clear(stack: Stack) -> None:
    for url in stack.sandbox_urls.values():
        httpx.delete(f"{url}/_sandbox/faults").raise_for_status()


def timed(client: PivotClient, plan: dict[str, Any]) -> float:
    started = time.monotonic()
    outcome = client.run(f"bench-{uuid.uuid4().hex[:12]}", plan)
    assert outcome["status"] == "committed", outcome
    return time.monotonic() - started


def run(stack: Stack, repeats: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with PivotClient(stack.ingress_url) as client:
        for provider in ("salesforce", "stripe"):
            httpx.post(f"{stack.sandbox_urls[provider]}/_sandbox/faults",
                       json={"path": "*", "action": "latency", "latency_ms": LATENCY_MS}).raise_for_status()
        sequential, parallel = [], []
        for _ in range(repeats):  # alternate, so machine noise hits both shapes alike
            sequential.append(timed(client, phase_plan(uuid.uuid4().hex[:8], parallel=False)))
            parallel.append(timed(client, phase_plan(uuid.uuid4().hex[:8], parallel=True)))
        clear(stack)
        results["parallel_phase"] = {
            "provider_latency_ms": LATENCY_MS,
            "sequential_s": round(statistics.median(sequential), 3),
            "parallel_s": round(statistics.median(parallel), 3),
            "ratio_parallel_to_sequential": round(statistics.median(parallel) / statistics.median(sequential), 3),
        }
        batches: dict[str, Any] = {}
        for atomic in (False, True):
            rule = counted(stack, "salesforce")
            seconds = [timed(client, batch_plan(uuid.uuid4().hex[:8], atomic)) for _ in range(repeats)]
            batches["atomic_group" if atomic else "twenty_steps"] = {
                "api_calls_per_saga": hits(stack, "salesforce", rule) / repeats,
                "wall_s": round(statistics.median(seconds), 3),
            }
            clear(stack)
        results["batching_20_records"] = batches
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.phases", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pivot-phases-"))
    with Stack(ports=Ports.free(), data_dir=base / "data", log_dir=base / "logs") as stack:
        results = run(stack, args.repeats)
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
