"""A fault-injecting reverse HTTP proxy on loopback, between the Pivot service and a provider.

`pivot conformance` points a provider's base URL at it and stages, request by request, what a
real network and a real API do to a write: an error answer (500, or 429 with `Retry-After`)
before anything reached the provider, a connection reset, an answer lost after the provider
committed, an answer held back while the service is killed, a read-back that disagrees. Rules
match requests by method, path regex, an optional predicate (the step's key in its carrier), and
occurrence count (`nth`, `times`), so "the second write" or "the undo" can be named exactly.

Every request is logged as sent (time, method, path, query, headers, body) with credentials
redacted (pivot.providers.redaction): the cases read the log as evidence — when a retry came,
what the write carried, how many undos were sent.

It is an aiohttp server (it alone among well-kept servers hands a handler its TCP transport, which
a real reset, RST, needs) with an httpx client upstream (https allowed). It runs on its own
event loop in a thread, so a synchronous runner can drive it: add rules, read the log, wait for a
held answer, release it.
"""

import asyncio
import contextlib
import json
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn
from urllib.parse import parse_qs

import httpx
from aiohttp import web
from multidict import CIMultiDict

from pivot.providers.redaction import redact

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "content-length", "accept-encoding"})
"""Request headers not forwarded as they came: per connection, or recomputed by the upstream client
(which asks for, and decodes, the encodings it knows, so a rewrite sees plain bytes)."""
ANSWER_HEADERS_DROPPED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length",
                                    "content-encoding"})
MAX_BODY_BYTES = 64 * 1024 * 1024
MAX_HOLD_S = 300.0
"""A held answer is released after this even if nobody releases it: a proxy never hangs a run."""


# -- what a request was ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Sent:
    """A request as the proxy received it (in the log: with credentials redacted)."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: str

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def form(self) -> dict[str, list[str]]:
        """The body as an urlencoded form (empty when it is not one)."""
        return parse_qs(self.body, keep_blank_values=True) if "=" in self.body else {}

    def query_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "query": self.query,
                "headers": dict(self.headers), "body": self.body}


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request and what became of it: the evidence a case reads."""

    seq: int
    at: float
    """When the request arrived (epoch seconds)."""
    request: Sent
    rule: str | None
    fault: str
    """What the proxy did: pass, answer, reset, drop, hold, rewrite."""
    forwarded: bool = False
    upstream_status: int | None = None
    answered_status: int | None = None
    """What the client was answered (None: no answer — reset, dropped, or still held)."""
    finished_at: float | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": round(self.at, 3), **self.request.to_json(), "rule": self.rule,
                "fault": self.fault, "forwarded": self.forwarded, "upstream_status": self.upstream_status,
                "answered_status": self.answered_status, "note": self.note}

    def line(self) -> str:
        """One line for a report: `#12 +0.00s POST /v1/invoices → 500 (answer, not forwarded)`."""
        answered = "no answer" if self.answered_status is None else str(self.answered_status)
        how = self.fault + ("" if self.fault == "pass" else ", forwarded" if self.forwarded else ", not forwarded")
        return f"#{self.seq} {self.request.method} {self.request.path} → {answered} ({how})"


# -- what to do ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Pass:
    """Forward and answer as the provider answered."""


@dataclass(frozen=True, slots=True)
class Respond:
    """Answer this without forwarding: the provider never sees the request."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass(frozen=True, slots=True)
class Reset:
    """Reset the connection (TCP RST) without forwarding."""


@dataclass(frozen=True, slots=True)
class DropAnswer:
    """Forward, let the provider commit, then lose its answer: reset the connection, after
    `hang_s` seconds of silence if given (the client times out first)."""

    hang_s: float = 0.0


@dataclass(frozen=True, slots=True)
class HoldAnswer:
    """Forward, then hold the provider's answer until `FaultProxy.release` (or `MAX_HOLD_S`)."""


@dataclass(frozen=True, slots=True)
class Rewrite:
    """Forward, then answer with `values` replaced in the JSON body: every JSON value equal to a key
    (same type: True is not 1) becomes its value. A body that is not JSON has each string key
    replaced as text."""

    values: Mapping[Any, Any]


Fault = Pass | Respond | Reset | DropAnswer | HoldAnswer | Rewrite


def rate_limited(retry_after_s: int, body: str = '{"message": "rate limited by the conformance proxy"}') -> Respond:
    """429 with `Retry-After: N`."""
    return Respond(429, {"Retry-After": str(retry_after_s), "Content-Type": "application/json"}, body)


