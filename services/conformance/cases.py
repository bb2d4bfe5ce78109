"""The nine conformance cases: each stages one fault with the proxy, runs the action through the real
engine, and judges with the action's own `lookup` / `find_all` (never a sandbox ledger, which a real
account does not have; a sandbox's ledger is only added as evidence).

Case 1 runs first and clean: besides its own verdict it shows which of the step's requests is the
write (the one carrying the key as declared), how many requests the read-back makes, and which
request is the undo, so the later cases can aim their faults exactly.
"""

import concurrent.futures
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel

from pivot.compensations.keys import StepKeys
from pivot.services.conformance.carrier import AfterWrite, KeyInWrite, Write, WriteShape, is_write
from pivot.services.conformance.proxy import (
    DropAnswer,
    Exchange,
    HoldAnswer,
    Reset,
    Rewrite,
    Rule,
    rate_limited,
    server_error,
)
from pivot.services.conformance.report import CaseResult, Verdict
from pivot.services.conformance.session import STEP_ID, STEP_WAIT_S, Session, Subject
from pivot.services.conformance.stored import read_stored

RETRY_AFTER_S = 2
RETRY_AFTER_EARLY_S = 0.85 * RETRY_AFTER_S
"""A retry sooner than this did not wait for Retry-After (the default back-off starts at 0.2 s)."""
RETRY_AFTER_LATE_S = RETRY_AFTER_S + 2.5
"""A retry later than this waited for something else than Retry-After (seen: 60 s for `Retry-After: 1`)."""
HELD_WITHIN_S = 15.0
REWRITTEN = "-rewritten-by-conformance"

Case = Callable[[Session, Subject], CaseResult]


class Unstageable(Exception):
    """The case cannot be staged for this action: skipped, with this reason."""


class Failed(Exception):
    """The case failed: the message is the summary, `evidence` what it rests on."""

    def __init__(self, summary: str, evidence: list[str] | None = None):
        super().__init__(summary)
        self.summary = summary
        self.evidence = evidence or []


# -- shared pieces -------------------------------------------------------------------------------------

def example(session: Session, subject: Subject) -> BaseModel:
    if not subject.kit.offers("example"):
        raise Unstageable("the action offers no example(): conformance has no params to write with")
    params: BaseModel = session.judge(subject.kit.example)
    return params


def keys_of(run_id: str, subject: Subject) -> StepKeys:
    return StepKeys.derive(run_id, STEP_ID, subject.action.name)


def the_write(subject: Subject, key: str) -> Write:
    """A rule's predicate for the step's write: the request carrying `key` as declared, or, for a key
    no request shows, a request shaped like case 1's write."""
    carrier, learned = subject.kit.carrier, subject.learned
    if carrier.where != "stored":
        if learned.key is not None and not learned.write_seen:
            raise Unstageable(f"case 1's write did not carry the key in {carrier.description} (see case 9)")
        return KeyInWrite(carrier.where, carrier.name, key)
    if learned.write_shape is None:
        raise Unstageable(f"the key travels in {carrier.description}, which no request shows, and case 1 showed no "
                          "write to aim at")
    return learned.write_shape


def lines(exchanges: list[Exchange], first: float | None = None) -> list[str]:
    """Proxy log lines, timed from `first` (default: the first exchange)."""
    start = first if first is not None else (exchanges[0].at if exchanges else 0.0)
    return [f"+{e.at - start:.2f}s {e.line()}" for e in exchanges]


def step_line(step: dict[str, Any]) -> str:
    error = step.get("error") or {}
    said = f" ({error.get('code')}: {error.get('message')})" if error else ""
    return f"step {step.get('state')}{said}" + (f", ref {step['ref']}" if step.get("ref") else "")


def objects(session: Session, subject: Subject, params: BaseModel, key: str) -> list[Any]:
    found: list[Any] = session.judge(lambda: subject.kit.find_all(params, key))
    return found


