"""`pivot conformance ACTION… [--all] [--connection NAME] [--json]`: prove actions keep Pivot's guarantees.

Starts its own local stack with a fault-injecting proxy in front of each provider the actions use
(the run's sandbox, or the API a base URL or a named connection points at), runs every case, and
prints one table per action (or, with `--json`, the whole report). Exit status: 0 when every case
passed or was skipped with a reason, 1 when any failed or an action could not be judged, 2 when an
action is not in the catalog.
"""

import argparse
import json
import sys
import threading
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

from pivot.services.conformance.report import ActionReport, CaseResult, Verdict
from pivot.services.terminal_text import markup, text

VERDICT_STYLE = {Verdict.PASS: ("✓ pass", "green"), Verdict.FAIL: ("✗ fail", "bold red"),
                 Verdict.SKIP: ("· skip", "dim")}


def action_table(report: ActionReport, *, evidence: bool = False) -> Iterable[Table | str]:
    """One action's table: a row per case (its verdict, what happened, how long it took), then
    the evidence of each failure (of every case with `evidence`)."""
    table = Table(title=None, show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("#", "case", "verdict", "what happened", "s"):
        table.add_column(column, overflow="fold", no_wrap=column in {"#", "verdict", "s"})
    for case in report.cases:
        label, style = VERDICT_STYLE[case.verdict]
        table.add_row(text(case.case), text(case.name), text(label, style), text(case.summary),
                      text(f"{case.seconds:.1f}"))
    yield table
    for case in report.cases:
        if case.evidence and (evidence or case.verdict is Verdict.FAIL):
            yield f"  evidence for case {case.case} ({case.run_id}):"
            yield from (f"    {line}" for line in case.evidence)


def print_action(console: Console, report: ActionReport, *, evidence: bool = False) -> None:
    console.print(markup("[bold]{}[/] ({}) against {}", report.action, report.kind, report.target or "—"))
    if not report.judgeable:
        console.print(markup("  [bold red]not judgeable[/]: {}", report.note))
        console.print()
        return
    for part in action_table(report, evidence=evidence):
        console.print(text(part) if isinstance(part, str) else part)
    console.print()


def cmd_conformance(args: argparse.Namespace) -> int:
    from pivot.services.conformance.runner import UnknownActions, catalog_actions, run_conformance

    names = sorted(catalog_actions()) if args.all else list(dict.fromkeys(args.actions))
    errors = Console(stderr=True, markup=False, highlight=False)
    if not names:
        errors.print("name the actions to check, or --all (see `pivot actions`)")
        return 2
    out = Console(width=None if sys.stdout.isatty() else 140, markup=False, highlight=False)

    def progress(action: str, case: CaseResult) -> None:
        label, style = VERDICT_STYLE[case.verdict]
        errors.print(markup("  {} case {} {} [dim]({}s)[/]", action, case.case, label, f"{case.seconds:.1f}"),
                     style=style if case.verdict is Verdict.FAIL else "")

    printing = threading.Lock()  # actions of different providers finish in threads of their own

    def done(report: ActionReport) -> None:
        if not args.json:
            with printing:
                print_action(out, report, evidence=args.evidence)

    errors.print(markup("starting a local stack and a proxy per provider for {} action(s)…", len(names)))
    try:
        run = run_conformance(names, connection=args.connection, on_case=progress, on_action=done)
    except UnknownActions as unknown:
        errors.print(text(unknown, "red"))
        return 2
    if args.json:
        print(json.dumps(run.model_dump(mode="json"), indent=2))
    else:
        counts = {verdict: sum(c.verdict is verdict for a in run.actions for c in a.cases) for verdict in Verdict}
        out.print(markup("{} passed, {} failed, {} skipped in {}s; logs in {}", counts[Verdict.PASS],
                         counts[Verdict.FAIL], counts[Verdict.SKIP], run.seconds, run.stack_logs))
    return 1 if run.failed else 0


def add_command(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    conformance = sub.add_parser(
        "conformance", help="prove actions keep Pivot's guarantees: each runs through the real engine against "
                            "its provider with faults injected by a proxy, judged by its own lookup")
    conformance.add_argument("actions", nargs="*", metavar="ACTION", help="catalog actions, e.g. stripe.create_invoice")
    conformance.add_argument("--all", action="store_true", help="every action in the catalog")
    conformance.add_argument("--connection", default="default",
                             help="the named connection (account) to run against; its base_url is proxied")
    conformance.add_argument("--json", action="store_true", help="the whole report as JSON, with every evidence")
    conformance.add_argument("--evidence", action="store_true", help="print every case's evidence, not only failures'")
    conformance.set_defaults(func=cmd_conformance)
