"""Which GraphQL operation a request body asks for, so a fault rule can single out one mutation.

Every GraphQL request of a provider (Shopify's Admin API) shares one path, so method and path
cannot tell a write from its read-back. The operation a rule names is the first root field of the
document's operation — `inventoryMoveQuantities`, `fulfillmentCreate`, `metafieldsSet`, `node` —
(the one `operationName` picks when the document holds several), aliases ignored, as the client
code of an action names it.
"""

from __future__ import annotations

import json

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, parse


def graphql_operation(body: bytes) -> str | None:
    """The first root field of the requested operation; None when the body is no GraphQL document.

    The body is the JSON `{"query": …, "operationName": …}` clients send, or the raw document of an
    `application/graphql` request."""
    name: object = None
    try:
        value = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        value = None
    if isinstance(value, dict):
        query, name = value.get("query"), value.get("operationName")
    else:
        query = body.decode("utf-8", errors="replace")
    if not isinstance(query, str):
        return None
    try:
        document = parse(query, no_location=True)
    except GraphQLError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = next((o for o in operations if name and o.name is not None and o.name.value == name),
                  operations[0] if operations else None)
    if chosen is None:
        return None
    field = next((s for s in chosen.selection_set.selections if isinstance(s, FieldNode)), None)
    return None if field is None else field.name.value
