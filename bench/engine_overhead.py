"""Engine overhead: the flagship saga through Pivot's `SagaRun` vs a raw handler and a peer library.

    .venv/bin/python -m bench.engine_overhead [--sagas 200] [--concurrency 16]   # its own stack

One stack on free loopback ports whose service serves `bench.peer_app:app`: Pivot's services,
`RawSaga` (the same provider HTTP calls in plain `ctx.run`s, see bench/raw_app.py) and
`PeerSaga` (the saga written with PyPI's `restate-saga`, see bench/peer_app.py), against
zero-latency sandboxes. Pivot and raw make the same provider calls; the peer makes only the
writes (requests per saga and provider are counted once per side). In one run:

- throughput (sagas/s, steps/s) and p50/p99 latency of each side, and the ratios Pivot/raw and
  Pivot/peer. The N sagas per side run in alternating batches (P R X, X R P, …), the sandboxes
  reset before every batch, so machine noise and the Slack channel's history hit all alike;
- journal entries per saga, by entry type, for a sample of each side (admin SQL, `sys_journal`);
- the scaling curve: throughput of every side at concurrency 1, 4, 16, 64;
- one service process vs two sharing the registered endpoint's port (`two_endpoints`);
- with `--profile DIR`: a py-spy profile of the service under a Pivot-only batch
  (DIR/profile.raw.txt: collapsed stacks for any flame-graph tool; DIR/profile.txt: the
  hottest frames, self and inclusive).
"""

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    SandboxInstruments,
    Side,
    admin_query,
    bench_stack,
    process_cpu_s,
    run_facts,
    stack_cpu_s,
    timed_batch,
)
from pivot.services.admin import sql_literal
from pivot.services.local.demo import flagship_plan
from pivot.services.local.stack import Stack

STEPS = 3
PROVIDERS = ("hubspot", "stripe", "slack")
SIDES = {"pivot": "SagaRun", "raw": "RawSaga", "peer": "PeerSaga"}
CURVE = (1, 4, 16, 64)


def summary(side: Side) -> dict[str, Any]:
    """One side's figures as the report states them."""
    return {
        "sagas": side.sagas, "seconds": round(side.seconds, 2),
        "sagas_per_s": round(side.sagas_per_s, 1), "steps_per_s": round(side.sagas_per_s * STEPS, 1),
        "p50_ms": round(side.percentile(0.50), 1), "p99_ms": round(side.percentile(0.99), 1),
        "mean_ms": round(statistics.fmean(side.latencies_ms), 1) if side.latencies_ms else 0.0,
        "statuses": dict(side.statuses),
        "cpu_ms_per_saga": {name: round(1000 * seconds / side.sagas, 1) for name, seconds in side.cpu_s.items()}
        if side.sagas else {},
    }


