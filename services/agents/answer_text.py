"""Sentences a model reads in Pivot's answers, the same from every agent surface (MCP, pydantic-ai)."""

from collections.abc import Mapping
from typing import Any


def duplicate_line(step: Mapping[str, Any]) -> str:
    """What a model reads when it asked again, under a new step id, for a write already made: that
    nothing was written, which step it repeats, and how to say a second write is meant."""
    return (f"Nothing was written: step '{step.get('id')}' makes the same write ({step.get('action')}, the same "
            f"params) as step '{step.get('duplicate_of')}', which already took effect, so this is its answer. "
            "If a second, identical write is really meant (two equal refunds), call again with repeat: true.")
