"""Who may call the HubSpot sandbox, with which scopes, and the token-introspection call.

A private-app token carries granular scopes (`crm.objects.contacts.write`,
`crm.schemas.deals.read`, …). HubSpot refuses a missing or revoked token with 401
INVALID_AUTHENTICATION and a call outside the token's scopes with 403 MISSING_SCOPES, naming the
scope in `errors[].context.requiredGranularScopes`. A private app learns its own scopes from
`POST /oauth/v2/private-apps/get/access-token-info {"tokenKey": …}`.

The sandbox takes both from the kit's token book: a token it was not configured with is refused
like a missing one (401 INVALID_AUTHENTICATION, "Authentication credentials not found", which is
what HubSpot answers to a wrong private-app token too); a configured token has every scope; a test
registers a token to revoke it or narrow it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pivot.providers.hubspot.sandbox.wire import HubSpotError, validation
from pivot.providers.sandbox_kit import read_json_object
from pivot.providers.sandbox_kit.tokens import TokenBook

OBJECT_TYPES = ("contacts", "deals")
ALL_SCOPES = ("oauth", *(f"crm.{family}.{object_type}.{access}" for family in ("objects", "schemas")
                         for object_type in OBJECT_TYPES for access in ("read", "write")))
"""Every scope this sandbox knows: what a configured token is granted."""
SCOPES_DOC = "https://developers.hubspot.com/scopes"
TOKEN_INFO_PATH = "/oauth/v2/private-apps/get/access-token-info"
HUB_ID = 20_240_601
APP_ID = 3_100_042
USER_ID = 77_001


def scope_for(family: str, object_type: str, *, write: bool) -> str:
    """The granular scope an endpoint needs: `crm.objects.contacts.read`, `crm.schemas.deals.write`, …"""
    return f"crm.{family}.{object_type}.{'write' if write else 'read'}"


def unauthenticated() -> HubSpotError:
    return HubSpotError(
        401,
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
        "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        "INVALID_AUTHENTICATION",
    )


def missing_scopes(scopes: list[str]) -> HubSpotError:
    return HubSpotError(
        403,
        "This app hasn't been granted all required scopes to make this call. Read more about required scopes "
        f"here: {SCOPES_DOC}.",
        "MISSING_SCOPES",
        errors=[{"message": "One or more of the following scopes are required.",
                 "context": {"requiredGranularScopes": scopes}}],
        links={"scopes": SCOPES_DOC},
    )


class HubSpotAuth:
    """Bearer-token checks against the token book, in HubSpot's 401 and 403 shapes."""

    def __init__(self, book: TokenBook) -> None:
        self.book = book

    def authorize(self, request: Request, scope: str | None = None) -> None:
        """Raise HubSpot's 401 for a missing or revoked token, its 403 when `scope` is not granted."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or not self.book.known(token):
            raise unauthenticated()
        if scope is not None and self.book.missing(token, [scope]):
            raise missing_scopes([scope])

    async def access_token_info(self, request: Request) -> Response:
        """`{"userId","hubId","appId","scopes"}` for the token in the body (no scope needed to ask)."""
        try:
            payload = await read_json_object(request)
            token = payload.get("tokenKey")
            if not isinstance(token, str) or not token.strip():
                raise validation("Invalid input JSON: `tokenKey` is required and must be a string")
            if not self.book.known(token):
                raise unauthenticated()
        except ValueError as exc:
            return validation(f"Invalid input JSON on line 1, column 1: {exc}").response()
        except HubSpotError as error:
            return error.response()
        granted = self.book.scopes(token)
        return JSONResponse({"userId": USER_ID, "hubId": HUB_ID, "appId": APP_ID,
                             "scopes": list(ALL_SCOPES if granted is None else granted)})
