"""A Restate app of the tests' or the examples' own (`services.serve --app …`), served by its own
process on a free loopback port and registered with the stack's Restate, stopped by its pid."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from services.local.processes import ManagedProcess, free_port, wait_until
from services.local.restate_binary import PROJECT_ROOT
from services.local.stack import Stack


@contextmanager
def served_app(stack: Stack, app: str, name: str) -> Iterator[ManagedProcess]:
    """Serve `app` ("module:attribute") next to Pivot's service, registered as a deployment."""
    port = free_port()
    process = ManagedProcess(name, [sys.executable, "-m", "services.serve", "--app", app,
                                    "--bind", f"127.0.0.1:{port}"],
                             env=dict(stack.service.env), cwd=PROJECT_ROOT, log_path=stack.log_dir / f"{name}.log")
    process.start()
    try:
        wait_until(lambda: httpx.post(f"{stack.admin_url}/deployments", json={"uri": f"http://127.0.0.1:{port}"},
                                      timeout=10).status_code in {200, 201}, timeout_s=60,
                   what=f"the deployment of {app}")
        yield process
    finally:
        process.stop()
