"""A pydantic-ai agent hosted by Restate, with Pivot's catalog actions as its tools, against the real
stack: the example app (examples/pydantic_ai_agent.py) in its own process, registered next to
Pivot's service. Its model is scripted and logs each real call to a file, so a test can tell a
turn replayed from the journal from one the model was asked again."""

import json
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic_ai import Agent
from pydantic_ai.models.function import FunctionModel
from restate.ext.pydantic import RestateAgent

from examples.pydantic_ai_agent import MODEL_LOG_ENV, onboarding_model
from pivot.services.admin import AdminClient
from pivot.services.agents.pydantic_saga import pivot_catalog
from pivot.services.agents.pydantic_toolset import PivotToolset
from pivot.services.agents.tools_schema import select_actions, step_tool, tool_name
from pivot.services.catalog import build_catalog
from pivot.services.local.processes import ManagedProcess, free_port, wait_until
from pivot.services.local.restate_binary import PROJECT_ROOT
from pivot.services.local.stack import Stack
from tests.sandboxes import Sandboxes

CONTACT, INVOICE, NOTIFY = "hubspot.create_contact", "stripe.create_invoice", "slack.post_message"
TURNS = [0, 1, 2, 3]
"""The flagship's model calls: three tool calls, then the text answer."""


@dataclass
class AgentService:
    process: ManagedProcess
    url: str
    model_log: Path

    def wait_up(self) -> None:
        def discovered() -> bool:
            self.process.check_alive()
            response = httpx.get(f"{self.url}/discover", timeout=1.0,
                                 headers={"accept": "application/vnd.restate.endpointmanifest.v1+json"})
            return response.status_code in {200, 401, 415}
        wait_until(discovered, timeout_s=60, what="the pydantic-ai example's endpoint")

    def model_turns(self, email: str) -> list[int]:
        """The turns the model was really asked for this customer (replays are not logged)."""
        if not self.model_log.exists():
            return []
        lines = [json.loads(line) for line in self.model_log.read_text().splitlines() if line.strip()]
        return [line["turn"] for line in lines if line["email"] == email]


@pytest.fixture(scope="module")
def agent_service(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentService]:
    """The example served by its own process and registered with Restate, like `library_service`."""
    port = free_port()
    model_log = tmp_path_factory.mktemp("pydantic-agent") / "model-calls.jsonl"
    process = ManagedProcess(
        "pydantic-ai-example", [sys.executable, "-m", "pivot.services.serve", "--app", "examples.pydantic_ai_agent:app",
                                "--bind", f"127.0.0.1:{port}"],
        env={**stack.service.env, MODEL_LOG_ENV: str(model_log)}, cwd=PROJECT_ROOT,
        log_path=stack.log_dir / "pydantic-ai-example.log")
    process.start()
    service = AgentService(process, f"http://127.0.0.1:{port}", model_log)
    try:
        wait_until(lambda: httpx.post(f"{stack.admin_url}/deployments", json={"uri": service.url},
                                      timeout=10).status_code in {200, 201}, timeout_s=60,
                   what="the pydantic-ai example's deployment")
        yield service
    finally:
        process.stop()


def _start(stack: Stack, email: str, on_failure: str = "unwind") -> str:
    """Send the onboarding (it runs on its own); returns the invocation id, which is the run id."""
    response = httpx.post(f"{stack.ingress_url}/OnboardingAgent/onboard/send",
                          json={"email": email, "on_failure": on_failure},
                          headers={"idempotency-key": uuid.uuid4().hex}, timeout=30)
    assert response.status_code in {200, 202}, response.text
    return str(response.json()["invocationId"])


def _attach(stack: Stack, invocation_id: str) -> dict[str, Any]:
    response = httpx.get(f"{stack.ingress_url}/restate/invocation/{invocation_id}/attach", timeout=120)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _email() -> str:
    return f"pyd+{uuid.uuid4().hex[:10]}@example.com"


