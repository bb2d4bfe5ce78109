"""A small typed client for Pivot over Restate's ingress: what an agent (or the CLI) uses.

Workflows run once per key: a second `run` on the same run id is answered 409 by Restate, and
the client then attaches to the first run instead of failing or starting anything new.
"""

import contextlib
import time
from typing import Any, NoReturn
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from pivot.compensations.approvals import (
    NO_DIGEST,
    Channel,
    PendingApproval,
    bound_digest,
    decision_request,
    read_request,
)
from pivot.compensations.error_body import ErrorBody, error_body, status_code_name
from pivot.compensations.ids import check_approval_id, check_run_id
from pivot.compensations.validation import Violation, plan_digest
from pivot.services.ingress_token import ingress_headers

WORKFLOW = "SagaRun"
OPEN_SAGA = "Saga"


def _key(value: str) -> str:
    """A Restate key as one URL path segment."""
    return quote(value, safe="")


def _run(run_id: str) -> str:
    """A run id, checked against the id alphabet (`InvalidId` before any request), as a path segment."""
    return _key(check_run_id(run_id))


class PivotError(Exception):
    """The ingress refused or failed a call. `error` is Pivot's error body — the one shape every
    surface answers, `error.body()` is `{"error": {...}}` — and `code` its stable code; `body` is
    what the call answered besides (a rejected plan's outcome, a step's violations)."""

    def __init__(self, status: int, message: str, body: Any = None, *, error: ErrorBody | None = None):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.body = body
        self.error = error or ErrorBody(code=status_code_name(status), message=message, status=status)
        self.code = self.error.code


class RunConflictError(PivotError):
    """The run id already ran a *different* plan, or names an open saga: nothing new was started."""

    def __init__(self, run_id: str):
        message = f"run {run_id} already exists with a different plan (or as an open saga); use a new run id"
        super().__init__(409, message, error=ErrorBody(code="run_id_taken", message=message, status=409, run=run_id))
        self.run_id = run_id


class PlanRejectedError(PivotError):
    """The plan was invalid; `outcome` is the rejected outcome with every violation."""

    def __init__(self, outcome: dict[str, Any], *, error: ErrorBody | None = None):
        summary = str(outcome.get("summary", "plan rejected"))
        violations = outcome.get("violations") or []
        error = error or error_body(400, "plan_rejected", summary, run=outcome.get("run_id"),
                                    violations=[Violation.model_validate(v) for v in violations])
        super().__init__(400, summary, outcome, error=error)
        self.outcome = outcome


class StepConflictError(PivotError):
    """An open saga refused a call that conflicts with it as it stands (409): the step id already ran
    with other arguments, the saga is closed, or past its pivot. Nothing was recorded or written."""

    def __init__(self, code: str, message: str, *, error: ErrorBody | None = None):
        super().__init__(409, message, error=error or ErrorBody(code=code, message=message, status=409))
        self.code = code


class StepRejectedError(PivotError):
    """An open saga refused a call that is wrong on its own (400): `violations` names each problem."""

    def __init__(self, code: str, message: str, violations: list[dict[str, Any]], *, error: ErrorBody | None = None):
        error = error or error_body(400, code, message, violations=[Violation.model_validate(v) for v in violations])
        super().__init__(400, message, violations, error=error)
        self.code = code
        self.violations = violations


def error_of(response: httpx.Response) -> ErrorBody:
    """What an error answer says, as Pivot's error body: from Restate's envelope (the message, and
    Pivot's fields in its metadata), from a Pivot surface's `{"error": {...}}` (the approval page,
    the authenticating proxy), or, for anything else, its text under a code named after the status."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        with contextlib.suppress(ValidationError):
            return ErrorBody.model_validate({**body["error"], "status": status})
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        metadata = body.get("metadata")
        return ErrorBody.from_envelope(status, body["message"], metadata if isinstance(metadata, dict) else None)
    text = response.text.strip() or response.reason_phrase
    return ErrorBody(code=status_code_name(status), message=text[:1000], status=status)


def step_refusal(error: ErrorBody) -> PivotError:
    """An open saga's refusal as the client's exception: 409 conflicts with the saga as it stands,
    400 is wrong on its own (see compensations/admission.py), anything else as it came."""
    if error.status == 409:
        return StepConflictError(error.code, error.message, error=error)
    if error.status == 400:
        violations = [v.model_dump() for v in error.violations or []]
        return StepRejectedError(error.code, error.message, violations, error=error)
    return PivotError(error.status or 500, error.message, error=error)


def _step_body(step: str, action: str, params: dict[str, Any] | None, *, pivot: bool,
               approval: dict[str, Any] | None, connection: str, wait_s: float | None, repeat: bool) -> dict[str, Any]:
    """A step call's body, with only the fields that differ from their defaults."""
    body: dict[str, Any] = {"step": step, "action": action, "params": params or {}}
    optional = {"pivot": pivot or None, "connection": connection if connection != "default" else None,
                "approval": approval, "wait_s": wait_s, "repeat": repeat or None}
    return body | {name: value for name, value in optional.items() if value is not None}