def undone(session: Session, subject: Subject, params: BaseModel, key: str,
           step: dict[str, Any]) -> tuple[bool, str]:
    """Whether the action's own pieces show the step's effect undone (or gone), in words: what its
    undo starts from (`recall`: by default the lookup by key; with the verified result, maybe by id)."""
    found = session.judge(lambda: subject.kit.recall(params, key, step.get("result")))
    if found is None:
        return True, "lookup by the key finds nothing (gone)"
    if subject.kit.is_undone(found):
        return True, "lookup by the key finds it undone"
    return False, "lookup by the key finds it still in effect"


def ledger_line(session: Session, subject: Subject, key: str) -> list[str]:
    effects = session.ledger(subject, key)
    if effects is None:
        return []
    ops = [f"{e.get('op')} {e.get('object')}" for e in effects]
    return [f"sandbox ledger for the key: {', '.join(ops) or 'no effect'}"]


def one_object(session: Session, subject: Subject, params: BaseModel, key: str, step: dict[str, Any],
               evidence: list[str]) -> None:
    """The step verified and the provider holds exactly one object with its key."""
    must_verify(step, evidence)
    found = objects(session, subject, params, key)
    evidence.append(f"find_all by the key: {len(found)} object(s)")
    evidence += ledger_line(session, subject, key)
    if len(found) != 1:
        raise Failed(f"{len(found)} objects carry the step's key, not one", evidence)


@dataclass
class Forwarded:
    """A step taken with fault rules in place: its params, key, outcome and the requests it made."""

    params: BaseModel
    key: str
    step: dict[str, Any]
    log: list[Exchange]


def forward_under(session: Session, subject: Subject, run_id: str, evidence: list[str], params: BaseModel,
                  rules: list[Rule], wait_s: float = STEP_WAIT_S) -> Forwarded:
    """Take the step with `rules` in the proxy; the requests it made and its outcome go to `evidence`."""
    for rule in rules:
        subject.proxy.add(rule)
    mark = subject.proxy.mark()
    step = session.forward(run_id, subject, params.model_dump(mode="json"), wait_s=wait_s)
    log = subject.proxy.log(mark)
    evidence += lines(log)
    evidence.append(step_line(step))
    return Forwarded(params, keys_of(run_id, subject).forward, step, log)


def staging(session: Session, subject: Subject, run_id: str) -> tuple[BaseModel, str]:
    """A case's params (the action's `example()`) and its step's forward key."""
    return example(session, subject), keys_of(run_id, subject).forward


def must_verify(step: dict[str, Any], evidence: list[str]) -> None:
    if step.get("state") != "verified":
        raise Failed(f"the step did not verify: {step_line(step)}", evidence)


def no_write(subject: Subject) -> Unstageable:
    return Unstageable(f"no write carried the key in {subject.kit.carrier.description} (see case 9)")


def finish(session: Session, subject: Subject, run_id: str, evidence: list[str]) -> dict[str, Any] | None:
    """Undo what the case wrote (abort the saga) so a real account is left as it was; the outcome."""
    if not subject.compensable:
        return None
    outcome = session.abort(run_id)
    step = session.step_of(outcome)
    evidence.append(f"abort: saga {outcome.get('status')}, {step_line(step)}")
    return outcome


def staged(case: int, session: Session, subject: Subject, body: Callable[[str, list[str]], str]) -> CaseResult:
    """Run one case: `body(run_id, evidence)` returns the pass summary, or raises."""
    run_id = session.run_id(subject, case)
    evidence: list[str] = []
    started = time.monotonic()
    try:
        result = CaseResult.of(case, Verdict.PASS, body(run_id, evidence), evidence, run_id)
    except Unstageable as skip:
        result = CaseResult.of(case, Verdict.SKIP, str(skip), evidence, run_id)
    except Failed as failed:
        result = CaseResult.of(case, Verdict.FAIL, failed.summary, failed.evidence or evidence, run_id)
    except Exception as exc:  # the case itself broke: that is a failure to prove anything
        result = CaseResult.of(case, Verdict.FAIL, f"the case could not finish: {type(exc).__name__}: {exc}",
                               evidence, run_id)
    finally:
        subject.proxy.clear()
    result.seconds = round(time.monotonic() - started, 2)
    return result


