"""What each of `pivot mcp`'s tools does when called.

Each handler makes one ingress call through `PivotClient` on a worker thread (the client is sync)
and turns the answer, or the refusal, into a tool result (`mcp_results`). An action's own tool
(full mode) and the generic `step` (meta mode) build the same step request (`tool_args`) and make
the same call (`step_answer`, through `mcp_chat`, which also asks the agent's user about a gate
that is theirs), so the two modes cannot drift apart: only the schema the model saw differs.
"""

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
import httpx
from mcp_types import CallToolResult

from pivot.compensations.actions import Catalog
from pivot.compensations.error_body import ErrorBody
from pivot.compensations.ids import InvalidId
from pivot.compensations.validation import PlanRejected, check_horizon, decode_plan, validate_plan
from pivot.services.agents.action_views import action_line, describe, find
from pivot.services.agents.mcp_resources import RecentSagas
from pivot.services.agents.mcp_results import (
    failure_result,
    not_found_result,
    outcome_result,
    preview_result,
    refusal_result,
    result,
    unreachable_result,
)
from pivot.services.agents.mcp_tools import Handler
from pivot.services.agents.tool_args import params_error, plan_request, step_request
from pivot.services.cli.explain import explain, explanation_text
from pivot.services.client import PivotClient, PivotError

Answer = TypeVar("Answer")
NOTHING_WRITTEN = "Nothing was recorded or written."