class Bench:
    def __init__(self, stack: Stack, http: httpx.AsyncClient):
        self.stack = stack
        self.http = http
        self.sandboxes = SandboxInstruments(stack, http)
        self.token = uuid.uuid4().hex[:8]
        self.counter = 0

    async def reset_sandboxes(self) -> None:
        await self.sandboxes.reset(PROVIDERS)

    async def one(self, side: str, run_id: str, plan: dict[str, Any]) -> tuple[float, str]:
        started = time.perf_counter()
        response = await self.http.post(f"{self.stack.ingress_url}/{SIDES[side]}/{run_id}/run", json=plan)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            return elapsed_ms, f"http_{response.status_code}"
        return elapsed_ms, str(response.json().get("status", "?"))

    async def batch(self, side: Side, count: int, concurrency: int) -> None:
        """`count` sagas, at most `concurrency` in flight, from freshly reset sandboxes."""
        await self.reset_sandboxes()
        jobs = []
        for _ in range(count):
            self.counter += 1
            run_id = f"eo-{side.name}-{self.token}-{self.counter:05d}"
            jobs.append((run_id, flagship_plan(f"eo{self.counter}+{self.token}@example.com")))

        async def one(run_id: str, plan: Any) -> str:
            return (await self.one(side.name, run_id, plan))[1]

        await timed_batch(side, jobs, concurrency, one, self.cpu)

    def cpu(self) -> dict[str, float]:
        """CPU seconds (user + system) so far of each stack process and of this bench client."""
        used = stack_cpu_s(self.stack)
        own = os.times()
        used["bench-client"] = own.user + own.system
        return used

    async def alternate(self, sagas: int, concurrency: int, batch_size: int,
                        names: tuple[str, ...] = tuple(SIDES)) -> dict[str, Side]:
        """Every side, `sagas` each, in alternating batches: P R X, X R P, P R X, …"""
        sides = {name: Side(name) for name in names}
        rounds = max(1, -(-sagas // batch_size))
        for index in range(rounds):
            count = min(batch_size, sagas - index * batch_size)
            order = names if index % 2 == 0 else tuple(reversed(names))
            for name in order:
                await self.batch(sides[name], count, concurrency)
        return sides

    async def calls_per_saga(self) -> dict[str, dict[str, int]]:
        """Provider requests of one saga per side, counted by a zero-latency fault rule's hits."""
        counts: dict[str, dict[str, int]] = {}
        for name in SIDES:
            await self.reset_sandboxes()
            rules = {provider: await self.sandboxes.every_request(provider, 0) for provider in PROVIDERS}
            side = Side(name)
            await self.batch_without_reset(side)
            counts[name] = {}
            for provider in PROVIDERS:
                counts[name][provider] = await self.sandboxes.hits(provider, rules[provider])
                await self.sandboxes.clear(provider)
        return counts

    async def batch_without_reset(self, side: Side) -> None:
        self.counter += 1
        run_id = f"eo-{side.name}-{self.token}-{self.counter:05d}"
        _, status = await self.one(side.name, run_id, flagship_plan(f"eo{self.counter}+{self.token}@example.com"))
        if status != "committed":
            raise RuntimeError(f"{side.name} saga {run_id} ended {status}")

    async def query(self, sql: str) -> list[dict[str, Any]]:
        return await admin_query(self.http, self.stack, sql)

    async def journal(self, side: str, run_ids: list[str]) -> dict[str, Any]:
        """Journal entries per saga (mean over the sample) and their types, from `sys_journal`."""
        totals: list[int] = []
        types: Counter[str] = Counter()
        for run_id in run_ids:
            rows = await self.query(
                "SELECT id FROM sys_invocation WHERE target_service_name = "
                f"{sql_literal(SIDES[side])} AND target_service_key = {sql_literal(run_id)} "
                "AND target_handler_name = 'run'")
            if not rows:
                continue
            entries = await self.query(
                f"SELECT entry_type, name FROM sys_journal WHERE id = {sql_literal(str(rows[0]['id']))}")
            totals.append(len(entries))
            types.update(str(e["entry_type"]) + (f" {e['name']}" if e.get("name") else "") for e in entries)
        if not totals:
            return {"sampled": 0}
        return {"sampled": len(totals), "entries_per_saga": round(statistics.fmean(totals), 2),
                "min": min(totals), "max": max(totals),
                "by_type_per_saga": {k: round(v / len(totals), 2) for k, v in sorted(types.items())}}


def collapse_top(raw_path: Path, limit: int = 25) -> str:
    """The hottest frames of a py-spy `--format raw` (collapsed stacks) file: self and inclusive."""
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        self_time[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"samples: {total}", "", "self (leaf) share:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in self_time.most_common(limit)] if total else []
    lines += ["", "inclusive share (frames under which the time was spent):"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common(limit * 2)] if total else []
    return "\n".join(lines) + "\n"


@contextmanager
def py_spy(pid: int | None, out: Path) -> Iterator[dict[str, Any]]:
    """Record `pid` with py-spy while the block runs; then `out`/profile.raw.txt holds the collapsed
    stacks (for any flame-graph tool) and `out`/profile.txt the hottest frames. Yields the report."""
    assert pid is not None
    out.mkdir(parents=True, exist_ok=True)
    raw_file = out / "profile.raw.txt"
    recorder = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid),
                                 "--format", "raw", "-o", str(raw_file), "--nonblocking"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    report: dict[str, Any] = {}
    try:
        yield report
    finally:
        recorder.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        _, err = recorder.communicate()
    if not raw_file.exists():
        report["error"] = err.decode(errors="replace")[-500:]
        return
    (out / "profile.txt").write_text(collapse_top(raw_file))
    report.update({"raw": str(raw_file), "top": str(out / "profile.txt")})


async def profiled(bench: Bench, out: Path, sagas: int, concurrency: int) -> dict[str, Any]:
    """A Pivot-only batch under py-spy."""
    side = Side("pivot")
    with py_spy(bench.stack.service.pid, out) as report:
        await bench.batch(side, sagas, concurrency)
    return {"batch": summary(side), **report}


def ratio(pivot: Side, raw: Side) -> dict[str, float]:
    """Pivot against another side (`raw` names the other side's figures, whichever it is)."""
    pivot_cpu, raw_cpu = sum(pivot.cpu_s.values()) / max(1, pivot.sagas), sum(raw.cpu_s.values()) / max(1, raw.sagas)
    rounds = [p / r for p, r in zip(pivot.batch_rates, raw.batch_rates, strict=False) if r]
    return {
        "median_round_throughput_pivot_over_raw": round(statistics.median(rounds), 3) if rounds else 0.0,
        "rounds": len(rounds),
        "cpu_per_saga_raw_over_pivot": round(raw_cpu / pivot_cpu, 3) if pivot_cpu else 0.0,
        "throughput_pivot_over_raw": round(pivot.sagas_per_s / raw.sagas_per_s, 3) if raw.sagas_per_s else 0.0,
        "p50_pivot_over_raw": round(pivot.percentile(0.5) / raw.percentile(0.5), 3) if raw.latencies_ms else 0.0,
        "p99_pivot_over_raw": round(pivot.percentile(0.99) / raw.percentile(0.99), 3) if raw.latencies_ms else 0.0,
    }


async def _bench(stack: Stack, sagas: int, concurrency: int, batch_size: int, curve_min: int,
                 profile: Path | None, replica_sagas: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=max(CURVE) + 8, max_keepalive_connections=max(CURVE) + 8)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        bench = Bench(stack, http)
        facts = await run_facts(http, stack, ["compensations/saga.py"])
        calls = await bench.calls_per_saga()
        warm = await bench.alternate(max(2 * concurrency, 16), concurrency, max(2 * concurrency, 16))
        started = time.perf_counter()
        sides = await bench.alternate(sagas, concurrency, batch_size)
        main_seconds = time.perf_counter() - started
        journals = {name: await bench.journal(name, side.run_ids[:: max(1, side.sagas // 10)][:10])
                    for name, side in sides.items()}
        curve: list[dict[str, Any]] = []
        for level in CURVE:
            count = max(curve_min, 4 * level)
            at = await bench.alternate(count, level, count)
            curve.append({"concurrency": level, "sagas_per_side": count,
                          "pivot_sagas_per_s": round(at["pivot"].sagas_per_s, 1),
                          "raw_sagas_per_s": round(at["raw"].sagas_per_s, 1),
                          "peer_sagas_per_s": round(at["peer"].sagas_per_s, 1),
                          "pivot_p50_ms": round(at["pivot"].percentile(0.5), 1),
                          "raw_p50_ms": round(at["raw"].percentile(0.5), 1),
                          **ratio(at["pivot"], at["raw"])})
        replica_points = await two_endpoints(bench, replica_sagas) if replica_sagas else []
        profile_report = await profiled(bench, profile, sagas, concurrency) if profile else None
    return {
        **facts,
        "load_average_after": os.getloadavg(),
        "settings": {"sagas_per_side": sagas, "concurrency": concurrency, "batch": batch_size,
                     "steps_per_saga": STEPS},
        "provider_calls_per_saga": calls,
        "warmup": {name: side.sagas for name, side in warm.items()},
        "main": {name: summary(side) for name, side in sides.items()},
        "main_wall_seconds": round(main_seconds, 1),
        "ratio": ratio(sides["pivot"], sides["raw"]),
        "peer_ratio": ratio(sides["pivot"], sides["peer"]),
        "replicas": replica_points,
        "journal": journals,
        "curve": curve,
        "profile": profile_report,
    }


REPLICA_CONCURRENCY = (16, 64)


async def two_endpoints(bench: Bench, sagas: int) -> list[dict[str, Any]]:
    """Pivot's throughput with one service process vs two behind the one registered endpoint.

    The second process shares the port (SO_REUSEPORT). Restate keeps its HTTP/2 connections
    (one per partition) open, so every switch restarts restate-server to make it reconnect;
    the kernel then spreads the new connections over the processes that listen. Order 2 1 1 2
    at each concurrency; each process's CPU share shows that both did work.
    """
    stack = bench.stack
    replica = stack.service_replica()

    async def use(processes: int) -> None:
        if processes == 2 and not replica.running:
            replica.start()
            await asyncio.to_thread(replica.wait_listening, stack.ports.service)
        if processes == 1 and replica.running:
            replica.stop()
        await asyncio.to_thread(stack.restart_restate)
        await asyncio.to_thread(stack.register)

    points: list[dict[str, Any]] = []
    try:
        for level in REPLICA_CONCURRENCY:
            runs: dict[int, Side] = {1: Side("pivot"), 2: Side("pivot")}
            shares: dict[int, list[float]] = {1: [], 2: []}
            for processes in (2, 1, 1, 2):
                await use(processes)
                pids = [stack.service.pid, replica.pid if processes == 2 else None]
                before = [process_cpu_s(pid) for pid in pids]
                await bench.batch(runs[processes], sagas // 2, level)
                used = [process_cpu_s(pid) - start for pid, start in zip(pids, before, strict=True)]
                shares[processes].append(round(used[1] / sum(used), 2) if sum(used) else 0.0)
            points.append({"concurrency": level, "sagas_per_point": runs[1].sagas,
                           "one_process_sagas_per_s": round(runs[1].sagas_per_s, 1),
                           "two_processes_sagas_per_s": round(runs[2].sagas_per_s, 1),
                           "two_over_one": round(runs[2].sagas_per_s / runs[1].sagas_per_s, 3)
                           if runs[1].sagas_per_s else 0.0,
                           "second_process_cpu_share": shares[2],
                           "statuses": {"1": dict(runs[1].statuses), "2": dict(runs[2].statuses)}})
    finally:
        replica.stop()
    return points


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_overhead", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sagas", type=int, default=200, help="sagas per side in the main comparison")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=25, help="sagas per alternating batch")
    parser.add_argument("--curve-min", type=int, default=48, help="least sagas per side at each curve point")
    parser.add_argument("--profile", type=Path, help="also profile a Pivot batch with py-spy into this folder")
    parser.add_argument("--replica-sagas", type=int, default=200,
                        help="sagas per point of the one-vs-two service processes comparison (0: skip it)")
    parser.add_argument("--out", type=Path, help="also write the report as JSON here")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pivot-engine-overhead-"))
    with bench_stack(base) as stack:
        report = asyncio.run(_bench(stack, args.sagas, args.concurrency, args.batch, args.curve_min,
                                    args.profile, args.replica_sagas))
    body = json.dumps(report, indent=2)
    print(body)
    if args.out:
        args.out.write_text(body)


if __name__ == "__main__":
    main()