class PivotClient:
    """Pivot's calls over the ingress. Behind the authenticating proxy, `PIVOT_INGRESS_TOKEN` is sent
    as a bearer token with every ingress call (never to the admin API, which is not proxied)."""

    def __init__(self, ingress_url: str = "http://127.0.0.1:8080", *, admin_url: str = "http://127.0.0.1:9070",
                 timeout_s: float = 300.0):
        self._http = httpx.Client(base_url=ingress_url.rstrip("/"), timeout=timeout_s, headers=ingress_headers())
        self._admin_url = admin_url

    def __enter__(self) -> "PivotClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _result(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code == 200:
            body = response.json()
            if not isinstance(body, dict):
                raise PivotError(200, "unexpected body", body)
            return body
        self._raise(response)

    def _raise(self, response: httpx.Response) -> NoReturn:
        error = error_of(response)
        if error.code == "plan_rejected":
            raise PlanRejectedError(self._rejected_outcome(error), error=error)
        raise PivotError(response.status_code, error.message, error=error)

    def _rejected_outcome(self, error: ErrorBody) -> dict[str, Any]:
        """A rejected plan's outcome, as kept at `SagaRun/<id>/status` (every violation, the plan's
        digest); as the refusal said it if that cannot be read."""
        if error.run is not None:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = self._http.post(f"/{WORKFLOW}/{_key(error.run)}/status", json=None)
                stored = response.json()
                if response.status_code == 200 and isinstance(stored, dict) and stored.get("status") == "rejected":
                    return stored
        return {"run_id": error.run, "status": "rejected", "steps": [], "summary": error.message,
                "violations": [v.model_dump() for v in error.violations or []]}

    def run(self, run_id: str, plan: dict[str, Any]) -> dict[str, Any]:
        """Run a plan and wait for its outcome. Resubmitting the same plan under an existing run
        id returns the first run's outcome; a different plan raises `RunConflictError`."""
        response = self._http.post(f"/{WORKFLOW}/{_run(run_id)}/run", json=plan)
        if response.status_code == 409:
            self._same_plan_or_conflict(run_id, plan)
            return self.attach(run_id)
        return self._result(response)

    def submit(self, run_id: str, plan: dict[str, Any]) -> str:
        """Start a plan without waiting; returns the run id (use `attach` or `status` with it)."""
        response = self._http.post(f"/{WORKFLOW}/{_run(run_id)}/run/send", json=plan)
        if response.status_code not in {200, 202}:
            self._raise(response)
        if response.json().get("status") == "PreviouslyAccepted":
            self._same_plan_or_conflict(run_id, plan)
        return run_id

    def _same_plan_or_conflict(self, run_id: str, plan: dict[str, Any]) -> None:
        status = self.status(run_id)
        if status.get("mode") == "open" or status.get("plan_digest") not in {None, plan_digest(plan)}:
            raise RunConflictError(run_id)

    def attach(self, run_id: str) -> dict[str, Any]:
        """Wait for the run's outcome (the first run's, whoever submitted it). For an open saga: its
        outcome once it is closed (committed, compensated or needs attention)."""
        status = self.status(run_id)
        if status.get("mode") == "open":
            while status.get("status") in {"open", "running", "waiting_approval"}:
                time.sleep(0.2)
                status = self.status(run_id)
            return status
        return self._result(self._http.get(f"/restate/workflow/{WORKFLOW}/{_run(run_id)}/attach"))

    def output(self, run_id: str) -> dict[str, Any]:
        """The outcome if the run has finished; PivotError 470 from Restate if it has not."""
        return self._result(self._http.get(f"/restate/workflow/{WORKFLOW}/{_run(run_id)}/output"))

    def cancel(self, run_id: str) -> bool:
        """Cancel a running saga; its compensations then run. A plan is cancelled through Restate's
        admin API; an open saga is aborted. Returns False when the saga had already finished."""
        from pivot.services.admin import AdminClient

        status = self.status(run_id)
        if status.get("mode") == "open":
            if status.get("status") != "open":
                return False
            self.abort(run_id, "cancelled by an operator")
            return True
        with AdminClient(self._admin_url) as admin:
            invocation = admin.saga_invocation(run_id)
            if invocation is None:
                raise PivotError(404, f"no saga {run_id}",
                                 error=ErrorBody(code="no_saga", message=f"no saga {run_id}", status=404, run=run_id))
            if invocation.get("status") == "completed":
                return False
            admin.cancel(str(invocation["id"]))
            return True

    def retry_compensations(self, run_id: str) -> dict[str, Any]:
        """Operator repair: re-run the undos of a needs_attention saga that gave up."""
        return self._result(self._http.post(f"/SagaRepair/{_run(run_id)}/retry", json=None))

    def status(self, run_id: str) -> dict[str, Any]:
        """The live outcome of a plan or of an open saga, whichever the run id names."""
        body = self._result(self._http.post(f"/{WORKFLOW}/{_run(run_id)}/status", json=None))
        if body.get("status") == "not_found":
            body = self._result(self._http.post(f"/{OPEN_SAGA}/{_run(run_id)}/status", json=None))
        return body

    # -- open sagas --------------------------------------------------------------------------
    def _open_saga(self, run_id: str, call: str, body: dict[str, Any] | None) -> dict[str, Any]:
        response = self._http.post(f"/{OPEN_SAGA}/{_run(run_id)}/{call}", json=body)
        if response.status_code in {400, 404, 409}:
            raise step_refusal(error_of(response))
        return self._result(response)

    def open(self, run_id: str, *, idle_timeout: str | None = None, deadline: str | None = None,
             on_failure: str | None = None) -> dict[str, Any]:
        """Open a saga (optional: the first step opens one with the defaults). Durations are ISO 8601."""
        body = {k: v for k, v in {"idle_timeout": idle_timeout, "deadline": deadline,
                                  "on_failure": on_failure}.items() if v is not None}
        return self._open_saga(run_id, "open", body)

    def step(self, run_id: str, step: str, action: str, params: dict[str, Any] | None = None, *,
             pivot: bool = False, approval: dict[str, Any] | None = None, connection: str = "default",
             wait_s: float | None = None, repeat: bool = False) -> dict[str, Any]:
        """Take one step of an open saga: `{"step": <its outcome>, "saga": <the saga's outcome>}`.
        Asking again with the same step id answers the same step (or attaches to it while it runs);
        other arguments under the same id raise `StepConflictError`. The same write under a new id
        answers the earlier step marked `duplicate_of` and writes nothing, unless `repeat`."""
        return self._open_saga(run_id, "step", _step_body(step, action, params, pivot=pivot, approval=approval,
                                                          connection=connection, wait_s=wait_s, repeat=repeat))

    def preview(self, run_id: str, step: str, action: str, params: dict[str, Any] | None = None, *,
                pivot: bool = False, approval: dict[str, Any] | None = None, connection: str = "default",
                repeat: bool = False) -> dict[str, Any]:
        """What `step` would decide with these arguments — verdict, kind, keys, deferral, gate, the
        order check, resolved `$from` values, a duplicate — writing nothing."""
        body = _step_body(step, action, params, pivot=pivot, approval=approval, connection=connection, wait_s=None,
                          repeat=repeat)
        return self._open_saga(run_id, "preview", body)

    def commit(self, run_id: str, *, wait_s: float | None = None) -> dict[str, Any]:
        """Commit an open saga: its deferred steps run now; returns the final outcome."""
        return self._open_saga(run_id, "commit", {"wait_s": wait_s} if wait_s is not None else {})

    def abort(self, run_id: str, reason: str | None = None, *, wait_s: float | None = None) -> dict[str, Any]:
        """Abort an open saga: every step that took effect is undone; deferred steps are never sent."""
        body: dict[str, Any] = {"reason": reason} if reason else {}
        if wait_s is not None:
            body["wait_s"] = wait_s
        return self._open_saga(run_id, "abort", body)

    # -- approvals ---------------------------------------------------------------------------
    def approvals(self, approver: str, token: str) -> list[dict[str, Any]]:
        """Pending approvals that `approver` may decide, soonest deadline first. The token only
        keys a short-lived read proof and is never sent."""
        response = self._http.post("/Approvals/pending", json=read_request(approver, token, time.time()))
        if response.status_code != 200:
            self._raise(response)
        body = response.json()
        return body if isinstance(body, list) else []

    def approval(self, approval_id: str, *, approver: str, token: str) -> dict[str, Any]:
        """One gate that names `approver`: `{"pending", "closed", "saga": {"status", "summary"}}`."""
        check_approval_id(approval_id)
        return self._result(self._http.post(f"/Approval/{_key(approval_id)}/get",
                                            json=read_request(approver, token, time.time())))

    def _gate_digest(self, approval_id: str, approver: str, token: str) -> str:
        """The gate's digest as it stands; when the gate cannot be read as `approver` (not theirs, a
        wrong token), one that matches nothing, so that the decision gets the gate's own refusal."""
        try:
            pending = self.approval(approval_id, approver=approver, token=token).get("pending")
        except PivotError:
            return NO_DIGEST
        return bound_digest(PendingApproval.model_validate(pending)) if isinstance(pending, dict) else NO_DIGEST

    def decide(self, approval_id: str, *, approver: str, token: str, approved: bool, comment: str = "",
               digest: str | None = None, channel: Channel = "cli") -> dict[str, Any]:
        """Approve or reject; the token only keys the proof (which covers every field) and is never sent.

        The decision is bound to `digest`, the gate's digest of what its approver was shown
        (`approval(...)["pending"]["shown"]`): pass the one you showed. Without it the gate is
        read first and its own digest used, for a caller that decides on the gate as it stands."""
        check_approval_id(approval_id)
        if digest is None:
            digest = self._gate_digest(approval_id, approver, token)
        body = decision_request(token, approval_id, approver, approved, comment, digest=digest, channel=channel)
        return self._result(self._http.post(f"/Approval/{_key(approval_id)}/decide", json=body))
