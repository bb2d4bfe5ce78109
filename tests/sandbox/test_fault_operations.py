"""Which GraphQL operation a request asks for, as the fault rules see it: the first root field of
the chosen operation (aliases, named operations, raw documents), None for anything else."""

import json

import pytest

from pivot.providers.sandbox_kit import FaultBook, FaultSpec
from pivot.providers.sandbox_kit.operations import graphql_operation


def body(query: str, **extra: object) -> bytes:
    return json.dumps({"query": query, "variables": {}, **extra}).encode()


@pytest.mark.parametrize(("raw", "operation"), [
    (body("mutation M($k: String!) { inventoryMoveQuantities(input: {}) @idempotent(key: $k) { userErrors { f } } }"),
     "inventoryMoveQuantities"),
    (body("mutation { set: metafieldsSet(metafields: []) { userErrors { field } } }"), "metafieldsSet"),
    (body("fragment F on Node { id } query Q($id: ID!) { node(id: $id) { ...F } shop { id } }"), "node"),
    (body("query A { shop { id } } mutation B { fulfillmentCreate(fulfillment: {}) { userErrors { field } } }",
          operationName="B"), "fulfillmentCreate"),
    (b"{ fulfillment(id: \"gid://shopify/Fulfillment/1\") { id } }", "fulfillment"),
    (body("mutation { broken"), None),
    (b'{"variables": {}}', None),
    (b"", None),
])
def test_the_operation_of_a_request(raw: bytes, operation: str | None) -> None:
    assert graphql_operation(raw) == operation


def test_a_rule_with_an_operation_matches_only_it_and_old_rules_match_as_before() -> None:
    book = FaultBook()
    named = book.add(FaultSpec(method="POST", path="/graphql.json", operation="fulfillmentCreate", action="error",
                               times=1))
    assert book.wants_operation("POST", "/graphql.json") and not book.wants_operation("GET", "/graphql.json")
    assert book.take("POST", "/graphql.json", "fulfillment") is None
    assert book.take("POST", "/graphql.json", None) is None
    assert book.take("POST", "/graphql.json", "fulfillmentCreate") is named
    assert not book.wants_operation("POST", "/graphql.json")  # spent: bodies stream through again
    plain = book.add(FaultSpec(path="/graphql.json", action="error"))
    assert book.take("POST", "/graphql.json") is plain and book.take("POST", "/graphql.json", "node") is plain
