"""`pivot mcp` through the official SDK's own client, over stdio and streamable HTTP, against the
real stack: the flagship saga as MCP tool calls, proven against the sandboxes' ledgers.

One stdio server serves the whole module (spawned once, as a desktop client would); the HTTP
servers are started as processes on free loopback ports and stopped by their pid.
"""

import os
import signal
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from mcp_types import CallToolResult, TextContent

from pivot.compensations.keys import forward_key
from pivot.services.agents.action_views import undo_meta
from pivot.services.agents.tools_schema import tool_name, tool_specs
from pivot.services.catalog import build_catalog
from pivot.services.local.demo import DEMO_CHANNEL, flagship_steps
from pivot.services.local.processes import wait_until
from pivot.services.local.restate_binary import PROJECT_ROOT
from pivot.services.local.stack import Stack
from tests.mcp_process import INITIALIZE, SERVER, McpTools, http_session, start_http_server, stdio_tools
from tests.sandboxes import Sandboxes

CONTACT, INVOICE, NOTIFY = "hubspot.create_contact", "stripe.create_invoice", "slack.post_message"
TOKEN = "mcp-test-token-5f1c0a"


@pytest.fixture(scope="module")
def mcp(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpTools]:
    """`pivot mcp` over stdio, spawned once for the module, as an IDE would."""
    with stdio_tools(stack.ingress_url, tmp_path_factory.mktemp("mcp") / "stdio-server.log", stack.admin_url) as tools:
        yield tools


@pytest.fixture(scope="module")
def http_mcp(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`pivot mcp --transport http` behind a bearer token, exposing two providers' actions only."""
    proc, url = start_http_server(stack.ingress_url, tmp_path_factory.mktemp("mcp-http"), "--actions", "stripe.*",
                                  "hubspot.create_contact", token=TOKEN)
    try:
        yield url
    finally:
        proc.stop()


def new_run() -> tuple[str, str]:
    token = uuid.uuid4().hex[:12]
    return f"mcp-{token}", f"ada+{token}@example.com"


def text(answer: CallToolResult) -> str:
    return "\n".join(block.text for block in answer.content if isinstance(block, TextContent))


def error(answer: CallToolResult) -> dict[str, Any]:
    """An error result's structured content: Pivot's one error shape, `{"error": {...}}`."""
    assert answer.is_error and answer.structured_content is not None, text(answer)
    assert set(answer.structured_content) == {"error"}, answer.structured_content
    return dict(answer.structured_content["error"])


def states(outcome: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["state"] for s in outcome["steps"]}


def structured(answer: CallToolResult) -> dict[str, Any]:
    assert answer.structured_content is not None, text(answer)
    return dict(answer.structured_content)


# -- the tool list -------------------------------------------------------------------------------


def test_the_tools_are_tools_schema_with_their_annotations_and_undo_metadata(mcp: McpTools) -> None:
    tools = {tool.name: tool for tool in mcp.list_tools()}
    specs = {spec.name: spec for spec in tool_specs(build_catalog())}

    assert set(tools) == set(specs)  # today's catalog is full mode under `auto`
    for name, tool in tools.items():
        Draft202012Validator.check_schema(tool.input_schema)
        assert tool.input_schema == specs[name].input_schema, name  # exactly as generated
        assert tool.output_schema is None and tool.description == specs[name].description
        assert tool.meta == specs[name].meta, name
    for action in (CONTACT, INVOICE, NOTIFY):
        tool = tools[tool_name(action)]
        hints = tool.annotations
        assert hints is not None  # unset hints mean MCP's defaults: destructive, open world, not read-only
        assert (hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint, hints.read_only_hint) == (
            None, True, None, None), action
        undo = build_catalog()[action]
        assert tool.meta == {"pivot/undo": {"kind": undo.kind.value, "compensation": undo_meta(undo)["compensation"],
                                            "deferral": "none" if action != NOTIFY else "until_pivot"}}
    status = tools["saga_status"].annotations
    assert status is not None and status.read_only_hint and status.destructive_hint is None
    assert set(tools[tool_name(INVOICE)].input_schema["properties"]) == {"saga", "step", "params", "pivot", "repeat"}
    assert set(tools[tool_name(NOTIFY)].input_schema["required"]) == {"saga", "step", "params", "repeat"}


# -- the flagship as tool calls ------------------------------------------------------------------


def test_flagship_as_mcp_tool_calls_posts_to_slack_only_at_commit(mcp: McpTools, sandboxes: Sandboxes) -> None:
    run_id, email = new_run()
    contact, notify, invoice = flagship_steps(email)

    first = mcp.step(run_id, contact)
    assert not first.is_error, text(first)
    assert structured(first)["step"]["state"] == "verified" and structured(first)["saga"]["status"] == "open"
    assert structured(first)["saga"]["summary"] in text(first)  # the sentence to relay, verbatim
    deferred = mcp.step(run_id, notify)
    assert not deferred.is_error and structured(deferred)["step"]["state"] == "deferred"
    assert "deferred" in text(deferred)
    billed = mcp.step(run_id, invoice)
    assert not billed.is_error and structured(billed)["step"]["state"] == "verified"
    assert sandboxes.effects_of("slack", run_id, "notify", NOTIFY) == []  # nothing announced yet

    committed = mcp.call("saga_commit", {"saga": run_id})

    assert not committed.is_error, text(committed)
    outcome = structured(committed)
    assert outcome["status"] == "committed" and f"Saga {run_id}: committed." in text(committed)
    assert states(outcome) == {"contact": "verified", "notify": "verified", "invoice": "verified"}
    assert outcome["summary"] in text(committed)
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]
    assert Counter(sandboxes.ops("stripe", run_id, "invoice", INVOICE)) == Counter(
        {("create", "invoice"): 1, ("create", "invoiceitem"): 1, ("finalize", "invoice"): 1})
    assert sandboxes.ops("slack", run_id, "notify", NOTIFY) == [("send", "message")]
    number = structured(billed)["step"]["result"]["number"]
    posted = sandboxes.slack_messages_with_key(DEMO_CHANNEL, forward_key(run_id, "notify", NOTIFY))
    assert [m["text"] for m in posted] == [f"Invoice {number} is on its way to {email}"]

    status = mcp.call("saga_status", {"saga": run_id})
    assert not status.is_error and structured(status) == outcome
    again = mcp.step(run_id, contact)  # the same step id: the recorded answer, no second write
    assert not again.is_error and structured(again)["step"] == structured(first)["step"]
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]


