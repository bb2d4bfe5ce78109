"""Plan validation: every ordering rule of the saga model, checked before anything runs.

A rejected plan lists *all* its violations at once, each naming the step, the rule and the
fix, so an agent can repair the plan in one round trip instead of one error at a time.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from pivot.compensations import strict_json
from pivot.compensations.actions import Action, Catalog
from pivot.compensations.kinds import StepKind
from pivot.compensations.plan import (
    MAX_APPROVAL_WAIT,
    MAX_DEPTH,
    MAX_PARAMS_BYTES,
    MAX_PLAN_BYTES,
    MAX_STRING_CHARS,
    Plan,
    StepSpec,
)
from pivot.compensations.references import FROM, TEMPLATE, check_shape, iter_references


class Violation(BaseModel):
    """One reason a plan was refused."""

    step: str | None = None
    path: str
    rule: str
    message: str
    fix: str


class PlanRejected(Exception):
    """The plan is unsafe or malformed; nothing ran."""

    def __init__(self, violations: list[Violation]):
        super().__init__("; ".join(f"{v.path}: {v.message}" for v in violations))
        self.violations = violations


@dataclass(frozen=True, slots=True)
class ValidatedPlan:
    """A plan that passed every rule, with each step's effective kind and action resolved."""

    plan: Plan
    actions: tuple[Action, ...]
    kinds: tuple[StepKind, ...]
    pivot_index: int | None
    """Index of the explicit or implied pivot; None when no step can be undone at all."""

    @property
    def steps(self) -> list[StepSpec]:
        return self.plan.steps