def skipped(case: int, reason: str) -> CaseResult:
    return CaseResult.of(case, Verdict.SKIP, reason)


def no_undo(subject: Subject) -> str:
    return f"a {subject.action.kind.value} action has no undo"


# -- the cases -----------------------------------------------------------------------------------------

def clean_run(session: Session, subject: Subject) -> CaseResult:
    """1: forward, read-back verified, compensation, lookup shows it undone."""
    def body(run_id: str, evidence: list[str]) -> str:
        learned = subject.learned
        params, key = staging(session, subject, run_id)
        learned.key = key
        done = forward_under(session, subject, run_id, evidence, params, [])
        learned.forward_log = done.log
        learn_the_write(subject, key)
        must_verify(done.step, evidence)
        found = session.judge(lambda: subject.kit.lookup(params, key))
        learned.found_by_key = found is not None
        if found is None:
            raise Failed("the step verified, but the action's lookup by its key finds nothing", evidence)
        evidence.append("lookup by the key finds it")
        if not subject.compensable:
            return f"verified and found by its key ({no_undo(subject)})"
        mark = subject.proxy.mark()
        outcome = finish(session, subject, run_id, evidence)
        learned.undo_log = subject.proxy.log(mark)
        learned.undo = _undo_request(learned.undo_log)
        evidence += [f"undo: {line}" for line in lines(learned.undo_log)]
        step = session.step_of(outcome or {})
        gone, said = undone(session, subject, params, key, step)
        evidence.append(said)
        if step.get("state") != "compensated" or not gone:
            raise Failed(f"the undo did not take: {step_line(step)}; {said}", evidence)
        return "verified, found by its key, undone, and the lookup shows it undone"
    return staged(1, session, subject, body)


def lost_answer(session: Session, subject: Subject) -> CaseResult:
    """2: the provider commits the write, its answer is lost: one object, not two."""
    rule = Rule(DropAnswer(), name="drop the write's answer")

    def body(run_id: str, evidence: list[str]) -> str:
        params, key = staging(session, subject, run_id)
        done = forward_under(session, subject, run_id, evidence, params, [replace(rule, when=the_write(subject, key))])
        dropped = [e for e in done.log if e.rule == rule.label]
        if not dropped:
            raise no_write(subject)
        if dropped[0].upstream_status is None or dropped[0].upstream_status >= 300:
            raise Failed(f"the provider refused the write whose answer was to be lost ({dropped[0].upstream_status})",
                         evidence)
        one_object(session, subject, done.params, done.key, done.step, evidence)
        finish(session, subject, run_id, evidence)
        return "the provider committed, the answer was lost, the retry found it: one object"
    return staged(2, session, subject, body)


def error_then_reset(session: Session, subject: Subject) -> CaseResult:
    """3: a 500, then a connection reset, before the write reached the provider: retried, one object."""
    def body(run_id: str, evidence: list[str]) -> str:
        params, key = staging(session, subject, run_id)
        done = forward_under(session, subject, run_id, evidence, params, [
            Rule(server_error(500), when=the_write(subject, key), nth=1, name="500 before the write"),
            Rule(Reset(), when=the_write(subject, key), nth=2, name="reset before the write")])
        faulted = [e for e in done.log if e.rule]
        if not faulted:
            raise no_write(subject)
        if len(faulted) < 2:
            raise Failed("the write was not retried after the 500", evidence)
        one_object(session, subject, done.params, done.key, done.step, evidence)
        finish(session, subject, run_id, evidence)
        return "retried after a 500 and a reset: one object"
    return staged(3, session, subject, body)


