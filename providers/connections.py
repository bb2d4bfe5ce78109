"""Where each named connection of a provider lives and which credential it uses.

The default connection of a provider is configured as before (`PIVOT_<PROVIDER>_BASE_URL` and
the provider's credential variable, e.g. `STRIPE_API_KEY`). Other connections come from a
TOML file named by `PIVOT_CONNECTIONS_FILE`:

    [stripe.eu]                              # provider "stripe", connection "eu"
    base_url = "https://api.stripe.com"      # optional: the provider's base URL by default
    credential_env = "STRIPE_EU_API_KEY"     # the variable that holds the credential, or:
    # credential = "sk_live_…"               # the credential itself (keep the file private)

or from the environment: `PIVOT_CONNECTION__STRIPE__EU__BASE_URL`,
`PIVOT_CONNECTION__STRIPE__EU__CREDENTIAL_ENV` (or `…__CREDENTIAL`).

Names are read when the catalog is built (a plan naming an unknown connection is refused before
anything runs); credentials are read at request time, inside the step, and never leave this
module except in the one Authorization header they are for.
"""

import functools
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator

from pivot.compensations.connections import CONNECTION_PATTERN, DEFAULT_CONNECTION
from pivot.compensations.errors import ProviderRejected

FILE_ENV = "PIVOT_CONNECTIONS_FILE"
ENV_PREFIX = "PIVOT_CONNECTION__"
_ENV_KEY = re.compile(r"^PIVOT_CONNECTION__([A-Z0-9]+)__([A-Z0-9_-]+)__(BASE_URL|CREDENTIAL_ENV|CREDENTIAL)$")


class ConnectionsError(ValueError):
    """The connections configuration cannot be read; the message says where and why."""


class ConnectionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = None
    credential_env: str | None = None
    credential: SecretStr | None = None

    @model_validator(mode="after")
    def _one_credential(self) -> "ConnectionSpec":
        if (self.credential_env is None) == (self.credential is None):
            raise ValueError("give exactly one of credential_env and credential")
        return self


Connections = Mapping[str, Mapping[str, ConnectionSpec]]
"""provider → connection name → where it lives and which credential it uses."""


@dataclass(frozen=True)
class Resolved:
    base_url: str
    credential: str


def _checked_name(provider: str, name: str, where: str) -> None:
    if not re.fullmatch(CONNECTION_PATTERN, name) or name == DEFAULT_CONNECTION:
        raise ConnectionsError(f"{where}: connection name '{provider}.{name}' must match {CONNECTION_PATTERN} and "
                               f"not be '{DEFAULT_CONNECTION}' (the default comes from the provider's own settings)")


def _from_file(path: Path) -> dict[str, dict[str, ConnectionSpec]]:
    try:
        return _parsed(path, path.stat().st_mtime_ns)
    except OSError as exc:
        raise ConnectionsError(f"{FILE_ENV}={path}: {exc}") from None


@functools.lru_cache(maxsize=4)
def _parsed(path: Path, mtime_ns: int) -> dict[str, dict[str, ConnectionSpec]]:
    """The file's table, parsed once per version of the file (credentials are read per request)."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConnectionsError(f"{FILE_ENV}={path}: {exc}") from None
    table: dict[str, dict[str, ConnectionSpec]] = {}
    for provider, named in raw.items():
        if not isinstance(named, dict):
            raise ConnectionsError(f"{path}: [{provider}] must hold tables like [{provider}.eu]")
        for name, spec in named.items():
            _checked_name(provider, name, str(path))
            try:
                table.setdefault(provider, {})[name] = ConnectionSpec.model_validate(spec)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise ConnectionsError(f"{path}: [{provider}.{name}]: {problems}") from None
    return table


def _from_environment(environ: Mapping[str, str]) -> dict[str, dict[str, ConnectionSpec]]:
    fields: dict[tuple[str, str], dict[str, str]] = {}
    for key, value in environ.items():
        match = _ENV_KEY.match(key)
        if match:
            provider, name, field_name = match.group(1).lower(), match.group(2).lower(), match.group(3).lower()
            fields.setdefault((provider, name), {})[field_name] = value
    table: dict[str, dict[str, ConnectionSpec]] = {}
    for (provider, name), values in fields.items():
        _checked_name(provider, name, f"{ENV_PREFIX}{provider.upper()}__{name.upper()}__*")
        try:
            table.setdefault(provider, {})[name] = ConnectionSpec.model_validate(values)
        except ValidationError as exc:
            raise ConnectionsError(f"{ENV_PREFIX}{provider.upper()}__{name.upper()}__*: "
                                   f"{exc.errors()[0]['msg']}") from None
    return table


def load(environ: Mapping[str, str] | None = None) -> dict[str, dict[str, ConnectionSpec]]:
    """Every configured connection besides the defaults: the file's, then the environment's."""
    environ = os.environ if environ is None else environ
    table: dict[str, dict[str, ConnectionSpec]] = {}
    path = environ.get(FILE_ENV)
    if path:
        for provider, named in _from_file(Path(path)).items():
            table.setdefault(provider, {}).update(named)
    for provider, named in _from_environment(environ).items():
        table.setdefault(provider, {}).update(named)
    return table


def names(connections: Connections) -> dict[str, frozenset[str]]:
    return {provider: frozenset(named) for provider, named in connections.items()}


def spec_of(provider: str, name: str) -> ConnectionSpec:
    spec = load().get(provider, {}).get(name)
    if spec is None:
        raise ProviderRejected("unknown_connection", f"{provider} has no connection '{name}' configured")
    return spec


def credential_source(provider: str, name: str) -> str:
    """Where a connection's credential comes from, in words (never the value)."""
    spec = spec_of(provider, name)
    if spec.credential_env:
        return spec.credential_env
    return f"the credential of connection '{provider}.{name}' in {FILE_ENV} or {ENV_PREFIX}*"


def resolve(provider: str, name: str, default_base_url: str) -> Resolved:
    """A connection's base URL and credential, read now (a rotated credential takes effect on the
    next request). Raises `ProviderRejected` when the connection or its credential is missing."""
    spec = spec_of(provider, name)
    if spec.credential is not None:
        credential = spec.credential.get_secret_value()
    else:
        credential = os.environ.get(spec.credential_env or "", "")
    if not credential:
        raise ProviderRejected("missing_credentials",
                               f"{provider} connection '{name}': the environment variable {spec.credential_env} is "
                               "not set")
    return Resolved(base_url=(spec.base_url or default_base_url).rstrip("/"), credential=credential)
