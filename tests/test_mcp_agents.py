"""pydantic-ai agents driving `pivot mcp` the way agents really do: through pydantic-ai's own MCP
client toolset (not Pivot's code), against a real `pivot mcp --transport http` and the stack. The
models are scripted (`FunctionModel`): each turn's tool call is decided from what came back, as a
model would, and the sandboxes' ledgers prove what was written.

- a model that re-mints a step id: one effect, and `duplicate_of` in what it got back;
- a model that means two equal refunds (`repeat`): two refunds;
- a model that previews before acting: nothing in any ledger until it acts;
- the meta-tool mode end to end: find the action, read its schema, take the steps, commit.
"""

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from pivot.compensations.keys import forward_key
from pivot.services.local.demo import DEMO_CUSTOMER, flagship_steps
from pivot.services.local.stack import Stack
from tests.mcp_process import http_server
from tests.sandboxes import Sandboxes

CONTACT, INVOICE, NOTIFY = "hubspot.create_contact", "stripe.create_invoice", "slack.post_message"
CHARGE, REFUND = "stripe.charge", "stripe.refund"
Returned = ToolReturnPart | RetryPromptPart
NextCall = Callable[[list[Returned]], tuple[str, dict[str, Any]]]


@dataclass
class ScriptedModel:
    """A model that makes `calls` in order, each built from the tool returns so far, then answers."""

    calls: list[NextCall]
    tools_seen: list[str] = field(default_factory=list)
    returns: list[Returned] = field(default_factory=list)

    async def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.tools_seen = [tool.name for tool in info.function_tools]
        self.returns = [p for m in messages if isinstance(m, ModelRequest) for p in m.parts
                        if isinstance(p, ToolReturnPart | RetryPromptPart)]
        turn = sum(isinstance(m, ModelResponse) for m in messages)
        if turn < len(self.calls):
            name, arguments = self.calls[turn](self.returns)
            return ModelResponse(parts=[ToolCallPart(name, arguments, tool_call_id=f"call-{turn}")])
        return ModelResponse(parts=[TextPart("done")])

    def answer(self, index: int) -> Any:
        returned = self.returns[index]
        assert isinstance(returned, ToolReturnPart), returned.model_response_str()
        return returned.content


def run_agent(url: str, model: ScriptedModel) -> None:
    agent = Agent(FunctionModel(model), toolsets=[MCPToolset(url, max_retries=0)])
    assert agent.run_sync("Do the task.").output == "done"


def call(name: str, arguments: dict[str, Any]) -> NextCall:
    return lambda _: (name, arguments)


