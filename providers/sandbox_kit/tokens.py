"""Which credentials a sandbox accepts, and with which scopes: the instrument behind doctor's tests.

Real accounts refuse a revoked token (401) and a token without a scope an endpoint needs (403,
or Slack's `missing_scope`). A sandbox accepts any well-formed credential by default, with every
scope, so the local stack and the suite need no setup; a test registers a credential to make it
bad, or to narrow its scopes:

    POST   /_sandbox/tokens  {"token": "xoxb-narrow", "scopes": ["chat:write"]}   # only these scopes
    POST   /_sandbox/tokens  {"token": "xoxb-gone", "revoked": true}            # refused as invalid
    GET    /_sandbox/tokens  → {"tokens": [{"token": "xoxb-…", "scopes": […], "revoked": false}]}
    DELETE /_sandbox/tokens  → back to "everything is accepted"

Each provider's sandbox asks `TokenBook.allows(token, scope)` where it authenticates, and
answers in its own wire format. The book holds test credentials only (never a real secret).
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
    rules: dict[str, TokenRule] = field(default_factory=dict)

    def register(self, rule: TokenRule) -> None:
        self.rules[rule.token] = rule

    def clear(self) -> None:
        self.rules.clear()

    def known(self, token: str) -> bool:
        """False for a revoked credential (the provider's 401); unregistered ones are accepted."""
        rule = self.rules.get(token)
        return rule is None or not rule.revoked

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
