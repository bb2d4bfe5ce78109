"""An approval page of a test's own: its own process on a free loopback port, next to the stack's,
with the environment the test gives it (its rate limits count only that test's attempts), stopped by
its pid."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from pivot.services.local.processes import ManagedProcess, free_port, wait_until
from pivot.services.local.restate_binary import PROJECT_ROOT
from pivot.services.local.stack import Stack


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def served_page(stack: Stack, name: str, env: dict[str, str]) -> Iterator[str]:
    """The page's URL, once it answers."""
    port = free_port()
    page = ManagedProcess(name, [sys.executable, "-m", "pivot.services.local.approval_page",
                                 "--bind", f"127.0.0.1:{port}", "--ingress", stack.ingress_url],
                          env=env, cwd=PROJECT_ROOT, log_path=stack.log_dir / f"{name}.log")
    page.start()
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        page.check_alive()
        return _answers(url)

    try:
        wait_until(ready, timeout_s=30, what="the approval page")
        yield url
    finally:
        page.stop()
