"""Run a pydantic-ai agent inside your Restate handler with Pivot's tools, as one saga.

    from pydantic_ai import Agent
    from restate.ext.pydantic import RestateAgent
    from pivot.services.agents.pydantic_saga import run_agent_saga
    from pivot.services.agents.pydantic_toolset import PivotToolset

    agent = RestateAgent(Agent(model, toolsets=[PivotToolset(catalog, ["hubspot.*", "stripe.*", "slack.*"])]))

    @service.handler()
    async def onboard(ctx: restate.Context, request: Onboard) -> dict[str, Any]:
        result = await run_agent_saga(ctx, ctx.request().id, agent, f"Onboard {request.email} ...")
        return result.to_json()   # {"output": <the agent's answer or null>, "outcome": <the saga>, "error"?}

The agent's tool calls are the saga's steps, in the handler's journal (see `pydantic_toolset`).
When the agent finishes, the saga commits: its deferred steps (a chat message, an email) are sent
now, after everything they announce has verified. When a step's failure ends the saga, the agent
run stops there and the result carries the compensated outcome. When the agent itself fails
(a terminal error, the model misbehaving past its retries, a usage limit), the saga unwinds —
or, past its point of no return, commits — so a failed agent never leaves half a transaction.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic_ai import AbstractToolset, UserError
from pydantic_ai.agent import AbstractAgent
from pydantic_ai.exceptions import AgentRunError
from pydantic_ai.messages import UserContent
from pydantic_ai.usage import UsageLimits
from restate import Context, TerminalError
from restate.ext.pydantic import RestateAgent

from pivot.compensations.actions import Catalog
from pivot.compensations.outcome import Outcome
from pivot.compensations.protocol import AlertSink, ApprovalGate
from pivot.compensations.record import OnFailure
from pivot.compensations.saga import Publisher, Saga, SagaEnded
from pivot.services.agents.pydantic_toolset import PivotToolset, bind_saga

log = logging.getLogger("pivot.agents")

OutputT = TypeVar("OutputT")


@dataclass(frozen=True)
class AgentSagaResult(Generic[OutputT]):
    """What the agent answered and what is true in the systems it wrote to."""

    output: OutputT | None
    """The agent's final output; None when the saga or the agent failed before it finished."""
    outcome: Outcome
    """The saga's verified outcome: relay its `summary`, never the agent's own account."""
    error: str | None = None
    """Why the agent did not finish, when it did not."""

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"output": self.output,
                                "outcome": self.outcome.model_dump(mode="json", exclude_none=True)}
        if self.error is not None:
            body["error"] = self.error
        return body


def pivot_catalog(agent: AbstractAgent[Any, Any]) -> Catalog:
    """The catalog of the agent's Pivot toolset(s): the saga takes its steps from the same catalog
    the tools were described from, so the two cannot disagree."""
    found: list[PivotToolset] = []

    def visit(toolset: AbstractToolset[Any]) -> None:
        if isinstance(toolset, PivotToolset):
            found.append(toolset)

    for toolset in agent.toolsets:
        toolset.apply(visit)
    catalogs = {id(t.catalog): t.catalog for t in found}
    if len(catalogs) != 1:
        raise UserError("the agent needs Pivot's tools from one catalog: "
                        "Agent(model, toolsets=[PivotToolset(catalog)]), then RestateAgent(agent)"
                        if not catalogs else "the agent's Pivot toolsets use different catalogs")
    return next(iter(catalogs.values()))


async def run_agent_saga(
    ctx: Context, run_id: str, agent: AbstractAgent[Any, OutputT],
    user_prompt: str | Sequence[UserContent] | None = None, *, deps: Any = None,
    usage_limits: UsageLimits | None = None, on_failure: OnFailure = "unwind",
    gate: ApprovalGate | None = None, alert: AlertSink | None = None, publish: Publisher | None = None,
) -> AgentSagaResult[OutputT]:
    """Run `agent` with its Pivot tools as steps of one saga named `run_id`, inside the handler of `ctx`.

    `run_id` names the steps' idempotency keys: use an id that stays the same on every retry of the
    invocation (`ctx.request().id`, or the workflow's key). A plain `Agent` is wrapped in a
    `RestateAgent`, which journals every model answer: without that, a replay would ask the model
    again and get other tool-call ids, that is other steps.
    """
    durable = agent if isinstance(agent, RestateAgent) else RestateAgent(agent)
    saga = Saga(ctx, run_id, pivot_catalog(agent), on_failure=on_failure, gate=gate, alert=alert, publish=publish)
    try:
        with bind_saga(saga):
            result = await durable.run(user_prompt, deps=deps, usage_limits=usage_limits)
    except SagaEnded as ended:  # a step failed and the saga closed; nothing more is asked of the model
        return AgentSagaResult(None, ended.outcome, f"a step ended the saga: {ended.message}")
    except (TerminalError, AgentRunError) as exc:
        # Both are final: a replay of the same journal fails the same way, so retrying cannot help.
        reason = f"the agent failed: {exc.message if isinstance(exc, TerminalError) else exc}"
        log.warning("run=%s %s", run_id, reason, extra={"run_id": run_id})
        return AgentSagaResult(None, await close_after_failure(saga, reason), reason)
    outcome = await saga.commit() if saga.record.is_open else saga.outcome
    return AgentSagaResult(result.output, outcome)


async def close_after_failure(saga: Saga, reason: str) -> Outcome:
    """Before the point of no return, undo everything; past it, the saga can only finish forward
    (the same rule as an open saga that no one calls any more)."""
    if saga.record.status.is_final:
        return saga.outcome
    if saga.record.crossed:
        return await saga.commit()
    return await saga.abort(reason)
