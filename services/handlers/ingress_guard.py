"""The guard in front of every Pivot handler: no browser it does not know, no key outside the id alphabet.

Restate's ingress is not a boundary. Its CORS layer answers every preflight for any origin,
credentials allowed, and it authenticates no caller: a web page open in the developer's own
browser can `fetch` the local ingress and run, step, abort or read sagas with whatever
credentials the service holds. Restate has no setting to narrow that, but it hands each
handler the ingress request's headers, and browsers say where a request comes from (`Origin`,
and `Sec-Fetch-Site` even where they omit `Origin`). Agents, the CLI and servers send neither.
So every invocation that carries a browser origin not on `PIVOT_ALLOWED_ORIGINS` (default: none)
is refused with 403 before the handler runs: nothing is admitted, nothing reaches a provider.

The guard wraps every handler of every service the app serves (`guard_services`), as a Restate
invocation context manager, so a handler added later is covered without remembering to be.
Calls between Pivot's own handlers carry no browser headers and pass. The same place refuses a
run id (the Restate key) outside `pivot.compensations.ids`' alphabet with 400: `..` as a run id must
never reach a URL or a log line.
"""

import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import restate
from restate import TerminalError
from restate.extensions import current_context

from pivot.compensations.error_body import refusal
from pivot.compensations.ids import InvalidId

ALLOWED_ORIGINS_ENV = "PIVOT_ALLOWED_ORIGINS"

KeyCheck = Callable[[str], str]
Guarded = restate.Service | restate.VirtualObject | restate.Workflow


def allowed_origins() -> frozenset[str]:
    """`PIVOT_ALLOWED_ORIGINS`: comma-separated origins (`https://ops.example.com`), exactly as a
    browser sends them (scheme, host, port if not the default; no path). `null` is never allowed."""
    raw = os.environ.get(ALLOWED_ORIGINS_ENV, "")
    return frozenset(o.strip().rstrip("/").lower() for o in raw.split(",") if o.strip() and o.strip() != "null")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name), None)


def browser_origin(headers: Mapping[str, str]) -> str | None:
    """Where a browser says the request comes from, or None when no browser sent it.

    `Sec-Fetch-Site: none` is the user's own navigation (a typed URL, a bookmark): no page is
    behind it. Any other Sec-Fetch-Site without an Origin is a page whose origin is unknown."""
    origin = _header(headers, "origin")
    if origin is not None:
        return origin.strip().rstrip("/").lower()
    site = _header(headers, "sec-fetch-site")
    if site is not None and site.strip().lower() != "none":
        return f"an unnamed origin (Sec-Fetch-Site: {site.strip()[:40]})"
    return None


def _shown(origin: str) -> str:
    return repr(origin[:120])


def origin_refusal(origin: str) -> TerminalError:
    return refusal(
        403, "origin_refused",
        f"refused: a browser page at {_shown(origin)} may not call Pivot (Restate's ingress is not a boundary); "
        f"add the origin to {ALLOWED_ORIGINS_ENV} if that page is yours", field="origin")


def check_origin(headers: Mapping[str, str], allowed: frozenset[str]) -> None:
    origin = browser_origin(headers)
    if origin is not None and origin not in allowed:
        raise origin_refusal(origin)


def _guard(key_check: KeyCheck | None, allowed: frozenset[str]) -> Callable[[], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def guard() -> AsyncIterator[None]:
        ctx = current_context()
        if ctx is None:  # not inside an invocation: nothing to guard
            yield
            return
        check_origin(ctx.request().headers, allowed)
        if key_check is not None:
            try:
                key_check(ctx.key())  # type: ignore[attr-defined]
            except InvalidId as invalid:
                raise refusal(400, "invalid_id", str(invalid), field=invalid.field) from None
        yield

    guard.pivot_ingress_guard = True  # type: ignore[attr-defined]
    return guard


def guard_services(services: Iterable[Guarded], key_checks: Mapping[str, KeyCheck]) -> None:
    """Put the guard in front of every handler of `services` (first, before any other context
    manager); `key_checks` names the id check of each keyed service's key. Idempotent: a service
    object shared by several apps (the approvals are module-level) gets one guard, the latest."""
    allowed = allowed_origins()
    for service in services:
        guard = _guard(key_checks.get(service.name), allowed)
        for handler in service.handlers.values():
            others = [m for m in handler.context_managers or [] if not getattr(m, "pivot_ingress_guard", False)]
            handler.context_managers = [guard, *others]
