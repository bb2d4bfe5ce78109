"""The chat channel: `pivot mcp` asks the agent's own user to decide a gate in their MCP client
(elicitation), through the official MCP client, against a real `pivot mcp` and the real stack.

`pivot mcp` runs as the user `finance` (PIVOT_CHAT_APPROVER, its token in PIVOT_APPROVERS). A
gate naming finance alone and the chat channel is asked about, with the gate's own text, and
decided with the answer, on both protocol revisions: up to 2025-11-25 the question comes as a
request in the middle of the tool call, from 2026-07-28 as `input_required` (the client calls
again with the answer). Anything else — a client that cannot be asked, a gate naming others —
gets the approval page's address and stays open: nothing is ever decided for it.
"""

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, ElicitRequestParams, ElicitResult, TextContent
from pydantic_ai import Agent
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.models.function import FunctionModel

from pivot.services.agents.chat_approval import ChatUser, question
from pivot.services.client import PivotClient
from pivot.services.local.demo import flagship_steps
from pivot.services.local.processes import ManagedProcess, free_port, wait_until
from pivot.services.local.restate_binary import PROJECT_ROOT
from pivot.services.local.stack import Stack
from tests.conftest import APPROVER_TOKENS
from tests.mcp_process import ACCEPT, INITIALIZE, SERVER, server_env
from tests.sandboxes import Sandboxes
from tests.test_mcp_agents import NextCall, ScriptedModel, call
from tests.test_open_sagas import CONTACT, INVOICE, new_run

USER = "finance"
LEGACY, MODERN = "2025-11-25", "2026-07-28"
CHAT_GATE = {"approvers": [USER], "channels": ["chat", "page"], "timeout": "PT2H",
             "reason": "first invoice for a new customer"}