def retry_after(session: Session, subject: Subject) -> CaseResult:
    """4: 429 with `Retry-After: N`: the next attempt comes about N seconds later."""
    rule = Rule(rate_limited(RETRY_AFTER_S), name=f"429 Retry-After: {RETRY_AFTER_S}")

    def body(run_id: str, evidence: list[str]) -> str:
        params, key = staging(session, subject, run_id)
        done = forward_under(session, subject, run_id, evidence, params, [replace(rule, when=the_write(subject, key))],
                             wait_s=RETRY_AFTER_LATE_S + 10)
        log = done.log
        limited = next((i for i, e in enumerate(log) if e.rule == rule.label), None)
        if limited is None:
            raise no_write(subject)
        if limited + 1 >= len(log):
            finish(session, subject, run_id, evidence)
            raise Failed(f"no retry within {RETRY_AFTER_LATE_S + 10:g}s of a 429 with Retry-After: {RETRY_AFTER_S}",
                         evidence)
        gap = log[limited + 1].at - log[limited].at
        evidence.append(f"next attempt {gap:.2f}s after the 429 (Retry-After: {RETRY_AFTER_S})")
        if gap < RETRY_AFTER_EARLY_S:
            raise Failed(f"retried {gap:.2f}s after a 429 with Retry-After: {RETRY_AFTER_S} (did not wait for it)",
                         evidence)
        if gap > RETRY_AFTER_LATE_S:
            raise Failed(f"retried {gap:.2f}s after a 429 with Retry-After: {RETRY_AFTER_S} (waited for something "
                         "else)", evidence)
        one_object(session, subject, done.params, done.key, done.step, evidence)
        finish(session, subject, run_id, evidence)
        return f"retried {gap:.2f}s after a 429 with Retry-After: {RETRY_AFTER_S}"
    return staged(4, session, subject, body)


def killed_before_journal(session: Session, subject: Subject) -> CaseResult:
    """5: the service dies between the provider's answer and the journal entry: one object, and the
    saga finishes after recovery."""
    def body(run_id: str, evidence: list[str]) -> str:
        params, key = staging(session, subject, run_id)
        subject.proxy.add(Rule(HoldAnswer(), when=the_write(subject, key), name="hold the write's answer"))
        mark = subject.proxy.mark()
        with concurrent.futures.ThreadPoolExecutor(1) as pool, session.new_client() as client:
            pending = pool.submit(session.forward, run_id, subject, params.model_dump(mode="json"), client=client)
            try:
                held = subject.proxy.wait_held(HELD_WITHIN_S)
            except TimeoutError:
                raise no_write(subject) from None
            evidence.append(f"held: {held.line()}")
            pid = session.restart_service()
            evidence.append(f"service pid {pid} killed (SIGKILL) with the answer held, then restarted")
            subject.proxy.release()
            try:
                pending.result(timeout=120)
            except Exception as exc:
                evidence.append(f"the step call ended with {type(exc).__name__} (the service it waited on died)")
        step = session.step_now(run_id)
        evidence += lines(subject.proxy.log(mark))
        evidence.append(step_line(step))
        one_object(session, subject, params, key, step, evidence)
        outcome = finish(session, subject, run_id, evidence)
        if outcome is None or outcome.get("status") == "compensated":
            return "recovered after the kill: one object, and the saga finished"
        refused = session.step_of(outcome).get("error") or {}
        if outcome.get("status") == "needs_attention" and refused.get("code") == "compensation_conflict":
            return ("recovered after the kill: one object; the saga finished needing attention, its undo refused by "
                    f"the action's rule: {refused.get('message')}")
        raise Failed(f"after recovery the saga did not finish: {outcome.get('status')}", evidence)
    return staged(5, session, subject, body)


