"""What the provider tests share to drive an action as the engine would: a fresh step's keys, and
the action's example written and then changed by a third party (the conformance `tamper` hook)."""

import uuid
from typing import Any

from pivot.compensations.actions import JsonDict
from pivot.compensations.keys import StepKeys
from pivot.kit import KeyedAction


def new_keys(action: str) -> StepKeys:
    """The keys of a step in a fresh run, derived as the engine derives them."""
    return StepKeys.derive(f"test-{uuid.uuid4().hex[:12]}", "step", action)


async def written_then_tampered(kit: KeyedAction[Any, Any], name: str) -> tuple[Any, StepKeys, JsonDict]:
    """The action's example written, found by its key, then changed by a third party before any undo:
    (params, keys, the forward result)."""
    params = await kit.example()
    keys = new_keys(name)
    result = await kit.forward(params, keys)
    found = await kit.lookup(params, keys.forward)
    assert found is not None
    await kit.tamper(params, found)
    return params, keys, result
