"""Following a saga from a shell: `pivot status --watch`, and what `pivot run` says while it waits.

A saga may wait for days on an approval gate; a command that waits on it must say so, and say how
to release it, instead of sitting silent. In a terminal `--watch` redraws the outcome in place; piped
(a log, `tee`, CI) it prints one plain line per change, so what a script reads is the history of the
saga, and it ends when the saga does.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from rich.console import Console

from pivot.services.cli import render
from pivot.services.client import PivotClient, PivotError
from pivot.services.terminal_text import text

ENDED = frozenset({"committed", "compensated", "needs_attention", "rejected", "not_found"})
POLL_S = 0.5
NOTICE_POLL_S = 1.0


def approval_hints(body: dict[str, Any]) -> dict[str, str]:
    """approval id → "waiting for approval by finance (approve with: pivot approve RUN~step)", for
    each gate of the outcome that waits for a decision."""
    hints = {}
    for step in body.get("steps") or []:
        gate = step.get("approval") or {}
        if step.get("state") == "waiting_approval" and gate.get("approval_id"):
            who = " or ".join(str(name) for name in gate.get("approvers") or []) or "an approver"
            hints[str(gate["approval_id"])] = (f"'{step.get('id')}' is waiting for approval by {who} (approve with: "
                                               f"pivot approve {gate['approval_id']})")
    return hints


def change_line(body: dict[str, Any]) -> str:
    """One line for a state of the saga: run id, status, each step's state, and any gate's hint."""
    steps = " ".join(f"{s.get('id')}:{s.get('state')}" for s in body.get("steps") or [])
    line = f"{body.get('run_id')} {body.get('status')}" + (f"  {steps}" if steps else "")
    hints = approval_hints(body)
    return line + ("  — " + "; ".join(hints.values()) if hints else "")


def watch(client: PivotClient, run_id: str, console: Console) -> dict[str, Any]:
    """Follow a saga until it ends; returns its last outcome."""
    body = client.status(run_id)
    if console.is_terminal:
        from rich.live import Live

        with Live(render.outcome_renderable(body), console=console, refresh_per_second=4) as live:
            while body.get("status") not in ENDED:
                time.sleep(POLL_S)
                body = client.status(run_id)
                live.update(render.outcome_renderable(body))
        return body
    last = ""
    while True:
        line = change_line(body)
        if line != last:
            console.print(text(line), soft_wrap=True)
            last = line
        if body.get("status") in ENDED:
            if body.get("summary"):
                console.print(text(body["summary"]), soft_wrap=True)
            return body
        time.sleep(POLL_S)
        body = client.status(run_id)


@contextmanager
def gate_notices(ingress_url: str, run_id: str, console: Console) -> Iterator[None]:
    """While the block waits on the saga, say once per gate that it waits and how to approve it
    (a thread with its own client reads the saga's status; the block's call is left alone)."""
    stop = threading.Event()

    def notice() -> None:
        told: set[str] = set()
        with PivotClient(ingress_url, timeout_s=30) as reader:
            while not stop.wait(NOTICE_POLL_S):
                try:
                    body = reader.status(run_id)
                except (PivotError, httpx.HTTPError):
                    continue
                for approval, hint in approval_hints(body).items():
                    if approval not in told:
                        told.add(approval)
                        console.print(text(hint), soft_wrap=True)

    thread = threading.Thread(target=notice, name=f"gate-notices-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
