"""The one HTTP layer every provider client shares.

It owns what must be identical across providers: timeouts, the transient / ambiguous /
terminal classification of transport failures and status codes, Retry-After, and the rule that
a credential is read from the environment at request time and never appears in an error.
Providers add only their own error bodies on top (redacted before a saga stores them, see
providers/redaction.py).
"""

import asyncio
import email.utils
import functools
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from pivot.compensations.connections import DEFAULT_CONNECTION, current_connection
from pivot.compensations.errors import ProviderRejected, ProviderUnavailable
from pivot.providers import connections
from pivot.providers.redaction import redact

DEFAULT_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 32
"""Per provider and process. Requests beyond it wait on a semaphore, not in httpcore's pool,
whose queue handling is quadratic (seen: 600 sagas resuming at once pegged the service)."""
LANE_CONNECTIONS = 8
"""Connections per lane (one httpx client each). httpcore checks every pooled connection on each
request and each response (keep-alive expiry, plus a poll() of the socket of every idle one), so
the cost of a request grows with the pool: with one pool of 32, that check was a third of the
service's CPU when 1,000 sagas resumed (bench/RESULTS.md §5). Lanes of 8 keep it small."""
MAX_RETRY_AFTER_S = 300.0


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a provider lives and which environment variable holds its credential.

    The credential's *name* is configuration; its value is read per request and never stored
    on an object that could end up in a journal, a state value or a log line.
    """

    provider: str
    base_url: str
    credential_env: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    label: str = ""
    """The provider's name as people write it ("HubSpot"), for error messages."""

    @classmethod
    def from_env(cls, provider: str, default_base_url: str, credential_env: str, label: str) -> "Endpoint":
        prefix = f"PIVOT_{provider.upper()}"
        return cls(
            provider=provider,
            label=label,
            base_url=os.environ.get(f"{prefix}_BASE_URL", default_base_url).rstrip("/"),
            credential_env=os.environ.get(f"{prefix}_CREDENTIAL_ENV", credential_env),
            timeout_s=float(os.environ.get("PIVOT_HTTP_TIMEOUT_S", DEFAULT_TIMEOUT_S)),
        )


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process: building one loads the CA bundle (tens of ms), and every
    lane of every provider can share it."""
    return httpx.create_ssl_context()


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Parse Retry-After (seconds or an HTTP date), capped so a bad header cannot park a step."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is None:
            return None
        seconds = parsed.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class ProviderHTTP:
    """An httpx client for one provider, with connection reuse and failure classification."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        auth_scheme: str = "Bearer",
        auth_header: str = "Authorization",
        response_hooks: Sequence[Callable[[httpx.Response], Awaitable[None]]] = (),
    ):
        """`response_hooks` see every response first (httpx event hooks): a provider uses them
        for rules that must win over the generic classification (e.g. a replayed 5xx)."""
        self.endpoint = endpoint
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        self._auth_scheme = auth_scheme
        self._auth_header = auth_header
        self._lanes = [
            httpx.AsyncClient(
                base_url=endpoint.base_url,
                # No pool timeout: waiting for one of our own connections is local back-pressure, not a
                # provider failure, and must not spend a step's retry budget (seen with 300 sagas
                # resuming at once). Connect, read and write stay bounded.
                timeout=httpx.Timeout(endpoint.timeout_s, connect=min(5.0, endpoint.timeout_s), pool=None),
                limits=httpx.Limits(max_connections=LANE_CONNECTIONS, max_keepalive_connections=LANE_CONNECTIONS),
                headers={"User-Agent": "pivot/0.1"},
                verify=_tls(),
                event_hooks={"response": list(response_hooks)},
            )
            for _ in range(-(-MAX_CONNECTIONS // LANE_CONNECTIONS))
        ]
        self._busy = [0] * len(self._lanes)

    @property
    def in_flight_window(self) -> timedelta:
        """How long after we gave up on a request it may still land: the timeout, plus a margin."""
        return timedelta(seconds=self.endpoint.timeout_s + 1.0)

    @property
    def name(self) -> str:
        return self.endpoint.label or self.endpoint.provider

    def _target(self) -> tuple[str, str]:
        """(base URL, credential) of the connection this request belongs to, read now: the default
        one from the environment, a named one from providers/connections.py."""
        name = current_connection()
        if name != DEFAULT_CONNECTION:
            resolved = connections.resolve(self.endpoint.provider, name, self.endpoint.base_url)
            return resolved.base_url, resolved.credential
        value = os.environ.get(self.endpoint.credential_env)
        if not value:
            raise ProviderRejected(
                "missing_credentials",
                f"{self.name}: the environment variable {self.endpoint.credential_env} is not set",
            )
        return self.endpoint.base_url, value

    def base_url(self) -> str:
        """The base URL of the connection in use now (for messages: never a secret)."""
        name = current_connection()
        if name == DEFAULT_CONNECTION:
            return self.endpoint.base_url
        return (connections.spec_of(self.endpoint.provider, name).base_url or self.endpoint.base_url).rstrip("/")

    def credential(self) -> str:
        """The credential of the connection in use now, for the rare API that wants it in a request
        body (HubSpot's token introspection). Never log it, return it from a step, or store it."""
        return self._target()[1]

    def credential_source(self) -> str:
        """Where the current connection's credential comes from, in words: what a fix should name."""
        name = current_connection()
        if name == DEFAULT_CONNECTION:
            return self.endpoint.credential_env
        return connections.credential_source(self.endpoint.provider, name)


    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        data: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        passthrough: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """Send one request. Raises `ProviderUnavailable` for anything worth retrying; returns
        every other response (2xx and 4xx) for the provider to interpret, and the statuses in
        `passthrough` too (e.g. a 429 whose body says how long to wait)."""
        base_url, credential = self._target()
        auth = f"{self._auth_scheme} {credential}" if self._auth_scheme else credential
        all_headers = {self._auth_header: auth, **(headers or {})}
        # The client's base URL is the default connection's; another connection's is given whole.
        url = path if base_url == self.endpoint.base_url else f"{base_url}{path}"
        try:
            async with self._slots:
                # The least busy lane, the first among equals: a light load stays on few connections,
                # and a lane never queues inside httpcore (the slots cap the total at the lanes' sum).
                lane = self._busy.index(min(self._busy))
                self._busy[lane] += 1
                try:
                    response = await self._lanes[lane].request(
                        method, url, params=params, data=data, json=json, headers=all_headers
                    )
                finally:
                    self._busy[lane] -= 1
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # The request never left: retrying cannot double anything.
            raise ProviderUnavailable(f"{self.name}: cannot connect ({type(exc).__name__})") from None
        except httpx.TimeoutException:
            raise ProviderUnavailable(
                f"{self.name}: no answer to {method} {path} within {self.endpoint.timeout_s:g}s",
                ambiguous=True,
            ) from None
        except httpx.TransportError as exc:
            raise ProviderUnavailable(
                redact(f"{self.name}: connection failed during {method} {path} ({type(exc).__name__})",
                       (credential,)),
                ambiguous=True,
            ) from None
        if response.status_code in passthrough:
            return response
        if response.status_code == 429:
            raise ProviderUnavailable(
                f"{self.name} rate-limited {method} {path} (429)",
                retry_after_s=retry_after_seconds(response),
            )
        if response.status_code >= 500:
            raise ProviderUnavailable(
                f"{self.name} answered {response.status_code} to {method} {path}",
                retry_after_s=retry_after_seconds(response),
                ambiguous=True,
            )
        return response

    async def aclose(self) -> None:
        for lane in self._lanes:
            await lane.aclose()


def json_body(response: httpx.Response) -> Any:
    """The JSON body, or a terminal error naming the provider when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        raise ProviderRejected(
            "bad_response", f"answered {response.status_code} with a body that is not JSON"
        ) from None
