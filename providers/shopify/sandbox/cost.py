"""Query cost and the leaky bucket behind Shopify's GraphQL rate limit.

Shopify prices a document before running it (`requestedQueryCost`) and takes the points from a
bucket per app and shop that refills at `restoreRate` points per second up to
`maximumAvailable`. The requested points are taken before the query runs and the
difference to the actual cost (what the answer really holds) is given back afterwards, as
Shopify does. The rules here follow Shopify's published ones closely enough for a client to
meet real throttling: a scalar or enum costs 0, an object 1, a mutation field 10, a
connection 2 plus `first`/`last` times the cost of one node, and a document over 1000 points is
refused whatever the bucket holds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
    is_leaf_type,
    is_list_type,
)
from graphql.language import ast

MUTATION_FIELD_COST = 10
OBJECT_COST = 1
CONNECTION_BASE_COST = 2
MAX_QUERY_COST = 1000
BUCKET_SIZE = 2000.0
RESTORE_RATE = 100.0


def _is_list(field_def: GraphQLField) -> bool:
    output = field_def.type
    return is_list_type(output.of_type if isinstance(output, GraphQLNonNull) else output)


class QueryCost:
    """The cost of one operation of a validated document: `requested` prices every page at its
    `first`/`last` before running; `actual` prices what the answer really holds (Shopify takes
    the requested points up front and gives back the difference once the query has run)."""

    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, ast.FragmentDefinitionNode],
                 variables: Mapping[str, Any]) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def requested(self, operation: ast.OperationDefinitionNode) -> int:
        return self._operation(operation, None, actual=False)

    def actual(self, operation: ast.OperationDefinitionNode, data: Mapping[str, Any] | None) -> int:
        return self._operation(operation, data, actual=True)

    def _operation(self, operation: ast.OperationDefinitionNode, data: Mapping[str, Any] | None, *,
                   actual: bool) -> int:
        mutation = operation.operation == ast.OperationType.MUTATION
        root = self.schema.mutation_type if mutation else self.schema.query_type
        assert root is not None
        if actual and data is None:
            return 0
        return self._selections(operation.selection_set, root, data, actual=actual, root_mutation=mutation)

    def _fields(self, selection_set: ast.SelectionSetNode | None) -> list[ast.FieldNode]:
        """The field nodes of a selection set, fragments flattened (all type conditions here are concrete)."""
        fields: list[ast.FieldNode] = []
        for selection in selection_set.selections if selection_set is not None else ():
            if isinstance(selection, ast.FieldNode):
                fields.append(selection)
            elif isinstance(selection, ast.InlineFragmentNode):
                fields += self._fields(selection.selection_set)
            elif isinstance(selection, ast.FragmentSpreadNode) and selection.name.value in self.fragments:
                fields += self._fields(self.fragments[selection.name.value].selection_set)
        return fields

    def _selections(self, selection_set: ast.SelectionSetNode | None, parent: GraphQLObjectType,
                    data: Any, *, actual: bool, root_mutation: bool = False) -> int:
        total = 0
        for node in self._fields(selection_set):
            field_def = parent.fields.get(node.name.value)
            named = get_named_type(field_def.type) if field_def is not None else None
            if field_def is None or is_leaf_type(named) or not isinstance(named, GraphQLObjectType):
                continue
            key = node.alias.value if node.alias else node.name.value
            value = data.get(key) if actual and isinstance(data, Mapping) else None
            if root_mutation:
                total += MUTATION_FIELD_COST + self._selections(node.selection_set, named, value, actual=actual)
            elif actual:
                total += self._actual_field(node, named, value)
            else:
                total += self._requested_field(node, field_def, named)
        return total

    def _object(self, node: ast.FieldNode, named: GraphQLObjectType, value: Any, *, actual: bool) -> int:
        children = self._selections(node.selection_set, named, value, actual=actual)
        if named.name.endswith("Edge") or named.name == "PageInfo":
            return children
        return OBJECT_COST + children

    def _requested_field(self, node: ast.FieldNode, field_def: GraphQLField, named: GraphQLObjectType) -> int:
        size = self._page_size(node)
        if named.name.endswith("Connection"):
            return CONNECTION_BASE_COST + (size or 0) * max(self._selections(node.selection_set, named, None,
                                                                               actual=False), OBJECT_COST)
        one = self._object(node, named, None, actual=False)
        return (size if size is not None and _is_list(field_def) else 1) * one

    def _actual_field(self, node: ast.FieldNode, named: GraphQLObjectType, value: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, list):
            return sum(self._object(node, named, item, actual=True) for item in value)
        if named.name.endswith("Connection"):
            return CONNECTION_BASE_COST + self._selections(node.selection_set, named, value, actual=True)
        return self._object(node, named, value, actual=True)

    def _page_size(self, node: ast.FieldNode) -> int | None:
        for argument in node.arguments:
            if argument.name.value in ("first", "last"):
                value = argument.value
                if isinstance(value, ast.IntValueNode):
                    return int(value.value)
                if isinstance(value, ast.VariableNode):
                    given = self.variables.get(value.name.value)
                    return given if isinstance(given, int) else None
        return None


@dataclass
class LeakyBucket:
    """One app's points on one shop; refilled lazily from the monotonic clock."""

    maximum: float = BUCKET_SIZE
    restore_rate: float = RESTORE_RATE
    available: float = BUCKET_SIZE
    updated: float = field(default_factory=time.monotonic)

    def _refill(self) -> None:
        now = time.monotonic()
        self.available = min(self.maximum, self.available + (now - self.updated) * self.restore_rate)
        self.updated = now

    def take(self, cost: int) -> bool:
        """Take `cost` points if the bucket holds them; False (and nothing taken) otherwise."""
        self._refill()
        if cost > self.available:
            return False
        self.available -= cost
        return True

    def give_back(self, points: int) -> None:
        """Return what a query was charged beyond its actual cost."""
        self._refill()
        self.available = min(self.maximum, self.available + max(points, 0))

    def set_level(self, available: float) -> None:
        """Test instrument: put the bucket at a level, as if other calls had drained it."""
        self.available = min(max(available, 0.0), self.maximum)
        self.updated = time.monotonic()

    def status(self) -> dict[str, Any]:
        self._refill()
        return {"maximumAvailable": self.maximum, "currentlyAvailable": int(self.available),
                "restoreRate": self.restore_rate}

    def cost_extension(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                         "throttleStatus": self.status()}}
