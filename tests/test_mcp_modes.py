"""`pivot mcp` as a model meets it, through the official SDK's client against the real stack: the
meta-tool mode end to end, a step re-sent under a new id (answered, never written twice), a
preview that writes nothing, and sagas read as resources. Effects are proven with the ledgers."""

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from mcp_types import CallToolResult, TextResourceContents

from pivot.services.local.demo import flagship_steps
from pivot.services.local.stack import Stack
from tests.mcp_process import McpTools, http_server, http_tools, stdio_tools
from tests.sandboxes import Sandboxes
from tests.test_mcp import CONTACT, INVOICE, NOTIFY, structured, text

META_TOOLS = {"find_actions", "describe_action", "step", "saga_preview", "saga_commit", "saga_abort", "saga_status"}


@pytest.fixture(scope="module")
def mcp(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpTools]:
    """`pivot mcp` over stdio (the default tools: full mode for today's catalog), as an IDE spawns it."""
    errlog = tmp_path_factory.mktemp("mcp-modes") / "stdio-server.log"
    with stdio_tools(stack.ingress_url, errlog, stack.admin_url) as tools:
        yield tools


@pytest.fixture(scope="module")
def meta_mcp(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[McpTools]:
    """`pivot mcp --transport http --tools meta`, with a session from the official client."""
    with http_server(stack.ingress_url, tmp_path_factory.mktemp("mcp-meta"), "--tools", "meta",
                     admin_url=stack.admin_url) as url, http_tools(url) as tools:
        yield tools


def new_run(prefix: str) -> tuple[str, str]:
    token = uuid.uuid4().hex[:12]
    return f"{prefix}-{token}", f"ada+{token}@example.com"


def generic(saga: str, call: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A step as a strict client calls meta mode's `step`: every argument present, params as JSON text."""
    return {"saga": saga, "step": call["step"], "action": call["action"], "params": json.dumps(call["params"]),
            "pivot": None, "connection": None, "approval": None, "repeat": None, **extra}


def ok(answer: CallToolResult) -> dict[str, Any]:
    assert not answer.is_error, text(answer)
    return structured(answer)


def test_meta_mode_end_to_end(meta_mcp: McpTools, sandboxes: Sandboxes) -> None:
    listed = meta_mcp.list_tools()
    assert {t.name for t in listed} == META_TOOLS
    wire = {"tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed]}
    assert len(json.dumps(wire)) <= 6_200  # 6,061 with the approval gate's channels (issue 26); JSON spacing included

    found = ok(meta_mcp.call("find_actions", {"query": "invoice", "provider": "stripe", "kind": None}))
    assert [a["name"] for a in found["actions"]] == ["stripe.create_invoice", "stripe.send_invoice"]
    described = ok(meta_mcp.call("describe_action", {"action": INVOICE}))
    assert described["kind"] == "compensable" and "customer" in described["params"]["required"]
    assert described["params"]["$defs"]["ref"] and described["answer"]["required"] == ["step", "saga"]

    run_id, email = new_run("meta")
    contact, notify, invoice = flagship_steps(email)
    assert ok(meta_mcp.call("step", generic(run_id, contact)))["step"]["state"] == "verified"
    assert ok(meta_mcp.call("step", generic(run_id, notify)))["step"]["state"] == "deferred"
    previewed = ok(meta_mcp.call("saga_preview", generic(run_id, invoice, pivot=True)))
    assert previewed["verdict"] == "run" and previewed["kind"] == "pivot" and "nothing was written" in text(
        meta_mcp.call("saga_preview", generic(run_id, invoice, pivot=True)))
    assert sandboxes.effects_of("stripe", run_id, "invoice", INVOICE) == []  # the preview wrote nothing
    billed = ok(meta_mcp.call("step", generic(run_id, invoice, pivot=True)))
    assert billed["step"]["state"] == "verified" and billed["step"]["kind"] == "pivot"
    again = ok(meta_mcp.call("step", generic(run_id, {**invoice, "step": "invoice-again"}, pivot=True)))
    assert again["step"]["duplicate_of"] == "invoice" and "Nothing was written" in text(
        meta_mcp.call("step", generic(run_id, {**invoice, "step": "invoice-again"}, pivot=True)))

    committed = ok(meta_mcp.call("saga_commit", {"saga": run_id}))
    assert committed["status"] == "committed"
    assert Counter(sandboxes.ops("stripe", run_id, "invoice", INVOICE)) == Counter(
        {("create", "invoice"): 1, ("create", "invoiceitem"): 1, ("finalize", "invoice"): 1})
    assert sandboxes.effects_of("stripe", run_id, "invoice-again", INVOICE) == []
    assert sandboxes.ops("slack", run_id, "notify", NOTIFY) == [("send", "message")]
    number = billed["step"]["result"]["number"]
    assert any(number in (s.get("result") or {}).get("text", "") for s in committed["steps"])


def test_meta_step_refuses_params_that_are_not_a_json_object(meta_mcp: McpTools, stack: Stack,
                                                          sandboxes: Sandboxes) -> None:
    run_id, email = new_run("meta-bad")
    contact = flagship_steps(email)[0]
    before = {p: len(sandboxes.ledger(p)) for p in stack.sandbox_urls}
    for params, why in (("{not json", "params is not JSON"), ("[1, 2]", "params must be a JSON object")):
        refused = meta_mcp.call("step", {**generic(run_id, contact), "params": params})
        assert refused.is_error and why in text(refused) and "Nothing was recorded" in text(refused)
    unknown = meta_mcp.call("describe_action", {"action": "fax.send"})
    assert unknown.is_error and "find_actions" in text(unknown)
    assert {p: len(sandboxes.ledger(p)) for p in stack.sandbox_urls} == before


def test_a_step_re_sent_under_a_new_id_is_answered_not_written(mcp: McpTools, sandboxes: Sandboxes) -> None:
    """What a model sees on a duplicate: the earlier step's outcome, `duplicate_of`, and the words
    that say nothing was written and how to mean a second write. Asked as a strict client asks
    (every optional argument null) it is the same write."""
    run_id, email = new_run("mcp-dup")
    contact = flagship_steps(email)[0]
    first = ok(mcp.step(run_id, contact))

    strict = {"saga": run_id, "step": "call_7Hq2", "repeat": None,
              "params": {**contact["params"], "company": None, "phone": None}}
    again = mcp.call("hubspot_create_contact", strict)

    answer = ok(again)
    assert answer["step"]["duplicate_of"] == "contact" and answer["step"]["id"] == "call_7Hq2"
    assert answer["step"]["ref"] == first["step"]["ref"]
    assert text(again).startswith("Nothing was written: step 'call_7Hq2' makes the same write "
                                  "(hubspot.create_contact, the same params) as step 'contact'")
    assert "repeat: true" in text(again)
    assert sandboxes.ops("hubspot", run_id, "contact", CONTACT) == [("create", "contact")]
    assert sandboxes.effects_of("hubspot", run_id, "call_7Hq2", CONTACT) == []
    assert ok(mcp.call("saga_abort", {"saga": run_id, "reason": None}))["status"] == "compensated"


def _read(mcp: McpTools, uri: str) -> Any:
    contents = mcp.portal.call(mcp.session.read_resource, uri).contents
    assert len(contents) == 1 and isinstance(contents[0], TextResourceContents)
    assert contents[0].mime_type == "application/json"
    return json.loads(contents[0].text)


def test_sagas_are_resources(mcp: McpTools) -> None:
    run_id, email = new_run("mcp-res")
    contact, notify, _ = flagship_steps(email)
    ok(mcp.step(run_id, contact))
    ok(mcp.step(run_id, notify))

    templates = mcp.portal.call(mcp.session.list_resource_templates).resource_templates
    assert {t.uri_template for t in templates} == {"saga://{run}", "saga://{run}/journal"}
    listed = [str(r.uri) for r in mcp.portal.call(mcp.session.list_resources).resources]
    assert listed[0] == f"saga://{run_id}"  # the saga this server served last comes first

    outcome = _read(mcp, f"saga://{run_id}")
    assert outcome == structured(mcp.call("saga_status", {"saga": run_id}))
    assert {s["id"]: s["state"] for s in outcome["steps"]} == {"contact": "verified", "notify": "deferred"}
    journal = _read(mcp, f"saga://{run_id}/journal")
    events = [e["what"] for e in journal["events"]]
    assert journal["invocation"]["target"] == f"Saga/{run_id}"
    assert f"run contact:{CONTACT}" in events and "contact → verified" in events and "notify → deferred" in events

    ok(mcp.call("saga_abort", {"saga": run_id}))
    assert _read(mcp, f"saga://{run_id}")["status"] == "compensated"
    assert "contact → compensated" in [e["what"] for e in _read(mcp, f"saga://{run_id}/journal")["events"]]
    for missing in (f"saga://never-{uuid.uuid4().hex[:8]}/journal", "saga://_x"):
        with pytest.raises(Exception, match=r"no journal|not valid"):
            _read(mcp, missing)
