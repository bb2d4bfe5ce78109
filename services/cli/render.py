"""Terminal rendering of outcomes, violations, approvals, the saga list, journals and the catalog (rich).

Every value shown here came from a plan, an agent, a provider or the catalog's plugins: it is
data, so it reaches rich only through `pivot.services.terminal_text` (`text` cells, `markup` fields),
which escapes markup and control characters and redacts credentials. Literal markup appears only
in this module's own templates.
"""

import json
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table

from pivot.compensations.actions import Action, Catalog
from pivot.compensations.durations import short_duration
from pivot.services.action_traits import LEGEND, classification, idempotent, reversible
from pivot.services.terminal_text import markup, text

STATUS_STYLE = {
    "committed": "bold green", "compensated": "bold yellow", "needs_attention": "bold red",
    "rejected": "bold red", "running": "bold cyan", "open": "bold blue", "waiting_approval": "bold magenta",
    "not_found": "dim",
}
STATE_STYLE = {
    "verified": "green", "compensated": "yellow", "nothing_to_undo": "yellow", "failed": "red",
    "compensation_failed": "bold red", "not_run": "dim", "running": "cyan", "pending": "dim", "deferred": "blue",
    "waiting_approval": "magenta",
}


def _table(*columns: str, no_wrap: Iterable[str] = ()) -> Table:
    """The compact table of every listing: bold header, no box."""
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in no_wrap)
    return table


def outcome_renderable(body: dict[str, Any]) -> Group:
    """The outcome as one renderable (for `status --watch`'s live view)."""
    return Group(*_outcome_parts(body))


def outcome(console: Console, body: dict[str, Any]) -> None:
    for part in _outcome_parts(body):
        console.print(part)


def _outcome_parts(body: dict[str, Any]) -> list[RenderableType]:
    status = str(body.get("status", "?"))
    parts: list[RenderableType] = [
        text(body.get("run_id"), "bold") + "  " + text(status, STATUS_STYLE.get(status, "bold"))]
    steps = body.get("steps") or []
    if steps:
        table = _table("step", "action", "kind", "state", "ref", no_wrap=("step", "action", "kind", "state"))
        for step in steps:
            state = str(step.get("state"))
            table.add_row(text(step.get("id")), text(step.get("action")), text(step.get("kind")),
                          text(state, STATE_STYLE.get(state, "")), text(step.get("ref") or ""))
        parts.append(table)
        for step in steps:
            if step.get("error"):
                error = step["error"]
                parts.append(markup("  [red]✗ {}[/] {}: {}", step.get("id"), error.get("code"), error.get("message")))
            if step.get("compensation"):
                parts.append(markup("  [yellow]↺ {}[/] {}", step.get("id"), step["compensation"]))
    parts += violation_lines(body.get("violations") or [])
    if body.get("summary"):
        parts.append(text(body["summary"], "italic"))
    return parts


def violation_lines(violations: Iterable[Mapping[str, Any]]) -> list[RenderableType]:
    """Each problem of a refused plan or step: where, which rule, what is wrong, and the fix."""
    lines: list[RenderableType] = []
    for violation in violations:
        rule = markup(" [dim]({})[/]", violation["rule"]) if violation.get("rule") else ""
        lines.append(markup("  [red]✗[/] {}", violation.get("path")) + rule + text(f" {violation.get('message')}"))
        if violation.get("fix"):
            lines.append(markup("    [dim]fix:[/] {}", violation["fix"]))
    return lines


def params_cell(action: Action) -> str:
    """An action's params by name, `*` after each required one: "email*, firstname, lastname"."""
    fields = action.params.model_fields
    return ", ".join(f"{name}{'*' if field.is_required() else ''}" for name, field in fields.items())


def catalog(console: Console, actions: Catalog) -> None:
    """One block per action: its name, kind and source on one line, then what a user needs to know
    before using it, one labelled line each. Eight columns side by side folded names and params
    mid-word in a 120-column terminal; a block keeps every name whole at any width."""
    console.print(markup("[bold]Pivot action catalog[/] ({} actions; params: * required)", len(actions)))
    for name in sorted(actions):
        action = actions[name]
        console.print()
        console.print(markup("[bold]{}[/]  {} · {} · {}", name, action.kind.value,
                             "may be the pivot" if action.pivot_eligible else "not a pivot",
                             actions.sources.get(name, "built-in")), soft_wrap=True)
        details = Table.grid(padding=(0, 2))
        details.add_column(style="dim", no_wrap=True)
        details.add_column(overflow="fold")
        for label, value in (("params", params_cell(action)), ("key carrier", action.key_carrier),
                             ("read-back", action.readback),
                             ("undo", action.compensation if action.undo_scope == "full"
                              else f"(partial) {action.compensation}")):
            details.add_row(text(f"  {label}"), text(value))
        console.print(details)


