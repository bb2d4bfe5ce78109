"""What an agent may learn about the catalog: one line per action, one action in full, a search.

The tool list carries what a model needs to call a tool; everything else about an action (its
whole params schema with every limit, what the read-back verifies, how its key travels, the
answer's shape) is asked for when needed (`list_actions`, `find_actions`, `describe_action`),
so a catalog of hundreds of actions costs the model's context nothing until it uses one.
"""

import fnmatch
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

from pivot.compensations.actions import Action, Catalog
from pivot.compensations.kinds import StepKind
from pivot.compensations.open_calls import StepAnswer
from pivot.services.action_traits import idempotent, reversible
from pivot.services.agents.param_schemas import model_schema, param_paths, wire_params_schema

_WORD = re.compile(r"[a-z0-9]+")


def select_actions(catalog: Catalog, patterns: Iterable[str] | None) -> list[Action]:
    """The actions matching any of the globs (`stripe.*`, `*.create_*`); all of them without globs."""
    chosen = list(patterns or [])
    names = sorted(catalog)
    if chosen:
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in chosen)]
    return [catalog[n] for n in names]


DEFERRAL = {"none": "runs at once, undone if the saga unwinds",
            "until_pivot": "asked before the pivot, it is deferred: sent at commit, never if the saga unwinds"}


def deferral(action: Action) -> str:
    """When the step's write happens: `none` (at once) or `until_pivot` (see `DEFERRAL`)."""
    return "none" if action.kind is StepKind.COMPENSABLE else "until_pivot"


def short_undo(action: Action) -> str:
    """The compensation's first clause, without asides: what undo means, where space is dear (a tool's
    description and `_meta`; `describe_action` carries it whole)."""
    first = re.sub(r"\s*\([^)]*\)", "", action.compensation.split(";")[0]).strip()
    return first if len(first) <= 90 else first[:86].rsplit(" ", 1)[0] + " ..."


def undo_meta(action: Action) -> dict[str, Any]:
    """The undo metadata a step tool carries in its `_meta` (for clients, not the model)."""
    return {"kind": action.kind.value, "compensation": short_undo(action), "deferral": deferral(action)}


def action_line(action: Action) -> dict[str, Any]:
    """One action, compactly: enough to choose it (`list_actions`, `find_actions`)."""
    return {"name": action.name, "kind": action.kind.value, "pivot_eligible": action.pivot_eligible,
            "undo": action.compensation, "params": param_paths(action)}


def action_json(action: Action, source: str | None = None) -> dict[str, Any]:
    """One catalog action as data: what it is, how its key travels, what it verifies, how it is undone,
    and where it comes from (`pivot actions --json`)."""
    return {"name": action.name, "provider": action.provider, "kind": action.kind.value,
            "pivot_eligible": action.pivot_eligible, "key_carrier": action.key_carrier, "readback": action.readback,
            "compensation": action.compensation, "undo_scope": action.undo_scope, "atomicity": action.atomicity,
            "idempotency": action.idempotency, "reversible": reversible(action), "idempotent": idempotent(action),
            "params": action.params.model_json_schema(), **({"source": source} if source else {})}


@cache
def answer_schema() -> dict[str, Any]:
    """What every step call answers (`{"step", "saga"}`), compact: said once here instead of as
    every tool's output schema."""
    return model_schema(StepAnswer)


def describe(action: Action, connections: Iterable[str] = ()) -> dict[str, Any]:
    """One action in full (`describe_action`): its params schema as Pivot takes it (references
    allowed), the answer's shape, its kind, undo, deferral and key carrier."""
    return {**action_json(action), "deferral": DEFERRAL[deferral(action)],
            "connections": ["default", *sorted(connections)], "params": wire_params_schema(action),
            "answer": answer_schema(), "result": f"step.result is the verified object: {action.readback}"}


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _matches(word: str, words: set[str]) -> bool:
    """`refund` finds `refunded`, `invoices` finds `invoice`: a shared stem, not a spelling."""
    return any(w.startswith(word) or (word.startswith(w) and len(w) >= 4) for w in words)


def find(catalog: Catalog, query: str | None = None, provider: str | None = None,
         kind: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Actions matching every word of `query` (in the name, the undo or the read-back; a glob such
    as `stripe.*` matches names), of `provider` and of `kind`, best first."""
    wanted = _words(query or "")
    globbed = query is not None and any(c in query for c in "*?[")
    scored: list[tuple[int, str]] = []
    for name in sorted(catalog):
        action = catalog[name]
        if (provider and action.provider != provider.lower()) or (kind and action.kind.value != kind):
            continue
        if globbed:
            if fnmatch.fnmatchcase(name, (query or "").strip()):
                scored.append((0, name))
            continue
        in_name = _words(name.replace(".", " ").replace("_", " "))
        anywhere = in_name | _words(f"{action.compensation} {action.readback} {action.provider}")
        if all(_matches(word, anywhere) for word in wanted):
            scored.append((-sum(_matches(word, in_name) for word in wanted), name))
    return [action_line(catalog[name]) for _, name in sorted(scored)[:limit]]
