"""How Pivot's answers become MCP tool results: structured content for programs, a few sentences
for the model, and `is_error` whenever the call did not do what it asked.

A provider failure, a conflict or a bad argument is an answer the model must read and act on, so
each is a tool result with `is_error` set (never a protocol error, which a client may hide from
the model). A failed step still carries the verified state of the saga: the model relays it.
"""

import json
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ContentBlock, TextContent
from pydantic import ValidationError

from pivot.compensations.error_body import ErrorBody, error_body, violations_text
from pivot.compensations.validation import Violation
from pivot.services.agents.answer_text import duplicate_line
from pivot.services.client import (
    PivotError,
    PlanRejectedError,
    RunConflictError,
    StepConflictError,
    StepRejectedError,
)


def _text(*blocks: str) -> list[ContentBlock]:
    return [TextContent(type="text", text=block) for block in blocks if block]


def _json(body: Mapping[str, Any]) -> str:
    """The structured content again, as text: what the spec asks for clients that show only text."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _saga_line(outcome: Mapping[str, Any]) -> str:
    line = f"Saga {outcome.get('run_id')}: {outcome.get('status')}."
    summary = str(outcome.get("summary") or "")
    return f"{line} {summary}" if summary else line


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _step_line(step: Mapping[str, Any]) -> str:
    ref = f" ({step['ref']})" if step.get("ref") else ""
    parts = [f"Step '{step.get('id')}' ({step.get('action')}): {step.get('state')}{ref}."]
    error = step.get("error") or {}
    parts += [_sentence(str(text)) for text in (error.get("message"), step.get("note")) if text]
    return " ".join(parts)


def result(body: dict[str, Any], lines: Iterable[str], *, is_error: bool) -> CallToolResult:
    """A result whose structured content is `body` (it conforms to the tool's output schema)."""
    summary = "\n".join(line for line in lines if line)
    return CallToolResult(content=_text(summary, _json(body)), structured_content=body, is_error=is_error)


def step_result(answer: dict[str, Any], notes: Iterable[str] = ()) -> CallToolResult:
    """A step's answer `{"step", "saga"}`, with `notes` after the step's line (where a gate waiting
    for a decision is decided). A step that failed (the provider refused or never answered) is an
    error result, with the saga's verified state attached: it may have unwound. A duplicate
    (`duplicate_of`) is not an error: the write the model wants exists, once."""
    step, saga = answer.get("step") or {}, answer.get("saga") or {}
    first = duplicate_line(step) if step.get("duplicate_of") else _step_line(step)
    return result(answer, [first, *notes, _saga_line(saga)], is_error=step.get("state") == "failed")


def preview_result(preview: dict[str, Any]) -> CallToolResult:
    """A preview: what the step would do, said so that no one takes it for a step that ran."""
    order = preview.get("order") or {}
    lines = [f"Preview of step '{preview.get('step')}' ({preview.get('action')}), nothing was written: "
             f"{preview.get('verdict')}: {preview.get('meaning')}."]
    if preview.get("kind"):
        lines.append(f"Kind: {preview['kind']}; undo: {preview.get('compensation')}.")
    if preview.get("duplicate_of"):
        lines.append(f"It repeats step '{preview['duplicate_of']}' (send repeat: true if both writes are meant).")
    if not order.get("ok", True):
        lines.append(f"Refused ({order.get('code')}): {order.get('message')}")
    if preview.get("unresolved"):
        lines.append("Resolved later: " + "; ".join(str(u) for u in preview["unresolved"]))
    return result(preview, lines, is_error=False)


def outcome_result(outcome: dict[str, Any], *, failed_if: set[str]) -> CallToolResult:
    """A saga's outcome; an error result when its status means the call did not do what it asked
    (a commit that ended compensated, an abort whose undo needs an operator)."""
    return result(outcome, [_saga_line(outcome)], is_error=str(outcome.get("status")) in failed_if)


def not_found_result(saga: str) -> CallToolResult:
    return failure_result(
        f"No saga named '{saga}': nothing was ever started under that id. Use the `saga` (or `run_id`) "
        "you gave the tool that started it.", ErrorBody(code="no_saga", message=f"no saga {saga}", run=saga))


def failure_result(text: str, error: ErrorBody) -> CallToolResult:
    """An error result: `text` for the model, and Pivot's error body (`{"error": {...}}`, the shape
    every surface answers) as structured content, for programs."""
    body = error.body()
    return CallToolResult(is_error=True, content=_text(text, _json(body)), structured_content=body)


def argument_refusal(tool: str, refused: ToolError) -> CallToolResult:
    """The MCP SDK refused a call before any handler ran (arguments that do not match the tool's
    input schema, a tool that does not exist): the SDK's words for the model, Pivot's error body for
    programs, as for every other refusal."""
    cause = refused.__cause__
    if not isinstance(cause, ValidationError):
        return failure_result(str(refused), ErrorBody(code="unknown_tool", message=str(refused), field="name"))
    violations = [Violation(path=".".join(str(part) for part in problem["loc"]), rule="arguments",
                            message=problem["msg"], fix=f"see the input schema of {tool}")
                  for problem in cause.errors(include_url=False)]
    return failure_result(str(refused), error_body(None, "invalid_request", f"the arguments of {tool} do not "
                                                   f"match its input schema: {violations_text(violations)}",
                                                   violations=violations))


def _violation_lines(violations: Iterable[Mapping[str, Any]]) -> list[str]:
    lines = []
    for violation in violations:
        where = violation.get("path") or violation.get("step") or "arguments"
        fix = f" Fix: {violation['fix']}" if violation.get("fix") else ""
        lines.append(f"- {where}: {violation.get('message')}.{fix}")
    return lines


def refusal_result(error: PivotError) -> CallToolResult:
    """The ingress refused the call: say why and what to change. Nothing was recorded or written."""
    if isinstance(error, PlanRejectedError):
        violations = error.outcome.get("violations") or []
        return failure_result("\n".join(["The plan was rejected; nothing ran. Fix these, then run the fixed plan "
                                         "under a new run_id:", *_violation_lines(violations)]), error.error)
    if isinstance(error, StepRejectedError):
        if not error.violations:
            return failure_result(f"Refused ({error.code}): {error.message}. Nothing was recorded or written.",
                                  error.error)
        lines = [f"Refused ({error.code}): nothing was recorded or written. Fix these and call again:",
                 *_violation_lines(error.violations)]
        if any(str(v.get("path", "")).startswith("params") for v in error.violations):
            lines.append("Each action's params are described by its tool's input schema (and by describe_action).")
        return failure_result("\n".join(lines), error.error)
    if isinstance(error, StepConflictError):  # its message says what differs, and that nothing was written
        return failure_result(f"Refused ({error.code}): {error.message}", error.error)
    if isinstance(error, RunConflictError):
        return failure_result(f"Refused: {error.message}.", error.error)
    if error.status == 404:
        return failure_result(f"{_sentence(error.message)} Check the saga id: the `saga` its steps were given.",
                              error.error)
    return failure_result(f"Pivot answered {error.status}: {error.message}", error.error)


def unreachable_result(ingress_url: str, error: httpx.HTTPError) -> CallToolResult:
    """The ingress did not answer. A step or commit may still be running: asking again with the
    same ids attaches to it and never writes twice."""
    kind = type(error).__name__
    if isinstance(error, httpx.TimeoutException):
        return failure_result(f"Pivot did not answer in time ({kind}). The call may still be "
                              "running: call again with the same saga and step id to get its result "
                              "(it never writes twice), or call saga_status.",
                              ErrorBody(code="timeout", message=f"Pivot did not answer in time ({kind})"))
    if isinstance(error, httpx.ConnectError):
        return failure_result(f"Cannot reach Pivot at {ingress_url} ({kind}). Nothing was "
                              "written by this call; retry it unchanged once Pivot is up.",
                              ErrorBody(code="unreachable", message=f"cannot reach Pivot at {ingress_url} ({kind})"))
    return failure_result(f"The call to Pivot broke off ({kind}). Call again with the same saga "
                          "and step id (it never writes twice), or call saga_status.",
                          ErrorBody(code="connection_lost", message=f"the call to Pivot broke off ({kind})"))