def _json_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _bounds(value: Any, path: str, depth: int = 0) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if depth > MAX_DEPTH:
        return [(path, f"nested deeper than {MAX_DEPTH} levels")]
    if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
        problems.append((path, f"string longer than {MAX_STRING_CHARS} characters"))
    elif isinstance(value, dict):
        for key, item in value.items():
            if len(key) > 200:
                problems.append((path, "object key longer than 200 characters"))
            problems += _bounds(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems += _bounds(item, f"{path}[{index}]", depth + 1)
    return problems


def _has_reference(value: Any) -> bool:
    if isinstance(value, dict):
        return FROM in value or TEMPLATE in value or any(_has_reference(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_reference(v) for v in value)
    return False


def _at(base: str, rest: str) -> str:
    """A JSON path inside a plan step ("steps[2].params.x") or a lone step request ("params.x")."""
    return f"{base}.{rest}" if base else rest


def _check_params(step: StepSpec, where: str, action: Action) -> list[Violation]:
    """Validate params against the action's model; fields holding references are checked
    for presence only, since their values exist only once earlier steps have verified."""
    base = _at(where, "params")
    model = action.params
    if not _has_reference(step.params):
        try:
            strict_json.validate(model, step.params)
        except ValidationError as exc:
            return [
                Violation(
                    step=step.id,
                    path=f"{base}.{_json_path(tuple(err['loc']))}" if err["loc"] else base,
                    rule="params",
                    message=f"{action.name}: {err['msg']}",
                    fix=f"see `pivot actions` for the params of {action.name}",
                )
                for err in exc.errors()
            ]
        return []
    problems: list[Violation] = []
    known = model.model_fields
    for name in step.params:
        if name not in known:
            problems.append(
                Violation(step=step.id, path=f"{base}.{name}", rule="params",
                          message=f"{action.name} has no parameter '{name}'",
                          fix=f"use one of: {', '.join(known)}")
            )
    for name, info in known.items():
        if info.is_required() and name not in step.params:
            problems.append(
                Violation(step=step.id, path=f"{base}.{name}", rule="params",
                          message=f"{action.name} requires '{name}'", fix=f"add params.{name}")
            )
    return problems


def check_step(step: StepSpec, catalog: Catalog, where: str = "") -> list[Violation]:
    """Everything one step can be refused for on its own: its action, the size and shape of its
    params, its params against the action's model, its approval bounds. Plans check each step
    with it (`where` = "steps[2]"), and so does every step call of an open saga (`where` = "")."""
    out: list[Violation] = []

    def violation(path: str, rule: str, message: str, fix: str) -> None:
        out.append(Violation(step=step.id, path=path, rule=rule, message=message, fix=fix))

    action = catalog.get(step.action)
    if action is None:
        violation(_at(where, "action"), "unknown_action", f"unknown action '{step.action}'",
                  "pick an action listed by `pivot actions`")
        return out
    params_json = json.dumps(step.params, ensure_ascii=False).encode()
    if len(params_json) > MAX_PARAMS_BYTES:
        violation(_at(where, "params"), "size", f"params are {len(params_json)} bytes, the limit is {MAX_PARAMS_BYTES}",
                  "pass less data per step")
        return out
    for path, problem in _bounds(step.params, _at(where, "params")):
        violation(path, "size", problem, "shorten or flatten the value")
    for path, problem in check_shape(step.params):
        violation(_at(where, f"params.{path}"), "reference", problem, 'write {"$from": "earlier_step.field"}')
    out.extend(_check_params(step, where, action))
    if step.approval is not None and step.approval.timeout > MAX_APPROVAL_WAIT:
        violation(_at(where, "approval.timeout"), "approval", f"approval timeout exceeds {MAX_APPROVAL_WAIT.days} days",
                  "use a shorter timeout")
    if step.approval is not None and len(set(step.approval.channels)) < len(step.approval.channels):
        violation(_at(where, "approval.channels"), "approval", "a channel is named twice", "name each channel once")
    if step.approval is not None and "chat" in step.approval.channels and len(step.approval.approvers) != 1:
        violation(_at(where, "approval.channels"), "approval",
                  "the chat channel asks the agent's own user, whose answer comes from the agent's client: it "
                  f"decides a gate with one approver, not {len(step.approval.approvers)}",
                  "name only the agent's user as approver, or drop chat from channels")
    if step.approval is not None and (unknown := catalog.unknown_approvers(step.approval.approvers)):
        configured = ", ".join(sorted(catalog.approvers or ())) or "none"
        names = ", ".join(f"'{name}'" for name in unknown)
        which = f"approver {names} is" if len(unknown) == 1 else f"approvers {names} are"
        violation(_at(where, "approval.approvers"), "approvers",
                  f"{which} not configured (configured: {configured}): the gate could never be decided",
                  "name a configured approver, or configure it on the service (PIVOT_APPROVERS)")
    if not catalog.knows_connection(action.provider, step.connection):
        known = ", ".join(["default", *sorted(catalog.connections.get(action.provider, ()))])
        violation(_at(where, "connection"), "connection",
                  f"{action.provider} has no connection '{step.connection}' (configured: {known})",
                  "name a configured connection, or configure it (PIVOT_CONNECTIONS_FILE)")
    if step.pivot and not action.pivot_eligible:
        violation(_at(where, "pivot"), "pivot_eligible", f"{action.name} may not be the pivot",
                  "choose a pivot-eligible action (see `pivot actions`)")
    return out


def decode_plan(body: bytes | None) -> Any:
    """Bytes from the wire to JSON values, refusing oversized or malformed input as a violation
    (a plan that cannot be read is rejected like any other: nothing runs)."""
    body = body or b""
    if len(body) > MAX_PLAN_BYTES:
        raise PlanRejected([Violation(step=None, path="", rule="size",
                                      message=f"plan is {len(body)} bytes, the limit is {MAX_PLAN_BYTES}",
                                      fix="split the work into several sagas")])
    try:
        return strict_json.loads(body or b"null")
    except (ValueError, RecursionError) as exc:
        message = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise PlanRejected([Violation(step=None, path="", rule="json", message=f"not JSON: {message}",
                                      fix="send a JSON object with a 'steps' list")]) from None


def plan_digest(raw: Any) -> str:
    """A stable digest of a plan as submitted, so a resubmission can be told apart from a
    different plan sent under the same run id."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _parse(raw: Any) -> Plan:
    try:
        size = len(json.dumps(raw, ensure_ascii=False).encode())
    except (TypeError, ValueError) as exc:
        raise PlanRejected([Violation(step=None, path="", rule="json", message=f"not JSON: {exc}",
                                      fix="send a JSON object with a 'steps' list")]) from exc
    if size > MAX_PLAN_BYTES:
        raise PlanRejected([Violation(step=None, path="", rule="size",
                                      message=f"plan is {size} bytes, the limit is {MAX_PLAN_BYTES}",
                                      fix="split the work into several sagas")])
    try:
        return strict_json.validate(Plan, raw)
    except ValidationError as exc:
        raise PlanRejected([
            Violation(step=None, path=_json_path(tuple(err["loc"])) or "plan", rule="shape",
                      message=err["msg"], fix="see the plan JSON Schema (`pivot schema plan`)")
            for err in exc.errors(include_url=False)
        ]) from exc


def validate_plan(raw: Any, catalog: Catalog) -> ValidatedPlan:
    """Return the validated plan, or raise `PlanRejected` listing every violation."""
    plan = _parse(raw)
    steps = plan.steps
    out: list[Violation] = []

    def violation(index: int | None, path: str, rule: str, message: str, fix: str) -> None:
        step_id = steps[index].id if index is not None else None
        out.append(Violation(step=step_id, path=path, rule=rule, message=message, fix=fix))

    positions: dict[str, int] = {}
    for index, step in enumerate(steps):
        if step.id in positions:
            violation(index, f"steps[{index}].id", "unique_ids",
                      f"step id '{step.id}' is used twice", "give every step its own id")
        positions.setdefault(step.id, index)

    # The same write twice (same action, connection and params) is a model repeating itself, unless
    # the later step says it means it (two equal refunds).
    writes: dict[str, int] = {}
    for index, step in enumerate(steps):
        write = json.dumps([step.action, step.connection, step.params], sort_keys=True, ensure_ascii=False)
        if write in writes and not step.repeat:
            first = steps[writes[write]].id
            violation(index, f"steps[{index}]", "duplicate_step",
                      f"'{step.id}' makes the same write as '{first}' ({step.action}, the same params)",
                      f"drop '{step.id}', or mark it \"repeat\": true if both writes are meant")
        writes.setdefault(write, index)

    actions: list[Action | None] = []
    for index, step in enumerate(steps):
        actions.append(catalog.get(step.action))
        out.extend(check_step(step, catalog, f"steps[{index}]"))

    # Rule 6: references only to earlier steps.
    for index, step in enumerate(steps):
        for path, source in iter_references(step.params):
            target = source.partition(".")[0]
            where = f"steps[{index}].params.{path}"
            if target not in positions:
                violation(index, where, "reference_order",
                          f"references unknown step '{target}'", "reference a step of this plan")
            elif positions[target] >= index:
                violation(index, where, "reference_order",
                          f"references step '{target}', which does not come before it",
                          f"move '{target}' before '{step.id}' or drop the reference")

    # Rule 1: at most one pivot, and the action must allow it.
    explicit = [i for i, s in enumerate(steps) if s.pivot]
    for extra in explicit[1:]:
        violation(extra, f"steps[{extra}].pivot", "one_pivot",
                  f"a second pivot (the first is '{steps[explicit[0]].id}')",
                  "mark exactly one step as the point of no return")

    # Rule 4: with no explicit pivot, the last compensable step is the implied pivot.
    # Steps with an unknown action have no kind; they are already reported and skipped below.
    base_kinds = [a.kind if a is not None else None for a in actions]
    if explicit:
        pivot_index: int | None = explicit[0]
    else:
        compensable = [i for i, k in enumerate(base_kinds) if k is StepKind.COMPENSABLE]
        pivot_index = compensable[-1] if compensable else None
    kinds = [StepKind.PIVOT if i == pivot_index else k for i, k in enumerate(base_kinds)]

    # Rules 2 and 3: compensable before the pivot; retryable, then noncompensable, after it.
    boundary = -1 if pivot_index is None else pivot_index
    seen_noncompensable: int | None = None
    for index, kind in enumerate(kinds):
        name = steps[index].action
        if kind is None:
            continue
        if index < boundary and kind is not StepKind.COMPENSABLE:
            violation(index, f"steps[{index}]", "before_pivot",
                      f"{name} is {kind.value} but runs before the pivot '{steps[boundary].id}'",
                      f"move '{steps[index].id}' after the pivot, or use a compensable action")
        if index > boundary:
            if kind is StepKind.COMPENSABLE:
                violation(index, f"steps[{index}]", "after_pivot",
                          f"{name} is compensable but runs after the pivot; it could never be undone",
                          f"move '{steps[index].id}' before the pivot, or make it the pivot")
            elif kind is StepKind.NONCOMPENSABLE:
                seen_noncompensable = index if seen_noncompensable is None else seen_noncompensable
            elif kind is StepKind.RETRYABLE and seen_noncompensable is not None:
                violation(index, f"steps[{index}]", "noncompensable_last",
                          f"retryable {name} runs after noncompensable '{steps[seen_noncompensable].id}'",
                          f"move '{steps[seen_noncompensable].id}' to the end")

    # Rule 5: only compensable steps share a parallel group, and a group is contiguous.
    groups: dict[str, list[int]] = {}
    for index, step in enumerate(steps):
        if step.group is not None:
            groups.setdefault(step.group, []).append(index)
    for group, members in groups.items():
        for index in members:
            member_kind = kinds[index]
            if member_kind is not None and member_kind is not StepKind.COMPENSABLE:
                violation(index, f"steps[{index}].group", "parallel_group",
                          f"{member_kind.value} step in parallel group '{group}'",
                          "only compensable steps may run in parallel; remove the group")
        if members != list(range(members[0], members[-1] + 1)):
            violation(members[0], f"steps[{members[0]}].group", "parallel_group",
                      f"group '{group}' is not contiguous", "put a group's steps next to each other")
        for index in members:
            for path, source in iter_references(steps[index].params):
                if positions.get(source.partition(".")[0], -1) in members:
                    violation(index, f"steps[{index}].params.{path}", "parallel_group",
                              "references a step of its own parallel group",
                              "take the group out, or drop the reference")

    if out:
        raise PlanRejected(out)
    resolved = tuple(a for a in actions if a is not None)
    step_kinds = tuple(k for k in kinds if k is not None)
    return ValidatedPlan(plan=plan, actions=resolved, kinds=step_kinds, pivot_index=pivot_index)


DEFAULT_NOT_BEFORE_HORIZON = timedelta(days=365)
HORIZON_ENV = "PIVOT_NOT_BEFORE_HORIZON"


def not_before_horizon() -> timedelta:
    """How far ahead a step may be scheduled (`PIVOT_NOT_BEFORE_HORIZON`, ISO-8601, default a year).

    A `not_before` in the year 9999 would park a saga, and every run id and approval it holds,
    for ever; a year is longer than any business schedule and short enough to be noticed."""
    raw = os.environ.get(HORIZON_ENV, "").strip()
    return TypeAdapter(timedelta).validate_python(raw) if raw else DEFAULT_NOT_BEFORE_HORIZON


def check_horizon(plan: ValidatedPlan, now: float) -> None:
    """Raise `PlanRejected` if a step is scheduled beyond the horizon from `now` (a journaled time
    in a handler, so that replay decides alike)."""
    horizon = not_before_horizon()
    latest = now + horizon.total_seconds()
    problems = [
        Violation(step=step.id, path=f"steps[{index}].not_before", rule="bounds",
                  message=f"not_before {step.not_before.isoformat()} is more than {horizon.days} days ahead",
                  fix=f"schedule within {horizon.days} days ({HORIZON_ENV} sets the horizon)")
        for index, step in enumerate(plan.steps)
        if step.not_before is not None and step.not_before.timestamp() > latest
    ]
    if problems:
        raise PlanRejected(problems)
