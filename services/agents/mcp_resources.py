"""Sagas as MCP resources: `saga://<run>` (the live, verified outcome) and `saga://<run>/journal`
(Restate's journal of it with the saga's step events, as `pivot journal` shows it).

A client (or the person watching an agent) can read what a saga did without a tool call and
without the model spending context on it. Both are resource templates, so any saga can be read;
the sagas this process has served a call for are also listed, most recent first, a bounded few:
the server keeps no other state, and a restarted one simply lists none until it is used again.
"""

import json
import logging
from collections import OrderedDict
from typing import Any

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp_types import CallToolResult, InputRequiredResult, Resource

from pivot.compensations.ids import InvalidId, check_run_id
from pivot.services.admin import AdminClient
from pivot.services.agents.mcp_results import argument_refusal
from pivot.services.cli.journal import saga_journal
from pivot.services.client import PivotClient

log = logging.getLogger("pivot.mcp")
RECENT = 50
"""How many sagas `resources/list` names (the templates reach every other one)."""
JSON = "application/json"


class RecentSagas:
    """The run ids this process has served calls for, most recent last, at most `limit`."""

    def __init__(self, limit: int = RECENT):
        self._limit = limit
        self._seen: OrderedDict[str, None] = OrderedDict()

    def seen(self, run_id: str) -> None:
        self._seen.pop(run_id, None)
        self._seen[run_id] = None
        while len(self._seen) > self._limit:
            self._seen.popitem(last=False)

    def resources(self) -> list[Resource]:
        return [Resource(uri=f"saga://{run}", name=run, description=f"Saga {run}: the live outcome",
                         mime_type=JSON) for run in reversed(self._seen)]


class PivotServer(MCPServer):
    """The SDK's server, listing the recent sagas beside its own resources."""

    def __init__(self, *args: Any, recent: RecentSagas, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.recent = recent

    async def list_resources(self) -> list[Resource]:
        return [*await super().list_resources(), *self.recent.resources()]

    async def call_tool(self, name: str, arguments: dict[str, Any],
                        context: Context[Any, Any] | None = None) -> CallToolResult | InputRequiredResult:
        """A call the SDK refuses before a handler runs (arguments off the input schema, an unknown
        tool) answers Pivot's error body as structured content too, like every other refusal."""
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as refused:
            if isinstance(refused, UnexpectedToolError):
                raise
            log.info("tool %r refused: %s", name, type(refused.__cause__ or refused).__name__)
            return argument_refusal(name, refused)


def _run(run: str) -> str:
    try:
        return check_run_id(run)
    except InvalidId as invalid:
        raise ResourceError(str(invalid)) from None


def add_saga_resources(server: MCPServer, client: PivotClient, admin_url: str) -> None:
    """Register `saga://{run}` and `saga://{run}/journal` on `server`."""

    @server.resource("saga://{run}", name="saga", title="A saga's live outcome", mime_type=JSON,
                     description="The saga's verified state: every step, its state and result, the summary")
    async def outcome(run: str) -> str:
        body = await anyio.to_thread.run_sync(client.status, _run(run))
        return json.dumps(body, ensure_ascii=False)

    @server.resource("saga://{run}/journal", name="saga-journal", title="A saga's journal", mime_type=JSON,
                     description="Restate's journal of the saga with its step events, as `pivot journal` shows it")
    async def journal(run: str) -> str:
        def read() -> tuple[dict[str, Any], list[Any]] | None:
            with AdminClient(admin_url) as admin:
                return saga_journal(admin, _run(run))

        found = await anyio.to_thread.run_sync(read)
        if found is None:
            raise ResourceError(f"no journal of saga {run} (never run, or past the retention period)")
        invocation, events = found
        return json.dumps({"invocation": invocation, "events": [e.model_dump() for e in events]}, ensure_ascii=False)
