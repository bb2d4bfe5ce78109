"""A small warehouse API: the stand-in for *your* service, the one a saga must now write to.

    python -m pivot_inventory.api --bind 127.0.0.1:9110      # token from INVENTORY_TOKEN

It has what a well-behaved API offers a saga, and nothing Pivot-specific:

- `POST /v1/reservations` holds stock for an order; an `Idempotency-Key` header makes a repeat of
  the same request answer the same reservation (and a different body under the same key a 409);
- `GET /v1/reservations?idempotency_key=K` finds what a key made (the lookup a timed-out write needs);
- `GET /v1/reservations/{id}`; `POST /v1/reservations/{id}/release` gives the stock back (a 409 once
  the reservation has shipped); `POST /v1/reservations/{id}/ship` is what the warehouse does next;
- `GET /v1/stock/{sku}`: every SKU starts with 100 units; holding more than is left is a 409.

Every request needs `Authorization: Bearer <INVENTORY_TOKEN>`. State is in memory.
"""

from __future__ import annotations  # itertools.count[int] is for the type checker only on 3.11

import argparse
import asyncio
import itertools
import os
from dataclasses import dataclass, field
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

STOCK = 100
TOKEN_ENV = "INVENTORY_TOKEN"


@dataclass
class Warehouse:
    reservations: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def available(self, sku: str) -> int:
        return STOCK - self.held.get(sku, 0)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_app(token: str) -> Starlette:
    warehouse = Warehouse()

    def reservation_of(request: Request) -> dict[str, Any] | None:
        return warehouse.reservations.get(request.path_params["id"])

    async def reserve(request: Request) -> Response:
        body = await request.json()
        sku, quantity = body.get("sku"), body.get("quantity")
        if not isinstance(sku, str) or not isinstance(quantity, int) or quantity < 1:
            return _error(400, "invalid", "sku (string) and quantity (positive integer) are required")
        key = request.headers.get("idempotency-key")
        if key and key in warehouse.by_key:
            earlier = warehouse.reservations[warehouse.by_key[key]]
            asked = (sku, quantity, body.get("order_ref"))
            if (earlier["sku"], earlier["quantity"], earlier.get("order_ref")) != asked:
                return _error(409, "idempotency_mismatch", "this Idempotency-Key was used with another request")
            return JSONResponse(earlier)
        if quantity > warehouse.available(sku):
            return _error(409, "insufficient_stock", f"only {warehouse.available(sku)} of {sku} left")
        reservation = {"id": f"res_{next(warehouse.ids)}", "sku": sku, "quantity": quantity, "status": "held",
                       "order_ref": body.get("order_ref"), "idempotency_key": key}
        warehouse.reservations[reservation["id"]] = reservation
        warehouse.held[sku] = warehouse.held.get(sku, 0) + quantity
        if key:
            warehouse.by_key[key] = reservation["id"]
        return JSONResponse(reservation, status_code=201)

    async def find(request: Request) -> Response:
        key = request.query_params.get("idempotency_key")
        found = [r for r in warehouse.reservations.values() if key is None or r["idempotency_key"] == key]
        return JSONResponse({"data": found})

    async def one(request: Request) -> Response:
        reservation = reservation_of(request)
        return JSONResponse(reservation) if reservation else _error(404, "not_found", "no such reservation")

    async def release(request: Request) -> Response:
        reservation = reservation_of(request)
        if reservation is None:
            return _error(404, "not_found", "no such reservation")
        if reservation["status"] == "shipped":
            return _error(409, "already_shipped", f"{reservation['id']} has shipped; it cannot be released")
        if reservation["status"] == "held":
            reservation["status"] = "released"
            warehouse.held[reservation["sku"]] -= reservation["quantity"]
        return JSONResponse(reservation)

    async def ship(request: Request) -> Response:
        reservation = reservation_of(request)
        if reservation is None:
            return _error(404, "not_found", "no such reservation")
        if reservation["status"] != "held":
            return _error(409, "not_held", f"{reservation['id']} is {reservation['status']}")
        reservation["status"] = "shipped"
        return JSONResponse(reservation)

    async def stock(request: Request) -> Response:
        sku = request.path_params["sku"]
        return JSONResponse({"sku": sku, "available": warehouse.available(sku)})

    async def bearer(request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.headers.get("authorization", "") != f"Bearer {token}":
            return _error(401, "unauthorized", "send Authorization: Bearer <token>")
        return await call_next(request)

    return Starlette(middleware=[Middleware(BaseHTTPMiddleware, dispatch=bearer)], routes=[
        Route("/v1/reservations", reserve, methods=["POST"]),
        Route("/v1/reservations", find, methods=["GET"]),
        Route("/v1/reservations/{id}", one, methods=["GET"]),
        Route("/v1/reservations/{id}/release", release, methods=["POST"]),
        Route("/v1/reservations/{id}/ship", ship, methods=["POST"]),
        Route("/v1/stock/{sku}", stock, methods=["GET"]),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pivot_inventory.api", description=__doc__)
    parser.add_argument("--bind", default="127.0.0.1:9110")
    args = parser.parse_args()
    token = os.environ.get(TOKEN_ENV)
    if not token:
        raise SystemExit(f"set {TOKEN_ENV}: the token every request must carry")
    config = Config()
    config.bind = [args.bind]
    config.accesslog = None
    asyncio.run(serve(create_app(token), config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
