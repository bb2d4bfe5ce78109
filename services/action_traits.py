"""The seed's three words for an action — reversible, idempotent, classification — from the
catalog's data, so `pivot actions --table` and `--json` say them the same way.

The article Pivot is built on classifies each step of a workflow by these three before choosing
its order; here they are derived from what each action declares (its kind, its undo's scope, what
makes a repeated write safe at the provider), never written by hand beside it.
"""

from pivot.compensations.actions import Action
from pivot.compensations.kinds import StepKind

IDEMPOTENT = {
    "key": "yes (idempotency key)",
    "unique": "yes (unique key field)",
    "natural": "yes (by nature)",
    "transaction": "yes (one transaction)",
    "lookup": "no (Pivot's lookup)",
}
LEGEND = ("idempotent: idempotency key = the provider deduplicates requests by the step key; unique key field = a "
          "field holding the step key refuses a second object; by nature = done twice means the same; one "
          "transaction = the write and its key commit together; Pivot's lookup = the provider has none of these, "
          "Pivot finds an earlier write by its key before each retry. reversible: partly = see the action's undo "
          "(`pivot actions`); deferred = asked before the pivot, run at commit, last.")


def classification(action: Action) -> str:
    """The step's kind, and whether it may be the saga's point of no return."""
    return f"{action.kind.value} · pivot candidate" if action.pivot_eligible else action.kind.value


def reversible(action: Action) -> str:
    if action.kind is StepKind.COMPENSABLE:
        return "partly" if action.undo_scope == "partial" else "yes"
    if action.kind is StepKind.RETRYABLE:
        return "no (retried to success)"
    return "no (deferred, runs last)"


def idempotent(action: Action) -> str:
    return IDEMPOTENT.get(action.idempotency, action.idempotency)
