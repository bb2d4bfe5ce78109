"""A fault-injecting TCP proxy on loopback, between the Pivot service and a database.

The HTTP proxy (proxy.py) stages faults request by request; a database speaks its own protocol over
one long connection, so this proxy stages them message by message: a rule matches the bytes a client
sends (a statement's SQL text, `COMMIT`; PostgreSQL's protocol carries the SQL as text, and the
local connections are unencrypted), and does to that message what a network and a server do:

- `hold`: forward it late (the service is killed while the statement waits: it reaches the server
  after the client is gone, as a request a sandbox finishes after a crash);
- `hold_answer`: forward it now, deliver the server's answer late (a COMMIT that committed while
  its answer is held: kill the service and the answer is lost);
- `drop_before`: close both sides without forwarding it (the statement never ran);
- `drop_after`: forward it, then close both sides before the answer comes back (a COMMIT that
  committed, its answer lost: the client sees a broken connection);
- `refuse`: close new connections at once (the server unreachable).

Rules count their hits and what they hold right now, so a test waits on a real condition ("the
COMMIT is held") and, after a crash, for the held message to be delivered. The proxy runs on its own
event loop in a thread, like the HTTP one, and never logs what passes through (a DSN's password is
in the startup message).
"""

import asyncio
import contextlib
import itertools
import threading
from dataclasses import dataclass
from typing import Literal

from pivot.services.local.processes import free_port

TcpAction = Literal["hold", "hold_answer", "drop_before", "drop_after", "refuse"]
CHUNK = 65536
MAX_HOLD_S = 120.0


@dataclass
class TcpRule:
    id: str
    action: TcpAction
    match: bytes = b""
    """Bytes a client message must contain (ignored by `refuse`, which matches every connection)."""
    delay_s: float = 0.0
    skip: int = 0
    """Matching messages to let through untouched first."""
    times: int | None = 1
    """How many times it applies (None: until removed)."""
    hits: int = 0
    held: int = 0
    seen: int = 0

    def wants(self, data: bytes | None) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if data is not None and self.match not in data:
            return False
        self.seen += 1
        if self.seen <= self.skip:
            return False
        self.hits += 1
        return True


class TcpFaultProxy:
    """Listens on 127.0.0.1:`port` and forwards each connection to `upstream_host:upstream_port`."""

    def __init__(self, upstream_host: str, upstream_port: int, *, port: int | None = None):
        self.upstream = (upstream_host, upstream_port)
        self.port = port or free_port()
        self._rules: list[TcpRule] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-fault-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self.connections = 0

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> "TcpFaultProxy":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)

    def close(self) -> None:
        async def shut() -> None:
            if self._server is not None:
                self._server.close()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> "TcpFaultProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- rules --------------------------------------------------------------------------------------
    def add(self, action: TcpAction, match: bytes = b"", *, delay_s: float = 0.0, skip: int = 0,
            times: int | None = 1) -> str:
        rule = TcpRule(id=f"tcp-{next(self._ids)}", action=action, match=match, delay_s=delay_s, skip=skip,
                       times=times)
        with self._lock:
            self._rules.append(rule)
        return rule.id

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rule(self, rule_id: str) -> TcpRule:
        with self._lock:
            return next(r for r in self._rules if r.id == rule_id)

    def hits(self, rule_id: str) -> int:
        return self.rule(rule_id).hits

    def held(self, rule_id: str) -> int:
        return self.rule(rule_id).held

    def _first(self, data: bytes | None, actions: tuple[TcpAction, ...]) -> TcpRule | None:
        with self._lock:
            return next((r for r in self._rules if r.action in actions and r.wants(data)), None)

    # -- one connection -----------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self._first(None, ("refuse",)) is not None:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        answer_hold: list[TcpRule] = []
        down = asyncio.ensure_future(self._answers(up_reader, writer, answer_hold))
        try:
            await self._requests(reader, up_writer, writer, answer_hold)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(down, timeout=MAX_HOLD_S)
            for w in (writer, up_writer):
                with contextlib.suppress(Exception):
                    w.close()

    async def _requests(self, reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter,
                        writer: asyncio.StreamWriter, answer_hold: list[TcpRule]) -> None:
        """Client → server, one chunk at a time (a held chunk holds the ones after it too)."""
        while True:
            try:
                data = await reader.read(CHUNK)
            except OSError:
                data = b""
            if not data:
                with contextlib.suppress(Exception):
                    up_writer.write_eof()
                return
            rule = self._first(data, ("hold", "hold_answer", "drop_before", "drop_after"))
            if rule is not None and rule.action == "drop_before":
                writer.transport.abort()
                up_writer.transport.abort()
                return
            if rule is not None and rule.action == "hold":
                rule.held += 1
                try:
                    await asyncio.sleep(min(rule.delay_s, MAX_HOLD_S))
                finally:
                    rule.held -= 1
            if rule is not None and rule.action == "hold_answer":
                rule.held += 1
                answer_hold.append(rule)
            up_writer.write(data)
            await up_writer.drain()
            if rule is not None and rule.action == "drop_after":
                writer.transport.abort()
                up_writer.close()  # the message is in the server's socket buffer: it runs, then sees EOF
                return

    async def _answers(self, up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       answer_hold: list[TcpRule]) -> None:
        """Server → client; the answer to a `hold_answer` message waits `delay_s` first."""
        while True:
            try:
                data = await up_reader.read(CHUNK)
            except OSError:
                data = b""
            while answer_hold:
                rule = answer_hold.pop(0)
                try:
                    await asyncio.sleep(min(rule.delay_s, MAX_HOLD_S))
                finally:
                    rule.held -= 1
            if not data:
                with contextlib.suppress(Exception):
                    writer.close()
                return
            try:
                writer.write(data)
                await writer.drain()
            except (OSError, RuntimeError):
                return
