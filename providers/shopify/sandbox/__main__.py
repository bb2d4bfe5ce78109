"""Serve the Shopify sandbox alone: `python -m providers.shopify.sandbox --bind 127.0.0.1:PORT`.

Prints `sandboxes ready` (the line `providers.serve_sandboxes` prints, so the same launchers
work) once the server answers its own health route over HTTP; SIGTERM and SIGINT stop it
gracefully with exit code 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import cast

from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.typing import ASGIFramework

from providers.shopify.sandbox.app import create_app

READY_LINE = "sandboxes ready"
READY_TIMEOUT_S = 15.0


async def _answers_health(host: str, port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    try:
        writer.write(f"GET /_sandbox/health HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        return (await reader.readline()).split(b" ")[1:2] == [b"200"]
    except OSError:
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _until_healthy(host: str, port: int) -> None:
    while not await _answers_health(host, port):
        await asyncio.sleep(0.02)


async def run(bind: str) -> int:
    host, _, port = bind.rpartition(":")
    shutdown = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, shutdown.set)
    config = Config()
    config.bind = [bind]
    config.accesslog = None
    config.loglevel = "WARNING"
    config.graceful_timeout = 2.0
    server = asyncio.create_task(serve(cast(ASGIFramework, create_app()), config, shutdown_trigger=shutdown.wait,
                                       mode="asgi"))
    probe_host = "127.0.0.1" if host in ("", "0.0.0.0") else host.strip("[]")
    ready = asyncio.create_task(asyncio.wait_for(_until_healthy(probe_host, int(port)), READY_TIMEOUT_S))
    await asyncio.wait([ready, server], return_when=asyncio.FIRST_COMPLETED)
    if not ready.done() or ready.exception() is not None:
        ready.cancel()
        shutdown.set()
        print("shopify sandbox failed to start", file=sys.stderr, flush=True)
        await asyncio.gather(server, return_exceptions=True)
        return 1
    print(READY_LINE, flush=True)
    await server
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m providers.shopify.sandbox",
                                     description="Serve the Shopify Admin GraphQL sandbox.")
    parser.add_argument("--bind", required=True, metavar="HOST:PORT")
    args = parser.parse_args(argv)
    host, sep, port = str(args.bind).rpartition(":")
    if not sep or not host or not port.isdigit():
        parser.error(f"expected HOST:PORT, got {args.bind!r}")
    return asyncio.run(run(args.bind))


if __name__ == "__main__":
    sys.exit(main())
