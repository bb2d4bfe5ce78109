"""Latency at real provider latency: what an agent waits for, Pivot against the hand-written sides.

    .venv/bin/python -m bench.latency --provider-latency-ms 150 [--sagas 30] [--out bench/latency.json]
    .venv/bin/python -m bench.latency --provider-latency-ms 20 --sagas 2      # a quick smoke run

One stack on free loopback ports whose service serves `bench.peer_app:app`. Every provider request
(any method, any path; never the sandboxes' own `/_sandbox/*`) is held for the given latency, as a
real SaaS API costs, by one sandbox fault rule per provider whose hits also count the requests.

Two sagas (bench/latency_plans.py): the flagship (HubSpot contact, Stripe invoice as the pivot,
Slack post) and `five` (four independent compensable steps on four systems, then a Stripe
invoice as the pivot). Five sides run each, in the same run, against the same sandboxes:

- `pivot`: the plan through `SagaRun/{id}/run`, which overlaps independent steps;
- `pivot_sequential`: the same engine one step at a time (`SequentialSagaRun`, the schedule plans
  had before they overlapped): the "before";
- `open`: the same steps as an agent's calls on an open saga, `Saga/{id}/step` one after the
  other (each waits for its verified answer), then `Saga/{id}/commit`;
- `peer`: the saga hand-written with `restate-saga`, the writes only, sequential (bench/peer_app.py);
- `raw`: a plain `ctx.run` handler making Pivot's provider calls, sequential (bench/raw_app.py).

Sagas run one at a time (concurrency 1: what one agent sees), in alternating batches (the side
order reversed every round, the sandboxes reset before every batch). Reported per saga and side:
wall time (median, p95), provider requests per saga (per provider and total, counted by the
sandboxes), CPU per saga of restate-server, the service and the sandboxes (the bench client,
the agent's side, is left out) as measured and net of what the stack spends idle (restate-server's
housekeeping, measured before and after the timed part: at concurrency 1 a slower side would
otherwise pay for more idle time), per step for the open saga against the plan; the ratios and
issue 25's targets (judged on the CPU as measured), each with whether it is met. Every saga must
end `committed`: any other end stops the bench with the saga's answer.
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.harness import SandboxInstruments, Side, bench_stack, percentile, run_facts, stack_cpu_s, timed_batch
from bench.latency_plans import SAGAS, JsonDict, LatencySaga
from bench.raw_app import SEQUENTIAL_SAGA_RUN
from pivot.services.local.stack import Stack

SIDES = ("pivot", "pivot_sequential", "open", "peer", "raw")
PROVIDERS = ("hubspot", "stripe", "slack", "salesforce", "shopify")
PROCESSES = ("restate-server", "service", "sandboxes")
STEP_WAIT_S = 120
"""An open-saga step call waits this long for its verified answer (far more than any step takes)."""


@dataclass
class Cell:
    """One side of one saga: its timings, the requests the sandboxes counted, its calls (open)."""

    side: Side
    requests: Counter[str] = field(default_factory=Counter)
    call_ms: dict[str, list[float]] = field(default_factory=lambda: {"step": [], "commit": []})


class LatencyBench:
    def __init__(self, stack: Stack, http: httpx.AsyncClient, latency_ms: int):
        self.stack = stack
        self.http = http
        self.latency_ms = latency_ms
        self.sandboxes = SandboxInstruments(stack, http)
        self.token = uuid.uuid4().hex[:8]
        self.counter = 0
        self.failures: list[str] = []

    def cpu(self) -> dict[str, float]:
        return stack_cpu_s(self.stack)

    def _ended(self, what: str, response: httpx.Response) -> str:
        """The status a side's answer reports; anything but `committed` is recorded as a failure."""
        status = str(response.json().get("status", "?")) if response.status_code == 200 else "failed"
        if status != "committed":
            self.failures.append(f"{what}: HTTP {response.status_code} {response.text[:2000]}")
        return f"http_{response.status_code}" if response.status_code != 200 else status

    async def run_plan(self, service: str, run_id: str, plan: JsonDict) -> str:
        response = await self.http.post(f"{self.stack.ingress_url}/{service}/{run_id}/run", json=plan)
        return self._ended(f"{service}/{run_id}", response)

    async def run_open(self, run_id: str, calls: list[JsonDict], cell: Cell) -> str:
        url = f"{self.stack.ingress_url}/Saga/{run_id}"
        for call in calls:
            started = time.perf_counter()
            response = await self.http.post(f"{url}/step", json={**call, "wait_s": STEP_WAIT_S})
            cell.call_ms["step"].append((time.perf_counter() - started) * 1000)
            state = response.json().get("step", {}).get("state") if response.status_code == 200 else None
            if state not in ("verified", "deferred"):
                self.failures.append(f"Saga/{run_id} step {call['step']}: HTTP {response.status_code} "
                                     f"{response.text[:2000]}")
                return f"step_{state or response.status_code}"
        started = time.perf_counter()
        response = await self.http.post(f"{url}/commit")
        cell.call_ms["commit"].append((time.perf_counter() - started) * 1000)
        return self._ended(f"Saga/{run_id} commit", response)

    async def batch(self, saga: LatencySaga, name: str, cell: Cell, count: int) -> None:
        """`count` sagas of one side, one at a time, from freshly reset sandboxes that hold every
        request for the latency; the requests they count are added to the cell."""
        await self.sandboxes.reset(PROVIDERS)
        rules = {provider: await self.sandboxes.every_request(provider, self.latency_ms) for provider in PROVIDERS}
        jobs = []
        for _ in range(count):
            self.counter += 1
            jobs.append((f"lat-{saga.name}-{name.replace('_', '-')}-{self.token}-{self.counter:05d}",
                         f"{self.token}{self.counter}"))

        async def one(run_id: str, token: str) -> str:
            if name == "open":
                return await self.run_open(run_id, saga.calls(token), cell)
            service = {"pivot": "SagaRun", "pivot_sequential": SEQUENTIAL_SAGA_RUN, "peer": saga.peer,
                       "raw": saga.raw}[name]
            return await self.run_plan(service, run_id, saga.plan(token))

        await timed_batch(cell.side, jobs, 1, one, self.cpu)
        for provider, rule in rules.items():
            cell.requests[provider] += await self.sandboxes.hits(provider, rule)
        if self.failures:
            raise RuntimeError(f"{len(self.failures)} saga(s) did not end committed:\n" + "\n".join(self.failures))

    async def alternate(self, sagas: int, batch_size: int) -> dict[str, dict[str, Cell]]:
        """Every side of every saga, `sagas` each, in rounds of batches; each round reverses the order
        of the sagas and of the sides, so drift on the machine hits all of them alike."""
        cells = {saga: {name: Cell(Side(name)) for name in SIDES} for saga in SAGAS}
        for index in range(max(1, -(-sagas // batch_size))):
            count = min(batch_size, sagas - index * batch_size)
            forward = index % 2 == 0
            for saga in (list(SAGAS) if forward else list(reversed(SAGAS))):
                for name in (SIDES if forward else tuple(reversed(SIDES))):
                    await self.batch(SAGAS[saga], name, cells[saga][name], count)
        return cells

    async def idle_cpu_ms_per_s(self, seconds: float) -> dict[str, float]:
        """CPU each process spends per second with no saga running (timers, housekeeping): what
        every side's CPU per saga includes in proportion to its wall time."""
        before = self.cpu()
        started = time.perf_counter()
        await asyncio.sleep(seconds)  # a measuring window, not synchronisation
        elapsed = time.perf_counter() - started
        return {name: round(1000 * (used - before[name]) / elapsed, 2) for name, used in self.cpu().items()}


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "p95": round(percentile(values, 0.95), 1),
            "mean": round(statistics.fmean(values), 1), "min": round(min(values), 1),
            "max": round(max(values), 1)} if values else {}


def summary(cell: Cell, steps: int, idle: dict[str, float]) -> dict[str, Any]:
    side, sagas = cell.side, max(1, cell.side.sagas)
    cpu = {name: round(1000 * cell.side.cpu_s.get(name, 0.0) / sagas, 2) for name in PROCESSES}
    cpu["total"] = round(sum(cpu.values()), 2)
    mean_wall_s = statistics.fmean(side.latencies_ms) / 1000 if side.latencies_ms else 0.0
    net = {name: round(max(0.0, cpu[name] - idle.get(name, 0.0) * mean_wall_s), 2) for name in PROCESSES}
    net["total"] = round(sum(net.values()), 2)
    requests = {provider: round(count / sagas, 2) for provider, count in sorted(cell.requests.items()) if count}
    requests["total"] = round(sum(cell.requests.values()) / sagas, 2)
    report: dict[str, Any] = {
        "sagas": side.sagas, "statuses": dict(side.statuses), "wall_ms": _spread(side.latencies_ms),
        "requests_per_saga": requests, "cpu_ms_per_saga": cpu, "cpu_ms_per_saga_net_of_idle": net,
        "per_step": {"wall_ms": round(statistics.median(side.latencies_ms) / steps, 1) if side.latencies_ms else 0.0,
                     "cpu_ms": round(cpu["total"] / steps, 2), "cpu_ms_net_of_idle": round(net["total"] / steps, 2)},
    }
    if any(cell.call_ms.values()):
        report["calls_ms"] = {kind: _spread(values) for kind, values in cell.call_ms.items()}
    return report


def _over(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


def ratios(sides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`x_over_y` is x's figure divided by y's. Wall: lower is faster. CPU per saga is stated as
    `<other>_over_pivot` (the other side's CPU over Pivot's), as bench/RESULTS.md states CPU
    ratios: 1.0 is even, below 1.0 Pivot spends more."""
    wall = {name: float(side["wall_ms"]["median"]) for name, side in sides.items()}
    p95 = {name: float(side["wall_ms"]["p95"]) for name, side in sides.items()}
    cpu = {name: float(side["cpu_ms_per_saga"]["total"]) for name, side in sides.items()}
    net = {name: float(side["cpu_ms_per_saga_net_of_idle"]["total"]) for name, side in sides.items()}
    cpu_pairs = (("peer", "pivot"), ("raw", "pivot"), ("peer", "pivot_sequential"), ("raw", "pivot_sequential"),
                 ("pivot_sequential", "pivot"), ("open", "pivot"))
    step = {name: side["per_step"] for name, side in sides.items()}
    pairs = [("pivot", "peer"), ("pivot", "raw"), ("pivot_sequential", "peer"), ("pivot_sequential", "raw"),
             ("pivot", "pivot_sequential"), ("open", "pivot"), ("open", "pivot_sequential"), ("open", "peer")]
    return {
        "wall_median": {f"{a}_over_{b}": _over(wall[a], wall[b]) for a, b in pairs},
        "wall_p95": {f"{a}_over_{b}": _over(p95[a], p95[b]) for a, b in pairs},
        "cpu_per_saga": {f"{a}_over_{b}": _over(cpu[a], cpu[b]) for a, b in cpu_pairs},
        "cpu_per_saga_net_of_idle": {f"{a}_over_{b}": _over(net[a], net[b]) for a, b in cpu_pairs},
        "open_step_over_plan_step": {
            "wall": _over(step["open"]["wall_ms"], step["pivot"]["wall_ms"]),
            "cpu": _over(step["open"]["cpu_ms"], step["pivot"]["cpu_ms"]),
            "cpu_net_of_idle": _over(step["open"]["cpu_ms_net_of_idle"], step["pivot"]["cpu_ms_net_of_idle"]),
            "wall_vs_sequential_plan": _over(step["open"]["wall_ms"], step["pivot_sequential"]["wall_ms"]),
            "cpu_vs_sequential_plan": _over(step["open"]["cpu_ms"], step["pivot_sequential"]["cpu_ms"]),
        },
    }


@dataclass(frozen=True)
class Target:
    """One of issue 25's targets: a ratio of one saga's figures, at most or at least `limit`."""

    text: str
    saga: str
    ratio: tuple[str, str]
    before: tuple[str, str]
    """The same ratio with the sequential engine in Pivot's place: where the issue started."""
    limit: float
    at_most: bool


TARGETS = [
    Target("flagship plan wall ≤ 1.25x the peer", "flagship", ("wall_median", "pivot_over_peer"),
           ("wall_median", "pivot_sequential_over_peer"), 1.25, True),
    Target("five-step plan wall ≤ 1.0x the peer", "five", ("wall_median", "pivot_over_peer"),
           ("wall_median", "pivot_sequential_over_peer"), 1.0, True),
    *(target for saga in SAGAS for target in (
        Target(f"{saga}: open-saga step wall ≤ 1.5x a plan step's", saga, ("open_step_over_plan_step", "wall"),
               ("open_step_over_plan_step", "wall_vs_sequential_plan"), 1.5, True),
        Target(f"{saga}: open-saga step CPU ≤ 1.5x a plan step's", saga, ("open_step_over_plan_step", "cpu"),
               ("open_step_over_plan_step", "cpu_vs_sequential_plan"), 1.5, True),
        Target(f"{saga}: CPU raw/Pivot ≥ 1.0", saga, ("cpu_per_saga", "raw_over_pivot"),
               ("cpu_per_saga", "raw_over_pivot_sequential"), 1.0, False),
        Target(f"{saga}: CPU peer/Pivot ≥ 0.9", saga, ("cpu_per_saga", "peer_over_pivot"),
               ("cpu_per_saga", "peer_over_pivot_sequential"), 0.9, False),
    )),
]


def judged(per_saga: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for target in TARGETS:
        found = per_saga[target.saga]["ratios"]
        value, before = found[target.ratio[0]][target.ratio[1]], found[target.before[0]][target.before[1]]
        met = value <= target.limit if target.at_most else value >= target.limit
        out.append({"target": target.text, "saga": target.saga, "ratio": ".".join(target.ratio),
                    "limit": target.limit, "value": value, "met": met, "before": before})
    return out


def markdown(report: dict[str, Any]) -> str:
    """The report's main table, as bench/RESULTS.md shows it."""
    lines = ["| saga | side | wall median | p95 | requests/saga | CPU/saga (restate, service, sandboxes) "
             "| net of idle |", "|---|---|---:|---:|---:|---:|---:|"]
    for saga, body in report["sagas"].items():
        for name, side in body["sides"].items():
            cpu = side["cpu_ms_per_saga"]
            wall = side["wall_ms"]
            lines.append(f"| {saga} | {name} | {wall['median']:.0f} ms | {wall['p95']:.0f} ms "
                         f"| {side['requests_per_saga']['total']:g} | {cpu['total']:.1f} ms "
                         f"({cpu['restate-server']:.1f}, {cpu['service']:.1f}, {cpu['sandboxes']:.1f}) "
                         f"| {side['cpu_ms_per_saga_net_of_idle']['total']:.1f} ms |")
    lines += ["", "| target | this run | before (one step at a time) | |", "|---|---:|---:|---|"]
    lines += [f"| {t['target']} | {t['value']:.3f} | {t['before']:.3f} | {'met' if t['met'] else 'missed'} |"
              for t in report["targets"]]
    return "\n".join(lines) + "\n"


async def _bench(stack: Stack, latency_ms: int, sagas: int, batch_size: int, warmup: int,
                 idle_s: float) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=600) as http:
        facts = await run_facts(http, stack, ["compensations/saga.py", "compensations/schedule.py"])
        bench = LatencyBench(stack, http, latency_ms)
        if warmup:
            await bench.alternate(warmup, warmup)
        idle_before = await bench.idle_cpu_ms_per_s(idle_s) if idle_s else dict.fromkeys(PROCESSES, 0.0)
        started = time.perf_counter()
        cells = await bench.alternate(sagas, batch_size)
        seconds = time.perf_counter() - started
        idle_after = await bench.idle_cpu_ms_per_s(idle_s) if idle_s else idle_before
    idle = {name: round((idle_before[name] + idle_after[name]) / 2, 2) for name in PROCESSES}
    per_saga: dict[str, Any] = {}
    for name, saga in SAGAS.items():
        sides = {side: summary(cell, saga.steps, idle) for side, cell in cells[name].items()}
        per_saga[name] = {"steps": saga.steps, "sides": sides, "ratios": ratios(sides)}
    return {
        **facts,
        "settings": {"provider_latency_ms": latency_ms, "sagas_per_side": sagas, "batch": batch_size,
                     "concurrency": 1, "warmup_per_side": warmup, "providers_delayed": list(PROVIDERS)},
        "idle_cpu_ms_per_s": {"before": idle_before, "after": idle_after, "mean": idle},
        "main_wall_seconds": round(seconds, 1),
        "all_committed": all(side["statuses"] == {"committed": side["sagas"]}
                             for body in per_saga.values() for side in body["sides"].values()),
        "sagas": per_saga,
        "targets": judged(per_saga),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider-latency-ms", type=int, required=True,
                        help="how long every provider request is held (150: a real SaaS API)")
    parser.add_argument("--sagas", type=int, default=30, help="sagas per side and saga")
    parser.add_argument("--batch", type=int, default=10,
                        help="sagas per alternating batch (CPU is read per batch, in 10 ms ticks: fewer, longer "
                             "batches read it closer)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed sagas per side and saga first")
    parser.add_argument("--idle-s", type=float, default=3.0, help="seconds to measure the stack's idle CPU (0: skip)")
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="pivot-latency-bench-"))
    with bench_stack(base) as stack:
        report = asyncio.run(_bench(stack, args.provider_latency_ms, args.sagas, args.batch, args.warmup,
                                    args.idle_s))
    body = json.dumps(report, indent=2)
    print(body)
    print(markdown(report), file=sys.stderr)
    if args.out:
        args.out.write_text(body + "\n")
    return report


if __name__ == "__main__":
    main()
