"""A Restate app of the tests' or the examples' own (`pivot.services.serve --app …`), served by its own
process on a free loopback port and registered with the stack's Restate, stopped by its pid."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from pivot.services.local.processes import ManagedProcess, free_port, wait_until
from pivot.services.local.restate_binary import PROJECT_ROOT
from pivot.services.local.stack import Stack


@contextmanager
def served_app(stack: Stack, app: str, name: str, *, python: str = sys.executable, cwd: Path = PROJECT_ROOT,
               unset: tuple[str, ...] = (), env: dict[str, str] | None = None) -> Iterator[ManagedProcess]:
    """Serve `app` ("module:attribute") next to Pivot's service, registered as a deployment (by
    `python` from `cwd`, with `env`, by default the service's environment, less `unset`: an
    installed Pivot in a user's project, say)."""
    port = free_port()
    env = {name: value for name, value in (stack.service.env if env is None else env).items() if name not in unset}
    process = ManagedProcess(name, [python, "-m", "pivot.services.serve", "--app", app,
                                    "--bind", f"127.0.0.1:{port}"],
                             env=env, cwd=cwd, log_path=stack.log_dir / f"{name}.log")
    process.start()
    try:
        wait_until(lambda: httpx.post(f"{stack.admin_url}/deployments", json={"uri": f"http://127.0.0.1:{port}"},
                                      timeout=10).status_code in {200, 201}, timeout_s=60,
                   what=f"the deployment of {app}")
        yield process
    finally:
        process.stop()