def test_a_failing_invoice_is_an_error_result_with_the_compensated_saga(
    mcp: McpTools, sandboxes: Sandboxes
) -> None:
    run_id, email = new_run()
    contact, notify, invoice = flagship_steps(email)
    sandboxes.fault("stripe", method="POST", path="/v1/invoices", action="error", status=500, times=None)
    assert not mcp.step(run_id, contact).is_error
    assert not mcp.step(run_id, notify).is_error

    failed = mcp.step(run_id, invoice)

    assert failed.is_error  # a tool result the model reads, not a protocol error
    answer = structured(failed)
    assert answer["step"]["state"] == "failed" and answer["step"]["error"]["code"] == "provider_unavailable"
    saga = answer["saga"]
    assert saga["status"] == "compensated"
    assert states(saga) == {"contact": "compensated", "notify": "not_run", "invoice": "failed"}
    assert "Step 'invoice' (stripe.create_invoice): failed." in text(failed)
    assert saga["summary"] in text(failed) and "No Slack message was sent" in saga["summary"]
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact"), ("archive", "contact")]
    assert sandboxes.effects_of("slack", run_id, "notify", NOTIFY) == []

    status = mcp.call("saga_status", {"saga": run_id})
    assert not status.is_error and structured(status) == saga
    commit = mcp.call("saga_commit", {"saga": run_id})  # too late: it answers the final outcome, an error
    assert commit.is_error and structured(commit) == saga


# -- refusals: is_error results naming what to fix, and nothing written --------------------------


def test_wrong_arguments_are_error_results_naming_the_fix(
    stack: Stack, mcp: McpTools, sandboxes: Sandboxes
) -> None:
    run_id, email = new_run()
    contact = flagship_steps(email)[0]
    before = {p: len(sandboxes.ledger(p)) for p in stack.sandbox_urls}

    misspelt = mcp.step(run_id, {**contact, "params": {"emial": email}})
    assert misspelt.is_error and "params.emial" in text(misspelt) and "Fix:" in text(misspelt)
    assert error(misspelt)["code"] == "invalid_step" and error(misspelt)["step"] == "contact"
    bad_id = mcp.step(run_id, {**contact, "step": "has space"})
    assert bad_id.is_error and "- step:" in text(bad_id)
    assert error(bad_id)["code"] == "invalid_request" and error(bad_id)["field"] == "step"
    unknown_argument = mcp.step(run_id, contact, pivott=True)
    assert unknown_argument.is_error and "pivott" in text(unknown_argument)
    assert error(unknown_argument)["code"] == "invalid_request" and error(unknown_argument)["field"] == "pivott"
    invoice = flagship_steps(email)[2]
    coerced = mcp.step(run_id, invoice, pivot="yes")  # strict: a string is not a boolean
    assert coerced.is_error and "valid boolean" in text(coerced), text(coerced)
    assert error(coerced)["field"] == "pivot"
    for bad_saga in ("..", "a/b", "_x"):  # checked by the one id alphabet before any request
        walked = mcp.step(bad_saga, contact)
        assert walked.is_error and f"run id {bad_saga!r} is not valid" in text(walked)
        assert error(walked) == {"code": "invalid_id", "field": "run_id", "message": error(walked)["message"]}
        assert error(mcp.call("saga_status", {"saga": bad_saga}))["code"] == "invalid_id"
    assert {p: len(sandboxes.ledger(p)) for p in stack.sandbox_urls} == before
    missing = mcp.call("saga_status", {"saga": run_id})
    assert missing.is_error and f"No saga named '{run_id}'" in text(missing)  # nothing was recorded
    assert error(missing)["code"] == "no_saga" and error(missing)["run"] == run_id

    assert not mcp.step(run_id, contact).is_error
    other = mcp.step(run_id, {**contact, "params": {**contact["params"], "email": "someone.else@example.com"}})
    assert other.is_error and "step_conflict" in text(other) and "params.email" in text(other)
    assert {k: error(other)[k] for k in ("code", "status", "run", "step", "field")} == {
        "code": "step_conflict", "status": 409, "run": run_id, "step": "contact", "field": "params.email"}
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]

    aborted = mcp.call("saga_abort", {"saga": run_id, "reason": "the test is done"})
    assert not aborted.is_error and structured(aborted)["status"] == "compensated"


