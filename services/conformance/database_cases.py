"""The conformance cases for an action whose provider is a database (postgres.*): the nine cases'
questions, staged with the TCP fault proxy (tcp_proxy.py) on what a database connection carries.

The HTTP cases aim at requests (a 500, a reset, a 429, a rewritten read-back); a database write is
one transaction on one connection, and its moments are protocol messages every such action sends
whatever its SQL: `BEGIN` (the write starts), `COMMIT` (it becomes durable), and their answers. So:

1. forward, verified, undone — as for HTTP (no fault);
2. `COMMIT` forwarded, then the connection closed before its answer: committed, answer lost;
   the retry must find it by its key (one effect, never a second write);
3. the connection dropped before `BEGIN` reaches the server, then a connection refused: retried,
   one effect;
4. skipped: a database sends no Retry-After (a lock or serialization failure is retried with the
   engine's back-off);
5. the service killed while the `COMMIT`'s answer is held: one effect after recovery;
6. the undo's `COMMIT` answer lost: the undo is delivered again and must not undo twice (one undo
   row, one undo event);
7. a third party's change before the undo — as for HTTP (the action's `tamper`);
8. the read-back disagrees: another session changes the row between the `COMMIT` and the read-back
   (while the COMMIT's answer is held): the step must fail, never verified;
9. the key in its carrier (a stored one: not on the wire) and no credential stored — as for HTTP.

"One effect" is judged with the action's own `find_all` by key (for postgres.*: the outbox events the
step wrote, one per committed write).
"""

import concurrent.futures
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel

from pivot.services.conformance.cases import (
    Case,
    Failed,
    changed_before_undo,
    clean_run,
    finish,
    keys_of,
    must_verify,
    objects,
    one_object,
    skipped,
    staged,
    staging,
    step_line,
    undone,
)
from pivot.services.conformance.report import CaseResult
from pivot.services.conformance.session import STEP_WAIT_S, Session, Subject
from pivot.services.conformance.tcp_proxy import TcpAction, TcpFaultProxy
from pivot.services.local.processes import wait_until

COMMIT, BEGIN = b"COMMIT", b"BEGIN"
HOLD_S = 2.0
NAMES = {
    2: "COMMIT committed, its answer lost",
    3: "connection dropped before the write, then refused",
    4: "429 with Retry-After",
    5: "service killed before the journal entry",
    6: "undo delivered twice (its COMMIT answer lost)",
    8: "read-back disagrees (changed before the read-back)",
}
NO_RETRY_AFTER = ("a database sends no Retry-After: a lock, deadlock or serialization failure is retried with "
                  "the engine's back-off")


def proxy_of(subject: Subject) -> TcpFaultProxy:
    assert subject.tcp is not None
    return subject.tcp


def db_staged(case: int, session: Session, subject: Subject, body: Callable[[str, list[str]], str]) -> CaseResult:
    """`staged`, with the TCP proxy's rules cleared afterwards and the database wording of the case."""
    try:
        result = staged(case, session, subject, body)
    finally:
        proxy_of(subject).clear()
    return result.model_copy(update={"name": NAMES.get(case, result.name)})


def rule_line(proxy: TcpFaultProxy, rule_id: str) -> str:
    rule = proxy.rule(rule_id)
    return f"proxy rule {rule.action} on {rule.match.decode() or 'every connection'}: applied {rule.hits} time(s)"


def forward_with(session: Session, subject: Subject, run_id: str, evidence: list[str], action: TcpAction,
                 match: bytes, *, times: int = 1) -> tuple[BaseModel, str, dict[str, Any]]:
    """Take the step with one proxy rule in place; (params, forward key, step)."""
    params, key = staging(session, subject, run_id)
    proxy = proxy_of(subject)
    rule = proxy.add(action, match, times=times)
    step = session.forward(run_id, subject, params.model_dump(mode="json"))
    evidence += [rule_line(proxy, rule), step_line(step)]
    if proxy.hits(rule) == 0:
        raise Failed(f"the step sent no {match.decode()} through the proxy", evidence)
    return params, key, step


@contextmanager
def commit_answer_held(session: Session, subject: Subject, run_id: str, params: BaseModel,
                       evidence: list[str]) -> Iterator["concurrent.futures.Future[dict[str, Any]]"]:
    """Take the step in another thread and yield (its pending call) once its COMMIT reached the
    server and the answer is held (for HOLD_S)."""
    proxy = proxy_of(subject)
    rule = proxy.add("hold_answer", COMMIT, delay_s=HOLD_S)
    with concurrent.futures.ThreadPoolExecutor(1) as pool, session.new_client() as client:
        pending = pool.submit(session.forward, run_id, subject, params.model_dump(mode="json"), client=client)
        wait_until(lambda: proxy.held(rule) == 1 or pending.done(), timeout_s=STEP_WAIT_S, what="a held COMMIT")
        if proxy.held(rule) != 1:
            raise Failed("the step sent no COMMIT through the proxy", evidence)
        yield pending


