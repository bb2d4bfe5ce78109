"""Serve the Pivot endpoint with hypercorn in this one process (what `hypercorn -w 0` does).

Why not the `hypercorn` command itself: the Restate SDK installs its own SIGTERM handler on
the first request, which replaces hypercorn's, so `hypercorn -w 0` never exits on SIGTERM.
Here both hook into the SDK's shared SIGTERM dispatcher, so SIGTERM (and SIGINT) drain and
stop the server, and there is still exactly one process with one pid to stop.

    python -m pivot.services.serve --bind 127.0.0.1:9080 [--app pivot.services.app:app] [--reuse-port]

`--reuse-port` lets several such processes listen on one address (SO_REUSEPORT): Restate keeps
one HTTP/2 connection per partition to a deployment, and the kernel spreads those connections
over the processes, so one registered endpoint scales over the cores without a proxy.
"""

import argparse
import asyncio
import importlib
import logging
import signal
import socket
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config
from restate.server import install_shutdown_hook

from pivot.services.plugins import CatalogError

Scope = dict[str, Any]
Receive = Any
Send = Any


def _with_lifespan(app: Any) -> Any:
    """Answer ASGI lifespan events (the SDK app does not), so startup logs no spurious error."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await app(scope, receive, send)

    return wrapped


def load_app(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module_name), attribute or "app")


def shared_socket(bind: str) -> socket.socket:
    """A listening TCP socket on `host:port` that other processes may bind too (SO_REUSEPORT)."""
    host, _, port = bind.rpartition(":")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host.strip("[]"), int(port)))
    sock.set_inheritable(True)
    return sock


async def _serve(app: Any, bind: str, graceful_timeout_s: float, reuse_port: bool = False) -> None:
    config = Config()
    shared = shared_socket(bind) if reuse_port else None
    config.bind = [f"fd://{shared.fileno()}"] if shared else [bind]
    config.graceful_timeout = graceful_timeout_s
    config.accesslog = None
    logging.getLogger("hypercorn.error").propagate = False  # hypercorn has its own handler
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        install_shutdown_hook(loop, stop.set, signum)
    await serve(_with_lifespan(app), config, shutdown_trigger=stop.wait)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pivot.services.serve", description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1:9080")
    parser.add_argument("--graceful-timeout", type=float, default=3.0)
    parser.add_argument("--app", default="pivot.services.app:app", help="module:attribute of the ASGI app")
    parser.add_argument("--reuse-port", action="store_true",
                        help="share the address with other service processes (SO_REUSEPORT)")
    args = parser.parse_args()
    try:
        app = load_app(args.app)
    except CatalogError as invalid:  # a plugin that cannot be loaded: say which, and stop
        raise SystemExit(f"pivot service: {invalid}") from None
    asyncio.run(_serve(app, args.bind, args.graceful_timeout, args.reuse_port))


if __name__ == "__main__":
    main()
