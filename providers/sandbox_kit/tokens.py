"""Which credentials a sandbox accepts, and with which scopes: the instrument behind doctor's tests.

Real accounts refuse a credential they did not issue or that was revoked (401), and a credential
without a scope an endpoint needs (403, or Slack's `missing_scope`). A sandbox accepts the
credentials it was configured with (`credentials.accepted_credentials`), with every scope, and
refuses every other one; a test registers a credential to add it, to narrow its scopes, or to
revoke it:

    POST   /_sandbox/tokens  {"token": "xoxb-narrow", "scopes": ["chat:write"]}   # accepted, only these scopes
    POST   /_sandbox/tokens  {"token": "xoxb-gone", "revoked": true}            # refused as revoked
    GET    /_sandbox/tokens  → {"tokens": [{"token": "xoxb-…", "scopes": […], "revoked": false}]}
    DELETE /_sandbox/tokens  → back to the configured credentials alone

Each provider's sandbox asks `TokenBook.known(token)` and `TokenBook.missing(token, scopes)` where
it authenticates, and answers in its own wire format. The listing shows registered credentials
only, never the configured ones: the instrument routes need no credential. The book holds test
credentials only (never a real secret).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route


class TokenRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=500)
    scopes: list[str] | None = Field(default=None, description="The granted scopes; null: every scope")
    revoked: bool = False


@dataclass
class TokenBook:
    accepted: frozenset[str] = frozenset()
    """The credentials the sandbox was configured with: kept by `clear` (a reset)."""
    rules: dict[str, TokenRule] = field(default_factory=dict)

    def register(self, rule: TokenRule) -> None:
        self.rules[rule.token] = rule

    def clear(self) -> None:
        self.rules.clear()

    def known(self, token: str) -> bool:
        """True for a configured or registered credential that is not revoked; False is the provider's 401."""
        rule = self.rules.get(token)
        if rule is not None:
            return not rule.revoked
        return token in self.accepted

    def revoked(self, token: str) -> bool:
        """True for a credential registered as revoked (some providers word that 401 differently)."""
        rule = self.rules.get(token)
        return rule is not None and rule.revoked

    def scopes(self, token: str) -> list[str] | None:
        """The credential's scopes, or None when it has every scope."""
        rule = self.rules.get(token)
        return None if rule is None else rule.scopes

    def missing(self, token: str, needed: Iterable[str]) -> list[str]:
        """The scopes of `needed` the credential lacks (empty: it may go on)."""
        granted = self.scopes(token)
        return [] if granted is None else [scope for scope in needed if scope not in granted]


def token_routes(book: TokenBook) -> list[BaseRoute]:
    async def register(request: Request) -> Response:
        rule = TokenRule.model_validate(await request.json())
        book.register(rule)
        return JSONResponse(rule.model_dump(), status_code=201)

    async def listing(request: Request) -> Response:
        return JSONResponse({"tokens": [rule.model_dump() for rule in book.rules.values()]})

    async def clear(request: Request) -> Response:
        book.clear()
        return JSONResponse({"cleared": True})

    return [Route("/_sandbox/tokens", register, methods=["POST"]),
            Route("/_sandbox/tokens", listing, methods=["GET"]),
            Route("/_sandbox/tokens", clear, methods=["DELETE"])]
