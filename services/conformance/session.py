"""One conformance run's machinery, shared by every action and case: the local stack (restate-server,
the sandboxes, the Pivot service), one fault proxy per provider in front of its target, the judge's
own catalog (the same actions, reaching the targets directly), and the saga calls the cases make.

Reusing one stack keeps a run fast; every wait is bounded (the service's provider timeout is short,
steps answer within `wait_s`, the client gives up after `CALL_TIMEOUT_S`).
"""

import asyncio
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from psycopg.conninfo import conninfo_to_dict

from pivot.compensations.actions import Action, Catalog
from pivot.compensations.connections import using_connection
from pivot.compensations.kinds import StepKind
from pivot.providers.postgres.actions import CONFORMANCE_TABLE
from pivot.providers.redaction import configured_secrets
from pivot.services.catalog import build_catalog
from pivot.services.client import PivotClient
from pivot.services.conformance.carrier import WriteShape
from pivot.services.conformance.proxy import Exchange, FaultProxy
from pivot.services.conformance.targets import (
    DATABASE_PROVIDERS,
    Target,
    database_address,
    database_dsn_through,
    judge_environment,
    resolve,
    service_environment,
)
from pivot.services.conformance.tcp_proxy import TcpFaultProxy
from pivot.services.local.postgres import EmbeddedPostgres
from pivot.services.local.stack import SANDBOXED_PROVIDERS, Ports, Stack

T = TypeVar("T")
STEP_ID = "conformance"
SERVICE_HTTP_TIMEOUT_S = "2"
"""The service's provider timeout: a held or dropped answer resolves within seconds."""
COMPENSATION_BUDGET_S = "20"
"""How long an undo keeps retrying before the saga needs attention (production: days)."""
STEP_WAIT_S = 60.0
CALL_TIMEOUT_S = 120.0
FINAL = frozenset({"committed", "compensated", "needs_attention", "rejected"})


@dataclass
class Learned:
    """What the clean run (case 1) showed about an action's requests, for the cases that aim a fault
    at one of them."""

    key: str | None = None
    """Case 1's forward key."""
    forward_log: list[Exchange] = field(default_factory=list)
    undo_log: list[Exchange] = field(default_factory=list)
    write_seen: bool = False
    """A request of case 1 carried the key as the action declares."""
    write_shape: WriteShape | None = None
    """For a key no request shows: what case 1's write looked like."""
    readback_requests: int | None = None
    """Requests after the write until the step was verified (the read-back)."""
    undo: int | None = None
    """Which write of the compensation's requests is the undo (its occurrence among them)."""
    found_by_key: bool = False


@dataclass
class Subject:
    """One action under test, with the proxy its provider's requests go through."""

    action: Action
    target: Target
    proxy: FaultProxy
    learned: Learned = field(default_factory=Learned)
    tcp: TcpFaultProxy | None = None
    """A database's proxy (its requests go through this; `proxy` is then never started, and the
    database cases, services/conformance/database_cases.py, run instead of the HTTP ones)."""

    @property
    def kit(self) -> Any:
        return self.action.kit

    @property
    def compensable(self) -> bool:
        return self.action.kind is StepKind.COMPENSABLE


