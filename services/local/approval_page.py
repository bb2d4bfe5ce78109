"""The approval page: a small web app where approvers see pending gates and decide.

    python -m pivot.services.local.approval_page --bind 127.0.0.1:9095 --ingress http://127.0.0.1:8080

The approver enters their name and token once (kept in the tab's sessionStorage). The token
is sent to this page's own server only, which turns it into proofs: a short-lived read proof
to list and follow the gates that name this approver, and a decision proof that covers the
verdict and the comment. Restate's journal sees proofs, never the token. Everything shown is
rendered with textContent, so a plan's params cannot inject markup; the server sends a strict
Content-Security-Policy, answers only its own page and its own host names, and rate-limits
attempts per approver and per client (see web_guard.py).

Each pending approval comes with a summary of what its step will do, in words (approval_summary.py):
the page shows that first and the raw params one click away.

An approval email's link (services/approval_channels/email_link.py) lands here with the gate in the
URL's fragment, which the browser never sends: the page's script posts it to `/api/link`, and this
server checks its signature with the approver's token — so the server needs the approvers' tokens,
`PIVOT_APPROVERS`, as the service has them (without them the link routes answer 503) — and reads the
gate as that approver with a read proof it makes itself; `/api/link/decide` decides through the
`email` channel, on the digest the link carries. No token is typed, none leaves this server.
"""

import argparse
import asyncio
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from pivot.compensations import strict_json
from pivot.compensations.actions import Action
from pivot.compensations.approvals import (
    APPROVER_PATTERN,
    NO_DIGEST,
    PendingApproval,
    bound_digest,
    decision_request,
    read_request,
)
from pivot.compensations.error_body import ErrorBody
from pivot.compensations.ids import APPROVAL_ID_PATTERN
from pivot.providers.redaction import APPROVERS_ENV
from pivot.services.approval_channels.email_link import (
    MAX_LINK_CHARS,
    EmailLink,
    LinkRefused,
    check_link,
    claimed_approver,
)
from pivot.services.catalog import approver_tokens as configured_tokens
from pivot.services.catalog import build_catalog
from pivot.services.client import error_of
from pivot.services.handlers.ingress_guard import allowed_origins
from pivot.services.ingress_token import ingress_headers
from pivot.services.local.approval_summary import add_summaries
from pivot.services.local.slack_interactivity import slack_routes
from pivot.services.local.web_guard import ApiOriginCheck, AttemptLimits, SecurityHeaders
from pivot.services.plugins import CatalogError

HERE = Path(__file__).parent
ASSETS = {"/": ("approval_page.html", "text/html; charset=utf-8"),
          "/approval_page.js": ("approval_page.js", "text/javascript; charset=utf-8"),
          "/approval_page.css": ("approval_page.css", "text/css; charset=utf-8")}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


class Approver(BaseModel):
    """Who is asking, with the secret this server turns into proofs (never forwarded)."""

    model_config = ConfigDict(extra="forbid")

    approver: str = Field(pattern=APPROVER_PATTERN)
    token: str = Field(min_length=1, max_length=400)


class ApprovalRead(Approver):
    approval_id: str = Field(pattern=APPROVAL_ID_PATTERN)


class DecideBody(ApprovalRead):
    approved: bool
    comment: str = Field(default="", max_length=2000)
    digest: str = Field(default="", pattern=r"^([0-9a-f]{64})?$",
                        description="The digest of the gate the page showed (empty: a gate opened before digests)")


class LinkBody(BaseModel):
    """An email link as the page read it from its URL (the whole link or its fragment)."""

    model_config = ConfigDict(extra="forbid")

    link: str = Field(min_length=1, max_length=MAX_LINK_CHARS)


class LinkDecideBody(LinkBody):
    approved: bool
    comment: str = Field(default="", max_length=2000)


NO_TOKENS = ErrorBody(code="links_unavailable", status=503,
                      message="this page cannot open approval links: its server has no approver tokens (set "
                              f"{APPROVERS_ENV} where it runs, as for the service); enter your token instead")


