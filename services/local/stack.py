"""The local stack: restate-server, the provider sandboxes and the Pivot service, wired up.

`pivot dev` and the test fixtures both use this, so what the tests run is what a developer
runs. Readiness is always a real condition (admin health, a registered deployment, a
successful call), never a sleep.
"""

import os
import shutil
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from pivot.providers.postgres.config import TABLES_ENV
from pivot.providers.sandbox_kit.credentials import LOCAL_CREDENTIALS as SANDBOX_CREDENTIALS
from pivot.providers.sandbox_kit.credentials import LOCAL_SIGNING_SECRETS, credentials_environment
from pivot.services.catalog import CREDENTIAL_ENV
from pivot.services.local.approver_tokens import ensure_approver_tokens
from pivot.services.local.checkout import ORDERS_TABLES_SETTING
from pivot.services.local.identity import ensure_identity
from pivot.services.local.postgres import EmbeddedPostgres
from pivot.services.local.preflight import check_can_start
from pivot.services.local.processes import ManagedProcess, free_ports, start_ticks, wait_until
from pivot.services.local.restate_binary import PROJECT_ROOT, ensure_restate
from pivot.services.local.slack_interactivity import PATH as SLACK_INTERACTIVITY_PATH
from pivot.services.local.stack_file import FILE_NAME, StackInfo, remove_stack_file, state_dir, write_stack_file

SANDBOXED_PROVIDERS = ("stripe", "hubspot", "slack", "salesforce", "shopify", "resend")
LOCAL_MAIL_DOMAIN = "example.com"
"""Approval emails go from and to this domain locally: the one the Resend sandbox has verified."""

# Recognisable fake credentials, by the variable the service reads each from: the sandboxes accept
# these and nothing else (providers/sandbox_kit/credentials.py); the security tests search
# journals and logs for them.
LOCAL_CREDENTIALS = {CREDENTIAL_ENV[provider]: SANDBOX_CREDENTIALS[provider] for provider in SANDBOXED_PROVIDERS}
LOCAL_SLACK_APPROVERS = {"finance": "U07FINLEAD", "ops": "U07OPSLEAD"}
"""The local approvers' Slack users: members the Slack sandbox seeds (providers/slack/sandbox/workspace.py)."""
LOCAL_SLACK_APPROVALS_CHANNEL = "C024BE91L"
"""Where the local stack posts gates that name Slack: the sandbox's #general."""


@dataclass(frozen=True)
class Ports:
    ingress: int = 8080
    admin: int = 9070
    node: int = 5122
    service: int = 9080
    stripe: int = 9101
    hubspot: int = 9102
    slack: int = 9103
    salesforce: int = 9104
    shopify: int = 9105
    resend: int = 9106
    approvals: int = 9095
    mcp: int = 9096
    postgres: int = 5433

    @classmethod
    def free(cls) -> "Ports":
        names = list(cls.__dataclass_fields__)
        return cls(**dict(zip(names, free_ports(len(names)), strict=True)))

    def of(self, provider: str) -> int:
        return int(getattr(self, provider))

    def with_overrides(self, overrides: dict[str, int]) -> "Ports":
        unknown = set(overrides) - set(self.__dataclass_fields__)
        if unknown:
            raise ValueError(f"no port named {', '.join(sorted(unknown))}: the names are "
                             f"{', '.join(self.__dataclass_fields__)}")
        chosen = replace(self, **overrides)
        values = [chosen.of(name) for name in self.__dataclass_fields__]
        shared = sorted({port for port in values if values.count(port) > 1})
        if shared:
            raise ValueError(f"each of the stack's ports must differ; {', '.join(map(str, shared))} is given twice")
        return chosen


PORT_PURPOSES = {
    "ingress": "the Restate ingress", "admin": "the Restate admin API", "node": "Restate's node address",
    "service": "the Pivot service endpoint", "approvals": "the approval page", "mcp": "pivot mcp --transport http",
    "postgres": "the local PostgreSQL server",
    **{provider: f"the {provider} sandbox" for provider in SANDBOXED_PROVIDERS},
}
"""What each of the stack's ports is for, in the words `pivot dev` says when one is taken."""


