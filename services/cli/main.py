"""`pivot`: run the local stack, submit plans or drive open sagas, look at outcomes and the catalog."""

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from pivot.services.cli import ids, render
from pivot.services.cli.failures import json_failure
from pivot.services.client import PivotClient, PivotError, PlanRejectedError
from pivot.services.terminal_text import markup, text

console = Console(width=None if sys.stdout.isatty() else 120, markup=False, highlight=False)
"""Prints rich renderables built by `pivot.services.terminal_text` (or literal text): a plain string is
never read as markup, so a value that slips into one cannot restyle or crash the output."""
INGRESS_HELP = "Restate ingress URL (default: $PIVOT_INGRESS_URL, else the local stack's, else http://127.0.0.1:8080)"
ADMIN_HELP = "Restate admin URL (default: $PIVOT_ADMIN_URL, else the local stack's, else http://127.0.0.1:9070)"
notices = Console(stderr=True, width=None if sys.stderr.isatty() else 120, markup=False, highlight=False)
"""What a command says while it waits (a gate to approve): on stderr, so `--json` output stays JSON."""


def _load_plan(path: str) -> dict[str, Any]:
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    try:
        plan = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path}: not JSON ({exc})") from None
    if not isinstance(plan, dict):
        raise SystemExit(f"{path}: a plan is a JSON object with a 'steps' list")
    return plan


EXIT_CODES = """exit status (every command that reports a saga):
  0  committed, or done (open sagas: the call was taken)
  1  error (the service could not be reached, or answered an error)
  2  refused or invalid: nothing ran (a rejected plan, a refused step, an invalid catalog)
  3  compensated: the saga unwound, every step that had taken effect was undone
  4  needs attention: an undo failed, or a step after the point of no return did"""


def _exit_code(outcome: dict[str, Any]) -> int:
    return {"committed": 0, "compensated": 3, "needs_attention": 4}.get(str(outcome.get("status")), 1)


def cmd_run(args: argparse.Namespace) -> int:
    from pivot.services.cli.follow import gate_notices

    plan = _load_plan(args.plan)
    with PivotClient(args.ingress) as client:
        try:
            with gate_notices(args.ingress, args.run_id, notices):
                outcome = client.run(args.run_id, plan)
        except PlanRejectedError as rejected:
            if args.json:
                return json_failure(rejected, 2)
            render.outcome(console, rejected.outcome)
            return 2
        except PivotError as exc:
            if args.json:
                return json_failure(exc, 1)
            console.print(markup("[red]error[/] {}", exc))
            return 1
    if args.json:
        print(json.dumps(outcome, indent=2))
    else:
        render.outcome(console, outcome)
    return _exit_code(outcome)


def cmd_status(args: argparse.Namespace) -> int:
    with PivotClient(args.ingress) as client:
        if args.watch:
            from pivot.services.cli.follow import watch

            return _exit_code(watch(client, args.run_id, console))
        try:
            body = client.status(args.run_id)
        except PivotError as exc:
            if args.json:
                return json_failure(exc, 1)
            console.print(markup("[red]error[/] {}", exc))
            return 1
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        render.outcome(console, body)
    return 0


def _approver(args: argparse.Namespace) -> tuple[str, str]:
    from pivot.services.cli.local_stack import approver_token_from_stack

    approver = args.approver or os.environ.get("PIVOT_APPROVER", "")
    token = os.environ.get("PIVOT_APPROVER_TOKEN", "") or (approver and approver_token_from_stack(args, approver))
    if not approver or not token:
        raise SystemExit("set PIVOT_APPROVER (or --approver) and PIVOT_APPROVER_TOKEN (the local stack's are read "
                         "from its approvers file); the token is never sent, it signs the read or the decision")
    return approver, token