class PivotTools:
    """The tool handlers, stateless but for the list of recently served sagas (resources/list)."""

    def __init__(self, client: PivotClient, ingress_url: str, catalog: Catalog, recent: RecentSagas):
        self._client = client
        self._ingress_url = ingress_url
        self._catalog = catalog
        self._recent = recent

    async def _call(self, call: Callable[[], Answer], saga: str | None = None) -> Answer | CallToolResult:
        """The ingress's answer to `call`, or the tool result that says why there is none."""
        try:
            body = await anyio.to_thread.run_sync(call)
        except InvalidId as invalid:  # the client checks ids before it sends anything
            return failure_result(f"Refused: {invalid}. {NOTHING_WRITTEN}",
                                  ErrorBody(code="invalid_id", message=str(invalid), field=invalid.field))
        except PivotError as refused:
            return refusal_result(refused)
        except httpx.HTTPError as error:
            return unreachable_result(self._ingress_url, error)
        if saga is not None:
            self._recent.seen(saga)
        return body

    async def _ask(self, call: Callable[[], Answer], answer: Callable[[Answer], CallToolResult],
                   saga: str | None = None) -> CallToolResult:
        body = await self._call(call, saga)
        return body if isinstance(body, CallToolResult) else answer(body)

    async def step_answer(self, saga: str, call: dict[str, Any], *, dry_run: bool = False,
                          wait_s: float | None = None) -> dict[str, Any] | CallToolResult:
        """One step call, from either mode, taken (`step`) or only previewed (`dry_run`): the
        service's answer, or the refusal as a tool result. `wait_s` None: the service's default."""
        if (problem := params_error(call.get("params"))) is not None:
            return failure_result(f"Refused: {problem}. {NOTHING_WRITTEN}",
                                  ErrorBody(code="invalid_request", message=problem, field="params", run=saga,
                                            step=call.get("step")))
        request = step_request(self._catalog, call)
        options: dict[str, Any] = {"pivot": bool(request.get("pivot")), "approval": request.get("approval"),
                                   "connection": request.get("connection", "default"),
                                   "repeat": bool(request.get("repeat"))}
        if dry_run:
            ask = functools.partial(self._client.preview, saga, request["step"], request["action"],
                                    request.get("params"), **options)
        else:
            ask = functools.partial(self._client.step, saga, request["step"], request["action"],
                                    request.get("params"), wait_s=wait_s, **options)
        return await self._call(ask, saga)

    def preview(self) -> Handler:
        """`saga_preview`: what a step of the action named by the call would do."""

        async def call(saga: str, step: str, action: str, params: Any = None,
                       pivot: bool | None = None, connection: str | None = None,
                       approval: dict[str, Any] | None = None, repeat: bool | None = None) -> CallToolResult:
            request = {"step": step, "action": action, "params": params, "pivot": pivot, "connection": connection,
                       "approval": approval, "repeat": repeat}
            answer = await self.step_answer(saga, request, dry_run=True)
            return answer if isinstance(answer, CallToolResult) else preview_result(answer)

        return call

    async def commit(self, saga: str) -> CallToolResult:
        return await self._ask(functools.partial(self._client.commit, saga),
                               functools.partial(outcome_result, failed_if={"compensated", "needs_attention"}), saga)

    async def abort(self, saga: str, reason: str | None = None) -> CallToolResult:
        return await self._ask(functools.partial(self._client.abort, saga, reason),
                               functools.partial(outcome_result, failed_if={"needs_attention"}), saga)

    async def status(self, saga: str) -> CallToolResult:
        def answer(outcome: dict[str, Any]) -> CallToolResult:
            if outcome.get("status") == "not_found":
                return not_found_result(saga)
            return outcome_result(outcome, failed_if=set())

        return await self._ask(functools.partial(self._client.status, saga), answer)

    async def run_plan(self, run_id: str, plan: dict[str, Any]) -> CallToolResult:
        return await self._ask(functools.partial(self._client.run, run_id, plan_request(self._catalog, plan)),
                               functools.partial(outcome_result, failed_if={"compensated", "needs_attention"}),
                               run_id)

    async def check_plan(self, plan: dict[str, Any] | str) -> CallToolResult:
        """Offline: the same checks the service runs, and what it would do with the plan (given as
        JSON text, or as the object itself)."""
        try:
            validated = validate_plan(plan_request(self._catalog, decode_plan(plan.encode()) if isinstance(plan, str)
                                                   else plan), self._catalog)
            check_horizon(validated, time.time())
        except PlanRejected as rejected:
            violations = [v.model_dump() for v in rejected.violations]
            lines = [f"Invalid plan ({len(violations)} problem(s)); nothing would run:",
                     *(f"- {v['path']}: {v['message']}. Fix: {v['fix']}" for v in violations)]
            return result({"valid": False, "violations": violations}, lines, is_error=False)
        explanation = explain(validated, self._catalog)
        return result({"valid": True, **explanation.model_dump(mode="json")},
                      ["Valid plan (nothing was run):", *explanation_text(explanation)], is_error=False)

    async def list_actions(self) -> CallToolResult:
        return self._actions([action_line(self._catalog[name]) for name in sorted(self._catalog)])

    async def find_actions(self, query: str | None = None, provider: str | None = None,
                           kind: str | None = None) -> CallToolResult:
        return self._actions(find(self._catalog, query, provider, kind))

    def _actions(self, actions: list[dict[str, Any]]) -> CallToolResult:
        lines = [f"{a['name']} ({a['kind']}{', may be the pivot' if a['pivot_eligible'] else ''}): undo: {a['undo']}; "
                 f"params: {', '.join(a['params'])} (* required)" for a in actions]
        if not actions:
            lines = ["No action matches: try fewer words, or find_actions with no query for them all."]
        return result({"actions": actions}, lines, is_error=False)

    async def describe_action(self, action: str) -> CallToolResult:
        if action not in self._catalog:
            return failure_result(f"No action named '{action}': find_actions lists them.",
                                  ErrorBody(code="unknown_action", message=f"no action named '{action}'",
                                            field="action"))
        found = self._catalog[action]
        body = describe(found, self._catalog.connections.get(found.provider, frozenset()))
        lines = [f"{action} ({body['kind']}): undo: {body['compensation']}; {body['deferral']}. "
                 "params (JSON Schema) and the answer's shape are in the structured content."]
        return result(body, lines, is_error=False)