async def _bound_digest(ingress: httpx.AsyncClient, body: DecideBody) -> str:
    """The digest of a gate opened before gates carried one (computed from what it holds)."""
    answer = await ingress.post(f"/Approval/{quote(body.approval_id, safe='')}/get",
                                json=read_request(body.approver, body.token, time.time()))
    pending = answer.json().get("pending") if answer.status_code == 200 else None
    return bound_digest(PendingApproval.model_validate(pending)) if isinstance(pending, dict) else NO_DIGEST


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _body(request: Request, model: type[strict_json.Model]) -> strict_json.Model | Response:
    try:
        return strict_json.validate(model, strict_json.loads(await request.body()))
    except (strict_json.NotJson, ValidationError, RecursionError):
        return _error(ErrorBody(code="invalid_request", message=f"send {', '.join(model.model_fields)} as JSON",
                                status=400))


def _limited(limits: AttemptLimits, approver: str, request: Request) -> Response | None:
    retry_after = limits.retry_after(approver, _client(request))
    if retry_after is None:
        return None
    return _error(ErrorBody(code="rate_limited", message=f"too many attempts; try again in {retry_after} s",
                            status=429), headers={"retry-after": str(retry_after)})


def _error(error: ErrorBody, headers: dict[str, str] | None = None) -> Response:
    """Pivot's one error shape, `{"error": {"code", "message", …}}`, under the error's status."""
    return JSONResponse(error.body(), status_code=error.status or 500, headers=headers)


def _upstream(response: httpx.Response, enrich: Callable[[Any], None] | None = None) -> Response:
    """The ingress's answer for the page: its JSON on success (`enrich` adds to it); otherwise
    Pivot's error body, read from Restate's envelope (the message, and the code and fields in its
    metadata)."""
    if response.status_code != 200:
        return _error(error_of(response))
    payload: Any = response.json() if response.content else {}
    if enrich is not None:
        enrich(payload)
    return JSONResponse(payload)


def _catalog() -> Mapping[str, Action]:
    """The actions the summaries describe; without them (a plugin that will not load here) every
    step gets the generic summary, and the page still works."""
    try:
        return build_catalog()
    except CatalogError:
        return {}


def _path(approval_id: str, handler: str) -> str:
    return f"/Approval/{quote(approval_id, safe='')}/{handler}"