@dataclass
class Stack:
    ports: Ports = field(default_factory=Ports)
    data_dir: Path = field(default_factory=lambda: state_dir() / "data")
    """Restate's data; its parent is the state folder (approver tokens, identity key, stack.json)."""
    log_dir: Path = field(default_factory=lambda: state_dir() / "logs")
    service_env: dict[str, str] = field(default_factory=dict)
    restate_env: dict[str, str] = field(default_factory=dict)
    mcp_server: bool = False
    """Also serve `pivot mcp --transport http` (`pivot dev` does; it needs the `agents` extra)."""
    fresh_data: bool = False
    """Start Restate with empty data (`pivot dev` does unless `--keep`): the sandboxes start empty
    on every start, so sagas kept from a previous start would name objects that no longer exist.
    The local PostgreSQL follows the same rule: its `pivot.steps` rows are keyed by run and step, so
    a database kept while Restate forgets its sagas would answer a new run that reuses a run id with
    the old run's writes (the lookup finds them) instead of writing."""
    scratch_database: bool = False
    """The tests' PostgreSQL: fsync off, and its data removed when the stack stops."""

    def __post_init__(self) -> None:
        host = "127.0.0.1"
        self.ingress_url = f"http://{host}:{self.ports.ingress}"
        self.admin_url = f"http://{host}:{self.ports.admin}"
        self.service_url = f"http://{host}:{self.ports.service}"
        self.approvals_url = f"http://{host}:{self.ports.approvals}"
        self.mcp_url = f"http://{host}:{self.ports.mcp}/mcp"
        self.sandbox_urls = {name: f"http://{host}:{self.ports.of(name)}" for name in SANDBOXED_PROVIDERS}
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("RESTATE_", "PIVOT_"))}
        self.state_dir = self.data_dir.parent
        self.stack_file = self.state_dir / FILE_NAME
        identity_pem, identity_public = ensure_identity(self.state_dir / "identity")
        self.approvers_file = self.state_dir / "approvers"
        self.approver_tokens = ensure_approver_tokens(self.approvers_file)
        self.identity_public_key = identity_public
        approvers = ",".join(f"{name}:{token}" for name, token in self.approver_tokens.items())
        self.restate = ManagedProcess(
            "restate-server",
            [str(ensure_restate()), "--config-file", str(PROJECT_ROOT / "restate.toml")],
            env={
                **base_env,
                "RESTATE_BASE_DIR": str(self.data_dir),
                "RESTATE_BIND_ADDRESS": f"{host}:{self.ports.node}",
                "RESTATE_ADVERTISED_ADDRESS": f"http://{host}:{self.ports.node}/",
                "RESTATE_ADMIN__BIND_ADDRESS": f"{host}:{self.ports.admin}",
                "RESTATE_INGRESS__BIND_ADDRESS": f"{host}:{self.ports.ingress}",
                "RESTATE_LOG_FILTER": "warn",
                "RESTATE_WORKER__INVOKER__REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE": str(identity_pem),
                **self.restate_env,
            },
            cwd=PROJECT_ROOT,
            log_path=self.log_dir / "restate-server.log",
        )
        self.sandboxes = ManagedProcess(
            "sandboxes",
            [sys.executable, "-m", "pivot.providers.serve_sandboxes",
             *(arg for name in SANDBOXED_PROVIDERS for arg in (f"--{name}", f"{host}:{self.ports.of(name)}"))],
            env={**base_env, **credentials_environment({p: [SANDBOX_CREDENTIALS[p]] for p in SANDBOXED_PROVIDERS}),
                 # a click in the Slack sandbox reaches the approval page's interactivity endpoint
                 "PIVOT_SANDBOX_SLACK_INTERACTIVITY_URL": f"{self.approvals_url}{SLACK_INTERACTIVITY_PATH}"},
            cwd=PROJECT_ROOT, log_path=self.log_dir / "sandboxes.log",
        )
        self.postgres = EmbeddedPostgres(home=self.state_dir / "postgres", port=self.ports.postgres,
                                         log_path=self.log_dir / "postgres.log", durable=not self.scratch_database)
        self.service = ManagedProcess(
            "pivot-service",
            [sys.executable, "-m", "pivot.services.serve", "--bind", f"{host}:{self.ports.service}"],
            env={
                **base_env,
                **LOCAL_CREDENTIALS,
                "PIVOT_IDENTITY_KEYS": identity_public,
                "PIVOT_APPROVERS": approvers,
                "PIVOT_SLACK_APPROVALS_CHANNEL": LOCAL_SLACK_APPROVALS_CHANNEL,
                # approval emails (to <name>@example.com through the Resend sandbox) link to the local page
                "PIVOT_APPROVER_EMAILS": ",".join(f"{name}:{name}@{LOCAL_MAIL_DOMAIN}"
                                                  for name in self.approver_tokens),
                "PIVOT_APPROVALS_FROM": f"Pivot approvals <approvals@{LOCAL_MAIL_DOMAIN}>",
                "PIVOT_APPROVAL_PAGE_URL": self.approvals_url,
                **{f"PIVOT_{name.upper()}_BASE_URL": url for name, url in self.sandbox_urls.items()},
                "PIVOT_POSTGRES_DSN": self.postgres.dsn,
                # the tables a step may write: the user's, else the checkout example's `orders`
                "PIVOT_POSTGRES_TABLES": os.environ.get(TABLES_ENV) or ORDERS_TABLES_SETTING,
                **self.service_env,
            },
            cwd=PROJECT_ROOT,
            log_path=self.log_dir / "service.log",
        )

        self.approval_page = ManagedProcess(
            "approval-page",
            [sys.executable, "-m", "pivot.services.local.approval_page", "--bind", f"{host}:{self.ports.approvals}",
             "--ingress", self.ingress_url],
            # the approvers' tokens make the proofs for Slack clicks and check approval emails' links;
            # Slack clicks are verified with the app's signing secret and decided as the mapped approver
            env={**base_env, "PIVOT_APPROVERS": approvers,
                 "SLACK_SIGNING_SECRET": LOCAL_SIGNING_SECRETS["slack"],
                 "PIVOT_SLACK_APPROVERS": ",".join(f"{n}:{u}" for n, u in LOCAL_SLACK_APPROVERS.items())},
            cwd=PROJECT_ROOT, log_path=self.log_dir / "approval-page.log",
        )

        mcp_token = {"PIVOT_MCP_TOKEN": os.environ["PIVOT_MCP_TOKEN"]} if os.environ.get("PIVOT_MCP_TOKEN") else {}
        self.mcp = ManagedProcess(
            "pivot-mcp",
            [sys.executable, "-m", "pivot.services.agents.mcp_server", "--transport", "http",
             "--bind", f"{host}:{self.ports.mcp}", "--ingress", self.ingress_url, "--admin", self.admin_url],
            env={**base_env, **mcp_token}, cwd=PROJECT_ROOT, log_path=self.log_dir / "mcp.log",
        )

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start every process and wait until the stack answers; then say where, in stack.json.
        A taken port or a stack already running on this state folder raises `CannotStart` before
        anything starts."""
        check_can_start(self.port_purposes(), self.state_dir)
        if self.fresh_data:  # only now: another stack running on this state folder was refused above
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.postgres.wipe()
        try:
            self.restate.start()
            self.sandboxes.start()
            self.service.start()
            self.approval_page.start()
            self.postgres.start()  # initdb (~0.5 s) while they boot; the service connects only per step
            self.wait_postgres()
            self.wait_restate()
            self.wait_sandboxes()
            self.wait_service()
            self.register()
            wait_until(lambda: self._ok(f"{self.approvals_url}/", self.approval_page), timeout_s=30,
                       what="the approval page")
            if self.mcp_server:
                self.mcp.start()
                wait_until(self._mcp_answers, timeout_s=30, what="pivot mcp --transport http")
            write_stack_file(self.stack_file, self.info())
        except BaseException:
            self.stop()
            raise

    def port_purposes(self) -> dict[int, str]:
        """Each port this stack will bind → what it is for."""
        names = [name for name in self.ports.__dataclass_fields__ if name != "mcp" or self.mcp_server]
        return {self.ports.of(name): PORT_PURPOSES[name] for name in names}

    def info(self) -> StackInfo:
        """What stack.json says: the addresses, the sandboxes' credentials as the service has them."""
        own = os.getpid()
        processes = (self.restate, self.postgres.process, self.sandboxes, self.service, self.approval_page,
                     *((self.mcp,) if self.mcp_server else ()))
        return StackInfo(
            pid=own, pid_start=start_ticks(own), ingress=self.ingress_url, admin=self.admin_url,
            service=self.service_url, approvals=self.approvals_url, mcp=self.mcp_url if self.mcp_server else None,
            mcp_token_required=bool(self.mcp.env.get("PIVOT_MCP_TOKEN")), sandboxes=self.sandbox_urls,
            credentials={name: self.service.env[name] for name in LOCAL_CREDENTIALS},
            approvers=list(self.approver_tokens), approvers_file=str(self.approvers_file), logs=str(self.log_dir),
            processes={proc.name: proc.pid for proc in processes if proc.pid is not None},
            postgres_dsn=self.service.env["PIVOT_POSTGRES_DSN"],
        )

    def stop(self) -> None:
        remove_stack_file(self.stack_file, os.getpid())
        for proc in (self.mcp, self.approval_page, self.service, self.sandboxes, self.restate):
            proc.stop()
        self.postgres.stop()
        if self.scratch_database:
            self.postgres.wipe()

    def __enter__(self) -> "Stack":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- readiness -------------------------------------------------------------------------
    def _ok(self, url: str, proc: ManagedProcess) -> bool:
        proc.check_alive()
        return httpx.get(url, timeout=1.0).status_code == 200

    def _mcp_answers(self) -> bool:
        """GET /mcp: 405 (a stateless server offers no stream), or 401 when PIVOT_MCP_TOKEN is set."""
        self.mcp.check_alive()
        return httpx.get(self.mcp_url, timeout=1.0).status_code in {401, 405}

    def wait_restate(self, timeout_s: float = 60.0) -> None:
        wait_until(lambda: self._ok(f"{self.admin_url}/health", self.restate), timeout_s=timeout_s,
                   what="restate-server admin health")
        wait_until(lambda: self._ok(f"{self.ingress_url}/restate/health", self.restate), timeout_s=timeout_s,
                   what="restate-server ingress health")

    def wait_postgres(self, timeout_s: float = 60.0) -> None:
        """A real connection, then Pivot's own tables (`pivot setup postgres`, idempotent)."""
        from pivot.providers.postgres.schema import ensure_schema

        self.postgres.wait_ready(timeout_s)
        ensure_schema(self.postgres.dsn)

    def wait_sandboxes(self, timeout_s: float = 30.0) -> None:
        for name, url in self.sandbox_urls.items():
            wait_until(lambda url=url: self._ok(f"{url}/_sandbox/health", self.sandboxes),  # type: ignore[misc]
                       timeout_s=timeout_s, what=f"{name} sandbox")

    def wait_service(self, timeout_s: float = 30.0) -> None:
        def discovered() -> bool:
            self.service.check_alive()
            response = httpx.get(f"{self.service_url}/discover", timeout=1.0,
                                 headers={"accept": "application/vnd.restate.endpointmanifest.v1+json"})
            return response.status_code in {200, 401, 415}
        wait_until(discovered, timeout_s=timeout_s, what="the Pivot service endpoint")

    def register(self, timeout_s: float = 60.0) -> None:
        """Register the service with Restate's admin API, then wait for a first successful call."""
        def registered() -> bool:
            self.restate.check_alive()
            response = httpx.post(f"{self.admin_url}/deployments", json={"uri": self.service_url, "force": True},
                                  timeout=10.0)
            return response.status_code in {200, 201}
        wait_until(registered, timeout_s=timeout_s, what="deployment registration", interval_s=0.2)

        def callable_() -> bool:
            response = httpx.post(f"{self.ingress_url}/SagaRun/readiness-probe/status", json=None, timeout=10.0)
            return response.status_code == 200
        wait_until(callable_, timeout_s=timeout_s, what="a first successful call through the ingress",
                   interval_s=0.2)

    def service_replica(self, number: int = 2) -> ManagedProcess:
        """Another service process with the same command and environment (not started). Both
        share the port only if the command has `--reuse-port` (see services/serve.py)."""
        return ManagedProcess(f"pivot-service-{number}", list(self.service.argv), env=dict(self.service.env),
                              cwd=PROJECT_ROOT, log_path=self.log_dir / f"service-{number}.log")

    # -- faults the tests inflict ----------------------------------------------------------
    def restart_service(self) -> None:
        """SIGKILL the service and start it again; Restate retries and replays the journal."""
        self.service.kill()
        self.service.start()
        self.wait_service()
        self._say_where()

    def restart_restate(self) -> None:
        self.restate.kill()
        self.restate.start()
        self.wait_restate()
        self._say_where()

    def _say_where(self) -> None:
        """stack.json names the processes running now (a restarted one has a new pid)."""
        if self.stack_file.exists():
            write_stack_file(self.stack_file, self.info())
