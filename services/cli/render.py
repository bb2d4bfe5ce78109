"""Terminal rendering of outcomes, violations and the catalog (rich)."""

from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from compensations.actions import Catalog

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


def outcome_renderable(body: dict[str, Any]) -> Group:
    """The outcome as one renderable (for `status --watch`'s live view)."""
    recorder = Console(record=True, width=120)
    with recorder.capture():
        outcome(recorder, body)
    return Group(Text.from_ansi(recorder.export_text(styles=True)))


def outcome(console: Console, body: dict[str, Any]) -> None:
    status = str(body.get("status", "?"))
    console.print(f"[bold]{body.get('run_id')}[/]  [{STATUS_STYLE.get(status, 'bold')}]{status}[/]")
    steps = body.get("steps") or []
    if steps:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in ("step", "action", "kind", "state", "ref"):
            table.add_column(column, no_wrap=column != "ref", overflow="fold")
        for step in steps:
            state = str(step.get("state"))
            table.add_row(step["id"], step["action"], step["kind"],
                          f"[{STATE_STYLE.get(state, '')}]{state}[/]", step.get("ref") or "")
        console.print(table)
        for step in steps:
            if step.get("error"):
                console.print(f"  [red]✗ {step['id']}[/] {step['error']['code']}: {step['error']['message']}")
            if step.get("compensation"):
                console.print(f"  [yellow]↺ {step['id']}[/] {step['compensation']}")
    for violation in body.get("violations") or []:
        console.print(f"  [red]✗[/] {violation['path']} [dim]({violation['rule']})[/] {violation['message']}"
                      f"\n    [dim]fix:[/] {violation['fix']}")
    if body.get("summary"):
        console.print(f"[italic]{body['summary']}[/]")


def catalog(console: Console, actions: Catalog) -> None:
    table = Table(title="Pivot action catalog", show_lines=True)
    for column in ("action", "kind", "pivot?", "key carrier", "read-back", "compensation"):
        table.add_column(column, overflow="fold")
    for name in sorted(actions):
        action = actions[name]
        table.add_row(name, action.kind.value, "yes" if action.pivot_eligible else "no", action.key_carrier,
                      action.readback, action.compensation)
    console.print(table)


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def approvals(console: Console, pending: list[dict[str, Any]], *, now: float) -> None:
    if not pending:
        console.print("[dim]no pending approvals[/]")
        return
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("approval", "action", "reason", "age", "deadline in"):
        table.add_column(column, overflow="fold")
    for item in pending:
        table.add_row(item["approval_id"], item["action"], item.get("reason", ""),
                      _age(now - float(item["requested_at"])), _age(float(item["deadline"]) - now))
    console.print(table)


def saga_list(console: Console, sagas: list[dict[str, Any]]) -> None:
    if not sagas:
        console.print("[dim]no sagas[/]")
        return
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("run", "kind", "status", "steps", "summary"):
        table.add_column(column, overflow="fold")
    for saga in sorted(sagas, key=lambda s: str(s.get("run_id"))):
        status = str(saga.get("status"))
        steps = " ".join(f"{s['id']}:{s['state']}" for s in saga.get("steps", []))
        table.add_row(str(saga.get("run_id")), str(saga.get("mode") or "plan"),
                      f"[{STATUS_STYLE.get(status, '')}]{status}[/]", steps, str(saga.get("summary", ""))[:160])
    console.print(table)


def journal(console: Console, invocation: dict[str, Any], events: list[Any]) -> None:
    console.print(f"[bold]{invocation.get('target')}[/]  {invocation.get('id')}  status={invocation.get('status')}"
                  f"  created={invocation.get('created_at')}")
    if invocation.get("retry_count"):
        console.print(f"  invocation attempts: {invocation.get('retry_count')}  "
                      f"last failure: {invocation.get('last_failure') or '-'}")
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("#", "time", "", "what", "detail"):
        table.add_column(column, overflow="fold")
    for event in events:
        style = "cyan" if event.kind == "step" else ""
        table.add_row(str(event.index), event.at[11:23], "●" if event.kind == "step" else "·",
                      f"[{style}]{event.what}[/]" if style else event.what, event.detail)
    console.print(table)
