"""Serve the provider sandboxes from one process: one hypercorn server per sandbox, one event loop.

    python -m pivot.providers.serve_sandboxes \
        --stripe 127.0.0.1:8101 --hubspot 127.0.0.1:8102 --slack 127.0.0.1:8103

One process (not one per provider) keeps the local stack and the test suite cheap to start and
leaves a single pid to stop. Each sandbox accepts only the credentials listed in
`PIVOT_SANDBOX_<PROVIDER>_CREDENTIALS` (comma-separated), or its local fake when that is unset
(`pivot.providers.sandbox_kit.credentials`); it refuses every other one the way the real API does.
The Slack sandbox also calls the app back when a test clicks a button: it signs those requests with
`PIVOT_SANDBOX_SLACK_SIGNING_SECRET` (else the local fake) and sends them to
`PIVOT_SANDBOX_SLACK_INTERACTIVITY_URL` (loopback only; else none until `POST /_sandbox/app`).
"sandboxes ready" is printed only once every sandbox has answered its own health check over HTTP,
so a caller can wait on that line instead of sleeping. SIGTERM and SIGINT shut all servers down
gracefully; the exit code is 0 then, 1 if a server failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import cast

from hypercorn.asyncio import serve
from hypercorn.config import Config
from hypercorn.typing import ASGIFramework
from starlette.applications import Starlette

from pivot.providers.hubspot.sandbox import create_app as create_hubspot_app
from pivot.providers.resend.sandbox import create_app as create_resend_app
from pivot.providers.salesforce.sandbox import create_app as create_salesforce_app
from pivot.providers.sandbox_kit.credentials import accepted_credentials, signing_secret
from pivot.providers.shopify.sandbox import create_app as create_shopify_app
from pivot.providers.slack.sandbox import create_app as create_slack_app
from pivot.providers.slack.sandbox.interactivity import loopback_url
from pivot.providers.stripe.sandbox import create_app as create_stripe_app

READY_LINE = "sandboxes ready"
SLACK_INTERACTIVITY_URL = "PIVOT_SANDBOX_SLACK_INTERACTIVITY_URL"
READY_TIMEOUT_S = 15.0
GRACEFUL_TIMEOUT_S = 2.0

SANDBOXES: MappingProxyType[str, Callable[[Iterable[str]], Starlette]] = MappingProxyType({
    "stripe": create_stripe_app,
    "hubspot": create_hubspot_app,
    "slack": create_slack_app,
    "salesforce": create_salesforce_app,
    "shopify": create_shopify_app,
    "resend": create_resend_app,
})

log = logging.getLogger("pivot.sandbox.serve")


def _bind(value: str) -> str:
    """Validate HOST:PORT for argparse; hypercorn takes the string as is."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> dict[str, str]:
    parser = argparse.ArgumentParser(
        prog="python -m pivot.providers.serve_sandboxes",
        description="Serve the provider sandboxes from one process. Each accepts the credentials listed "
                    "in PIVOT_SANDBOX_<PROVIDER>_CREDENTIALS (comma-separated), else its local fake.",
    )
    for name in SANDBOXES:
        parser.add_argument(
            f"--{name}", type=_bind, metavar="HOST:PORT", help=f"serve the {name} sandbox here"
        )
    namespace = parser.parse_args(argv)
    binds = {name: getattr(namespace, name) for name in SANDBOXES if getattr(namespace, name)}
    if not binds:
        parser.error("give at least one of " + ", ".join(f"--{name}" for name in SANDBOXES))
    try:
        for name in binds:
            accepted_credentials(name, os.environ)
            if name == "slack":
                signing_secret(name, os.environ)
                if os.environ.get(SLACK_INTERACTIVITY_URL):
                    loopback_url(os.environ[SLACK_INTERACTIVITY_URL])
    except ValueError as refused:  # NoCredentials (an empty list or secret), or a URL off this machine
        parser.error(str(refused))
    return binds


def create_sandbox(name: str, environ: Mapping[str, str]) -> Starlette:
    """`name`'s sandbox app, configured from `environ`: its credentials, and Slack's signing secret and
    interactivity URL."""
    accepted = accepted_credentials(name, environ)
    if name != "slack":
        return SANDBOXES[name](accepted)
    return create_slack_app(accepted, signing_secret=signing_secret("slack", environ),
                            interactivity_url=environ.get(SLACK_INTERACTIVITY_URL) or None)


async def _answers_health(bind: str) -> bool:
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
    except OSError:
        return False
    try:
        writer.write(f"GET /_sandbox/health HTTP/1.1\r\nHost: {bind}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        status_line = await reader.readline()
        return status_line.split(b" ")[1:2] == [b"200"]
    except OSError:
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _wait_until_serving(binds: Sequence[str]) -> None:
    """Poll each sandbox's health route until all answer 200 (server-side, so the caller need not)."""
    pending = list(binds)
    while pending:
        pending = [bind for bind in pending if not await _answers_health(bind)]
        if pending:
            await asyncio.sleep(0.02)


async def serve_sandboxes(binds: dict[str, str], environ: Mapping[str, str] = os.environ) -> int:
    """Serve each sandbox of `binds` (name -> HOST:PORT), accepting the credentials `environ` lists."""
    shutdown = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, shutdown.set)

    servers: list[asyncio.Task[None]] = []
    for name, bind in binds.items():
        config = Config()
        config.bind = [bind]
        config.graceful_timeout = GRACEFUL_TIMEOUT_S
        config.accesslog = None
        config.loglevel = "WARNING"
        # Starlette is an ASGI app; hypercorn's stricter event types just do not name it as one.
        app = cast(ASGIFramework, create_sandbox(name, environ))
        servers.append(asyncio.create_task(
            serve(app, config, shutdown_trigger=shutdown.wait, mode="asgi"), name=f"sandbox-{name}"
        ))

    ready = asyncio.create_task(asyncio.wait_for(_wait_until_serving(list(binds.values())), READY_TIMEOUT_S))
    await asyncio.wait([ready, *servers], return_when=asyncio.FIRST_COMPLETED)
    failed = False
    if ready.done() and ready.exception() is None:
        print(READY_LINE, flush=True)
        stop_requested = asyncio.create_task(shutdown.wait())
        await asyncio.wait([stop_requested, *servers], return_when=asyncio.FIRST_COMPLETED)
        failed = not shutdown.is_set()  # a server ended on its own
        stop_requested.cancel()
    else:
        ready.cancel()
        failed = True
        print("sandboxes failed to start", file=sys.stderr, flush=True)

    shutdown.set()
    results = await asyncio.gather(*servers, return_exceptions=True)
    for name, result in zip(binds, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            failed = True
            print(f"{name} sandbox failed: {result!r}", file=sys.stderr, flush=True)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    binds = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(serve_sandboxes(binds))


if __name__ == "__main__":
    sys.exit(main())