def undo_twice(session: Session, subject: Subject) -> CaseResult:
    """6: the undo's answer is lost, so the undo is delivered again: undone once."""
    if not subject.compensable:
        return skipped(6, no_undo(subject))

    def body(run_id: str, evidence: list[str]) -> str:
        nth = subject.learned.undo
        if nth is None:
            raise Unstageable("case 1 showed no undo request to lose the answer of")
        params, key = staging(session, subject, run_id)
        must_verify(forward_under(session, subject, run_id, evidence, params, []).step, evidence)
        rule = subject.proxy.add(Rule(DropAnswer(), when=is_write, nth=nth, name="drop the undo's answer"))
        mark = subject.proxy.mark()
        outcome = session.abort(run_id)
        log = subject.proxy.log(mark)
        evidence += lines(log)
        step = session.step_of(outcome)
        evidence.append(f"saga {outcome.get('status')}, {step_line(step)}")
        dropped = next((e for e in log if e.rule == rule.label), None)
        if dropped is None:
            raise Unstageable(f"the undo request of case 1 (write #{nth} of the undo) did not recur")
        again = [e for e in log if e.seq > dropped.seq and _same_request(e, dropped)]
        compensation_key = keys_of(run_id, subject).compensation
        replays = [e for e in again if compensation_key in json.dumps(e.request.to_json())]
        if len(again) > len(replays):
            raise Failed(f"the undo was sent {1 + len(again)} times (its first answer was lost): not idempotent",
                         evidence)
        gone, said = undone(session, subject, params, key, step)
        evidence.append(said)
        if step.get("state") != "compensated" or not gone:
            raise Failed(f"the undo did not take after its answer was lost: {step_line(step)}; {said}", evidence)
        if replays:
            return "undone once: the undo was sent again with its compensation key, and the provider replayed it"
        return "undone once: the redelivered undo found it undone and sent nothing"
    return staged(6, session, subject, body)


def changed_before_undo(session: Session, subject: Subject) -> CaseResult:
    """7: a third party changes the object before the undo: not overwritten, the saga needs attention."""
    if not subject.compensable:
        return skipped(7, no_undo(subject))
    if not subject.kit.offers("tamper"):
        return skipped(7, "the action offers no tamper(): a third party's change cannot be staged")

    def body(run_id: str, evidence: list[str]) -> str:
        params, key = staging(session, subject, run_id)
        must_verify(forward_under(session, subject, run_id, evidence, params, []).step, evidence)
        found = session.judge(lambda: subject.kit.lookup(params, key))
        if found is None:
            raise Failed("the action's lookup by its key finds nothing to tamper with", evidence)
        session.judge(lambda: subject.kit.tamper(params, found))
        evidence.append("tamper(): changed by a third party")
        outcome = session.abort(run_id)
        step = session.step_of(outcome)
        evidence.append(f"abort: saga {outcome.get('status')}, {step_line(step)}")
        gone, said = undone(session, subject, params, key, step)
        evidence.append(said)
        if getattr(subject.kit, "after_tamper", "conflict") == "undone":
            evidence.append(f"the action's rule: {subject.action.compensation}")
            if step.get("state") != "compensated" or outcome.get("status") != "compensated":
                raise Failed(f"the action undoes what is left of a changed object, but the saga says "
                             f"{outcome.get('status')} and the step {step.get('state')}", evidence)
            return "undone by the action's rule for a changed object (only what was still the saga's doing)"
        if gone:
            raise Failed("the undo overwrote a third party's change", evidence)
        if step.get("state") != "compensation_failed" or outcome.get("status") != "needs_attention":
            raise Failed(f"the change was kept, but the saga says {outcome.get('status')} and the step "
                         f"{step.get('state')} (expected needs_attention, compensation_failed)", evidence)
        return "the third party's change was kept; the step is compensation_failed, the saga needs attention"
    return staged(7, session, subject, body)


def readback_disagrees(session: Session, subject: Subject) -> CaseResult:
    """8: the read-back's answer disagrees with the params: the step fails, never verified."""
    name = "rewrite the read-back"

    def body(run_id: str, evidence: list[str]) -> str:
        params, key = staging(session, subject, run_id)
        values = rewrites(params.model_dump(mode="json"), key)
        if not values:
            raise Unstageable("the example's params hold no value to contradict in the read-back")
        count = subject.learned.readback_requests
        if count is None:
            raise Unstageable("case 1 showed no write to find the read-back after")
        evidence.append(f"rewritten in the answers: {sorted(map(str, values))}")
        rule = (Rule(Rewrite(values), when=the_write(subject, key), name=name) if count == 0  # the write's answer
                else Rule(Rewrite(values), when=AfterWrite(the_write(subject, key)), times=count, name=name))
        done = forward_under(session, subject, run_id, evidence, params, [rule])
        step = done.step
        if not any(e.rule == name for e in done.log):
            raise Unstageable("no read-back request followed the write")
        code = (step.get("error") or {}).get("code")
        if step.get("state") == "verified" or step.get("result"):
            finish(session, subject, run_id, evidence)
            raise Failed("the step was verified although its read-back disagreed with the params", evidence)
        session.settled(run_id)
        if code != "readback_mismatch":  # the undo that followed the failure reported last
            return f"the step failed, never verified (then {step.get('state')}: {code})"
        return "the step failed as a read-back mismatch, never verified"
    return staged(8, session, subject, body)


