"""Who may reach `pivot mcp --transport http`: the bearer token, the Host/Origin allow-list, and
the rule that nothing is served beyond loopback without a token.

Every tool writes through Pivot with the service's provider credentials, so a caller of this
server can create invoices. On loopback only local processes reach it, and the MCP SDK checks
Host and Origin (a web page that rebinds a DNS name to 127.0.0.1 is refused). Bound anywhere
else, the SDK turns that check off by itself, and anyone on the network could call the tools:
so off loopback a token is required (`PIVOT_MCP_TOKEN`; `--insecure-no-token` is the only way
around it, and says so loudly), and Host/Origin stay checked against the names given with
`--allow-host` (the names clients use to reach the server, e.g. behind a TLS proxy).

The SDK is an optional dependency: this module builds plain lists, and `mcp_http` hands them to
the SDK's `TransportSecuritySettings`.
"""

import hmac
import ipaddress
import json
import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from pivot.compensations.error_body import ErrorBody

LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
"""What the SDK allows on a loopback bind (its own default): any port of the loopback names."""

UNAUTHORIZED = json.dumps(ErrorBody(code="unauthorized", message="send Authorization: Bearer <token>",
                                   status=401).body()).encode()
"""The 401's body: Pivot's one error shape, as on every other surface."""

_HOST_NAME = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::[0-9]{1,5})?$")


class BearerToken:
    """Refuse (401) any HTTP request without `Authorization: Bearer <token>`.

    The scheme is matched without regard to case (RFC 9110 §11.1: `bearer` is the same scheme);
    the token itself is compared exactly, in constant time, so the answer's timing does not leak
    how much of a guess was right. Lifespan events pass through: they are the server's own."""

    def __init__(self, app: ASGIApp, token: str):
        self._app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(scope):
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
            await send({"type": "http.response.body",
                        "body": UNAUTHORIZED})
            return
        await self._app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        given = next((value for name, value in scope.get("headers", []) if name.lower() == b"authorization"), b"")
        scheme, _, credentials = bytes(given).partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.lstrip(b" "), self._token)


def is_loopback(host: str) -> bool:
    """Whether a bind host (brackets stripped) only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allow_host(value: str) -> str:
    """An `--allow-host` value: `name` or `name:port` (IPv6 in brackets), as a client's Host header
    carries it. Not a URL: Origins are derived from it (http and https)."""
    if not _HOST_NAME.match(value):
        raise ValueError(f"--allow-host wants a host name, optionally with :PORT (e.g. mcp.example.com or "
                         f"mcp.example.com:9096), not a URL or pattern; got {value!r}")
    return value.lower()


@dataclass(frozen=True)
class HttpAccess:
    """What the HTTP transport lets through: the token (None: no token asked) and the Host and
    Origin header values the SDK's DNS-rebinding protection allows (`name:*` = any port)."""

    token: str | None
    allowed_hosts: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    warning: str | None = None
    """Printed once at start: serving beyond loopback without a token (`--insecure-no-token`)."""


def _origins(host: str) -> list[str]:
    return [f"{scheme}://{host}" for scheme in ("http", "https")]


def http_access(host: str, port: int, token: str | None, allow_hosts: tuple[str, ...] = (),
                insecure_no_token: bool = False) -> HttpAccess:
    """The access rules for serving on `host:port`; ValueError when it must not be served so.

    Each allowed name without a port is allowed on any port (a proxy in front may use 443 or
    another). A specific bind address is allowed as itself; an unspecified one (0.0.0.0, ::) names
    no host, so then `--allow-host` is required: without it every request would be refused."""
    names = [allow_host(value) for value in allow_hosts]
    bind_address = f"[{host}]" if ":" in host else host
    if is_loopback(host):
        hosts = [*LOOPBACK_HOSTS, f"{bind_address}:*"]
        origins = [f"http://{pattern}" for pattern in hosts]
    else:
        hosts, origins = [], []
        if not _unspecified(host):
            hosts.append(f"{bind_address}:{port}")
            origins += _origins(f"{bind_address}:{port}")
        elif not names:
            raise ValueError(f"--bind {bind_address}:{port} listens on every address: name the host(s) clients "
                             "reach it by with --allow-host (Host and Origin headers are checked against them)")
    for name in names:
        patterns = [name] if _has_port(name) else [name, f"{name}:*"]
        hosts += patterns
        origins += [origin for pattern in patterns for origin in _origins(pattern)]
    warning = None
    if not is_loopback(host) and not token:
        if not insecure_no_token:
            raise ValueError(f"--bind {bind_address}:{port} is not a loopback address: set PIVOT_MCP_TOKEN (a bearer "
                             "token every request must carry), or pass --insecure-no-token to serve without one")
        warning = (f"WARNING: serving on {bind_address}:{port} WITHOUT A TOKEN (--insecure-no-token): anyone who can "
                   "reach this address can write through Pivot with its provider credentials")
    return HttpAccess(token=token, allowed_hosts=tuple(dict.fromkeys(hosts)),
                      allowed_origins=tuple(dict.fromkeys(origins)), warning=warning)


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def _has_port(name: str) -> bool:
    return name.rpartition("]")[2].count(":") == 1 if name.startswith("[") else ":" in name