def test_plans_checked_offline_run_and_rejected(mcp: McpTools, sandboxes: Sandboxes) -> None:
    run_id, email = new_run()
    contact, _, invoice = flagship_steps(email)
    plan = {"steps": [{"id": c["step"], "action": c["action"], "params": c["params"]} for c in (contact, invoice)]}

    checked = mcp.call("check_plan", {"plan": plan})
    assert not checked.is_error and structured(checked)["valid"] is True and structured(checked)["pivot"] == "invoice"
    invalid = mcp.call("check_plan", {"plan": {"steps": [{"id": "x", "action": "fax.send", "params": {}}]}})
    assert structured(invalid)["valid"] is False and "unknown action 'fax.send'" in text(invalid)

    rejected = mcp.call("run_saga_plan", {"run_id": f"{run_id}-bad", "plan": {"steps": []}})
    assert rejected.is_error and error(rejected)["code"] == "plan_rejected" and "steps" in text(rejected)
    assert error(rejected)["run"] == f"{run_id}-bad" and error(rejected)["violations"][0]["fix"]
    ran = mcp.call("run_saga_plan", {"run_id": run_id, "plan": plan})
    assert not ran.is_error and structured(ran)["status"] == "committed", text(ran)
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]

    actions = mcp.call("list_actions", {})
    names = [a["name"] for a in structured(actions)["actions"]]
    assert names == sorted(build_catalog())
    assert any(line.startswith("stripe.create_invoice (") for line in text(actions).splitlines())


# -- streamable HTTP -----------------------------------------------------------------------------


def test_http_refuses_requests_without_the_token(http_mcp: str) -> None:
    accept = {"accept": "application/json, text/event-stream"}
    assert httpx.post(http_mcp, json=INITIALIZE, headers=accept).status_code == 401
    wrong = httpx.post(http_mcp, json=INITIALIZE, headers={**accept, "authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 401 and TOKEN not in wrong.text
    right = httpx.post(http_mcp, json=INITIALIZE, headers={**accept, "authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200, right.text
    assert httpx.get(http_mcp, headers=accept).status_code == 401  # the token first: nothing else is told


def test_http_with_the_token_serves_the_selected_actions_and_any_replica_carries_on(
    http_mcp: str, mcp: McpTools, sandboxes: Sandboxes
) -> None:
    run_id, email = new_run()
    contact = flagship_steps(email)[0]

    async def over_http() -> tuple[list[str], CallToolResult]:
        async with http_session(http_mcp, TOKEN) as session:
            names = [tool.name for tool in (await session.list_tools()).tools]
            return names, await session.call_tool(tool_name(CONTACT), {
                "saga": run_id, "step": contact["step"], "params": contact["params"]})

    names, first = mcp.portal.call(over_http)

    steps = {n for n in names if n.startswith(("stripe_", "hubspot_", "slack_", "salesforce_", "shopify_"))}
    assert steps == {tool_name(a) for a in build_catalog() if a.startswith("stripe.")} | {tool_name(CONTACT)}
    assert {"saga_commit", "saga_abort", "saga_status", "run_saga_plan", "check_plan", "list_actions"} <= set(names)
    assert not first.is_error and structured(first)["step"]["state"] == "verified", text(first)
    # Another MCP process (the stdio one) finishes the saga that the HTTP one started: nothing is kept in either.
    aborted = mcp.call("saga_abort", {"saga": run_id})
    assert not aborted.is_error and structured(aborted)["status"] == "compensated"
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact"), ("archive", "contact")]


def test_http_server_stops_on_sigterm(stack: Stack, tmp_path: Path) -> None:
    proc, url = start_http_server(stack.ingress_url, tmp_path)
    try:
        assert httpx.post(url, json=INITIALIZE, headers={"accept": "application/json, text/event-stream"},
                          timeout=10).status_code == 200  # no token set: no token asked
        # Stateless: no server-initiated stream to hold open (and to hold up a shutdown).
        assert httpx.get(url, headers={"accept": "text/event-stream"}, timeout=10).status_code == 405
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGTERM)
        wait_until(lambda: not proc.running, timeout_s=15, what="pivot mcp to exit on SIGTERM")
    finally:
        proc.stop()


def test_actions_matching_nothing_refuse_to_start() -> None:
    done = subprocess.run([*SERVER, "--actions", "fax.*"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "no action matches fax.*" in done.stderr
