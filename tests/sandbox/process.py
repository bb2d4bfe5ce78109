"""Starting the sandboxes as a real subprocess on free loopback ports, and stopping it by pid.

Shared by tests/sandbox (the sandboxes' own tests) and tests/providers (the catalog's actions run
against the sandboxes). The process is started exactly as the local stack starts it
(`python -m pivot.providers.serve_sandboxes`); readiness is the `sandboxes ready` line, never a sleep.
Each sandbox accepts only the credentials it is started with: `TEST_CREDENTIALS` unless a test
passes others (the local stack's fakes, a second account's key).
"""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pivot.providers.sandbox_kit.credentials import credentials_environment

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "sandboxes ready"
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0

STRIPE_KEY = "sk_test_pivotSandboxKey123"
HUBSPOT_TOKEN = "pat-na1-00000000-0000-0000-0000-000000000000"
SLACK_TOKEN = "xoxb-1234-5678-pivotsandbox"
SALESFORCE_TOKEN = "00Dxx0000001gPL!AQ4AQPivotSandboxToken"
SHOPIFY_TOKEN = "shpat_pivot_test_0123456789abcdef"
RESEND_KEY = "re_pivotSandboxKey_0123456789abcdef"
TEST_CREDENTIALS: Mapping[str, Sequence[str]] = {
    "stripe": (STRIPE_KEY,),
    "hubspot": (HUBSPOT_TOKEN,),
    "slack": (SLACK_TOKEN,),
    "salesforce": (SALESFORCE_TOKEN,),
    "shopify": (SHOPIFY_TOKEN,),
    "resend": (RESEND_KEY,),
}
"""What each sandbox the suite starts accepts, unless a test says otherwise."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SandboxProcess:
    process: subprocess.Popen[str]
    urls: dict[str, str]
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self) -> int:
        """Terminate by pid, then kill if it does not exit in time; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextlib.contextmanager
def running_sandboxes(names: tuple[str, ...],
                      credentials: Mapping[str, Sequence[str]] | None = None) -> Iterator[SandboxProcess]:
    """`names`' sandboxes in one process; each accepts its `credentials` entry (default `TEST_CREDENTIALS`)."""
    urls = {name: f"127.0.0.1:{free_port()}" for name in names}
    args = [arg for name, bind in urls.items() for arg in (f"--{name}", bind)]
    accepted = TEST_CREDENTIALS if credentials is None else credentials
    env = {**os.environ, **credentials_environment({name: accepted[name] for name in names})}
    with tempfile.TemporaryDirectory(prefix="pivot-sandboxes-") as tmp:
        stderr_path = Path(tmp) / "stderr.log"
        with stderr_path.open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "pivot.providers.serve_sandboxes", *args],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        handle = SandboxProcess(process, {name: f"http://{bind}" for name, bind in urls.items()}, stderr_path)
        try:
            _wait_for_ready_line(handle)
            yield handle
        finally:
            handle.stop()


def _wait_for_ready_line(handle: SandboxProcess) -> None:
    """Block on the process's stdout (in a thread, so there is a deadline) for the ready line."""
    lines: queue.Queue[str] = queue.Queue()
    stdout = handle.process.stdout
    assert stdout is not None

    def pump() -> None:
        for line in stdout:
            lines.put(line)
        lines.put("")  # EOF: the process ended

    threading.Thread(target=pump, name="sandbox-stdout", daemon=True).start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        remaining = deadline - time.monotonic()
        try:
            line = lines.get(timeout=max(remaining, 0.01))
        except queue.Empty:
            raise RuntimeError(f"sandboxes not ready after {READY_TIMEOUT_S}s:\n{handle.stderr()}") from None
        if line == "":
            handle.process.wait(timeout=STOP_TIMEOUT_S)
            raise RuntimeError(
                f"sandboxes exited ({handle.process.returncode}) before ready:\n{handle.stderr()}"
            )
        if line.strip() == READY_LINE:
            return


@dataclass
class OneSandbox:
    """One provider's sandbox out of `running_sandboxes`, for suites that test a single provider."""

    handle: SandboxProcess
    url: str

    def stop(self) -> int:
        return self.handle.stop()

    def stderr(self) -> str:
        return self.handle.stderr()


@contextlib.contextmanager
def running_sandbox(name: str, credentials: Sequence[str] | None = None) -> Iterator[OneSandbox]:
    """One sandbox; it accepts `credentials` (default: its `TEST_CREDENTIALS` entry)."""
    with running_sandboxes((name,), None if credentials is None else {name: credentials}) as handle:
        yield OneSandbox(handle, handle.urls[name])
