"""Run the conformance cases for some actions, on one stack: `run_conformance(["stripe.create_invoice"])`.

Each action is judged by the pieces it was written with (`Action.kit`, a `pivot.kit.KeyedAction`);
an action built without the kit has nothing to judge by and is reported as not judgeable. A
provider whose target cannot be found (no sandbox, no base URL, no such connection) is reported
the same way, with what to set.
"""

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from pivot.compensations.actions import Action
from pivot.services.catalog import build_catalog
from pivot.services.conformance.cases import CASES, carrier_and_secrets, killed_before_journal
from pivot.services.conformance.database_cases import DATABASE_CASES, killed_before_commit_answer
from pivot.services.conformance.report import ActionReport, CaseResult, RunReport
from pivot.services.conformance.session import Session
from pivot.services.conformance.targets import DATABASE_PROVIDERS, NoTarget, resolve
from pivot.services.local.stack import SANDBOXED_PROVIDERS

KILLING = (killed_before_journal, killed_before_commit_answer)
"""The cases that kill the service: each has the stack to itself."""


class UnknownActions(ValueError):
    """Names that are not in the catalog."""


def catalog_actions() -> dict[str, Action]:
    """The catalog as the service will build it (built-in actions and plugins)."""
    return dict(build_catalog())


class SecretScan:
    """The credentials already found stored, shared by the actions' case 9 (each reports what is new)."""

    def __init__(self) -> None:
        self.found: set[str] = set()
        self.lock = threading.Lock()


def judge_one(session: Session, report: ActionReport, scan: SecretScan,
              on_case: Callable[[str, CaseResult], None] | None) -> None:
    """Every case for one action, in order (case 1 first: the others aim by what it showed)."""
    subject = session.subject(report.action)
    report.target = subject.target.describe()
    for case in DATABASE_CASES if subject.tcp else CASES:
        with session.kills.kill() if case in KILLING else session.kills.case():
            report.cases.append(case(session, subject))
        if on_case:
            on_case(report.action, report.cases[-1])
    with session.kills.case(), scan.lock:
        report.cases.append(carrier_and_secrets(session, subject, scan.found))
    if on_case:
        on_case(report.action, report.cases[-1])


def run_conformance(names: Sequence[str], *, connection: str = "default",
                    on_case: Callable[[str, CaseResult], None] | None = None,
                    on_action: Callable[[ActionReport], None] | None = None) -> RunReport:
    started = time.monotonic()
    actions = catalog_actions()
    unknown = [name for name in names if name not in actions]
    if unknown:
        raise UnknownActions(f"not in the catalog: {', '.join(unknown)}")
    reports: dict[str, ActionReport] = {}
    runnable: list[str] = []
    for name in names:
        action = actions[name]
        report = ActionReport(action=name, kind=action.kind.value, target="")
        try:
            report.target = resolve(action.provider, connection,
                                    dict.fromkeys((*SANDBOXED_PROVIDERS, *DATABASE_PROVIDERS), "sandbox")).describe()
        except NoTarget as missing:
            report.judgeable, report.note = False, str(missing)
        if report.judgeable and action.kit is None:
            report.judgeable = False
            report.note = ("not written with the action kit (pivot.kit.KeyedAction): conformance has no lookup of "
                           "its own to judge it by")
        reports[name] = report
        if report.judgeable:
            runnable.append(name)
    logs = ""
    if runnable:
        with Session({actions[name].provider for name in runnable}, connection) as session:
            logs = str(session.log_dir)
            scan = SecretScan()
            by_provider: dict[str, list[str]] = {}
            for name in runnable:
                by_provider.setdefault(actions[name].provider, []).append(name)

            def run_provider(names_of_one: list[str]) -> None:
                for name in names_of_one:
                    judge_one(session, reports[name], scan, on_case)
                    if on_action:
                        on_action(reports[name])

            # One thread per provider: its actions in turn (they share its proxy and its clients),
            # the providers side by side; only the kill of case 5 has the stack to itself.
            with ThreadPoolExecutor(max_workers=len(by_provider), thread_name_prefix="conformance") as pool:
                for done in [pool.submit(run_provider, group) for group in by_provider.values()]:
                    done.result()
    for name in names:
        if not reports[name].judgeable and on_action:
            on_action(reports[name])
    return RunReport(actions=[reports[name] for name in names], seconds=round(time.monotonic() - started, 1),
                     stack_logs=logs)