def create_app(ingress_url: str, *, allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES,
               approver_tokens: Mapping[str, str] | None = None) -> Starlette:
    """`approver_tokens`: what checks email links and makes their proofs (default `PIVOT_APPROVERS`)."""
    ingress = httpx.AsyncClient(base_url=ingress_url.rstrip("/"), timeout=30.0, headers=ingress_headers())
    tokens = dict(configured_tokens() if approver_tokens is None else approver_tokens)
    catalog = _catalog()
    reads = AttemptLimits(per_approver="60/minute", per_client="120/minute")
    decisions = AttemptLimits(per_approver="10/minute", per_client="30/minute")

    async def asset(request: Request) -> Response:
        name, media_type = ASSETS[request.url.path]
        return FileResponse(HERE / name, media_type=media_type)

    async def read(request: Request, model: type[Approver], path: Callable[[Any], str],
                   enrich: Callable[[Any], None]) -> Response:
        """A read as the approver: their token becomes a fresh read proof, the ingress answers."""
        body = await _body(request, model)
        if isinstance(body, Response):
            return body
        if (limited := _limited(reads, body.approver, request)) is not None:
            return limited
        proof = read_request(body.approver, body.token, time.time())
        return _upstream(await ingress.post(path(body), json=proof), enrich)

    async def pending(request: Request) -> Response:
        return await read(request, Approver, lambda _: "/Approvals/pending",
                          lambda items: add_summaries(items if isinstance(items, list) else [], catalog))

    async def approval(request: Request) -> Response:
        return await read(request, ApprovalRead, lambda body: f"/Approval/{quote(body.approval_id, safe='')}/get",
                          lambda answer: add_summaries([answer.get("pending")] if isinstance(answer, dict) else [],
                                                       catalog))

    async def decide(request: Request) -> Response:
        body = await _body(request, DecideBody)
        if isinstance(body, Response):
            return body
        if (limited := _limited(decisions, body.approver, request)) is not None:
            return limited
        digest = body.digest or await _bound_digest(ingress, body)
        decision = decision_request(body.token, body.approval_id, body.approver, body.approved, body.comment,
                                    digest=digest, channel="page")
        return _upstream(await ingress.post(f"/Approval/{quote(body.approval_id, safe='')}/decide", json=decision))

    async def opened(request: Request, model: type[LinkBody],
                     limits: AttemptLimits) -> tuple[LinkBody, EmailLink] | Response:
        """The body and the link it carries, checked; or the answer that refuses it."""
        body = await _body(request, model)
        if isinstance(body, Response):
            return body
        if not tokens:
            return _error(NO_TOKENS)
        if (limited := _limited(limits, claimed_approver(body.link), request)) is not None:
            return limited
        try:
            return body, check_link(body.link, tokens, time.time())
        except LinkRefused as refused:
            return _error(ErrorBody(code=refused.code, message=refused.message, status=refused.status))

    async def link_gate(request: Request) -> Response:
        """The gate a link opens, read as its approver, with who the link is for."""
        checked = await opened(request, LinkBody, reads)
        if isinstance(checked, Response):
            return checked
        _, link = checked

        def enrich(answer: Any) -> None:
            if isinstance(answer, dict):
                add_summaries([answer.get("pending")], catalog)
                answer["link"] = {"approver": link.approver, "expires": link.expires}

        proof = read_request(link.approver, tokens[link.approver], time.time())
        return _upstream(await ingress.post(_path(link.approval_id, "get"), json=proof), enrich)

    async def link_decide(request: Request) -> Response:
        """A decision through the `email` channel, on what the link's email showed (its digest)."""
        checked = await opened(request, LinkDecideBody, decisions)
        if isinstance(checked, Response):
            return checked
        body, link = checked
        assert isinstance(body, LinkDecideBody)
        decision = decision_request(tokens[link.approver], link.approval_id, link.approver, body.approved,
                                    body.comment, digest=link.digest, channel="email")
        answer = await ingress.post(_path(link.approval_id, "decide"), json=decision)
        if answer.status_code == 409 and await decided_through(link):
            return _error(ErrorBody(code="link_used", status=409,
                                    message=f"this link was already used: {error_of(answer).message}"))
        return _upstream(answer)

    async def decided_through(link: EmailLink) -> bool:
        """Whether the gate was decided through this very link (by its approver, by email)."""
        proof = read_request(link.approver, tokens[link.approver], time.time())
        answer = await ingress.post(_path(link.approval_id, "get"), json=proof)
        decision = ((answer.json().get("closed") or {}).get("decision") or {}) if answer.status_code == 200 else {}
        return bool(decision.get("channel") == "email" and decision.get("approver") == link.approver)

    return Starlette(
        routes=[
            *(Route(path, asset) for path in ASSETS),
            Route("/api/pending", pending, methods=["POST"]),
            Route("/api/approval", approval, methods=["POST"]),
            Route("/api/decide", decide, methods=["POST"]),
            Route("/api/link", link_gate, methods=["POST"]),
            Route("/api/link/decide", link_decide, methods=["POST"]),
            *slack_routes(ingress),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)),
            Middleware(ApiOriginCheck, prefix="/api/", allowed=allowed_origins()),
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pivot.services.local.approval_page", description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1:9095")
    parser.add_argument("--ingress", default=os.environ.get("PIVOT_INGRESS_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="a host name browsers use to reach this page, beyond loopback (repeatable)")
    args = parser.parse_args()
    config = Config()
    config.bind = [args.bind]
    config.accesslog = None
    app = create_app(args.ingress, allowed_hosts=(*LOOPBACK_NAMES, *args.allow_host))
    asyncio.run(serve(app, config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
