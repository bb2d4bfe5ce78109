"""Run the conformance cases for some actions, on one stack: `run_conformance(["stripe.create_invoice"])`.

Each action is judged by the pieces it was written with (`Action.kit`, a `pivot.kit.KeyedAction`);
an action built without the kit has nothing to judge by and is reported as not judgeable. A
provider whose target cannot be found (no sandbox, no base URL, no such connection) is reported
the same way, with what to set.
"""

import time
from collections.abc import Callable, Sequence

from pivot.compensations.actions import Action
from pivot.services.catalog import build_catalog
from pivot.services.conformance.cases import CASES, carrier_and_secrets
from pivot.services.conformance.report import ActionReport, CaseResult, RunReport
from pivot.services.conformance.session import Session
from pivot.services.conformance.targets import NoTarget, resolve
from pivot.services.local.stack import SANDBOXED_PROVIDERS


class UnknownActions(ValueError):
    """Names that are not in the catalog."""


def catalog_actions() -> dict[str, Action]:
    """The catalog as the service will build it (built-in actions and plugins)."""
    return dict(build_catalog())


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
            report.target = resolve(action.provider, connection, dict.fromkeys(SANDBOXED_PROVIDERS, "sandbox")
                                    ).describe()
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
            stored_secrets: set[str] = set()
            for name in runnable:
                subject = session.subject(name)
                report = reports[name]
                report.target = subject.target.describe()
                for case in CASES:
                    report.cases.append(case(session, subject))
                    if on_case:
                        on_case(name, report.cases[-1])
                report.cases.append(carrier_and_secrets(session, subject, stored_secrets))
                if on_case:
                    on_case(name, report.cases[-1])
                if on_action:
                    on_action(report)
    for name in names:
        if not reports[name].judgeable and on_action:
            on_action(reports[name])
    return RunReport(actions=[reports[name] for name in names], seconds=round(time.monotonic() - started, 1),
                     stack_logs=logs)
