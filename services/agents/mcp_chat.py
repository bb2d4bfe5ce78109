"""Step tools that let the agent's own user decide a gate in their MCP client (the `chat` channel).

A step call whose step waits at a gate for this pivot mcp's user (`chat_approval`) asks them,
through elicitation, with the gate's own text, and decides it with their answer; every other
waiting step is answered with where it is decided (the approval page's address), never decided.

How the question is asked follows the connection's protocol revision, and the SDK's resolver
form (`Annotated[T, Resolve(fn)]`, `mcp/server/mcpserver/resolve.py`) serves both:

- up to 2025-11-25 the server sends `elicitation/create` in the middle of the tool call, which
  needs a back-channel: stdio has one; the stateless HTTP transport does not (`can_send_request`
  is false), so there the client cannot be asked.
- from 2026-07-28 the server cannot send requests at all (`ctx.elicit` raises "no back-channel");
  the call answers `input_required` with the question, and the client calls the tool again with
  the answer (and the server's sealed `request_state`). The resolvers run again on that call,
  before the handler, and the SDK hands the recorded answer to the question only if it is asked
  in the same words. The SDK seals that state with a key of this process, valid 10 minutes: an
  answer that comes later, or reaches another replica or a restarted process, is refused by the
  SDK ("Invalid or expired requestState") and decides nothing; calling the step again asks again.

So the work happens in two resolvers that run before the handler: `take` makes the step call
(the same call the tool always made) and reads the gate; `ask` returns the question (`Elicit`)
when the step waits for this user and the client can be asked, else nothing. On a second round
`take` calls again with `wait_s: 0`, which attaches to the recorded step without waiting: if the
gate was decided meanwhile (on the page), nothing is asked and the answer recorded is ignored.
The handler decides with the answer, then waits for the step's outcome as a step call does.

Declining the form (or dismissing it) decides nothing: the user did not say no, and a
rejection unwinds the saga, which no one should do on an ambiguous click. The gate stays open
(on the page, or asked again when the agent calls the step again) until its deadline. A
rejection is the form's own answer: approve = no.
"""

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio.to_thread
import httpx
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import AcceptedElicitation, Elicit, ElicitationResult, Resolve
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp_types import CallToolResult
from mcp_types.version import is_version_at_least

from pivot.compensations.open_calls import DEFAULT_WAIT_S
from pivot.services.agents.chat_approval import ChatUser, ChatVerdict, chat_user, for_chat, page_link, question
from pivot.services.agents.mcp_handlers import PivotTools
from pivot.services.agents.mcp_results import step_result
from pivot.services.agents.mcp_tools import as_tool
from pivot.services.agents.tools_schema import ToolSpec
from pivot.services.client import PivotClient, PivotError

INPUT_REQUIRED_REVISION = "2026-07-28"
"""The first revision that asks through `input_required` instead of a request to the client."""
SHORT_WAIT_S = 1.0
"""Around a gate, a step is asked for in waits this short (within the service's default wait in
all): the service answers a caller as its step parks at a gate, but a call that reaches a saga
just as a rejection closes it can wait its whole wait for an answer."""
ROUNDS = int(DEFAULT_WAIT_S / SHORT_WAIT_S)
IN_FLIGHT = frozenset({"pending", "running"})
"""Step states on the way to the gate, or to the step's outcome."""
DECIDED = IN_FLIGHT | {"waiting_approval"}
"""After a decision: until the step has read it, it still shows the gate."""


@dataclass(frozen=True)
class Taken:
    """What the step call answered: the service's answer (or the refusal, as a tool result), and
    the gate to ask this pivot mcp's user about, if there is one and they can be asked."""

    saga: str
    call: dict[str, Any]
    answer: dict[str, Any] | CallToolResult
    gate: dict[str, Any] | None = None
    """The pending approval as its approvers read it: `shown`, `digest`, `approval_id`…"""
    user: ChatUser | None = field(default=None, repr=False)


def can_ask(ctx: Context) -> bool:
    """Whether this call's client can be asked: it declared form elicitation (a bare
    `elicitation: {}` counts, URL-only does not: the SDK's own rule), and the revision asks
    through `input_required`, or the transport can carry a request to the client mid-call."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    version = ctx.protocol_version
    return (version is not None and is_version_at_least(version, INPUT_REQUIRED_REVISION)) \
        or ctx.session.can_send_request


def with_parameters(fn: Callable[..., Any], parameters: dict[str, Any]) -> None:
    """Give `fn(**kwargs)` the signature the SDK reads to fill a resolver: one keyword parameter
    per name, annotated with `Context`, with `Annotated[T, Resolve(...)]`, or not at all (a tool
    argument, by its name). One resolver then serves every step tool, whatever its arguments."""
    empty = inspect.Parameter.empty
    fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)
         for name, annotation in parameters.items()])
    fn.__annotations__ = {name: annotation for name, annotation in parameters.items() if annotation is not empty}


def waiting_notes(answer: dict[str, Any], note: str = "") -> tuple[dict[str, Any], list[str]]:
    """A step waiting at a gate: the answer with the approval page's address in the step's gate
    (`approval.page`) when the page may decide it, and the sentences that say who decides, where."""
    step = answer.get("step") or {}
    gate = dict(step.get("approval") or {})
    who, channels = " or ".join(gate.get("approvers") or ["an approver"]), list(gate.get("channels") or [])
    before = f" before {gate['deadline']}" if gate.get("deadline") else ""
    if "page" in channels:
        gate["page"] = page_link()
        where = f"on the approval page, {gate['page']} (approval {gate.get('approval_id')})"
    else:
        where = f"through {', '.join(channels)}" if channels else "by an approver"
    lines = [f"It waits for {who} to decide{before}, {where}.", note,
             "Call this tool again with the same arguments for its outcome (nothing is written twice), "
             "or saga_abort to undo the saga."]
    return {**answer, "step": {**step, "approval": gate}}, [line for line in lines if line]


def answered(answer: dict[str, Any] | CallToolResult, note: str = "") -> CallToolResult:
    """The tool's answer: the step, and where its gate is decided while it waits."""
    if isinstance(answer, CallToolResult):
        return answer
    if (answer.get("step") or {}).get("state") != "waiting_approval":
        return step_result(answer, [note] if note else [])
    return step_result(*waiting_notes(answer, note))