def _run_entries(stack: Stack, invocation_id: str) -> list[str]:
    """The names of the invocation's journaled `ctx.run`s, in order."""
    with AdminClient(stack.admin_url) as admin:
        journal = admin.journal(invocation_id)
    return [str(e["name"]) for e in journal if e["entry_type"] == "Command: Run"]


def _assert_committed_once(sandboxes: Sandboxes, result: dict[str, Any]) -> None:
    outcome = result["outcome"]
    assert outcome["status"] == "committed", result
    assert [(s["id"], s["state"]) for s in outcome["steps"]] == [
        ("contact", "verified"), ("notify", "verified"), ("invoice", "verified")]
    run_id = outcome["run_id"]
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]
    assert Counter(sandboxes.ops("stripe", run_id, "invoice", INVOICE)) == Counter(
        {("create", "invoice"): 1, ("create", "invoiceitem"): 1, ("finalize", "invoice"): 1})
    post = sandboxes.effects_of("slack", run_id, "notify", NOTIFY)
    finalized = [e for e in sandboxes.effects_of("stripe", run_id, "invoice", INVOICE)
                 if (e["op"], e["object"]) == ("finalize", "invoice")]
    assert [(e["op"], e["object"]) for e in post] == [("send", "message")]
    assert post[0]["at"] >= finalized[0]["at"]  # the deferred post went out only once the invoice existed
    number = next(s for s in outcome["steps"] if s["id"] == "invoice")["result"]["number"]
    assert f"invoice {number}" in result["output"]  # the agent answered from the verified result
    assert number in next(s for s in outcome["steps"] if s["id"] == "notify")["result"]["text"]


def test_tools_come_from_the_shared_schema_and_are_not_wrapped() -> None:
    """The toolset's tools are the shared step tools minus `saga`/`step` (the handler holds the one,
    the tool-call id is the other), and RestateAgent's auto-wrapping leaves them alone: each step
    journals its own write, and a `ctx.run` inside another is not allowed."""
    catalog = build_catalog()
    toolset = PivotToolset(catalog, ["stripe.*", "slack.post_message"])
    actions = select_actions(catalog, ["stripe.*", "slack.post_message"])
    assert [d.name for d in toolset.tool_definitions] == [tool_name(a.name) for a in actions]
    for definition, action in zip(toolset.tool_definitions, actions, strict=True):
        shared = step_tool(action).input_schema
        schema = definition.parameters_json_schema
        assert schema["properties"]["params"] == shared["properties"]["params"]
        assert set(schema["properties"]) == set(shared["properties"]) - {"saga", "step"}
        assert schema["required"] == list(schema["properties"]) and definition.sequential and definition.strict
        assert "repeat" in schema["properties"] and definition.metadata["pivot/undo"]["kind"] == action.kind.value
        assert "saga_commit" not in (definition.description or "") and "`saga`" not in (definition.description or "")

    agent = RestateAgent(Agent(FunctionModel(onboarding_model), toolsets=[toolset]), auto_wrap_tools=True)
    leaves: list[object] = []
    for wrapped in agent.toolsets:
        wrapped.apply(leaves.append)
    assert toolset in leaves
    assert pivot_catalog(agent) is catalog


def test_flagship_by_tool_calls_commits_each_effect_once(
    stack: Stack, agent_service: AgentService, sandboxes: Sandboxes
) -> None:
    email = _email()
    invocation = _start(stack, email)
    result = _attach(stack, invocation)

    _assert_committed_once(sandboxes, result)
    assert result["outcome"]["run_id"] == invocation
    assert agent_service.model_turns(email) == TURNS
    runs = _run_entries(stack, invocation)
    # One journal entry per model answer and one per step's write, in the order they happened;
    # nothing named like RestateAgent's own tool wrapper ("Calling <tool>"): no step is wrapped twice.
    writes = [r for r in runs if r == "Model call" or r.split(":")[-1] in {CONTACT, INVOICE, NOTIFY}]
    assert writes == ["Model call", f"contact:{CONTACT}", "Model call", "Model call", f"invoice:{INVOICE}",
                      "Model call", f"notify:{NOTIFY}"], runs
    assert not [r for r in runs if r.startswith("Calling")], runs