def cmd_approvals(args: argparse.Namespace) -> int:
    approver, token = _approver(args)
    with PivotClient(args.ingress) as client:
        try:
            pending = client.approvals(approver, token)
        except PivotError as exc:
            if args.json:
                return json_failure(exc, 1)
            console.print(f"[red]refused[/] ({exc.status}) {exc.message}")
            return 1
    if args.json:
        print(json.dumps(pending, indent=2))
    else:
        render.approvals(console, pending, now=time.time())
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    """Show the gate's text, then decide on exactly that (its digest): what the CLI printed is what
    is approved. A gate this approver cannot read is decided blind, to get the gate's own refusal."""
    from pivot.compensations.approvals import PendingApproval, bound_digest

    approver, token = _approver(args)
    with PivotClient(args.ingress) as client:
        digest = None
        try:
            pending = client.approval(args.approval_id, approver=approver, token=token).get("pending")
        except PivotError:
            pending = None
        if isinstance(pending, dict):
            console.print(pending.get("shown") or pending.get("action"), markup=False, highlight=False)
            digest = bound_digest(PendingApproval.model_validate(pending))
        try:
            result = client.decide(args.approval_id, approver=approver, token=token, digest=digest,
                                   approved=args.command == "approve", comment=args.comment or "")
        except PivotError as exc:
            console.print(markup("[red]refused[/] ({}) {}", exc.status, exc.message))
            return 1
    verb = "approved" if result["approved"] else "rejected"
    console.print(markup("[green]{} {}[/] by {}", args.approval_id, verb, result.get("approver")))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pivot.compensations.validation import PlanRejected, check_horizon, validate_plan
    from pivot.services.catalog import build_catalog
    from pivot.services.cli.explain import explain, explanation_text, known_approvers

    approvers = known_approvers()
    catalog = build_catalog(approvers=approvers.names)
    raw = _load_plan(args.plan)
    steps = raw.get("steps")
    gated = isinstance(steps, list) and any(isinstance(s, dict) and s.get("approval") for s in steps)
    said = {"approvers": approvers.model_dump()} if gated else {}
    try:
        plan = validate_plan(raw, catalog)
        check_horizon(plan, time.time())
    except PlanRejected as rejected:
        if args.json:
            print(json.dumps({"valid": False, "violations": [v.model_dump() for v in rejected.violations], **said},
                             indent=2))
        else:
            console.print(markup("[red]✗ {} problem(s)[/]; nothing would run", len(rejected.violations)))
            for line in render.violation_lines(v.model_dump() for v in rejected.violations):
                console.print(line)
            if gated:
                console.print(text(approvers.sentence(), "dim"))
        return 2
    explanation = explain(plan, catalog)
    if args.json:
        print(json.dumps({"valid": True, **explanation.model_dump(mode="json"), **said}, indent=2))
    else:
        console.print(markup("[green]✓ valid plan[/]"))
        for line in explanation_text(explanation):
            console.print(text(line))
        if gated:
            console.print(text(approvers.sentence(), "dim"))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from pydantic import BaseModel

    from pivot.compensations.open_calls import FinishRequest, OpenRequest, StepRequest
    from pivot.compensations.outcome import Outcome
    from pivot.services.catalog import build_catalog
    from pivot.services.cli.explain import plan_json_schema

    models: dict[str, type[BaseModel]] = {"outcome": Outcome, "step": StepRequest, "open": OpenRequest,
                                          "finish": FinishRequest}
    schema = plan_json_schema(build_catalog()) if args.which == "plan" else models[args.which].model_json_schema()
    print(json.dumps(schema, indent=2))
    return 0


def cmd_tools(args: argparse.Namespace) -> int:
    """Print the agent tools. With --strict, every tool is checked against strict mode's rules first
    (they are generated strict-ready; a plugin action whose params cannot be is named, not printed)."""
    from pivot.services.agents.strict_schema import strict_problems
    from pivot.services.agents.tools_schema import render_tools, tool_specs
    from pivot.services.catalog import build_catalog

    catalog = build_catalog()
    if args.strict:
        problems = [f"{spec.name}: {problem}" for spec in tool_specs(catalog, args.actions, args.tools)
                    for problem in strict_problems(spec.input_schema)]
        if problems:
            print("not valid for strict mode:\n" + "\n".join(problems), file=sys.stderr)
            return 1
    print(json.dumps(render_tools(catalog, args.format, args.actions, mode=args.tools, strict=args.strict), indent=2))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from pivot.compensations.record import SagaRecord
    from pivot.services.admin import AdminClient

    with AdminClient(args.admin) as admin:
        rows = admin.saga_outcomes()
    sagas = []
    for row in rows:
        outcome = json.loads(str(row["value_utf8"]))
        if row["service_name"] == "Saga":  # an open saga's record: the outcome without the engine's fields
            outcome = SagaRecord.model_validate(outcome).stored_public_json()
        outcome.setdefault("mode", "plan")
        if args.status and not render.has_status(outcome, args.status):
            continue
        sagas.append(outcome)
    if args.json:
        print(json.dumps(sagas, indent=2))
    else:
        render.saga_list(console, sagas)
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    with PivotClient(args.ingress, admin_url=args.admin) as client:
        try:
            if client.cancel(args.run_id):
                console.print(markup("cancelled {}; its compensations run now", args.run_id))
            else:
                console.print(markup("{} has already finished; nothing to cancel", args.run_id))
            render.outcome(console, client.attach(args.run_id))
        except PivotError as exc:
            console.print(text(exc, "red"))
            return 1
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    with PivotClient(args.ingress) as client:
        try:
            result = client.retry_compensations(args.run_id)
        except PivotError as exc:
            console.print(text(exc.message, "red"))
            return 1
        for step_id, repair in result["repairs"].items():
            console.print(markup("  {}: {} (retry {})", step_id, repair.get("state"), repair.get("attempt")))
        body = client.status(args.run_id)
    render.outcome(console, body)
    return 0 if body.get("status") != "needs_attention" else 4