class KillLock:
    """Cases of different providers run at once, except the one that kills the service: it waits
    for the cases in progress to finish, and no case starts while it runs (a reader-writer lock
    that lets a waiting kill in first)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0
        self._killing = False
        self._waiting = 0

    @contextmanager
    def case(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._killing and not self._waiting)
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    @contextmanager
    def kill(self) -> Iterator[None]:
        with self._changed:
            self._waiting += 1
            self._changed.wait_for(lambda: not self._killing and not self._running)
            self._waiting -= 1
            self._killing = True
        try:
            yield
        finally:
            with self._changed:
                self._killing = False
                self._changed.notify_all()


class Session:
    """`with Session(providers, connection) as session:` — everything a run needs, started."""

    def __init__(self, providers: Iterable[str], connection: str, workdir: Path | None = None):
        self.providers = sorted(set(providers))
        self.connection = connection
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="pivot-conformance-"))
        self.targets: dict[str, Target] = {}
        self.proxies: dict[str, FaultProxy] = {}
        self.tcp_proxies: dict[str, TcpFaultProxy] = {}
        self.stack: Stack | None = None
        self.catalog: Catalog | None = None
        self.kills = KillLock()
        self._saved_env: dict[str, str | None] = {}
        self._local = threading.local()
        self._owned: list[PivotClient | asyncio.AbstractEventLoop] = []
        self._owned_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> "Session":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        ports = Ports.free()
        sandbox_urls = {name: f"http://127.0.0.1:{ports.of(name)}" for name in SANDBOXED_PROVIDERS}
        own_database = EmbeddedPostgres(home=self.workdir / "postgres", port=ports.postgres,
                                        log_path=self.workdir / "logs" / "postgres.log")
        addresses = {**sandbox_urls, "postgres": database_address(own_database.dsn)}
        self.targets = {p: resolve(p, self.connection, addresses) for p in self.providers}
        http = {p: t for p, t in self.targets.items() if p not in DATABASE_PROVIDERS}
        self.proxies = {p: FaultProxy(t.url).start() for p, t in http.items()}
        service_env = {
            "PIVOT_HTTP_TIMEOUT_S": SERVICE_HTTP_TIMEOUT_S,
            "PIVOT_COMPENSATION_BUDGET_S": COMPENSATION_BUDGET_S,
            **service_environment(self.targets, {p: proxy.url for p, proxy in self.proxies.items()}),
        }
        judge = judge_environment(self.targets)
        for provider, target in self.targets.items():
            if provider not in DATABASE_PROVIDERS:
                continue
            variable = DATABASE_PROVIDERS[provider]
            dsn = own_database.dsn if target.sandbox else os.environ[variable]
            address = conninfo_to_dict(dsn)
            tcp = self.tcp_proxies[provider] = TcpFaultProxy(
                str(address.get("host") or "127.0.0.1"), int(str(address.get("port") or 5432))).start()
            self.proxies[provider] = FaultProxy(target.url)  # never started: its requests go through `tcp`
            service_env[variable] = database_dsn_through(dsn, "127.0.0.1", tcp.port)
            judge[variable] = dsn
            if not os.environ.get("PIVOT_POSTGRES_TABLES"):
                service_env["PIVOT_POSTGRES_TABLES"] = judge["PIVOT_POSTGRES_TABLES"] = f"{CONFORMANCE_TABLE}:id"
        self._set_env(judge)
        self.stack = Stack(ports=ports, data_dir=self.workdir / "restate-data", log_dir=self.workdir / "logs",
                           service_env=service_env, scratch_database=True)
        for proxy in self.proxies.values():
            proxy.redacting(configured_secrets(self.stack.service.env))
        self.stack.start()
        self.catalog = build_catalog()

    def close(self) -> None:
        with self._owned_lock:
            owned, self._owned = self._owned, []
        for thing in owned:
            thing.close()
        if self.stack is not None:
            self.stack.stop()
            shutil.rmtree(self.workdir / "restate-data", ignore_errors=True)
        for proxy in self.proxies.values():
            proxy.close()
        for tcp in self.tcp_proxies.values():
            tcp.close()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def _set_env(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    def subject(self, name: str) -> Subject:
        assert self.catalog is not None
        action = self.catalog[name]
        return Subject(action, self.targets[action.provider], self.proxies[action.provider],
                       tcp=self.tcp_proxies.get(action.provider))

    def service_secrets(self) -> list[str]:
        """Every credential the service is configured with (what must never be stored)."""
        assert self.stack is not None
        return configured_secrets(self.stack.service.env)

    # -- the judge: the action's own pieces, straight to the target ----------------------------------
    def judge(self, call: Callable[[], Awaitable[T]]) -> T:
        async def under_connection() -> T:
            with using_connection(self.connection):
                return await call()
        return self._thread_loop().run_until_complete(under_connection())

    def _thread_loop(self) -> asyncio.AbstractEventLoop:
        """This thread's event loop: a provider's clients are used by one thread (its actions run in
        turn), and an async HTTP client stays on the loop it was first used on."""
        loop: asyncio.AbstractEventLoop | None = getattr(self._local, "loop", None)
        if loop is None:
            loop = self._local.loop = asyncio.new_event_loop()
            with self._owned_lock:
                self._owned.append(loop)
        return loop

    def ledger(self, subject: Subject, key: str) -> list[dict[str, Any]] | None:
        """The sandbox's effects carrying `key` (None when the target is a real API, which has none)."""
        if not subject.target.sandbox or subject.tcp is not None:  # a real API, or a database: no ledger
            return None
        effects = httpx.get(f"{subject.target.url}/_sandbox/ledger", timeout=10).json().get("effects", [])
        return [e for e in effects if str(e.get("idempotency_key") or "").startswith(key)]

    # -- sagas ---------------------------------------------------------------------------------------
    def run_id(self, subject: Subject, case: int) -> str:
        return f"conformance-{subject.action.name}-{case}-{secrets.token_hex(4)}"

    def forward(self, run_id: str, subject: Subject, params: dict[str, Any], *, wait_s: float = STEP_WAIT_S,
                client: PivotClient | None = None) -> dict[str, Any]:
        """Take the step (and for a deferred kind, commit so that it runs); its outcome."""
        pivot = client or self._client()
        answer = pivot.step(run_id, STEP_ID, subject.action.name, params, connection=self.connection, wait_s=wait_s)
        step: dict[str, Any] = answer["step"]
        if step.get("state") == "deferred":
            outcome = pivot.commit(run_id, wait_s=wait_s)
            step = self.step_of(outcome)
        return step

    def abort(self, run_id: str, *, wait_s: float = STEP_WAIT_S) -> dict[str, Any]:
        outcome = self._client().abort(run_id, "conformance case finished", wait_s=wait_s)
        return self.settled(run_id, outcome)

    def settled(self, run_id: str, outcome: dict[str, Any] | None = None, timeout_s: float = STEP_WAIT_S
                ) -> dict[str, Any]:
        """The saga's outcome once it is final (bounded: the last one seen after `timeout_s`)."""
        deadline = time.monotonic() + timeout_s
        outcome = outcome or self._client().status(run_id)
        while outcome.get("status") not in FINAL and time.monotonic() < deadline:
            time.sleep(0.2)
            outcome = self._client().status(run_id)
        return outcome

    def step_now(self, run_id: str, *, until_not: Iterable[str] = ("running", "pending", "deferred"),
                 timeout_s: float = STEP_WAIT_S) -> dict[str, Any]:
        """The step's outcome once it has left the `until_not` states (bounded)."""
        waiting = set(until_not)
        deadline = time.monotonic() + timeout_s
        step = self.step_of(self._client().status(run_id))
        while step.get("state") in waiting and time.monotonic() < deadline:
            time.sleep(0.2)
            step = self.step_of(self._client().status(run_id))
        return step

    @staticmethod
    def step_of(outcome: dict[str, Any]) -> dict[str, Any]:
        return next((s for s in outcome.get("steps", []) if s.get("id") == STEP_ID), {"state": "absent"})

    def new_client(self) -> PivotClient:
        """A client of its own, for a call made from another thread."""
        assert self.stack is not None
        return PivotClient(self.stack.ingress_url, admin_url=self.stack.admin_url, timeout_s=CALL_TIMEOUT_S)

    def _client(self) -> PivotClient:
        """This thread's client of the ingress."""
        client: PivotClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self.new_client()
            with self._owned_lock:
                self._owned.append(client)
        return client

    def restart_service(self) -> int | None:
        """SIGKILL the service by its pid and start it again; returns the killed pid."""
        assert self.stack is not None
        pid = self.stack.service.pid
        self.stack.restart_service()
        return pid