def seed_table(console: Console, actions: Catalog) -> None:
    """The seed's table: each action's classification, whether it can be reversed, whether the
    provider makes a repeated write safe by itself."""
    table = _table("action", "classification", "reversible", "idempotent", no_wrap=("action",))
    for name in sorted(actions):
        action = actions[name]
        table.add_row(*map(text, (name, classification(action), reversible(action), idempotent(action))))
    console.print(table)
    console.print(text(LEGEND, "dim"))


def approvals(console: Console, pending: list[dict[str, Any]], *, now: float) -> None:
    if not pending:
        console.print(markup("[dim]no pending approvals[/]"))
        return
    table = _table("approval", "action", "reason", "age", "deadline in")
    for item in pending:
        table.add_row(text(item.get("approval_id")), text(item.get("action")), text(item.get("reason", "")),
                      short_duration(now - float(item["requested_at"])), short_duration(float(item["deadline"]) - now))
    console.print(table)


STEP_STATUSES = frozenset({"running", "waiting_approval"})
"""Saga statuses an open saga shows through a step: its own status stays `open` meanwhile."""


def has_status(outcome: Mapping[str, Any], status: str) -> bool:
    """Does `pivot list --status` list this saga? A plan's status says it all; an open saga is `open`
    while one of its steps runs or waits for approval, and is listed under those too."""
    if outcome.get("status") == status:
        return True
    return (status in STEP_STATUSES and outcome.get("status") == "open"
            and any(step.get("state") == status for step in outcome.get("steps") or []))


def saga_list(console: Console, sagas: list[dict[str, Any]]) -> None:
    if not sagas:
        console.print(markup("[dim]no sagas[/]"))
        return
    table = _table("run", "kind", "status", "steps", "summary")
    for saga in sorted(sagas, key=lambda s: str(s.get("run_id"))):
        status = str(saga.get("status"))
        steps = " ".join(f"{s.get('id')}:{s.get('state')}" for s in saga.get("steps", []))
        table.add_row(text(saga.get("run_id")), text(saga.get("mode") or "plan"),
                      text(status, STATUS_STYLE.get(status, "")), text(steps),
                      text(str(saga.get("summary", ""))[:160]))
    console.print(table)


def journal(console: Console, invocation: dict[str, Any], events: list[Any]) -> None:
    console.print(markup("[bold]{}[/]  {}  status={}  created={}", invocation.get("target"), invocation.get("id"),
                         invocation.get("status"), invocation.get("created_at")))
    if invocation.get("retry_count"):
        console.print(markup("  invocation attempts: {}  last failure: {}", invocation.get("retry_count"),
                             invocation.get("last_failure") or "-"))
    table = _table("#", "time", "", "what", "detail")
    for event in events:
        step = event.kind == "step"
        table.add_row(str(event.index), text(event.at[11:23]), "●" if step else "·",
                      text(event.what, "cyan" if step else ""), text(event.detail))
    console.print(table)


def preview(console: Console, body: Mapping[str, Any]) -> None:
    """`pivot step --dry-run`: what the step would do, and that nothing was written."""
    console.print(markup("[bold]{}[/] ({}) would be [bold]{}[/]: {}", body.get("step"), body.get("action"),
                         body.get("verdict"), body.get("meaning")))
    gate = body.get("approval") or {}
    order = body.get("order") or {}
    rows = [("kind", body.get("kind")), ("undo", body.get("compensation")),
            ("forward key", (body.get("keys") or {}).get("forward")),
            ("undo key", (body.get("keys") or {}).get("compensation")),
            ("approval", ", ".join(gate.get("approvers", [])) if gate else "none"),
            ("order check", "ok" if order.get("ok") else f"{order.get('code')}: {order.get('message')}"),
            ("duplicate of", body.get("duplicate_of") or "none"),
            ("params", body.get("resolved_params") if body.get("resolved_params") is not None
             else "resolved later: " + "; ".join(body.get("unresolved") or []))]
    table = _table("", "")
    for label, value in rows:
        table.add_row(text(label, "dim"), text(value if isinstance(value, str) else json.dumps(value)))
    console.print(table)
    for line in violation_lines(order.get("violations") or []):
        console.print(line)
    console.print(text(f"Writes: {body.get('writes')}", "dim"))