def cmd_journal(args: argparse.Namespace) -> int:
    from pivot.services.admin import AdminClient
    from pivot.services.cli.journal import saga_journal

    with AdminClient(args.admin) as admin:
        found = saga_journal(admin, args.run_id)
    if found is None:
        console.print(markup("[red]no saga {} (journals are kept for the retention period)[/]", args.run_id))
        return 1
    invocation, events = found
    if args.json:
        print(json.dumps({"invocation": invocation, "events": [e.model_dump() for e in events]}, indent=2))
    else:
        render.journal(console, invocation, events)
    return 0


def cmd_actions(args: argparse.Namespace) -> int:
    from pivot.services.agents.tools_schema import action_json
    from pivot.services.catalog import build_catalog
    from pivot.services.plugins import CatalogError

    try:
        catalog = build_catalog()
    except CatalogError as invalid:
        console.print(markup("[red]cannot build the catalog[/]: {}", invalid))
        return 2
    if args.json:
        print(json.dumps([action_json(catalog[name], catalog.sources.get(name)) for name in sorted(catalog)],
                         indent=2))
    elif args.table:
        render.seed_table(console, catalog)
    else:
        render.catalog(console, catalog)
    return 0


def run_demo(ingress_url: str, stripe_sandbox_url: str) -> list[dict[str, Any]]:
    from pivot.services.local.demo import clear_faults, fail_invoice_creates, flagship_plan

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
    from contextlib import suppress
    from importlib.util import find_spec

    from pivot.services.cli.dev_signals import stop_on_signals, until_stopped
    from pivot.services.local.preflight import CannotStart
    from pivot.services.local.processes import ProcessExited
    from pivot.services.local.sandbox_credentials import print_sandbox_credentials
    from pivot.services.local.stack import Ports, Stack

    try:
        ports = (Ports.free() if args.ports == "free" else Ports()).with_overrides(dict(args.port))
    except ValueError as unknown:
        console.print(text(f"--port: {unknown}", "red"))
        return 2
    stack = Stack(ports=ports, mcp_server=find_spec("mcp") is not None,  # the MCP SDK is the `agents` extra
                  fresh_data=not args.keep)
    stop_on_signals()
    console.print(markup("[bold]starting[/] restate-server, sandboxes and the Pivot service…"))
    try:
        with stack:
            places = {"ingress": stack.ingress_url, "admin": stack.admin_url, "service": stack.service_url,
                      "approvals": stack.approvals_url, **({"mcp": stack.mcp_url} if stack.mcp_server else {}),
                      **stack.sandbox_urls, "logs": stack.log_dir, "state": stack.stack_file}
            for name, place in places.items():
                console.print(text(f"  {name:<9} {place}"))
            console.print(text(f"  data      {stack.data_dir}: " + (
                "kept from the last start (--keep)" if args.keep else
                "started empty, as the sandboxes do (--keep keeps the last start's sagas)")), soft_wrap=True)
            console.print(text(f"  postgres  127.0.0.1:{stack.ports.postgres}, database and role pivot, data in "
                               f"{stack.postgres.data_dir} (" + ("kept (--keep)" if args.keep else "started empty "
                               "with Restate's") + f"); password in {stack.postgres.home / 'password'} (0600); "
                               "`pivot env` prints PIVOT_POSTGRES_DSN"), soft_wrap=True)
            approvers = ", ".join(stack.approver_tokens)
            console.print(text(f"  approvers {approvers}: tokens in {stack.approvers_file} "
                               "(made on first start, mode 0600)"))
            console.print(text("    export PIVOT_APPROVER=finance PIVOT_APPROVER_TOKEN=$(sed -n 's/^finance://p' "
                               f"{stack.approvers_file})"), soft_wrap=True)
            print_sandbox_credentials(console, stack.sandbox_urls)
            console.print(text("  every pivot command finds these addresses by itself; `pivot env` prints them "
                               "as export lines"))
            if args.demo:
                run_demo(stack.ingress_url, stack.sandbox_urls["stripe"])
            if args.once:
                return 0
            console.print(markup("[bold green]ready[/] — Ctrl-C (or closing this terminal) stops every process "
                                 "started here"))
            while not until_stopped(1.0):
                for proc in (stack.restate, stack.service, stack.sandboxes, stack.approval_page, stack.mcp,
                             stack.postgres.process):
                    proc.check_alive()
            raise KeyboardInterrupt  # here, not inside a child's bookkeeping: `with stack:` stops them all
    except CannotStart as refused:
        console.print(markup("[red]pivot dev cannot start[/]: nothing was started"))
        for line in str(refused).splitlines():
            console.print(text(f"  {line}"), soft_wrap=True)
        return 1
    except (ProcessExited, TimeoutError) as failed:
        console.print(markup("[red]pivot dev stopped every process[/]: {}", failed), soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        with suppress(OSError):  # the terminal may be gone (SIGHUP): stopping goes on regardless
            console.print("stopped every process started here")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if args.checkout:
        from pivot.services.cli.checkout_demo import run_checkout_demo, shop_of
        from pivot.services.cli.local_stack import local_stack_of

        stack = local_stack_of(args)
        if stack.found is None:
            console.print(text("pivot demo --checkout runs on the local stack: start it with `pivot dev` "
                               "(or ./scripts/dev.sh)", "red"))
            return 1
        run_checkout_demo(shop_of(stack.found.info), console)
        return 0
    run_demo(args.ingress, args.stripe_sandbox)
    return 0


def _named_port(value: str) -> tuple[str, int]:
    name, _, port = value.partition("=")
    if not name or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r}: NAME=PORT, e.g. ingress=18080")
    return name.strip(), int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pivot", description=__doc__, epilog=EXIT_CODES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    dev = sub.add_parser("dev", help="start restate-server, the sandboxes and the service; Ctrl-C stops them")
    dev.add_argument("--demo", action="store_true", help="run the flagship saga twice (clean, then failing)")
    dev.add_argument("--once", action="store_true", help="stop the stack after the demo instead of waiting")
    dev.add_argument("--keep", action="store_true",
                     help="keep the sagas and journals of the last start, and the local PostgreSQL's data (by default "
                          "both start empty, as the sandboxes always do, so a run id from yesterday names nothing "
                          "today)")
    dev.add_argument("--ports", choices=["default", "free"], default="default",
                     help="free: any free loopback ports (every pivot command finds them in the state folder's "
                          "stack.json; `pivot env` prints them)")
    dev.add_argument("--port", action="append", type=_named_port, default=[], metavar="NAME=PORT",
                     help="one port of your choice (repeatable): ingress, admin, node, service, approvals, mcp, "
                          "postgres, or a sandbox (stripe, hubspot, slack, salesforce, shopify, resend)")
    dev.set_defaults(func=cmd_dev)

    run = sub.add_parser("run", help="submit a plan and print its verified outcome")
    run.add_argument("plan", help="plan JSON file, or - for stdin")
    run.add_argument("--run-id", required=True, type=ids.run_id,
                     help="the saga's id; resubmitting it returns the first outcome")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="show a saga's live outcome")
    status.add_argument("run_id", type=ids.run_id)
    status.add_argument("--json", action="store_true")
    status.add_argument("--watch", action="store_true", help="follow it live until it ends")
    status.set_defaults(func=cmd_status)

    check = sub.add_parser("check", help="validate a plan offline and explain it (non-zero exit if invalid)")
    check.add_argument("plan", help="plan JSON file, or - for stdin")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_check)

    schema = sub.add_parser("schema", help="print a JSON Schema: the plan, the outcome, or an open saga's call bodies")
    schema.add_argument("which", choices=["plan", "outcome", "step", "open", "finish"])
    schema.set_defaults(func=cmd_schema)

    from pivot.services.cli.mcp_command import TOOL_MODES, TOOLS_HELP

    tools = sub.add_parser("tools", help="print the agent tools (one per action, saga controls, plans) as "
                                         "OpenAI, Anthropic, Gemini or MCP definitions")
    tools.add_argument("--format", choices=["openai", "anthropic", "gemini", "mcp-json"], default="anthropic")
    tools.add_argument("--strict", action="store_true",
                       help="OpenAI functions marked strict (the schemas are strict-ready in every format)")
    tools.add_argument("--tools", choices=TOOL_MODES, default="auto", help=TOOLS_HELP)
    tools.add_argument("--actions", nargs="*", metavar="GLOB", help="only these actions' tools (e.g. 'stripe.*')")
    tools.set_defaults(func=cmd_tools)

    listing = sub.add_parser("list", help="list sagas, by status")
    listing.add_argument("--status", choices=["open", "running", "waiting_approval", "committed", "compensated",
                                              "needs_attention", "rejected"],
                         help="plans and open sagas alike: an open saga is also running, or waiting_approval, while "
                              "one of its steps is")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)

    cancel = sub.add_parser("cancel", help="cancel a saga (a plan through Restate; an open saga is aborted): "
                                           "its compensations run")
    cancel.add_argument("run_id", type=ids.run_id)
    cancel.set_defaults(func=cmd_cancel)

    retry = sub.add_parser("retry", help="retry the compensations of a needs_attention saga that gave up")
    retry.add_argument("run_id", type=ids.run_id)
    retry.set_defaults(func=cmd_retry)

    journal = sub.add_parser("journal", help="replay a saga's journal: Restate entries and step events")
    journal.add_argument("run_id", type=ids.run_id)
    journal.add_argument("--json", action="store_true")
    journal.set_defaults(func=cmd_journal)

    actions = sub.add_parser("actions", help="print the per-integration action catalog")
    actions.add_argument("--json", action="store_true", help="the catalog as JSON, with each action's params schema")
    actions.add_argument("--table", action="store_true",
                         help="one line per action: classification, reversible, idempotent (the seed's table)")
    actions.set_defaults(func=cmd_actions)

    demo = sub.add_parser("demo", help="run the flagship demo against a running stack")
    demo.add_argument("--checkout", action="store_true",
                      help="the checkout saga (reserve, charge, record, fulfil, email) clean and with a failure at "
                           "each step in turn, on the local stack")
    demo.add_argument("--stripe-sandbox", help="the Stripe sandbox's URL (default: the local stack's, "
                                               "else http://127.0.0.1:9101)")
    demo.set_defaults(func=cmd_demo)

    approvals = sub.add_parser("approvals", help="list the approvals you may decide, with age and deadline")
    approvals.add_argument("--approver", help="default: $PIVOT_APPROVER")
    approvals.add_argument("--json", action="store_true")
    approvals.set_defaults(func=cmd_approvals)
    decisions = []
    for verb in ("approve", "reject"):
        decision = sub.add_parser(verb, help=f"{verb} a pending approval (signed with $PIVOT_APPROVER_TOKEN)")
        decision.add_argument("approval_id", type=ids.approval_id)
        decision.add_argument("--comment", default="", required=verb == "reject")
        decision.add_argument("--approver", help="default: $PIVOT_APPROVER")
        decision.set_defaults(func=cmd_decide)
        decisions.append(decision)

    from pivot.services.cli.open_sagas import add_commands

    add_commands(sub, console, None)

    from pivot.services.cli.accounts import add_commands as add_account_commands

    add_account_commands(sub, console)

    from pivot.services.cli.mcp_command import add_command as add_mcp_command

    add_mcp_command(sub, None)

    from pivot.services.cli.conformance_command import add_command as add_conformance_command

    add_conformance_command(sub)

    from pivot.services.cli.local_stack import add_env_command

    add_env_command(sub)

    for command in (run, status, demo, approvals, cancel, retry, *decisions):
        command.add_argument("--ingress", help=INGRESS_HELP)
    for command in (listing, cancel, journal):
        command.add_argument("--admin", help=ADMIN_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pivot.services.cli.local_stack import fill_addresses

    args = build_parser().parse_args(argv)
    fill_addresses(args)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