def carrier_and_secrets(session: Session, subject: Subject, secrets_before: set[str]) -> CaseResult:
    """9: the key round-trips through the declared carrier; no credential in journal, state or log."""
    def body(run_id: str, evidence: list[str]) -> str:
        carrier = subject.kit.carrier
        learned = subject.learned
        problems = []
        if carrier.where == "stored":
            carried = f"the key travels in {carrier.description} (not on the wire: not checked)"
            if learned.write_shape is not None:
                evidence.append(f"the write, told by its shape: {learned.write_shape}")
        elif not learned.forward_log:
            raise Unstageable("case 1 logged no write to check the carrier of")
        else:
            key = learned.key
            writes = [e for e in learned.forward_log if key and _carries(subject, key, e)]
            if not writes:
                problems.append(f"no write of case 1 carried the key in {carrier.description}")
                evidence += lines(learned.forward_log)
            else:
                evidence.append(f"the write carried it: {writes[0].line()}")
            if not learned.found_by_key:
                problems.append("the action's lookup did not find the write by its key")
            carried = f"the key went in {carrier.description} and was found again by it"
        stored = read_stored(session.stack.admin_url, session.log_dir) if session.stack else None
        if stored is not None:
            leaked = set(stored.containing(session.service_secrets())) - secrets_before
            secrets_before.update(leaked)
            evidence.append(f"scanned {stored.size()}: {len(leaked)} credential(s) found")
            for secret in leaked:
                problems.append(f"a credential is stored in {', '.join(stored.places(secret))}")
        if problems:
            raise Failed("; ".join(problems), evidence)
        return f"{carried}; no credential in the journal, state or logs"
    return staged(9, session, subject, body)


CASES: list[Case] = [clean_run, lost_answer, error_then_reset, retry_after, killed_before_journal, undo_twice,
                     changed_before_undo, readback_disagrees]


# -- helpers ---------------------------------------------------------------------------------------------

def learn_the_write(subject: Subject, key: str) -> None:
    """From case 1's forward requests: which is the write (carrying the key as declared, or for a key
    no request shows, the first write), and how many requests the read-back after it made."""
    learned, log = subject.learned, subject.learned.forward_log
    if subject.kit.carrier.where != "stored":
        writes = [i for i, e in enumerate(log) if _carries(subject, key, e)]
        learned.write_seen = bool(writes)
    else:
        first = next((e for e in log if is_write(e.request)), None)
        learned.write_shape = None if first is None else WriteShape(first.request)
        writes = [i for i, e in enumerate(log) if learned.write_shape is not None and learned.write_shape(e.request)]
    if writes:
        learned.readback_requests = len(log) - writes[-1] - 1


def _carries(subject: Subject, key: str, exchange: Exchange) -> bool:
    carrier = subject.kit.carrier
    return carrier.where != "stored" and KeyInWrite(carrier.where, carrier.name, key)(exchange.request)


def _undo_request(log: list[Exchange]) -> int | None:
    """The undo among a compensation's requests: the last write (not a read, not a GraphQL query), as
    its occurrence among the writes."""
    writes = [e for e in log if is_write(e.request)]
    return len(writes) or None


def _same_request(a: Exchange, b: Exchange) -> bool:
    return (a.request.method, a.request.path, a.request.query, a.request.body) == (
        b.request.method, b.request.path, b.request.query, b.request.body)


def rewrites(params: Any, key: str) -> dict[Any, Any]:
    """Values of the params to contradict in a read-back: strings (not the key) and numbers beyond 1."""
    found: dict[Any, Any] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str) and len(value) >= 2 and key not in value:
            found[value] = value + REWRITTEN
        elif isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > 1:
            found[value] = value + 1
    walk(params)
    return found
