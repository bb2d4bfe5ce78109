"""Runs the sandboxes as a real subprocess and hands tests HTTP clients for them.

The process is started exactly as the local stack starts it (`python -m pivot.providers.serve_sandboxes`)
on free loopback ports (see `tests.sandbox.process`); readiness is the `sandboxes ready` line, never
a sleep. Every test starts from a clean slate through `POST /_sandbox/reset`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.sandbox.process import (
    HUBSPOT_TOKEN,
    SLACK_TOKEN,
    STRIPE_KEY,
    SandboxProcess,
    running_sandboxes,
)


@pytest.fixture(scope="session")
def sandbox_process() -> Iterator[SandboxProcess]:
    with running_sandboxes(("stripe", "hubspot", "slack")) as handle:
        yield handle
        code = handle.stop()
        assert code == 0, f"serve_sandboxes exited with {code}:\n{handle.stderr()}"


@pytest.fixture
def sandbox_launcher() -> Callable[[tuple[str, ...]], contextlib.AbstractContextManager[SandboxProcess]]:
    """Start another serve_sandboxes process (e.g. with only some sandboxes) inside a test."""
    return running_sandboxes


@pytest.fixture(scope="session")
def _admin() -> Iterator[httpx.Client]:
    """One keep-alive client for the per-test resets (a new client per call costs ~30 ms)."""
    with httpx.Client(timeout=5) as client:
        yield client


@pytest.fixture(autouse=True)
def _reset_sandboxes(sandbox_process: SandboxProcess, _admin: httpx.Client) -> None:
    for url in sandbox_process.urls.values():
        _admin.post(f"{url}/_sandbox/reset").raise_for_status()


@pytest.fixture(scope="session")
def stripe_url(sandbox_process: SandboxProcess) -> str:
    return sandbox_process.urls["stripe"]


@pytest.fixture(scope="session")
def hubspot_url(sandbox_process: SandboxProcess) -> str:
    return sandbox_process.urls["hubspot"]


@pytest.fixture(scope="session")
def slack_url(sandbox_process: SandboxProcess) -> str:
    return sandbox_process.urls["slack"]


@pytest.fixture(scope="session")
def stripe(stripe_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=stripe_url, headers={"Authorization": f"Bearer {STRIPE_KEY}"}, timeout=5
    ) as client:
        yield client


@pytest.fixture(scope="session")
def hubspot(hubspot_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=hubspot_url, headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"}, timeout=5
    ) as client:
        yield client


@pytest.fixture(scope="session")
def slack(slack_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=slack_url, headers={"Authorization": f"Bearer {SLACK_TOKEN}"}, timeout=5
    ) as client:
        yield client
