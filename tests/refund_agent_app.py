"""A Restate-hosted pydantic-ai agent whose tools are Pivot's toolset, for the tests: a scripted
model that charges a customer, refunds part of it, asks for the same refund again under a new tool
call id (a model that lost the answer), then says it means a second, equal refund (`repeat`).

    python -m pivot.services.serve --app tests.refund_agent_app:app --bind 127.0.0.1:<port>
"""

from typing import Any

import restate
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from pivot.services.agents.pydantic_saga import run_agent_saga
from pivot.services.agents.pydantic_toolset import PivotToolset
from pivot.services.app import identity_keys
from pivot.services.catalog import build_catalog
from pivot.services.local.demo import DEMO_CUSTOMER

CHARGE = {"amount": 2000, "currency": "usd", "customer": DEMO_CUSTOMER, "payment_method": "pm_card_visa",
          "description": None}
REFUND = {"payment_intent": {"$from": "charge.id"}, "amount": 500, "reason": None}
CALLS = [
    ("stripe_charge", {"params": CHARGE, "pivot": True, "repeat": None}, "charge"),
    ("stripe_refund", {"params": REFUND, "repeat": None}, "refund"),
    ("stripe_refund", {"params": REFUND, "repeat": None}, "refund_again"),  # re-minted: answered, not written
    ("stripe_refund", {"params": REFUND, "repeat": True}, "refund_meant"),  # said: a second refund
]


async def refund_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    turn = sum(isinstance(m, ModelResponse) for m in messages)
    if turn < len(CALLS):
        name, args, call_id = CALLS[turn]
        return ModelResponse(parts=[ToolCallPart(name, args, tool_call_id=call_id)])
    returns = {p.tool_call_id: p.content for m in messages if isinstance(m, ModelRequest) for p in m.parts
               if isinstance(p, ToolReturnPart)}
    again = returns["refund_again"]
    said = again.get("message", "") if isinstance(again, dict) else ""
    return ModelResponse(parts=[TextPart(f"duplicate_of={again['step'].get('duplicate_of')}: {said}")])


agent = Agent(FunctionModel(refund_model, model_name="scripted-refunds"), toolsets=[PivotToolset(build_catalog(),
                                                                                                  ["stripe.*"])])
service = restate.Service("RefundAgent")


class Task(BaseModel):
    note: str = ""


@service.handler()
async def refunds(ctx: restate.Context, task: Task) -> dict[str, Any]:
    result = await run_agent_saga(ctx, ctx.request().id, agent, f"Charge and refund. {task.note}")
    return result.to_json()


app = restate.app(services=[service], identity_keys=identity_keys())