def chat_env(stack: Stack) -> dict[str, str]:
    """`pivot mcp`'s environment: the stack (its state folder too: its approval page is the one
    linked), and the chat user with their token only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIVOT_")}
    return env | server_env(stack.ingress_url, stack.admin_url) | {
        "PIVOT_STATE_DIR": str(stack.state_dir),
        "PIVOT_CHAT_APPROVER": USER, "PIVOT_APPROVERS": f"{USER}:{APPROVER_TOKENS[USER]}"}


@dataclass
class Chat:
    """An MCP client session whose user answers questions with `replies`, in order (none given:
    the client does not support elicitation), and the questions it was asked."""

    portal: BlockingPortal
    client: Client
    asked: list[ElicitRequestParams] = field(default_factory=list)
    replies: list[ElicitResult] = field(default_factory=list)

    def step(self, saga: str, call: dict[str, Any], gate: dict[str, Any] | None = None) -> CallToolResult:
        arguments = {"saga": saga, "step": call["step"], "action": call["action"], "params": call["params"]}
        answer = self.portal.call(self.client.call_tool, "step", {**arguments, **({"approval": gate} if gate else {})})
        assert isinstance(answer, CallToolResult)
        return answer

    def call(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        answer = self.portal.call(self.client.call_tool, name, arguments)
        assert isinstance(answer, CallToolResult)
        return answer


@contextmanager
def chat(transport: Any, revision: str, *, elicits: bool = True) -> Iterator[Chat]:
    """The official client over `transport` at `revision` (the handshake's, or the stateless one)."""
    with start_blocking_portal() as portal:
        session = Chat(portal, None)  # type: ignore[arg-type]  # the client is made next, with its callback

        async def user(_context: Any, params: ElicitRequestParams) -> ElicitResult:
            session.asked.append(params)
            return session.replies.pop(0)

        client = Client(transport, mode="legacy" if revision == LEGACY else revision,
                        elicitation_callback=user if elicits else None)
        with portal.wrap_async_context_manager(client) as connected:
            assert connected.protocol_version == revision
            session.client = connected
            yield session


@pytest.fixture(scope="module")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mcp-chat") / "stdio-servers.log"


@contextmanager
def stdio_chat(stack: Stack, log: Path, revision: str, *, elicits: bool = True) -> Iterator[Chat]:
    params = StdioServerParameters(command=SERVER[0], args=[*SERVER[1:], "--tools", "meta"], env=chat_env(stack),
                                   cwd=PROJECT_ROOT)
    with log.open("a") as errlog, chat(stdio_client(params, errlog=errlog), revision, elicits=elicits) as session:
        yield session


def approve(comment: str = "") -> ElicitResult:
    return ElicitResult(action="accept", content={"approve": True, "comment": comment})


def reject(comment: str) -> ElicitResult:
    return ElicitResult(action="accept", content={"approve": False, "comment": comment})


def text(answer: CallToolResult) -> str:
    return "\n".join(block.text for block in answer.content if isinstance(block, TextContent))


def structured(answer: CallToolResult) -> dict[str, Any]:
    assert answer.structured_content is not None, text(answer)
    return dict(answer.structured_content)


def start(session: Chat, pivot: PivotClient, what: str) -> tuple[str, dict[str, Any]]:
    """A saga whose contact is verified, and the invoice step to gate."""
    run_id, email = new_run(f"chat-{what}")
    contact, _, invoice = flagship_steps(email)
    assert structured(session.step(run_id, contact))["step"]["state"] == "verified"
    return run_id, invoice


def gate_of(pivot: PivotClient, run_id: str, approver: str = USER) -> dict[str, Any]:
    return pivot.approval(f"{run_id}~invoice", approver=approver, token=APPROVER_TOKENS[approver])


def assert_page_link(answer: CallToolResult, stack: Stack, run_id: str) -> None:
    """The step waits, and the answer says where it is decided: the stack's approval page, and which gate."""
    page = f"{stack.approvals_url}/"
    step = structured(answer)["step"]
    assert not answer.is_error and step["state"] == "waiting_approval", text(answer)
    assert step["approval"]["page"] == page
    assert f"on the approval page, {page} (approval {run_id}~invoice)" in text(answer)
    assert step.get("decision") is None


@pytest.mark.parametrize("revision", [LEGACY, MODERN])
def test_the_user_approves_in_the_chat_and_the_step_runs(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes,
                                                         server_log: Path, revision: str) -> None:
    with stdio_chat(stack, server_log, revision) as session:
        run_id, invoice = start(session, pivot, f"approve-{revision}")
        session.replies.append(approve("go ahead"))
        answer = session.step(run_id, invoice, CHAT_GATE)

        gate = gate_of(pivot, run_id)
        assert [asked.message for asked in session.asked] == [question(gate["pending"], ChatUser(USER, "-"))]
        assert session.asked[0].message.startswith(gate["pending"]["shown"] + "\n\n")  # the page's text, verbatim
        assert set(session.asked[0].requested_schema["properties"]) == {"approve", "comment"}
        step = structured(answer)["step"]
        assert not answer.is_error and step["state"] == "verified", text(answer)
        assert {k: step["decision"][k] for k in ("approved", "approver", "comment", "channel")} == {
            "approved": True, "approver": USER, "comment": "go ahead", "channel": "chat"}
        assert gate["closed"]["decision"]["channel"] == "chat"
        invoices = Counter(sandboxes.ops("stripe", run_id, "invoice", INVOICE))
        assert invoices[("create", "invoice")] == 1 and invoices[("finalize", "invoice")] == 1

        assert structured(session.call("saga_commit", {"saga": run_id}))["status"] == "committed"
    token = APPROVER_TOKENS[USER]
    assert token not in json.dumps(structured(answer)) and token not in text(answer)
    assert token not in server_log.read_text()


def test_declining_decides_nothing_and_a_rejection_unwinds(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes,
                                                          server_log: Path) -> None:
    with stdio_chat(stack, server_log, MODERN) as session:
        run_id, invoice = start(session, pivot, "decline")
        session.replies.append(ElicitResult(action="decline"))
        declined = session.step(run_id, invoice, CHAT_GATE)
        assert_page_link(declined, stack, run_id)
        assert "You declined to answer in the chat: nothing was decided." in text(declined)
        assert gate_of(pivot, run_id)["closed"] is None and pivot.status(run_id)["status"] == "open"

        session.replies.append(reject("not this month"))  # the agent asks again: the same question
        rejected = session.step(run_id, invoice, CHAT_GATE)
        assert [asked.message for asked in session.asked][1:] == [session.asked[0].message]

    step, saga = structured(rejected)["step"], structured(rejected)["saga"]
    assert rejected.is_error and step["state"] == "failed" and step["error"]["code"] == "approval_rejected"
    assert step["decision"]["channel"] == "chat" and step["decision"]["comment"] == "not this month"
    assert saga["status"] == "compensated"
    assert {s["id"]: s["state"] for s in saga["steps"]}["contact"] == "compensated"
    assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []
    assert [op for op, _ in sandboxes.ops("hubspot", run_id, "contact", CONTACT)] == ["create", "archive"]


@pytest.mark.parametrize("revision", [LEGACY, MODERN])
def test_a_client_without_elicitation_gets_the_page_link(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes,
                                                         server_log: Path, revision: str) -> None:
    with stdio_chat(stack, server_log, revision, elicits=False) as session:
        run_id, invoice = start(session, pivot, f"no-elicitation-{revision}")
        answer = session.step(run_id, invoice, CHAT_GATE)
        assert_page_link(answer, stack, run_id)
        assert gate_of(pivot, run_id)["closed"] is None
        assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []
        assert structured(session.call("saga_abort", {"saga": run_id}))["status"] == "compensated"


@pytest.mark.parametrize("gate", [
    {"approvers": [USER, "ops"], "channels": ["page"]},      # two approvers (chat is refused for them)
    {"approvers": ["ops"], "channels": ["chat", "page"]},    # another user's chat
], ids=["two-approvers", "another-user"])
def test_a_gate_naming_other_approvers_is_never_asked(stack: Stack, pivot: PivotClient, sandboxes: Sandboxes,
                                                      server_log: Path, gate: dict[str, Any]) -> None:
    with stdio_chat(stack, server_log, LEGACY) as session:
        run_id, invoice = start(session, pivot, "others")
        answer = session.step(run_id, invoice, {**gate, "timeout": "PT2H"})
        assert session.asked == []
        assert_page_link(answer, stack, run_id)
        assert gate_of(pivot, run_id, "ops")["closed"] is None
        assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []
        assert structured(session.call("saga_abort", {"saga": run_id}))["status"] == "compensated"


@pytest.fixture(scope="module")
def http_url(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`pivot mcp --transport http` (stateless) as the chat user, on a free loopback port."""
    port = free_port()
    proc = ManagedProcess(f"pivot-mcp-chat-{port}", [*SERVER, "--transport", "http", "--bind", f"127.0.0.1:{port}",
                                                     "--tools", "meta"],
                          env=chat_env(stack), cwd=PROJECT_ROOT,
                          log_path=tmp_path_factory.mktemp("mcp-chat-http") / "server.log")
    proc.start()
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        wait_until(lambda: httpx2.post(url, json=INITIALIZE, headers=ACCEPT, timeout=2).status_code == 200,
                   timeout_s=30, what="pivot mcp --transport http")
        yield url
    finally:
        proc.stop()


def test_over_stateless_http_the_newest_revision_asks_and_the_older_gets_the_page(
        stack: Stack, pivot: PivotClient, sandboxes: Sandboxes, http_url: str) -> None:
    """The stateless HTTP transport has no back-channel: up to 2025-11-25 the question cannot be
    sent there, so the page it is; from 2026-07-28 it rides the tool call's answer."""
    with chat(streamable_http_client(http_url), LEGACY) as session:
        run_id, invoice = start(session, pivot, "http-legacy")
        session.replies.append(approve())
        assert_page_link(session.step(run_id, invoice, CHAT_GATE), stack, run_id)
        assert session.asked == [] and gate_of(pivot, run_id)["closed"] is None
        session.call("saga_abort", {"saga": run_id})

    with chat(streamable_http_client(http_url), MODERN) as session:
        run_id, invoice = start(session, pivot, "http-modern")
        session.replies.append(approve())
        answer = session.step(run_id, invoice, CHAT_GATE)
        shown = gate_of(pivot, run_id)["pending"]["shown"]
        assert len(session.asked) == 1 and session.asked[0].message.startswith(shown)
        step = structured(answer)["step"]
        assert step["state"] == "verified" and step["decision"]["channel"] == "chat", text(answer)
        assert structured(session.call("saga_commit", {"saga": run_id}))["status"] == "committed"
    assert Counter(sandboxes.ops("stripe", run_id, "invoice", INVOICE))[("create", "invoice")] == 1


@pytest.mark.filterwarnings("ignore:`elicitation_handler` will never be called:UserWarning")
def test_a_pydantic_ai_agent_s_user_approves_through_its_elicitation_handler(
        pivot: PivotClient, sandboxes: Sandboxes, http_url: str) -> None:
    """pydantic-ai's own MCP client (FastMCP underneath) negotiates 2026-07-28, where the question
    rides `input_required`; its `elicitation_handler` answers it. (pydantic-ai warns that the
    handler will never be called on such a session: true of `ctx.elicit`, not of resolvers.)"""
    run_id, email = new_run("chat-agent")
    contact, _, invoice = flagship_steps(email)
    asked: list[str] = []

    async def user(message: str, _response_type: Any, _params: Any, _context: Any) -> dict[str, Any]:
        asked.append(message)
        return {"approve": True, "comment": "fine by me"}

    def step(call: dict[str, Any], gate: dict[str, Any] | None = None) -> NextCall:
        return lambda _: ("step", {"saga": run_id, "step": call["step"], "action": call["action"],
                                   "params": json.dumps(call["params"]), "pivot": None, "connection": None,
                                   "approval": gate, "repeat": None})

    model = ScriptedModel([step(contact), step(invoice, CHAT_GATE), call("saga_commit", {"saga": run_id})])
    agent = Agent(FunctionModel(model), toolsets=[MCPToolset(http_url, max_retries=0, elicitation_handler=user)])
    assert agent.run_sync("Invoice Ada.").output == "done"

    assert asked == [question(gate_of(pivot, run_id)["pending"], ChatUser(USER, "-"))]
    decided = model.answer(1)["step"]
    assert decided["state"] == "verified" and decided["decision"]["channel"] == "chat", decided
    assert decided["decision"]["comment"] == "fine by me"
    assert model.answer(2)["status"] == "committed"
    assert Counter(sandboxes.ops("stripe", run_id, "invoice", INVOICE))[("create", "invoice")] == 1


def test_the_printed_client_config_names_the_chat_user_and_no_token(stack: Stack, pivot: PivotClient,
                                                                     tmp_path: Path) -> None:
    """`pivot mcp config` passes the chat user on (never a token): spawned as the client would, in
    another folder, pivot mcp finds their token in the running local stack's approvers file."""
    shell = {k: v for k, v in os.environ.items() if not k.startswith("PIVOT_")} | {
        "PIVOT_INGRESS_URL": stack.ingress_url, "PIVOT_ADMIN_URL": stack.admin_url,
        "PIVOT_STATE_DIR": str(stack.state_dir), "PIVOT_CHAT_APPROVER": USER}
    printed = subprocess.run([*SERVER, "config", "--client", "claude"], cwd=tmp_path, env=shell, capture_output=True,
                             text=True, timeout=60, stdin=subprocess.DEVNULL, check=True).stdout
    server = json.loads(printed)["mcpServers"]["pivot"]
    assert server["env"] == {"PIVOT_INGRESS_URL": stack.ingress_url, "PIVOT_ADMIN_URL": stack.admin_url,
                             "PIVOT_CHAT_APPROVER": USER, "PIVOT_STATE_DIR": str(stack.state_dir)}
    assert APPROVER_TOKENS[USER] not in printed

    params = StdioServerParameters(command=server["command"], args=[*server["args"], "--tools", "meta"],
                                   env=server["env"], cwd=tmp_path)
    with (tmp_path / "server.log").open("w") as errlog, chat(stdio_client(params, errlog=errlog), MODERN) as session:
        run_id, invoice = start(session, pivot, "config")
        session.replies.append(approve())
        answer = session.step(run_id, invoice, CHAT_GATE)
        assert len(session.asked) == 1 and structured(answer)["step"]["decision"]["channel"] == "chat", text(answer)
        assert structured(session.call("saga_commit", {"saga": run_id}))["status"] == "committed"
