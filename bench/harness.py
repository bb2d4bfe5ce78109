"""What the benches share: their stack, the sides they time, the CPU each process spends, and the
sandboxes as instruments (reset, a rule on every request, its hit count).

One module so that every bench measures the same way: a side's figures are only comparable with
another's when both were timed, reset and counted by the same code.
"""

import asyncio
import hashlib
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx

from pivot.services.local.restate_binary import PROJECT_ROOT
from pivot.services.local.stack import Ports, Stack


@dataclass
class Side:
    """What one side did across its batches."""

    name: str
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    run_ids: list[str] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)
    """CPU seconds each process of the stack spent during this side's batches."""
    batch_rates: list[float] = field(default_factory=list)
    """Sagas/s of each batch, in order: batch i of every side ran in the same round."""

    @property
    def sagas(self) -> int:
        return len(self.latencies_ms)

    @property
    def sagas_per_s(self) -> float:
        return self.sagas / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q` quantile (0.5: the median's rank, 0.95: p95); 0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def timed_batch(side: Side, jobs: list[tuple[str, Any]], concurrency: int,
                      run: Callable[[str, Any], Awaitable[str]], cpu: Callable[[], dict[str, float]]) -> None:
    """Run `jobs` (run id, input) with at most `concurrency` in flight, and add to `side` each saga's
    latency and status, the batch's rate, and the CPU each process spent meanwhile."""
    queue = iter(jobs)

    async def worker() -> None:
        for run_id, job in queue:  # a shared iterator: each job is taken by one worker
            started = time.perf_counter()
            status = await run(run_id, job)
            side.latencies_ms.append((time.perf_counter() - started) * 1000)
            side.statuses[status] += 1
            side.run_ids.append(run_id)

    before = cpu()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(jobs)))))
    elapsed = time.perf_counter() - started
    side.seconds += elapsed
    side.batch_rates.append(len(jobs) / elapsed if elapsed else 0.0)
    for name, seconds in cpu().items():
        side.cpu_s[name] = side.cpu_s.get(name, 0.0) + seconds - before[name]


def stack_cpu_s(stack: Stack) -> dict[str, float]:
    """CPU seconds (user + system) so far of each process of the stack that does the work."""
    processes = {"restate-server": stack.restate.pid, "service": stack.service.pid, "sandboxes": stack.sandboxes.pid}
    return {name: process_cpu_s(pid) for name, pid in processes.items()}


def process_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process, from /proc/<pid>/stat (fields 14 and 15)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_stack(base: Path) -> Stack:
    """The usual local stack, except that its service serves `bench.peer_app:app` (Pivot's services
    and every bench side), on a port that a second service process may share (`--reuse-port`)."""
    stack = Stack(ports=Ports.free(), data_dir=base / "data", log_dir=base / "logs")
    stack.service.argv = [sys.executable, "-m", "pivot.services.serve", "--bind", f"127.0.0.1:{stack.ports.service}",
                          "--app", "bench.peer_app:app", "--reuse-port"]
    return stack


async def admin_query(http: httpx.AsyncClient, stack: Stack, sql: str) -> list[dict[str, Any]]:
    """Rows of a SQL query on Restate's admin API (`sys_invocation`, `sys_journal`, `state`)."""
    response = await http.post(f"{stack.admin_url}/query", json={"query": sql}, headers={"accept": "application/json"})
    response.raise_for_status()
    rows = response.json().get("rows", [])
    return rows if isinstance(rows, list) else []


class SandboxInstruments:
    """The sandboxes' `/_sandbox/*` endpoints, as a bench uses them (never delayed themselves)."""

    def __init__(self, stack: Stack, http: httpx.AsyncClient):
        self.urls = stack.sandbox_urls
        self.http = http

    async def reset(self, providers: Iterable[str]) -> None:
        """Fresh state, no rules, an empty ledger (a Slack channel's history no longer grows)."""
        for provider in providers:
            (await self.http.post(f"{self.urls[provider]}/_sandbox/reset")).raise_for_status()

    async def every_request(self, provider: str, latency_ms: int) -> str:
        """A rule on every provider request (any method and path, no limit) that holds each for
        `latency_ms`; its hits count the requests. Returns its id."""
        response = await self.http.post(f"{self.urls[provider]}/_sandbox/faults",
                                        json={"path": "*", "action": "latency", "latency_ms": latency_ms})
        response.raise_for_status()
        return str(response.json()["id"])

    async def hits(self, provider: str, rule_id: str) -> int:
        listed = (await self.http.get(f"{self.urls[provider]}/_sandbox/faults")).json()
        return sum(int(rule["hits"]) for rule in listed["rules"] if rule["id"] == rule_id)

    async def clear(self, provider: str) -> None:
        (await self.http.delete(f"{self.urls[provider]}/_sandbox/faults")).raise_for_status()


async def run_facts(http: httpx.AsyncClient, stack: Stack, engine_files: Iterable[str]) -> dict[str, Any]:
    """When, on what and with which versions a bench ran: the header of every report. `engine_files`
    (paths in the repository) are digested, so two reports tell whether they measured the same engine."""
    restate_version = (await http.get(f"{stack.admin_url}/version")).json()
    digests = {f"{name} sha256": hashlib.sha256((PROJECT_ROOT / name).read_bytes()).hexdigest()[:16]
               for name in engine_files}
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                    "platform": platform.platform()},
        "versions": {"restate-server": restate_version, "restate-sdk": version("restate-sdk"),
                     "hypercorn": version("hypercorn"), "httpx": version("httpx")},
        "engine": digests,
    }
