"""The approval page: a small web app where approvers see pending gates and decide.

    python -m services.local.approval_page --bind 127.0.0.1:9095 --ingress http://127.0.0.1:8080

The approver enters their name and token once (kept in the tab's sessionStorage). The token
is sent to this page's own server only, which turns it into the decision's proof; Restate's
journal sees the proof, never the token. Everything shown is rendered with textContent, so a
plan's params cannot inject markup.
"""

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from compensations.approvals import decision_proof
from services.ingress_token import ingress_headers

PAGE = Path(__file__).with_name("approval_page.html")


class DecideBody(BaseModel):
    approval_id: str = Field(min_length=1, max_length=400)
    approver: str = Field(min_length=1, max_length=100)
    token: str = Field(min_length=1, max_length=400)
    approved: bool
    comment: str = Field(default="", max_length=2000)


def create_app(ingress_url: str) -> Starlette:
    ingress = httpx.AsyncClient(base_url=ingress_url.rstrip("/"), timeout=30.0, headers=ingress_headers())

    async def page(_: Request) -> Response:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    async def pending(request: Request) -> Response:
        approver = request.query_params.get("approver", "")
        if not approver:
            return JSONResponse({"error": "approver is required"}, status_code=400)
        upstream = await ingress.post("/Approvals/pending", json=approver)
        return JSONResponse(upstream.json(), status_code=upstream.status_code)

    async def decide(request: Request) -> Response:
        try:
            body = DecideBody.model_validate_json(await request.body())
        except ValidationError as exc:
            return JSONResponse({"error": f"bad request: {exc.error_count()} problem(s)"}, status_code=400)
        proof = decision_proof(body.token, body.approval_id, body.approver, body.approved)
        decision: dict[str, Any] = {"approver": body.approver, "approved": body.approved,
                                    "comment": body.comment, "proof": proof}
        upstream = await ingress.post(f"/Approval/{quote(body.approval_id, safe='')}/decide", json=decision)
        payload = upstream.json() if upstream.content else {}
        if upstream.status_code != 200:
            return JSONResponse({"error": payload.get("message", "refused")}, status_code=upstream.status_code)
        return JSONResponse(payload)

    async def saga(request: Request) -> Response:
        run_id = quote(request.path_params["run_id"], safe="")
        upstream = await ingress.post(f"/SagaRun/{run_id}/status", json=None)
        return JSONResponse(upstream.json(), status_code=upstream.status_code)

    return Starlette(routes=[
        Route("/", page),
        Route("/api/pending", pending),
        Route("/api/decide", decide, methods=["POST"]),
        Route("/api/saga/{run_id:path}", saga),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.local.approval_page", description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1:9095")
    parser.add_argument("--ingress", default=os.environ.get("PIVOT_INGRESS_URL", "http://127.0.0.1:8080"))
    args = parser.parse_args()
    config = Config()
    config.bind = [args.bind]
    config.accesslog = None
    asyncio.run(serve(create_app(args.ingress), config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
