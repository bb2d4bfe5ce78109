"""A pydantic-ai agent that Restate hosts, whose tools are Pivot's catalog actions.

The agent onboards a customer by tool calls — a CRM contact, a Slack announcement of the invoice
(deferred: it cannot be undone, so it is sent when the saga commits), then the invoice — and
answers in text. Each tool call is a step of the handler's own saga, in the handler's journal:
a crash replays the model's journaled answers instead of asking it again, and a finished step
instead of writing again. The model is scripted (`FunctionModel`), so this runs with no key and
no network; put a real model in its place (`Agent("openai:gpt-5", ...)`) and nothing else changes.

    eval "$(.venv/bin/pivot env)"   # the local stack's addresses, sandboxes and their credentials
    .venv/bin/python -m pivot.services.serve --app examples.pydantic_ai_agent:app --bind 127.0.0.1:9082
    curl -X POST "$PIVOT_ADMIN_URL/deployments" -H 'content-type: application/json' \\
         -d '{"uri": "http://127.0.0.1:9082"}'
    curl "$PIVOT_INGRESS_URL/OnboardingAgent/onboard" -H 'content-type: application/json' \\
         -d '{"email": "alan@example.com"}'
    # → {"output": "alan@example.com is in the CRM and invoiced (invoice …)…", "outcome": {"status": "committed", …}}

`PIVOT_EXAMPLE_MODEL_LOG=<file>` appends one JSON line per real model call (a replayed answer
comes from the journal and writes none): the tests count them across a crash of this process.
"""

import json
import os
import re
from datetime import timedelta
from typing import Any, Literal

import restate
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from restate import RunOptions
from restate.ext.pydantic import RestateAgent

from pivot import build_catalog, identity_keys
from pivot.agents import PivotToolset, run_agent_saga
from pivot.services.agents.tools_schema import tool_name
from pivot.services.local.demo import flagship_steps

MODEL_LOG_ENV = "PIVOT_EXAMPLE_MODEL_LOG"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _prompt(messages: list[ModelMessage]) -> str:
    first = messages[0]
    assert isinstance(first, ModelRequest)
    return next(str(p.content) for p in first.parts if isinstance(p, UserPromptPart))


def _returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    return [p for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)]


def _log_call(email: str, turn: int) -> None:
    path = os.environ.get(MODEL_LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"email": email, "turn": turn}) + "\n")


async def onboarding_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """The scripted LLM: one tool call per turn, the flagship's calls in the order a tool-calling
    agent makes them, then a text answer built from the verified results it got back."""
    match = EMAIL.search(_prompt(messages))
    assert match is not None, "the prompt names the customer's email"
    email = match.group(0)
    turn = sum(isinstance(m, ModelResponse) for m in messages)
    _log_call(email, turn)
    returns = _returns(messages)
    if returns and returns[-1].outcome != "success":  # refused or failed: say so, do not press on
        return ModelResponse(parts=[TextPart(f"I could not onboard {email}: {returns[-1].model_response_str()}")])
    steps = flagship_steps(email)
    if turn < len(steps):
        step = steps[turn]
        return ModelResponse(parts=[ToolCallPart(tool_name(step["action"]), {"params": step["params"]},
                                                 tool_call_id=step["step"])])
    invoice = next(r.content for r in returns if r.tool_call_id == "invoice")
    number = invoice["step"]["result"]["number"] if isinstance(invoice, dict) else "?"
    return ModelResponse(parts=[TextPart(
        f"{email} is in the CRM and invoiced (invoice {number}); the Slack announcement goes out as the task "
        "commits.")])


catalog = build_catalog()
onboarding_agent = Agent(
    FunctionModel(onboarding_model, model_name="scripted-onboarding"),
    instructions="You onboard customers. Every write is a tool call; relay the verified results, never guesses.",
    toolsets=[PivotToolset(catalog, ["hubspot.create_contact", "stripe.create_invoice", "slack.post_message"])],
)
# auto_wrap_tools wraps plain function tools in ctx.run; it leaves Pivot's toolset alone (each step
# journals its own write). A model call that keeps failing becomes terminal, and the saga unwinds.
agent = RestateAgent(onboarding_agent, auto_wrap_tools=True,
                     run_options=RunOptions(max_attempts=5, max_retry_interval=timedelta(seconds=2)))

service = restate.Service("OnboardingAgent")


class Onboard(BaseModel):
    email: str
    on_failure: Literal["unwind", "report"] = "unwind"
    """unwind: a failed step undoes everything and stops the agent; report: the agent is told and goes on."""


@service.handler()
async def onboard(ctx: restate.Context, request: Onboard) -> dict[str, Any]:
    # The invocation id is the run id: the same on every retry of this invocation, so are the keys.
    result = await run_agent_saga(
        ctx, ctx.request().id, agent,
        f"Onboard {request.email}: add them to the CRM, invoice them for the Pro plan, and announce the "
        "invoice in Slack.", on_failure=request.on_failure)
    return result.to_json()


app = restate.app(services=[service], identity_keys=identity_keys())
