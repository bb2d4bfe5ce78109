"""What `pivot setup` and `pivot doctor` ask of each provider account, in one shape for all of them.

A provider module offers an `Account` for its client: `checks()` looks at the account the way a
saga will use it (the credentials work, the scopes or permissions the catalog's actions need
are granted, Pivot's key carriers exist, the API version is one Pivot speaks, the clock agrees,
there is rate-limit headroom); `setup()` creates the key carriers the provider's API lets it
create, idempotently, and says in words what must be done by hand for the rest. Neither ever
returns a credential: these results are printed and may be stored.
"""

import email.utils
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, Field

CheckName = Literal["credentials", "scopes", "key carriers", "api version", "clock", "rate limit", "reachable",
                    "permissions", "approvals"]
API_CHECKS: tuple[CheckName, ...] = ("credentials", "scopes", "key carriers", "api version", "clock", "rate limit",
                                     "reachable")
"""What doctor checks of an HTTP API's account; a database's adds `permissions` (its grants)."""
SetupState = Literal["exists", "created", "would create", "manual"]

MAX_CLOCK_SKEW_S = 60.0
"""Beyond this, Restate's request signatures and providers' signed webhooks start failing."""


class Check(BaseModel):
    """One line of `pivot doctor`: ok, or the problem and its fix."""

    provider: str
    connection: str = "default"
    name: CheckName
    ok: bool
    detail: str = Field(description="What was found, in a sentence")
    fix: str = Field(default="", description="What to do about it, when not ok")


class SetupStep(BaseModel):
    """One thing `pivot setup` did, would do (`--dry-run`), found in place, or leaves to a person."""

    provider: str
    connection: str = "default"
    what: str = Field(description="The object, e.g. 'contacts property pivot_key'")
    state: SetupState
    detail: str = ""


class Account(Protocol):
    """A provider account as setup and doctor see it, through the same client the sagas use."""

    provider: str

    async def checks(self) -> list[Check]:
        """Every check, each one independent: a failing check never hides the others."""
        ...

    async def setup(self, *, dry_run: bool) -> list[SetupStep]:
        """Create what is missing (nothing when `dry_run`); running it twice changes nothing."""
        ...


def clock_skew_s(date_header: str | None, received_at: float) -> float | None:
    """Provider clock minus local clock, from an HTTP `Date` header (1 s resolution)."""
    if not date_header:
        return None
    try:
        return email.utils.parsedate_to_datetime(date_header).timestamp() - received_at
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Probe:
    """The answer to an account's first request, or why there was none (then doctor reports that
    one cause, since every other check would only repeat it)."""

    response: httpx.Response | None
    received_at: float
    unreachable: str = ""
    no_credential: str = ""
    rate_limited: str = ""


class AccountBase:
    """What every provider's `Account` shares: its name and connection on every line it reports,
    and where the connection in use lives (its base URL, and what holds its credential, in words)."""

    provider: str
    label: str
    """The provider's name as people write it ("HubSpot")."""
    connection: str = "default"
    client: Any
    """The provider's client; its `http` (`pivot.providers.http.ProviderHTTP`) follows the connection in use."""
    clock: Callable[[], float] = time.time
    """This host's time (an account may be given another, to test the clock check)."""

    @property
    def url(self) -> str:
        return str(self.client.http.base_url())

    @property
    def credential_env(self) -> str:
        return str(self.client.http.credential_source())

    def _check(self, name: CheckName, ok: bool, detail: str, fix: str = "") -> Check:
        return Check(provider=self.provider, connection=self.connection, name=name, ok=ok, detail=detail,
                     fix="" if ok else fix)

    def _step(self, what: str, state: SetupState, detail: str) -> SetupStep:
        return SetupStep(provider=self.provider, connection=self.connection, what=what, state=state, detail=detail)


    async def _probe_with(self, call: Callable[[], Awaitable[httpx.Response]], *, rate_limits: bool = False) -> Probe:
        """Make the account's first request; no credential or no answer is recorded, not raised (the
        provider's `ProviderRejected` / `ProviderUnavailable`). With `rate_limits`, a 429 the client
        turned into a wait is recorded as such (else it counts as no answer)."""
        from pivot.compensations.errors import ProviderRejected, ProviderUnavailable

        try:
            response = await call()
        except ProviderRejected as refused:  # the credential is not configured
            return Probe(None, self.clock(), no_credential=refused.info.message)
        except ProviderUnavailable as down:
            if rate_limits and down.retry_after_s is not None:
                return Probe(None, self.clock(), rate_limited=down.message)
            return Probe(None, self.clock(), unreachable=f"{self.label} did not answer at {self.url}: {down.message}")
        return Probe(response, self.clock())

    def _clock_check(self, date_header: str | None, received_at: float) -> Check:
        """This host's clock against the provider's `Date` header."""
        skew = clock_skew_s(date_header, received_at)
        if skew is None:
            return self._check("clock", False, f"{self.label}'s answer had no readable Date header",
                               f"check that nothing between this host and {self.label} rewrites its answers")
        if abs(skew) > MAX_CLOCK_SKEW_S:
            return self._check("clock", False, f"this host's clock is {abs(skew):.0f}s "
                               f"{'behind' if skew > 0 else 'ahead of'} {self.label}'s (at most "
                               f"{MAX_CLOCK_SKEW_S:.0f}s is safe: signatures fail beyond it)",
                               "synchronise this host's clock (NTP)")
        return self._check("clock", True, f"within {max(abs(skew), 1.0):.0f}s of {self.label}'s Date header")
