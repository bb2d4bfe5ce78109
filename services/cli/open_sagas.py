"""`pivot open | step | commit | abort`: drive an open saga one call at a time from a shell.

What an agent does through the HTTP contract, for people trying it out, scripts and CI: each
command makes one call and prints the verified answer (`--json` for machines). Exit status:
0 done or open, 2 refused (nothing recorded), 3 compensated, 4 needs attention.
"""

import argparse
import json
from collections.abc import Callable
from typing import Any

from rich.console import Console

from pivot.services.cli import ids, render
from pivot.services.cli.failures import json_failure
from pivot.services.client import PivotClient, PivotError, StepConflictError, StepRejectedError
from pivot.services.terminal_text import markup

EXIT = {"compensated": 3, "needs_attention": 4}


def _params(text: str) -> dict[str, Any]:
    try:
        params = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"--params: not JSON ({exc})") from None
    if not isinstance(params, dict):
        raise SystemExit("--params: a JSON object, e.g. '{\"email\": \"ada@example.com\"}'")
    return params


Call = Callable[[PivotClient], dict[str, Any]]


def _ask(console: Console, args: argparse.Namespace, call: Call) -> dict[str, Any] | int:
    """The answer, or the exit status of a refusal (2) or an error (1), said on the console."""
    with PivotClient(args.ingress) as client:
        try:
            return call(client)
        except (StepConflictError, StepRejectedError) as refused:
            if args.json:
                return json_failure(refused, 2)
            console.print(markup("[red]refused[/] ({} {}) {}", refused.status, refused.code, refused.message))
            for line in render.violation_lines(getattr(refused, "violations", [])):
                console.print(line)
            return 2
        except PivotError as exc:
            if args.json:
                return json_failure(exc, 1)
            console.print(markup("[red]error[/] {}", exc))
            return 1


def _call(console: Console, args: argparse.Namespace, call: Call) -> int:
    answer = _ask(console, args, call)
    if isinstance(answer, int):
        return answer
    outcome = answer.get("saga", answer)
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        if "step" in answer:
            step = answer["step"]
            console.print(markup("step [bold]{}[/] → {}{}", step.get("id"), step.get("state"),
                                 f"  {step['ref']}" if step.get("ref") else ""))
        render.outcome(console, outcome)
    return EXIT.get(str(outcome.get("status")), 0)


def cmd_open(console: Console, args: argparse.Namespace) -> int:
    return _call(console, args, lambda c: c.open(args.run_id, idle_timeout=args.idle_timeout, deadline=args.deadline,
                                                 on_failure=args.on_failure))


def cmd_step(console: Console, args: argparse.Namespace) -> int:
    approval = {"approvers": args.approver, "timeout": args.approval_timeout} if args.approver else None
    if args.dry_run:
        return _preview(console, args, approval)
    return _call(console, args, lambda c: c.step(args.run_id, args.step, args.action, _params(args.params),
                                                 pivot=args.pivot, approval=approval, connection=args.connection,
                                                 wait_s=args.wait, repeat=args.repeat))


def _preview(console: Console, args: argparse.Namespace, approval: dict[str, Any] | None) -> int:
    """`step --dry-run`: exit 0 when the step would be taken (run, deferred, replay, duplicate,
    busy), 2 when it would be refused."""
    answer = _ask(console, args, lambda c: c.preview(args.run_id, args.step, args.action, _params(args.params),
                                                     pivot=args.pivot, approval=approval,
                                                     connection=args.connection, repeat=args.repeat))
    if isinstance(answer, int):
        return answer
    if args.json:
        print(json.dumps(answer, indent=2))
    else:
        render.preview(console, answer)
    return 2 if answer.get("verdict") == "refused" else 0


def cmd_commit(console: Console, args: argparse.Namespace) -> int:
    return _call(console, args, lambda c: c.commit(args.run_id, wait_s=args.wait))


def cmd_abort(console: Console, args: argparse.Namespace) -> int:
    return _call(console, args, lambda c: c.abort(args.run_id, args.reason, wait_s=args.wait))


def add_commands(sub: Any, console: Console, ingress: str | None) -> None:
    """Register the open-saga commands; `ingress` None: the CLI finds it (env, the local stack, the default)."""
    def command(name: str, help_: str, run: Callable[[Console, argparse.Namespace], int]) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_)
        parser.add_argument("run_id", type=ids.run_id)
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--ingress", default=ingress, help="Restate ingress URL (default: $PIVOT_INGRESS_URL, "
                                                               "else the local stack's, else http://127.0.0.1:8080)")
        parser.set_defaults(func=lambda args: run(console, args))
        return parser

    opened = command("open", "open a saga that takes steps one call at a time", cmd_open)
    opened.add_argument("--idle-timeout", help="unwind after this long without a call (ISO 8601, default PT15M)")
    opened.add_argument("--deadline", help="unwind this long after opening (ISO 8601, default P7D)")
    opened.add_argument("--on-failure", choices=["unwind", "report"],
                        help="unwind: a failure undoes everything; report: the saga stays open")

    step = command("step", "take one step of an open saga (opens it if needed)", cmd_step)
    step.add_argument("step", type=ids.step_id,
                      help="your label for this write; asking again with it never writes twice")
    step.add_argument("action", help="a catalog action, e.g. hubspot.create_contact (see `pivot actions`)")
    step.add_argument("--params", default="{}", help="the action's params as a JSON object")
    step.add_argument("--pivot", action="store_true", help="this step is the point of no return")
    step.add_argument("--connection", default="default", help="which account of the provider (a named connection)")
    step.add_argument("--approver", action="append", help="gate the step on this approver's decision (repeatable)")
    step.add_argument("--approval-timeout", default="P3D", help="how long the gate waits (ISO 8601)")
    step.add_argument("--wait", type=float, help="answer with the current state after this many seconds")
    step.add_argument("--repeat", action="store_true",
                      help="write again although an earlier step made the same write (both are meant)")
    step.add_argument("--dry-run", action="store_true",
                      help="say what the step would do (verdict, kind, keys, gate, order check, resolved $from) "
                           "and write nothing")

    commit = command("commit", "commit an open saga: deferred steps run now", cmd_commit)
    commit.add_argument("--wait", type=float, help="answer with the live state after this many seconds")

    abort = command("abort", "abort an open saga: every step that took effect is undone", cmd_abort)
    abort.add_argument("--reason", help="why, for the outcome")
    abort.add_argument("--wait", type=float, help="answer with the live state after this many seconds")
