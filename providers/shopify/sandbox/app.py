"""The HTTP side of the Shopify sandbox: `POST /admin/api/{version}/graphql.json`.

The request pipeline is Shopify's: token check (401 with Shopify's body for no token, a token the
sandbox was not configured with, or one the kit's token book at `/_sandbox/tokens` marks revoked), body check (400),
parse and validate against the version's schema (200 with top-level errors, worded like
Shopify's graphql-ruby), price the document and take the points from the leaky bucket
(THROTTLED when they are not there, HTTP 200, nothing executed), claim `@idempotent` keys, run,
give back the points the answer did not use. Every GraphQL answer carries `extensions.cost`;
a field the token's access scopes do not cover is null with an ACCESS_DENIED error (`access`).
Injected faults answer in the same shapes. Two instrument routes join the kit's: `POST
/_sandbox/orders/{id}/fulfill` (the warehouse shipped it) and `GET|POST /_sandbox/bucket`
(read or set the bucket's level, to meet throttling without sending thousands of calls).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_directive_values, get_variable_values
from graphql.language import ast
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from pivot.providers.sandbox_kit import FaultBook, Ledger, apply_pending_latency, build_sandbox_app, read_json_object
from pivot.providers.sandbox_kit.credentials import LOCAL_CREDENTIALS
from pivot.providers.sandbox_kit.tokens import TokenBook, token_routes
from pivot.providers.shopify.sandbox import fulfillment_resolvers, inventory_resolvers, resolvers
from pivot.providers.shopify.sandbox.access import guard
from pivot.providers.shopify.sandbox.cost import MAX_QUERY_COST, RESTORE_RATE, LeakyBucket, QueryCost
from pivot.providers.shopify.sandbox.idempotency import IDEMPOTENT_FIELDS, Claim, IdempotencyKeys, fingerprint
from pivot.providers.shopify.sandbox.schema import SUPPORTED_VERSIONS, build_version_schema
from pivot.providers.shopify.sandbox.store import Shop, parse_gid

TOKEN_HEADER = "x-shopify-access-token"
UNAUTHORIZED_BODY = {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"
DEFAULT_THROTTLED_COST = 50
_VERSION_IN_PATH = re.compile(r"^/admin/api/(?P<version>[^/]+)/")
_UNKNOWN_DIRECTIVE = re.compile(r"^Unknown directive '@(?P<name>\w+)'\.$")
_UNKNOWN_FIELD = re.compile(r"^Cannot query field '(?P<field>\w+)' on type '(?P<type>\w+)'\.")


def shopify_error(error: GraphQLError) -> dict[str, Any]:
    """A graphql-core error in Shopify's shape, with graphql-ruby's wording where clients match on it."""
    formatted = dict(error.formatted)
    message = str(formatted["message"])
    if match := _UNKNOWN_DIRECTIVE.match(message):
        formatted["message"] = f"Directive @{match['name']} is not defined"
        formatted["extensions"] = {"code": "undefinedDirective", "directiveName": match["name"]}
    elif match := _UNKNOWN_FIELD.match(message):
        formatted["message"] = f"Field '{match['field']}' doesn't exist on type '{match['type']}'"
        formatted["extensions"] = {"code": "undefinedField", "typeName": match["type"], "fieldName": match["field"]}
    if formatted.get("path") is None:
        formatted.pop("path", None)
    return formatted


def throttled_body(requested: int, throttle_status: dict[str, Any]) -> dict[str, Any]:
    return {
        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS}}],
        "extensions": {"cost": {"requestedQueryCost": requested, "actualQueryCost": None,
                                "throttleStatus": throttle_status}},
    }


class ShopifyFaultResponder:
    """Injected faults in Shopify's shapes. A rate_limit fault is a THROTTLED answer (HTTP 200)
    whose cost and bucket level imply a wait of `retry_after` seconds (Shopify has no Retry-After)."""

    def error(self, status: int, body: dict[str, Any] | None) -> Response:
        if body is not None:
            return JSONResponse(body, status_code=status)
        if status == 401:
            return JSONResponse(UNAUTHORIZED_BODY, status_code=401)
        if status == 429:
            return JSONResponse(throttled_body(DEFAULT_THROTTLED_COST, self._empty_bucket()), status_code=429)
        if status >= 500:
            request_id = str(uuid.uuid4())
            return JSONResponse({"errors": [{
                "message": f"Internal error. Looks like something went wrong on our end.\nRequest ID: {request_id} "
                           "(include this in support requests).",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
            }]}, status_code=status)
        return JSONResponse({"errors": HTTPStatus(status).phrase}, status_code=status)

    def rate_limited(self, retry_after: float | None) -> Response:
        requested = DEFAULT_THROTTLED_COST if retry_after is None else \
            min(MAX_QUERY_COST, max(1, math.ceil(retry_after * RESTORE_RATE)))
        return JSONResponse(throttled_body(requested, self._empty_bucket()), status_code=200)

    @staticmethod
    def _empty_bucket() -> dict[str, Any]:
        status = LeakyBucket().status()
        return {**status, "currentlyAvailable": 0}


class BadRequest(Exception):
    pass


async def _read_graphql_request(request: Request) -> tuple[str, dict[str, Any], str | None]:
    """(query, variables, operationName) from a JSON body, or a raw `application/graphql` one."""
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/graphql"):
        return raw.decode("utf-8", errors="replace"), {}, None
    try:
        body = json.loads(raw or b"null")
    except json.JSONDecodeError:
        raise BadRequest from None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
        raise BadRequest
    variables = body.get("variables") or {}
    if isinstance(variables, str):
        variables = json.loads(variables or "{}")
    if not isinstance(variables, dict):
        raise BadRequest
    name = body.get("operationName")
    return body["query"], variables, name if isinstance(name, str) and name else None


class ShopifySandbox:
    """All state and endpoints of one Shopify sandbox instance."""

    def __init__(self, credentials: Iterable[str] = (LOCAL_CREDENTIALS["shopify"],)) -> None:
        self.faults = FaultBook()
        self.ledger = Ledger()
        self.shop = Shop(self.ledger)
        self.bucket = LeakyBucket()
        self.keys = IdempotencyKeys()
        self.tokens = TokenBook(accepted=frozenset(credentials))
        self.schemas: dict[str, GraphQLSchema] = {
            version: guard(fulfillment_resolvers.attach(inventory_resolvers.attach(resolvers.attach(
                build_version_schema(version)))))
            for version in SUPPORTED_VERSIONS
        }

    def reset(self) -> None:
        self.shop = Shop(self.ledger)
        self.bucket = LeakyBucket()
        self.keys = IdempotencyKeys()
        self.tokens.clear()

    def app(self) -> Starlette:
        routes: list[BaseRoute] = [
            Route("/admin/api/{version}/graphql.json", self.graphql, methods=["POST"]),
            Route("/_sandbox/orders/{order_id}/fulfill", self.fulfill, methods=["POST"]),
            Route("/_sandbox/bucket", self.bucket_level, methods=["GET", "POST"]),
            *token_routes(self.tokens),
        ]
        return build_sandbox_app(routes=routes, faults=self.faults, ledger=self.ledger,
                                 responder=ShopifyFaultResponder(), reset=self.reset, stamp=_stamp)

    async def fulfill(self, request: Request) -> Response:
        """Test instrument: mark an order fulfilled, as the warehouse would."""
        parsed = parse_gid(f"gid://shopify/Order/{request.path_params['order_id']}")
        order = self.shop.fulfill(parsed[1]) if parsed else None
        if order is None:
            return JSONResponse({"error": "no_such_order"}, status_code=404)
        return JSONResponse({"id": f"gid://shopify/Order/{order.id}", "displayFulfillmentStatus": order.fulfillment})

    async def bucket_level(self, request: Request) -> Response:
        """Test instrument: read the bucket, or set its level with `{"currentlyAvailable": n}`."""
        if request.method == "POST":
            try:
                level = float((await read_json_object(request))["currentlyAvailable"])
            except (KeyError, TypeError, ValueError) as exc:
                return JSONResponse({"error": "invalid_level", "detail": str(exc)}, status_code=400)
            self.bucket.set_level(level)
        return JSONResponse(self.bucket.status())

    async def graphql(self, request: Request) -> Response:
        schema = self.schemas.get(str(request.path_params["version"]))
        if schema is None:
            return JSONResponse({"errors": "Not Found"}, status_code=404)
        token = request.headers.get(TOKEN_HEADER, "")
        if not self.tokens.known(token):
            return JSONResponse(UNAUTHORIZED_BODY, status_code=401)
        try:
            query, variables, operation_name = await _read_graphql_request(request)
        except (BadRequest, json.JSONDecodeError):
            return JSONResponse({"errors": {"query": "Required parameter missing or invalid"}}, status_code=400)
        try:
            document = parse(query)
        except GraphQLError as syntax:
            return self._errors([syntax], requested=0)
        invalid = validate(schema, document)
        if invalid:
            return self._errors(invalid, requested=0)
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            wanted = f"No operation named '{operation_name}'" if operation_name else \
                "An operation name is required when the document has several operations"
            return self._errors([GraphQLError(wanted)], requested=0)
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, ast.FragmentDefinitionNode)}
        pricing = QueryCost(schema, fragments, variables)
        cost = pricing.requested(operation)
        if cost > MAX_QUERY_COST:
            return self._errors([GraphQLError(
                f"Query cost is {cost}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).",
                extensions={"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": MAX_QUERY_COST},
            )], requested=cost)
        if not self.bucket.take(cost):
            return JSONResponse(throttled_body(cost, self.bucket.status()))
        context = resolvers.RequestContext(shop=self.shop, keys=self.keys, scopes=self.tokens.scopes(token))
        claims = self._claim_keys(schema, operation, variables, context)
        try:
            await apply_pending_latency(request.scope)
            result = execute_sync(schema, document, context_value=context, variable_values=variables,
                                  operation_name=operation_name)
        finally:
            for claim in claims:
                self.keys.release_unfinished(claim)
        actual = min(cost, pricing.actual(operation, result.data))
        self.bucket.give_back(cost - actual)
        return self._result(result, cost, actual, context)

    def _claim_keys(self, schema: GraphQLSchema, operation: ast.OperationDefinitionNode, variables: dict[str, Any],
                    context: resolvers.RequestContext) -> list[Claim]:
        """Claim every `@idempotent` key of the operation before it runs (so that a concurrent
        request with the same key, arriving while this one is delayed, is told it is in progress)."""
        directive = schema.get_directive("idempotent")
        mutation = schema.mutation_type
        if directive is None or mutation is None or operation.operation != ast.OperationType.MUTATION:
            return []
        coerced = get_variable_values(schema, operation.variable_definitions or (), variables)
        if not isinstance(coerced, dict):
            return []  # execution reports the bad variables
        claims = []
        for node in resolvers.root_fields(operation):
            values = get_directive_values(directive, node, coerced)
            if values is None or node.name.value not in IDEMPOTENT_FIELDS:
                continue
            arguments = get_argument_values(mutation.fields[node.name.value], node, coerced)
            claim = self.keys.claim(str(values["key"]), fingerprint(node.name.value, arguments))
            context.claims[id(node)] = claim
            claims.append(claim)
        return claims

    def _errors(self, errors: list[GraphQLError], *, requested: int) -> JSONResponse:
        return JSONResponse({"errors": [shopify_error(error) for error in errors],
                             "extensions": self.bucket.cost_extension(requested, None if errors else requested)})

    def _result(self, result: ExecutionResult, cost: int, actual: int,
                context: resolvers.RequestContext) -> JSONResponse:
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [shopify_error(error) for error in result.errors]
        if result.data is not None or not result.errors:
            body["data"] = result.data
        extensions: dict[str, Any] = self.bucket.cost_extension(cost, actual)
        if context.search_warnings:
            extensions["search"] = context.search_warnings
        body["extensions"] = extensions
        return JSONResponse(body)


def _stamp(scope: Scope) -> list[tuple[str, str]]:
    """Headers Shopify puts on every answer: the API version served and a request id."""
    headers = [("X-Request-Id", str(uuid.uuid4()))]
    match = _VERSION_IN_PATH.match(str(scope.get("path", "")))
    if match:
        headers.append(("X-Shopify-API-Version", match["version"]))
    return headers


def create_app(credentials: Iterable[str] = (LOCAL_CREDENTIALS["shopify"],)) -> Starlette:
    """A fresh Shopify sandbox with its own shop, bucket and idempotency keys, accepting the
    credentials in `credentials` (and those registered at `/_sandbox/tokens`)."""
    return ShopifySandbox(credentials).app()
