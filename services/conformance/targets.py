"""Where each provider a conformance run touches really lives, and how the service is pointed at the
proxy in front of it instead.

A provider's target is, in this order: the named connection's base URL (`--connection NAME`);
`PIVOT_<PROVIDER>_BASE_URL` as set where `pivot conformance` runs (a real test account, or any
API); else, for a provider that ships a sandbox, the run's own sandbox. A provider with none of
these cannot be run (the proxy has to know where to forward).

Two processes act on the target: the Pivot service (its requests go through the proxy, that is
what is under test) and the runner's judge (the action's own `lookup`, `find_all`, `example`,
`tamper`, which go straight to the target, so that judging adds no request to the evidence and
meets no fault).
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pivot.compensations.connections import DEFAULT_CONNECTION
from pivot.providers import connections
from pivot.providers.sandbox_kit.credentials import LOCAL_CREDENTIALS
from pivot.services.catalog import CREDENTIAL_ENV
from pivot.services.local.stack import SANDBOXED_PROVIDERS

PASSED_THROUGH = ("PIVOT_CATALOG_PLUGINS", connections.FILE_ENV, "PIVOT_POSTGRES_TABLES")
"""The runner's own settings the service must share (the local stack gives it no other PIVOT_*)."""


class NoTarget(ValueError):
    """A provider the run cannot reach: the message says what to set."""


@dataclass(frozen=True)
class Target:
    provider: str
    url: str
    """Where requests really go."""
    sandbox: bool
    """The run's own sandbox (its ledger may add evidence) rather than a real account."""
    connection: str = DEFAULT_CONNECTION

    def base_url_env(self) -> str:
        """The variable that points the service at this provider (the connection's own, if named)."""
        if self.connection == DEFAULT_CONNECTION:
            return f"PIVOT_{self.provider.upper()}_BASE_URL"
        return f"{connections.ENV_PREFIX}{self.provider.upper()}__{self.connection.upper()}__BASE_URL"

    def describe(self) -> str:
        where = "the run's sandbox" if self.sandbox else "a real API"
        account = "" if self.connection == DEFAULT_CONNECTION else f", connection '{self.connection}'"
        return f"{self.url} ({where}{account})"


DATABASE_PROVIDERS = {"postgres": "PIVOT_POSTGRES_DSN"}
"""Providers reached over a database protocol (a TCP proxy in front), by the variable naming the database."""


def database_address(dsn: str) -> str:
    """`postgresql://host:port/dbname` of a DSN (URL or key=value), without its credentials."""
    from psycopg.conninfo import conninfo_to_dict

    parts = conninfo_to_dict(dsn)
    return f"postgresql://{parts.get('host') or '127.0.0.1'}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


def database_dsn_through(dsn: str, host: str, port: int) -> str:
    """The same DSN, connecting to `host:port` (the proxy) instead."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    return make_conninfo("", **{**conninfo_to_dict(dsn), "host": host, "port": str(port)})


def resolve(provider: str, connection: str, sandbox_urls: Mapping[str, str],
            environ: Mapping[str, str] | None = None) -> Target:
    env = os.environ if environ is None else environ
    if provider in DATABASE_PROVIDERS:
        if connection != DEFAULT_CONNECTION:
            raise NoTarget(f"{provider} has no named connections: set {DATABASE_PROVIDERS[provider]}")
        dsn = env.get(DATABASE_PROVIDERS[provider])
        if dsn:
            return Target(provider, database_address(dsn), sandbox=False)
        return Target(provider, sandbox_urls[provider], sandbox=True)
    if connection != DEFAULT_CONNECTION:
        spec = connections.load(env).get(provider, {}).get(connection)
        if spec is None:
            raise NoTarget(f"{provider} has no connection '{connection}' configured ({connections.FILE_ENV} or "
                           f"{connections.ENV_PREFIX}{provider.upper()}__{connection.upper()}__*)")
        if not spec.base_url:
            raise NoTarget(f"connection '{provider}.{connection}' names no base_url: conformance puts a proxy in "
                           "front of it and must know where to forward")
        return Target(provider, spec.base_url.rstrip("/"), sandbox=False, connection=connection)
    configured = env.get(f"PIVOT_{provider.upper()}_BASE_URL")
    if configured:
        return Target(provider, configured.rstrip("/"), sandbox=False)
    if provider in SANDBOXED_PROVIDERS:
        return Target(provider, sandbox_urls[provider], sandbox=True)
    raise NoTarget(f"no target for provider '{provider}': set PIVOT_{provider.upper()}_BASE_URL to its API (a test "
                   "account), or name a connection with --connection")


def service_environment(targets: Mapping[str, Target], proxy_urls: Mapping[str, str],
                        environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the service needs beyond the local stack's defaults: each target's base URL pointed at
    its proxy, the runner's plugins and connections, and the real credential of a built-in provider
    that targets a real account (the stack would otherwise hand it the sandbox's fake)."""
    env = os.environ if environ is None else environ
    service = {name: env[name] for name in PASSED_THROUGH if env.get(name)}
    service |= {name: value for name, value in env.items() if name.startswith(connections.ENV_PREFIX)}
    for provider, target in targets.items():
        if provider in DATABASE_PROVIDERS:
            continue  # its DSN, through the TCP proxy, is the session's to set (services/conformance/session.py)
        service[target.base_url_env()] = proxy_urls[provider]
        if target.connection != DEFAULT_CONNECTION:
            service |= _connection_credential(provider, target.connection, env)
        credential_env = env.get(f"PIVOT_{provider.upper()}_CREDENTIAL_ENV") or CREDENTIAL_ENV.get(provider)
        if not target.sandbox and target.connection == DEFAULT_CONNECTION and credential_env:
            if f"PIVOT_{provider.upper()}_CREDENTIAL_ENV" in env:
                service[f"PIVOT_{provider.upper()}_CREDENTIAL_ENV"] = credential_env
            if env.get(credential_env):
                service[credential_env] = env[credential_env]
    return service


def _connection_credential(provider: str, name: str, env: Mapping[str, str]) -> dict[str, str]:
    """The named connection's credential, as environment beside its proxied base URL (the service
    reads a connection from the environment whole: base URL and credential together)."""
    spec = connections.load(env)[provider][name]
    prefix = f"{connections.ENV_PREFIX}{provider.upper()}__{name.upper()}__"
    if spec.credential is not None:
        return {f"{prefix}CREDENTIAL": spec.credential.get_secret_value()}
    variable = spec.credential_env or ""
    return {f"{prefix}CREDENTIAL_ENV": variable, **({variable: env[variable]} if variable in env else {})}


def judge_environment(targets: Mapping[str, Target]) -> dict[str, str]:
    """What the runner's own process sets before it builds its catalog, so that each action's judge
    reaches the target directly: a sandbox's URL and the fake credential it accepts."""
    judge: dict[str, str] = {}
    for provider, target in targets.items():
        if target.sandbox and provider not in DATABASE_PROVIDERS:
            judge[target.base_url_env()] = target.url
            judge[CREDENTIAL_ENV[provider]] = LOCAL_CREDENTIALS[provider]
    return judge