def lost_commit_answer(session: Session, subject: Subject) -> CaseResult:
    def body(run_id: str, evidence: list[str]) -> str:
        params, key, step = forward_with(session, subject, run_id, evidence, "drop_after", COMMIT)
        one_object(session, subject, params, key, step, evidence)
        finish(session, subject, run_id, evidence)
        return "the COMMIT reached the server, its answer was lost; the retry found the write by its key: one effect"
    return db_staged(2, session, subject, body)


def dropped_then_refused(session: Session, subject: Subject) -> CaseResult:
    def body(run_id: str, evidence: list[str]) -> str:
        proxy = proxy_of(subject)
        refused = proxy.add("refuse", times=1)
        connections = proxy.connections
        params, key, step = forward_with(session, subject, run_id, evidence, "drop_before", BEGIN)
        evidence.append(rule_line(proxy, refused))
        if proxy.hits(refused) == 0:
            raise Failed("no connection came after the dropped one (the write was not retried)", evidence)
        evidence.append(f"{proxy.connections - connections} connection(s) to the database")
        one_object(session, subject, params, key, step, evidence)
        finish(session, subject, run_id, evidence)
        return "a connection refused and one dropped before BEGIN reached the server; retried: one effect"
    return db_staged(3, session, subject, body)


def killed_before_commit_answer(session: Session, subject: Subject) -> CaseResult:
    def body(run_id: str, evidence: list[str]) -> str:
        params, key = staging(session, subject, run_id)
        with commit_answer_held(session, subject, run_id, params, evidence) as pending:
            pid = session.restart_service()
            evidence.append(f"service pid {pid} killed (SIGKILL) with the COMMIT's answer held, then restarted")
            try:
                pending.result(timeout=120)
            except Exception as exc:
                evidence.append(f"the step call ended with {type(exc).__name__} (the service it waited on died)")
        step = session.step_now(run_id)
        evidence.append(step_line(step))
        one_object(session, subject, params, key, step, evidence)
        outcome = finish(session, subject, run_id, evidence)
        if outcome is not None and outcome.get("status") != "compensated":
            raise Failed(f"after recovery the saga did not finish: {outcome.get('status')}", evidence)
        return "recovered after the kill: one effect, and the saga finished"
    return db_staged(5, session, subject, body)


def undo_commit_answer_lost(session: Session, subject: Subject) -> CaseResult:
    if not subject.compensable:
        return skipped(6, f"a {subject.action.kind.value} action has no undo")

    def body(run_id: str, evidence: list[str]) -> str:
        params, key = staging(session, subject, run_id)
        step = session.forward(run_id, subject, params.model_dump(mode="json"))
        evidence.append(step_line(step))
        must_verify(step, evidence)
        proxy = proxy_of(subject)
        rule = proxy.add("drop_after", COMMIT)
        outcome = session.abort(run_id)
        step = session.step_of(outcome)
        evidence += [rule_line(proxy, rule), f"saga {outcome.get('status')}, {step_line(step)}"]
        if proxy.hits(rule) == 0:
            raise Failed("the undo sent no COMMIT through the proxy", evidence)
        compensation = keys_of(run_id, subject).compensation
        undos = objects(session, subject, params, compensation)
        evidence.append(f"find_all by the compensation key: {len(undos)} undo effect(s)")
        gone, said = undone(session, subject, params, key, step)
        evidence.append(said)
        if step.get("state") != "compensated" or not gone:
            raise Failed(f"the undo did not take after its answer was lost: {step_line(step)}; {said}", evidence)
        if len(undos) != 1:
            raise Failed(f"{len(undos)} undo effects carry the compensation key, not one", evidence)
        return "undone once: the redelivered undo found its own key row and did nothing"
    return db_staged(6, session, subject, body)


def changed_before_readback(session: Session, subject: Subject) -> CaseResult:
    if not subject.kit.offers("tamper"):
        return skipped(8, "the action offers no tamper(): a change before the read-back cannot be staged")

    def body(run_id: str, evidence: list[str]) -> str:
        params, key = staging(session, subject, run_id)
        with commit_answer_held(session, subject, run_id, params, evidence) as pending:
            found = session.judge(lambda: subject.kit.lookup(params, key))
            if found is None:
                raise Failed("the COMMIT was forwarded, yet the action's lookup by its key finds nothing", evidence)
            session.judge(lambda: subject.kit.tamper(params, found))
            evidence.append("tamper(): another session changed the row while the COMMIT's answer was held")
            step = pending.result(timeout=120)
        evidence.append(step_line(step))
        if step.get("state") == "verified" or step.get("result"):
            raise Failed("the step was verified although the row had changed before its read-back", evidence)
        session.settled(run_id)
        code = (step.get("error") or {}).get("code")
        return f"the step failed ({code}), never verified"
    return db_staged(8, session, subject, body)


DATABASE_CASES: list[Case] = [
    clean_run, lost_commit_answer, dropped_then_refused, lambda session, subject: skipped(4, NO_RETRY_AFTER),
    killed_before_commit_answer, undo_commit_answer_lost, changed_before_undo, changed_before_readback,
]
"""Cases 1-8 (case 9, the carrier and the secrets, is the runner's, as for every action)."""