UNANSWERED = {
    "decline": "You declined to answer in the chat: nothing was decided.",
    "cancel": "The question was dismissed: nothing was decided.",
}


class ChatSteps:
    """The step tools (each action's own, and the generic `step`), with the chat channel."""

    def __init__(self, tools: PivotTools, client: PivotClient):
        self._tools = tools
        self._client = client

    def tool(self, spec: ToolSpec, args: type[ArgModelBase], action: str | None) -> Tool:
        """The SDK tool for the step tool `spec` (arguments `args`; `action`: the action's own
        tool, else the call names it)."""

        async def take(ctx: Context, **arguments: Any) -> Taken:
            saga = str(arguments.pop("saga"))
            return await self.take(ctx, saga, {**arguments, "action": action} if action else arguments)

        with_parameters(take, {"ctx": Context, **dict.fromkeys(args.model_fields, inspect.Parameter.empty)})

        async def ask(taken: Taken) -> Elicit[ChatVerdict] | None:
            if taken.gate is None or taken.user is None:
                return None
            return Elicit(question(taken.gate, taken.user), ChatVerdict)

        with_parameters(ask, {"taken": Annotated[Taken, Resolve(take)]})

        async def answer(*, taken: Taken, verdict: ElicitationResult[ChatVerdict], **_: Any) -> CallToolResult:
            return await self.finish(taken, verdict)

        return as_tool(spec, answer, args, {"taken": (Resolve(take), False), "verdict": (Resolve(ask), True)})

    async def take(self, ctx: Context, saga: str, call: dict[str, Any]) -> Taken:
        """The step call, and the gate to ask about. A call that asks for a gate answers once the
        step has parked at it (in short waits, within the service's default wait)."""
        if ctx.request_state is not None:  # a later round of one call: the step is recorded, attach
            answer = await self._tools.step_answer(saga, call, wait_s=0)
        elif call.get("approval") is not None:
            answer = await self._settled(saga, call, IN_FLIGHT)
        else:
            answer = await self._tools.step_answer(saga, call)
        user = chat_user()
        if isinstance(answer, CallToolResult) or not for_chat(answer.get("step") or {}, user) or not can_ask(ctx):
            return Taken(saga, call, answer)
        assert user is not None
        return Taken(saga, call, answer, await self._gate(answer["step"]["approval"]["approval_id"], user), user)

    async def _settled(self, saga: str, call: dict[str, Any],
                       passing: frozenset[str]) -> dict[str, Any] | CallToolResult:
        """The step call, repeated in short waits while the step is in one of the `passing` states."""
        answer = await self._tools.step_answer(saga, call, wait_s=SHORT_WAIT_S)
        for _ in range(ROUNDS - 1):
            if isinstance(answer, CallToolResult) or (answer.get("step") or {}).get("state") not in passing:
                break
            answer = await self._tools.step_answer(saga, call, wait_s=SHORT_WAIT_S)
        return answer

    async def _gate(self, approval_id: str, user: ChatUser) -> dict[str, Any] | None:
        """The pending approval as `user` reads it (None if it cannot be read: then the page)."""
        read = functools.partial(self._client.approval, approval_id, approver=user.name, token=user.token)
        try:
            pending = (await anyio.to_thread.run_sync(read)).get("pending")
        except (PivotError, httpx.HTTPError):
            return None
        return pending if isinstance(pending, dict) and pending.get("shown") and pending.get("digest") else None

    async def finish(self, taken: Taken, verdict: ElicitationResult[ChatVerdict]) -> CallToolResult:
        """Decide with the user's answer, then answer the step's outcome; anything else: the step."""
        if taken.gate is None or taken.user is None:
            return answered(taken.answer)
        if not isinstance(verdict, AcceptedElicitation) or not isinstance(verdict.data, ChatVerdict):
            return answered(taken.answer, UNANSWERED.get(verdict.action, ""))
        note = await self._decide(taken.gate, taken.user, verdict.data)
        return answered(await self._settled(taken.saga, taken.call, IN_FLIGHT if note else DECIDED), note)

    async def _decide(self, gate: dict[str, Any], user: ChatUser, verdict: ChatVerdict) -> str:
        """Decide `gate` as `user`, through chat, on the digest of the text they were shown; what
        to tell them when the service refused it ("" when it was recorded)."""
        decide = functools.partial(self._client.decide, str(gate["approval_id"]), approver=user.name,
                                   token=user.token, approved=verdict.approve, comment=verdict.comment,
                                   digest=str(gate["digest"]), channel="chat")
        try:
            await anyio.to_thread.run_sync(decide)
        except PivotError as refused:
            return f"Your answer was not recorded: {refused.message}."
        except httpx.HTTPError as error:
            return f"Your answer was not recorded: Pivot could not be reached ({type(error).__name__})."
        return ""
