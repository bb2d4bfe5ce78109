"""What `pivot setup` and `pivot doctor` ask of each provider account, in one shape for all of them.

A provider module offers an `Account` for its client: `checks()` looks at the account the way a
saga will use it (the credentials work, the scopes or permissions the catalog's actions need
are granted, Pivot's key carriers exist, the API version is one Pivot speaks, the clock agrees,
there is rate-limit headroom); `setup()` creates the key carriers the provider's API lets it
create, idempotently, and says in words what must be done by hand for the rest. Neither ever
returns a credential: these results are printed and may be stored.
"""

from typing import Literal, Protocol

from pydantic import BaseModel, Field

CheckName = Literal["credentials", "scopes", "key carriers", "api version", "clock", "rate limit", "reachable"]
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
