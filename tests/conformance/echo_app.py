"""A tiny upstream for the proxy's https test: it answers what it was sent (served by hypercorn
over TLS with a certificate the test makes)."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def echo(request: Request) -> JSONResponse:
    return JSONResponse({"method": request.method, "path": request.url.path, "query": request.url.query,
                         "body": (await request.body()).decode(), "scheme": request.url.scheme})


app = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST", "PATCH", "DELETE"])])