@pytest.fixture(scope="module")
def full_mcp(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with http_server(stack.ingress_url, tmp_path_factory.mktemp("agents-full")) as url:
        yield url


@pytest.fixture(scope="module")
def meta_mcp(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with http_server(stack.ingress_url, tmp_path_factory.mktemp("agents-meta"), "--tools", "meta") as url:
        yield url


def new_run(prefix: str) -> tuple[str, str]:
    token = uuid.uuid4().hex[:12]
    return f"{prefix}-{token}", f"ada+{token}@example.com"


def step_args(saga: str, step: str, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A strict model's arguments: every optional argument present, null when not meant."""
    return {"saga": saga, "step": step, "params": params, "repeat": None, **extra}


def test_a_model_that_re_mints_a_step_id_writes_once(full_mcp: str, sandboxes: Sandboxes) -> None:
    run_id, email = new_run("agent-dup")
    contact = {"email": email, "firstname": "Ada", "lastname": None, "company": None, "phone": None}
    model = ScriptedModel([
        call("hubspot_create_contact", step_args(run_id, "contact", contact)),
        # The model lost the answer (a timeout, a retry, a new context) and asks again under a new id.
        call("hubspot_create_contact", step_args(run_id, "contact-again", contact)),
        call("saga_commit", {"saga": run_id}),
    ])
    run_agent(full_mcp, model)

    first, again, committed = model.answer(0), model.answer(1), model.answer(2)
    assert first["step"]["state"] == "verified" and "duplicate_of" not in first["step"]
    assert again["step"]["duplicate_of"] == "contact" and again["step"]["ref"] == first["step"]["ref"]
    assert [s["id"] for s in committed["steps"]] == ["contact"] and committed["status"] == "committed"
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]
    assert sandboxes.effects_of("hubspot", run_id, "contact-again", CONTACT) == []


def test_a_model_that_means_two_equal_refunds_says_repeat(full_mcp: str, sandboxes: Sandboxes) -> None:
    run_id, _ = new_run("agent-refunds")
    charge = {"amount": 2000, "currency": "usd", "customer": DEMO_CUSTOMER, "payment_method": "pm_card_visa",
              "description": None}
    refund = {"payment_intent": {"$from": "charge.id"}, "amount": 500, "reason": None}
    model = ScriptedModel([
        call("stripe_charge", step_args(run_id, "charge", charge, pivot=True)),
        call("stripe_refund", step_args(run_id, "refund", refund)),
        call("stripe_refund", step_args(run_id, "refund-2", refund)),  # not said: a duplicate, no write
        call("stripe_refund", step_args(run_id, "refund-3", refund, repeat=True)),  # said: a second refund
        call("saga_commit", {"saga": run_id}),
    ])
    run_agent(full_mcp, model)

    assert model.answer(1)["step"]["state"] == "verified"  # after the pivot: refunded at once
    assert model.answer(2)["step"]["duplicate_of"] == "refund"
    assert model.answer(3)["step"]["state"] == "verified" and "duplicate_of" not in model.answer(3)["step"]
    assert model.answer(4)["status"] == "committed"
    refunds = [e for e in sandboxes.ledger("stripe") if (e["op"], e["object"]) == ("create", "refund")
               and any((e.get("idempotency_key") or "").startswith(forward_key(run_id, step, REFUND))
                       for step in ("refund", "refund-2", "refund-3"))]
    assert len(refunds) == 2


def test_a_model_that_previews_before_acting_writes_nothing_until_it_acts(
    full_mcp: str, stack: Stack, sandboxes: Sandboxes
) -> None:
    run_id, email = new_run("agent-preview")
    contact, notify, invoice = flagship_steps(email)
    written: list[dict[str, int]] = []

    def preview(step: dict[str, Any], **extra: Any) -> NextCall:
        return call("saga_preview", {"saga": run_id, "step": step["step"], "action": step["action"],
                                     "params": json.dumps(step["params"]), "pivot": None, "connection": None,
                                     "approval": None, "repeat": None, **extra})

    def act_after_looking(_: list[Returned]) -> tuple[str, dict[str, Any]]:
        written.append({p: len(sandboxes.ledger(p)) for p in stack.sandbox_urls})  # what the previews left
        return "hubspot_create_contact", step_args(run_id, "contact", contact["params"])

    before = {p: len(sandboxes.ledger(p)) for p in stack.sandbox_urls}
    model = ScriptedModel([preview(contact), preview(invoice, pivot=True), preview(notify), act_after_looking])
    run_agent(full_mcp, model)

    looked = [model.answer(i) for i in range(3)]
    assert [p["verdict"] for p in looked] == ["run", "run", "deferred"]
    assert [p["kind"] for p in looked] == ["compensable", "pivot", "noncompensable"]
    assert looked[0]["keys"]["forward"] == forward_key(run_id, "contact", CONTACT)
    assert looked[2]["unresolved"]  # the message names an invoice that does not exist yet
    assert written == [before]  # three previews: nothing in any ledger
    assert model.answer(3)["step"]["state"] == "verified"
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]


def test_the_meta_tools_end_to_end(meta_mcp: str, sandboxes: Sandboxes) -> None:
    """A model holding seven tools finds the action, reads its schema, and takes the flagship."""
    run_id, email = new_run("agent-meta")
    contact, notify, invoice = flagship_steps(email)

    def step(call: dict[str, Any], **extra: Any) -> NextCall:
        return lambda _: ("step", {"saga": run_id, "step": call["step"], "action": call["action"],
                                   "params": json.dumps(call["params"]), "pivot": None, "connection": None,
                                   "approval": None, "repeat": None, **extra})

    def pick_the_invoice_action(returns: list[Returned]) -> tuple[str, dict[str, Any]]:
        found = returns[-1]
        assert isinstance(found, ToolReturnPart)
        return "describe_action", {"action": found.content["actions"][0]["name"]}

    model = ScriptedModel([
        call("find_actions", {"query": "create invoice", "provider": None, "kind": None}),
        pick_the_invoice_action,
        step(contact), step(notify), step(invoice, pivot=True),
        call("saga_commit", {"saga": run_id}),
    ])
    run_agent(meta_mcp, model)

    assert sorted(model.tools_seen) == sorted(["find_actions", "describe_action", "step", "saga_preview",
                                               "saga_commit", "saga_abort", "saga_status"])
    assert model.answer(0)["actions"][0]["name"] == INVOICE
    assert "customer" in model.answer(1)["params"]["properties"]
    assert [model.answer(i)["step"]["state"] for i in (2, 3, 4)] == ["verified", "deferred", "verified"]
    outcome = model.answer(5)
    assert outcome["status"] == "committed", outcome
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]
    assert Counter(sandboxes.ops("stripe", run_id, "invoice", INVOICE)) == Counter(
        {("create", "invoice"): 1, ("create", "invoiceitem"): 1, ("finalize", "invoice"): 1})
    assert sandboxes.ops("slack", run_id, "notify", NOTIFY) == [("send", "message")]
    number = model.answer(4)["step"]["result"]["number"]
    assert number in next(s for s in outcome["steps"] if s["id"] == "notify")["result"]["text"]
