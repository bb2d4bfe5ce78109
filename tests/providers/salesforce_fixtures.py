"""Test-side plumbing for the Salesforce provider tests: the sandbox as a real subprocess, a
client bound to it, and the sandbox's instruments (ledger, faults).

The sandbox is started exactly as the brief's runner starts it
(`python -m providers.salesforce.sandbox --bind 127.0.0.1:PORT`); readiness is its ready line,
never a sleep, and it is stopped by its pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from providers.http import Endpoint
from providers.salesforce.client import SalesforceClient

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "sandboxes ready"
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
TOKEN_ENV = "PIVOT_TEST_SALESFORCE_TOKEN"
TOKEN = "00Dxx0000001gPL!AQ4AQPivotSandboxToken"
API = "/services/data/v60.0"

T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SandboxProcess:
    process: subprocess.Popen[str]
    url: str
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _wait_for_ready_line(handle: SandboxProcess) -> None:
    lines: queue.Queue[str] = queue.Queue()
    stdout = handle.process.stdout
    assert stdout is not None

    def pump() -> None:
        for line in stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, name="salesforce-sandbox-stdout", daemon=True).start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise RuntimeError(f"salesforce sandbox not ready after {READY_TIMEOUT_S}s:\n{handle.stderr()}") from None
        if line == "":
            handle.process.wait(timeout=STOP_TIMEOUT_S)
            raise RuntimeError(f"salesforce sandbox exited ({handle.process.returncode}):\n{handle.stderr()}")
        if line.strip() == READY_LINE:
            return


@contextlib.contextmanager
def running_sandbox() -> Iterator[SandboxProcess]:
    bind = f"127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory(prefix="pivot-salesforce-") as tmp:
        stderr_path = Path(tmp) / "stderr.log"
        with stderr_path.open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "providers.salesforce.sandbox", "--bind", bind],
                cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True,
            )
        handle = SandboxProcess(process, f"http://{bind}", stderr_path)
        try:
            _wait_for_ready_line(handle)
            yield handle
        finally:
            handle.stop()


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