def test_a_provider_fault_unwinds_and_stops_the_agent(
    stack: Stack, agent_service: AgentService, sandboxes: Sandboxes
) -> None:
    sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="error", status=500, times=None)
    email = _email()
    result = _attach(stack, _start(stack, email))

    outcome = result["outcome"]
    assert outcome["status"] == "compensated", result
    assert [(s["id"], s["state"]) for s in outcome["steps"]] == [
        ("contact", "compensated"), ("notify", "not_run"), ("invoice", "failed")]
    assert result["output"] is None and "ended the saga" in result["error"]
    run_id = outcome["run_id"]
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact"), ("archive", "contact")]
    assert sandboxes.effects_of("slack", run_id, "notify", NOTIFY) == []
    assert agent_service.model_turns(email) == TURNS[:3]  # the run stopped at the failure: no answer asked for


def test_a_refused_step_goes_back_to_the_model_and_writes_nothing(
    stack: Stack, agent_service: AgentService, sandboxes: Sandboxes
) -> None:
    """400: the saga refuses the contact as asked (an email HubSpot would reject), the model gets
    the refusal as a retry prompt naming the problem, and answers instead of pressing on."""
    email = f"{'x' * 70}.{uuid.uuid4().hex[:8]}@example.com"
    result = _attach(stack, _start(stack, email))

    assert "invalid_step" in result["output"] and "nothing was written" in result["output"], result
    assert result["outcome"]["steps"] == [], result  # refused calls record nothing
    assert sandboxes.effects_of("hubspot", result["outcome"]["run_id"], "contact", CONTACT) == []
    assert agent_service.model_turns(email) == TURNS[:2]


def test_report_policy_tells_the_model_and_the_commit_cannot_announce_a_missing_invoice(
    stack: Stack, agent_service: AgentService, sandboxes: Sandboxes
) -> None:
    """`report`: the failed invoice goes back to the model as a failed tool call and the saga stays
    open; the agent finishes, and the commit finds that the deferred announcement names an invoice
    that never existed, so it unwinds instead: the contact is archived, nothing is posted."""
    sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="error", status=500, times=None)
    email = _email()
    result = _attach(stack, _start(stack, email, on_failure="report"))

    assert result["output"].startswith(f"I could not onboard {email}"), result
    assert "Step 'invoice' failed" in result["output"]  # the model was told, as a failed tool call
    outcome = result["outcome"]
    assert outcome["status"] == "compensated", result
    states = {s["id"]: s["state"] for s in outcome["steps"]}
    assert states == {"contact": "compensated", "notify": "failed", "invoice": "failed"}, outcome
    assert "'invoice' has no verified result" in outcome["summary"]  # why the announcement could not go out
    run_id = outcome["run_id"]
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact"), ("archive", "contact")]
    assert sandboxes.effects_of("slack", run_id, "notify", NOTIFY) == []
    assert agent_service.model_turns(email) == TURNS


def test_sigkill_mid_step_resumes_without_asking_the_model_again(
    stack: Stack, agent_service: AgentService, sandboxes: Sandboxes
) -> None:
    hold = sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="latency", latency_ms=1500, times=1)
    email = _email()
    invocation = _start(stack, email)
    wait_until(lambda: sandboxes.fault_hits("stripe", hold) == 1, timeout_s=60, what="the held invoice create")
    assert agent_service.model_turns(email) == TURNS[:3]

    agent_service.process.kill()
    agent_service.process.start()
    agent_service.wait_up()
    result = _attach(stack, invocation)
    # The held request lands at the provider after the crash: wait for it, then count.
    wait_until(lambda: sandboxes.fault_held("stripe", hold) == 0, timeout_s=30, what="the held request")

    _assert_committed_once(sandboxes, result)
    # Turns 0-2 came back from the journal; only the final answer was asked for after the restart.
    assert agent_service.model_turns(email) == TURNS
    assert _run_entries(stack, invocation).count("Model call") == len(TURNS)
