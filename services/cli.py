"""`pivot`: run the local stack, submit plans, look at outcomes and the catalog."""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from services import render
from services.client import PivotClient, PivotError, PlanRejectedError

console = Console(width=None if sys.stdout.isatty() else 120)
DEFAULT_INGRESS = "http://127.0.0.1:8080"


def _load_plan(path: str) -> dict[str, Any]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    try:
        plan = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path}: not JSON ({exc})") from None
    if not isinstance(plan, dict):
        raise SystemExit(f"{path}: a plan is a JSON object with a 'steps' list")
    return plan


def _exit_code(outcome: dict[str, Any]) -> int:
    return {"committed": 0, "compensated": 3, "needs_attention": 4}.get(str(outcome.get("status")), 1)


def cmd_run(args: argparse.Namespace) -> int:
    plan = _load_plan(args.plan)
    with PivotClient(args.ingress) as client:
        try:
            outcome = client.run(args.run_id, plan)
        except PlanRejectedError as rejected:
            render.outcome(console, rejected.outcome)
            return 2
        except PivotError as exc:
            console.print(f"[red]error[/] {exc}")
            return 1
    if args.json:
        print(json.dumps(outcome, indent=2))
    else:
        render.outcome(console, outcome)
    return _exit_code(outcome)


def cmd_status(args: argparse.Namespace) -> int:
    with PivotClient(args.ingress) as client:
        body = client.status(args.run_id)
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        render.outcome(console, body)
    return 0


def _approver(args: argparse.Namespace) -> tuple[str, str]:
    approver = args.approver or os.environ.get("PIVOT_APPROVER", "")
    token = os.environ.get("PIVOT_APPROVER_TOKEN", "")
    if not approver or not token:
        raise SystemExit("set PIVOT_APPROVER (or --approver) and PIVOT_APPROVER_TOKEN; the token is never sent, "
                         "it signs the decision")
    return approver, token


def cmd_approvals(args: argparse.Namespace) -> int:
    approver = args.approver or os.environ.get("PIVOT_APPROVER", "")
    if not approver:
        raise SystemExit("which approver? pass --approver NAME or set PIVOT_APPROVER")
    with PivotClient(args.ingress) as client:
        pending = client.approvals(approver)
    if args.json:
        print(json.dumps(pending, indent=2))
    else:
        render.approvals(console, pending, now=time.time())
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    approver, token = _approver(args)
    with PivotClient(args.ingress) as client:
        try:
            result = client.decide(args.approval_id, approver=approver, token=token,
                                   approved=args.command == "approve", comment=args.comment or "")
        except PivotError as exc:
            console.print(f"[red]refused[/] ({exc.status}) {exc.message}")
            return 1
    verb = "approved" if result["approved"] else "rejected"
    console.print(f"[green]{args.approval_id} {verb}[/] by {result['approver']}")
    return 0


def cmd_actions(args: argparse.Namespace) -> int:
    from services.catalog import build_catalog

    render.catalog(console, build_catalog())
    return 0


def run_demo(ingress_url: str, stripe_sandbox_url: str) -> list[dict[str, Any]]:
    from services.demo import clear_faults, fail_invoice_creates, flagship_plan

    stamp = time.strftime("%Y%m%d-%H%M%S")
    outcomes = []
    with PivotClient(ingress_url) as client:
        console.rule("1. the flagship saga, clean")
        outcomes.append(client.run(f"demo-{stamp}-clean", flagship_plan(f"ada+{stamp}@example.com")))
        render.outcome(console, outcomes[-1])
        console.rule("2. the same saga while Stripe answers 500 to every invoice create")
        fail_invoice_creates(stripe_sandbox_url)
        try:
            outcomes.append(client.run(f"demo-{stamp}-failing", flagship_plan(f"grace+{stamp}@example.com")))
        finally:
            clear_faults(stripe_sandbox_url)
        render.outcome(console, outcomes[-1])
    return outcomes


def cmd_dev(args: argparse.Namespace) -> int:
    from services.stack import Stack

    stack = Stack()
    console.print("[bold]starting[/] restate-server, sandboxes and the Pivot service…")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with stack:
        console.print(f"  ingress   {stack.ingress_url}\n  admin     {stack.admin_url}\n"
                      f"  service   {stack.service_url}\n  approvals {stack.approvals_url}\n"
                      + "".join(f"  {name:<9} {url}\n" for name, url in stack.sandbox_urls.items())
                      + f"  logs      {stack.log_dir}")
        if args.demo:
            run_demo(stack.ingress_url, stack.sandbox_urls["stripe"])
        if args.once:
            return 0
        console.print("[bold green]ready[/] — Ctrl-C stops every process started here")
        try:
            while True:
                for proc in (stack.restate, stack.service, stack.sandboxes, stack.approval_page):
                    proc.check_alive()
                time.sleep(1)
        except KeyboardInterrupt:
            console.print("stopping…")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    run_demo(args.ingress, args.stripe_sandbox)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pivot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="start restate-server, the sandboxes and the service; Ctrl-C stops them")
    dev.add_argument("--demo", action="store_true", help="run the flagship saga twice (clean, then failing)")
    dev.add_argument("--once", action="store_true", help="stop the stack after the demo instead of waiting")
    dev.set_defaults(func=cmd_dev)

    run = sub.add_parser("run", help="submit a plan and print its verified outcome")
    run.add_argument("plan", help="plan JSON file, or - for stdin")
    run.add_argument("--run-id", required=True, help="the saga's id; resubmitting it returns the first outcome")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="show a saga's live outcome")
    status.add_argument("run_id")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    actions = sub.add_parser("actions", help="print the per-integration action catalog")
    actions.set_defaults(func=cmd_actions)

    demo = sub.add_parser("demo", help="run the flagship demo against a running stack")
    demo.add_argument("--stripe-sandbox", default="http://127.0.0.1:9101")
    demo.set_defaults(func=cmd_demo)

    approvals = sub.add_parser("approvals", help="list the approvals you may decide, with age and deadline")
    approvals.add_argument("--approver", help="default: $PIVOT_APPROVER")
    approvals.add_argument("--json", action="store_true")
    approvals.set_defaults(func=cmd_approvals)
    decisions = []
    for verb in ("approve", "reject"):
        decision = sub.add_parser(verb, help=f"{verb} a pending approval (signed with $PIVOT_APPROVER_TOKEN)")
        decision.add_argument("approval_id")
        decision.add_argument("--comment", default="", required=verb == "reject")
        decision.add_argument("--approver", help="default: $PIVOT_APPROVER")
        decision.set_defaults(func=cmd_decide)
        decisions.append(decision)

    for command in (run, status, demo, approvals, *decisions):
        command.add_argument("--ingress", default=DEFAULT_INGRESS, help="Restate ingress URL")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