def server_error(status: int = 500) -> Respond:
    return Respond(status, {"Content-Type": "application/json"},
                   json.dumps({"message": f"{status} from the conformance proxy"}))


@dataclass
class Rule:
    """Apply `fault` to the `nth`..`nth + times - 1` requests (counted from when the rule was added)
    that match `method`, the `path` regex (searched) and `when`; `times=None`: every one from `nth`."""

    fault: Fault
    method: str | None = None
    path: str | None = None
    when: Callable[[Sent], bool] | None = None
    nth: int = 1
    times: int | None = 1
    name: str = ""
    seen: int = 0
    """Matching requests so far (every rule counts every request it matches)."""
    applied: int = 0

    def matches(self, sent: Sent) -> bool:
        return ((self.method is None or self.method.upper() == sent.method)
                and (self.path is None or re.search(self.path, sent.path) is not None)
                and (self.when is None or self.when(sent)))

    def covers(self, occurrence: int) -> bool:
        return occurrence >= self.nth and (self.times is None or occurrence < self.nth + self.times)

    @property
    def label(self) -> str:
        return self.name or type(self.fault).__name__


def _replaced(value: Any, values: Mapping[Any, Any]) -> Any:
    if isinstance(value, dict):
        return {key: _replaced(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_replaced(item, values) for item in value]
    for old, new in values.items():
        if type(old) is type(value) and old == value:
            return new
    return value


def rewritten(body: bytes, values: Mapping[Any, Any]) -> bytes:
    """`body` with `values` replaced (see `Rewrite`)."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        text = body.decode(errors="replace")
        for old, new in values.items():
            if isinstance(old, str) and old:
                text = text.replace(old, str(new))
        return text.encode()
    return json.dumps(_replaced(parsed, values)).encode()


@dataclass
class _Held:
    seq: int
    release: asyncio.Event


# -- the proxy -----------------------------------------------------------------------------------

class FaultProxy:
    """`with FaultProxy("https://api.example.com") as proxy:` serves on `proxy.url` until closed."""

    def __init__(self, upstream: str, *, secrets: Iterable[str] = (), verify: ssl.SSLContext | str | bool = True,
                 upstream_timeout_s: float = 60.0, host: str = "127.0.0.1"):
        self.upstream = upstream.rstrip("/")
        self._secrets = tuple(s for s in secrets if s)
        self._verify = verify
        self._timeout_s = upstream_timeout_s
        self._host = host
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._rules: list[Rule] = []
        self._log: list[Exchange] = []
        self._held: list[_Held] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._client: httpx.AsyncClient | None = None
        self.url = ""

    # -- lifecycle (from the caller's thread) ----------------------------------------------------
    def start(self) -> "FaultProxy":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, 0))
        self.url = f"http://{self._host}:{sock.getsockname()[1]}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"fault-proxy {self.url}", daemon=True)
        self._thread.start()
        self._call(self._serve(sock))
        return self

    def close(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self.release()
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coroutine: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    async def _serve(self, sock: socket.socket) -> None:
        self._client = httpx.AsyncClient(timeout=self._timeout_s, verify=self._verify, follow_redirects=False)
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.aclose()

    # -- rules and evidence (from any thread) ----------------------------------------------------
    def redacting(self, secrets: Iterable[str]) -> None:
        """Also redact these values from the log (the credentials of the process behind the proxy)."""
        with self._lock:
            self._secrets = tuple(dict.fromkeys([*self._secrets, *(s for s in secrets if s)]))

    def add(self, rule: Rule) -> Rule:
        """Add a rule after the others (the first rule that applies to a request wins)."""
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Drop every rule (the log stays) and let held answers go."""
        with self._lock:
            self._rules.clear()
        self.release()

    def log(self, since: int = 0) -> list[Exchange]:
        """Every exchange with `seq >= since`, in arrival order."""
        with self._lock:
            return [exchange for exchange in self._log if exchange.seq >= since]

    def mark(self) -> int:
        """The seq the next request will get: `log(since=mark)` is what came after."""
        with self._lock:
            return len(self._log)

    def wait_held(self, timeout_s: float) -> Exchange:
        """The first answer being held (its request forwarded, its answer not sent); waits for one."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not self._held:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no answer held by the proxy within {timeout_s:g}s")
                self._changed.wait(left)
            return self._log[self._held[0].seq]

    def wait_for(self, condition: Callable[[list[Exchange]], bool], timeout_s: float) -> list[Exchange]:
        """Wait until `condition(log)` holds (re-checked on every new exchange); returns the log."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not condition(list(self._log)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the proxy's log did not show what was awaited within {timeout_s:g}s")
                self._changed.wait(left)
            return list(self._log)

    def release(self) -> None:
        """Send every held answer on (to a client that may be gone)."""
        with self._lock:
            held, self._held = self._held, []
        if self._loop is not None and not self._loop.is_closed():
            for item in held:
                self._loop.call_soon_threadsafe(item.release.set)

    # -- serving (on the proxy's loop) -----------------------------------------------------------
    def _record(self, exchange: Exchange) -> None:
        with self._changed:
            self._log[exchange.seq] = exchange
            self._changed.notify_all()

    def _redacted(self, text: str) -> str:
        return redact(text, self._secrets)

    def _choose(self, sent: Sent) -> tuple[Rule | None, Exchange]:
        with self._changed:
            chosen = None
            for rule in self._rules:
                if rule.matches(sent):
                    rule.seen += 1
                    if chosen is None and rule.covers(rule.seen):
                        chosen = rule
                        rule.applied += 1
            fault = Pass() if chosen is None else chosen.fault
            logged = Sent(sent.method, sent.path, self._redacted(sent.query),
                          tuple((k, self._redacted(v)) for k, v in sent.headers), self._redacted(sent.body))
            exchange = Exchange(seq=len(self._log), at=time.time(), request=logged,
                                rule=None if chosen is None else chosen.label, fault=_fault_name(fault))
            self._log.append(exchange)
            self._changed.notify_all()
        return chosen, exchange

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        url = request.rel_url
        sent = Sent(method=request.method.upper(), path=url.raw_path, query=url.raw_query_string,
                    headers=tuple(request.headers.items()), body=body.decode(errors="replace"))
        rule, exchange = self._choose(sent)
        fault = Pass() if rule is None else rule.fault
        if isinstance(fault, Respond):
            self._record(replace(exchange, answered_status=fault.status, finished_at=time.time()))
            return web.Response(status=fault.status, headers=CIMultiDict(fault.headers), body=fault.body.encode())
        if isinstance(fault, Reset):
            self._record(replace(exchange, finished_at=time.time(), note="connection reset"))
            _reset(request)
        try:
            upstream = await self._forward(request, body)
        except httpx.HTTPError as exc:
            note = self._redacted(f"upstream failed: {type(exc).__name__}: {exc}")
            self._record(replace(exchange, answered_status=502, finished_at=time.time(), note=note))
            return web.Response(status=502, text=note)
        exchange = replace(exchange, forwarded=True, upstream_status=upstream.status_code)
        content = upstream.content
        if isinstance(fault, DropAnswer):
            self._record(replace(exchange, note="answer dropped"))
            if fault.hang_s > 0:
                await asyncio.sleep(fault.hang_s)
            self._record(replace(exchange, finished_at=time.time(), note="answer dropped: connection reset"))
            _reset(request)
        if isinstance(fault, HoldAnswer):
            await self._hold(exchange)
        if isinstance(fault, Rewrite):
            content = rewritten(content, fault.values)
        self._record(replace(exchange, answered_status=upstream.status_code, finished_at=time.time()))
        headers = CIMultiDict((k, v) for k, v in upstream.headers.multi_items()
                              if k.lower() not in ANSWER_HEADERS_DROPPED)
        return web.Response(status=upstream.status_code, headers=headers, body=content)

    async def _forward(self, request: web.Request, body: bytes) -> httpx.Response:
        assert self._client is not None
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        return await self._client.request(request.method, self.upstream + request.rel_url.raw_path_qs,
                                          headers=headers, content=body)

    async def _hold(self, exchange: Exchange) -> None:
        held = _Held(exchange.seq, asyncio.Event())
        with self._changed:
            self._log[exchange.seq] = replace(exchange, note="answer held")
            self._held.append(held)
            self._changed.notify_all()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(held.release.wait(), MAX_HOLD_S)
        with self._lock:
            if held in self._held:
                self._held.remove(held)


def _fault_name(fault: Fault) -> str:
    return {Pass: "pass", Respond: "answer", Reset: "reset", DropAnswer: "drop", HoldAnswer: "hold",
            Rewrite: "rewrite"}[type(fault)]


def _reset(request: web.Request) -> NoReturn:
    """Reset the client's connection (SO_LINGER 0, then close: the kernel sends RST) and end the handler."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    raise asyncio.CancelledError
