"""Which steps of a validated plan write at the same time.

A plan lists its steps in order, but most of that order is only the order the agent thought of
them in. Two steps may run together when nothing can tell them apart from running one after the
other:

- neither uses what the other verified (no `$from` or `$template` path between them);
- they write to different systems (provider and connection), so neither can depend on the other
  through a provider's state that the plan does not show (an insert, then an update of that row);
- each could be undone or retried on its own if the other fails: compensable steps before the
  pivot, retryable steps after it.

The other steps are barriers, run alone, with everything before them finished: the pivot (it
waits until every step before it is verified, so a failure there is undone before the point of no
return), a step whose action could be a pivot (a charge, an invoice, a fulfilment: its undo reaches
the customer, so it must not happen only because a step beside it failed — an order placed first
and charged second is never charged when the stock is short), a noncompensable step (it must never
be sent for a saga that then unwinds), a gated step (a person approves it with what is done so far
in front of them) and a scheduled one.

Between barriers, each step goes to the earliest wave after every step it depends on; a wave's
writes (and their read-backs) run concurrently and the next wave starts once all of them are
verified. The waves depend on the plan alone, never on timing, so a replay after a crash makes the
same journal entries in the same order.
"""

from collections.abc import Callable

from pivot.compensations.kinds import StepKind
from pivot.compensations.references import iter_references
from pivot.compensations.validation import ValidatedPlan

Wave = list[int]
"""Indices of the plan's steps that write concurrently, in plan order."""
Schedule = Callable[[ValidatedPlan], list[Wave]]


def _explicit_units(plan: ValidatedPlan) -> list[Wave]:
    """Plan order, with each explicit parallel `group` (validated adjacent) as one unit."""
    units: list[Wave] = []
    for index, step in enumerate(plan.steps):
        previous = plan.steps[index - 1] if index else None
        if step.group is not None and previous is not None and previous.group == step.group:
            units[-1].append(index)
        else:
            units.append([index])
    return units


def one_at_a_time(plan: ValidatedPlan) -> list[Wave]:
    """Every step alone, in plan order, except explicit groups (how plans ran before overlap)."""
    return _explicit_units(plan)


def _barrier(plan: ValidatedPlan, index: int) -> bool:
    step, kind = plan.steps[index], plan.kinds[index]
    if step.approval is not None or step.not_before is not None or plan.actions[index].pivot_eligible:
        return True
    return kind not in {StepKind.COMPENSABLE, StepKind.RETRYABLE}


def _depends(plan: ValidatedPlan, later: Wave, earlier: Wave) -> bool:
    """Whether a unit must wait for an earlier one: a reference to it, or a shared system."""
    ids = {plan.steps[i].id for i in earlier}
    systems = {(plan.actions[i].provider, plan.steps[i].connection) for i in earlier}
    for index in later:
        step = plan.steps[index]
        if (plan.actions[index].provider, step.connection) in systems:
            return True
        if any(source.partition(".")[0] in ids for _, source in iter_references(step.params)):
            return True
    return False


def overlapping(plan: ValidatedPlan) -> list[Wave]:
    """The plan's waves: barriers alone, and between them each unit in the earliest wave after
    every unit it depends on (see the module docstring)."""
    waves: list[Wave] = []
    segment: list[tuple[Wave, int]] = []  # (unit, its wave's index in `waves`) since the last barrier
    for unit in _explicit_units(plan):
        if len(unit) == 1 and _barrier(plan, unit[0]):
            waves.append(unit)
            segment = []
            continue
        first_free = len(waves) - len({w for _, w in segment})  # the segment's first wave
        after = [w for earlier, w in segment if _depends(plan, unit, earlier)]
        slot = max(after) + 1 if after else first_free
        if slot == len(waves):
            waves.append([])
        waves[slot].extend(unit)
        segment.append((unit, slot))
    return [sorted(wave) for wave in waves]
