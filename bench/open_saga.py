"""An open-saga step against a plan step: the flagship both ways, side by side in one run.

    .venv/bin/python -m bench.open_saga [--sagas 120] [--out bench/open_saga.json]   # its own stack

The plan side submits the flagship as one plan (`SagaRun/{id}/run`); the open side makes the
agent's calls (`Saga/{id}/step` three times, then `commit`), so both do the same three steps and
the same provider requests. In alternating batches from freshly reset sandboxes, at concurrency
1 and 16: steps per second, CPU per step of each stack process, latency per saga and per call,
and journal entries per saga (all invocations of the saga: for an open saga its engine's, each
call's and each gated step's).
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.engine_overhead import PROVIDERS
from bench.harness import SandboxInstruments, Side, admin_query, stack_cpu_s, timed_batch
from pivot.services.admin import sql_literal
from pivot.services.local.demo import flagship_plan, flagship_steps
from pivot.services.local.stack import Ports, Stack

STEPS = 3
LEVELS = (1, 16)


class OpenBench:
    def __init__(self, stack: Stack, http: httpx.AsyncClient):
        self.stack = stack
        self.http = http
        self.token = uuid.uuid4().hex[:8]
        self.counter = 0
        self.call_ms: dict[str, list[float]] = {"plan": [], "open": []}

    async def plan(self, run_id: str, email: str) -> str:
        started = time.perf_counter()
        response = await self.http.post(f"{self.stack.ingress_url}/SagaRun/{run_id}/run", json=flagship_plan(email))
        self.call_ms["plan"].append((time.perf_counter() - started) * 1000)
        return str(response.json().get("status")) if response.status_code == 200 else f"http_{response.status_code}"

    async def open(self, run_id: str, email: str) -> str:
        url = f"{self.stack.ingress_url}/Saga/{run_id}"
        for call in flagship_steps(email):
            started = time.perf_counter()
            response = await self.http.post(f"{url}/step", json=call)
            self.call_ms["open"].append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                return f"http_{response.status_code}"
        started = time.perf_counter()
        response = await self.http.post(f"{url}/commit")
        self.call_ms["open"].append((time.perf_counter() - started) * 1000)
        return str(response.json().get("status")) if response.status_code == 200 else f"http_{response.status_code}"

    def cpu(self) -> dict[str, float]:
        return stack_cpu_s(self.stack)

    async def batch(self, side: Side, count: int, concurrency: int) -> None:
        await SandboxInstruments(self.stack, self.http).reset(PROVIDERS)
        jobs = []
        for _ in range(count):
            self.counter += 1
            run_id = f"os-{side.name}-{self.token}-{self.counter:05d}"
            jobs.append((run_id, f"os{self.counter}+{self.token}@example.com"))
        await timed_batch(side, jobs, concurrency, self.plan if side.name == "plan" else self.open, self.cpu)

    async def alternate(self, sagas: int, concurrency: int, batch_size: int) -> dict[str, Side]:
        sides = {"plan": Side("plan"), "open": Side("open")}
        for index in range(max(1, -(-sagas // batch_size))):
            count = min(batch_size, sagas - index * batch_size)
            for name in (("plan", "open") if index % 2 == 0 else ("open", "plan")):
                await self.batch(sides[name], count, concurrency)
        return sides

    async def query(self, sql: str) -> list[dict[str, Any]]:
        return await admin_query(self.http, self.stack, sql)

    async def journal_entries(self, side: str, run_id: str) -> tuple[int, int]:
        """(journal entries, invocations) of one saga."""
        if side == "plan":
            where = f"target_service_name = 'SagaRun' AND target_service_key = {sql_literal(run_id)}"
        else:
            state = await self.query("SELECT value_utf8 FROM state WHERE service_name = 'Saga' "
                                     f"AND service_key = {sql_literal(run_id)} AND key = 'outcome'")
            record = json.loads(str(state[0]["value_utf8"])) if state else {}
            ids = [s["invocation"] for s in record.get("steps", []) if s.get("invocation")]
            ids += [record["finisher"]] if record.get("finisher") else []
            where = f"(target_service_name = 'Saga' AND target_service_key = {sql_literal(run_id)})"
            if ids:
                where += f" OR id IN ({', '.join(sql_literal(i) for i in ids)})"
        invocations = await self.query(f"SELECT id FROM sys_invocation WHERE {where}")
        total = 0
        for row in invocations:
            total += len(await self.query(f"SELECT index FROM sys_journal WHERE id = {sql_literal(str(row['id']))}"))
        return total, len(invocations)


def _per_step(side: Side) -> dict[str, Any]:
    steps = side.sagas * STEPS
    return {
        "sagas": side.sagas, "statuses": dict(side.statuses),
        "steps_per_s": round(steps / side.seconds, 1) if side.seconds else 0.0,
        "cpu_ms_per_step": {name: round(1000 * s / steps, 2) for name, s in side.cpu_s.items()} if steps else {},
        "cpu_ms_per_step_total": round(1000 * sum(side.cpu_s.values()) / steps, 2) if steps else 0.0,
        "saga_p50_ms": round(side.percentile(0.5), 1), "saga_p99_ms": round(side.percentile(0.99), 1),
    }


async def _bench(stack: Stack, sagas: int, batch: int) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=300) as http:
        bench = OpenBench(stack, http)
        await bench.alternate(16, 16, 16)  # warm-up
        levels: list[dict[str, Any]] = []
        for level in LEVELS:
            bench.call_ms = {"plan": [], "open": []}
            count = sagas if level > 1 else max(20, sagas // 4)
            sides = await bench.alternate(count, level, batch if level > 1 else count)
            plan, opened = _per_step(sides["plan"]), _per_step(sides["open"])
            levels.append({
                "concurrency": level, "plan": plan, "open": opened,
                "open_call_p50_ms": round(statistics.median(bench.call_ms["open"]), 1),
                "plan_call_p50_ms": round(statistics.median(bench.call_ms["plan"]), 1),
                "open_over_plan": {
                    "cpu_per_step": round(opened["cpu_ms_per_step_total"] / plan["cpu_ms_per_step_total"], 3),
                    "steps_per_s": round(opened["steps_per_s"] / plan["steps_per_s"], 3),
                    "saga_p50": round(opened["saga_p50_ms"] / plan["saga_p50_ms"], 3),
                },
                "sample": {"plan": sides["plan"].run_ids[0], "open": sides["open"].run_ids[0]},
            })
        journals = {}
        for name in ("plan", "open"):
            sample: dict[str, str] = levels[-1]["sample"]
            entries, invocations = await bench.journal_entries(name, sample[name])
            journals[name] = {"entries_per_saga": entries, "invocations_per_saga": invocations}
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "steps_per_saga": STEPS,
            "levels": levels, "journal": journals}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.open_saga", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sagas", type=int, default=120, help="sagas per side at concurrency 16")
    parser.add_argument("--batch", type=int, default=20, help="sagas per alternating batch")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pivot-open-saga-bench-"))
    with Stack(ports=Ports.free(), data_dir=base / "data", log_dir=base / "logs") as stack:
        report = asyncio.run(_bench(stack, args.sagas, args.batch))
    body = json.dumps(report, indent=2)
    print(body)
    if args.out:
        args.out.write_text(body)


if __name__ == "__main__":
    main()
