"""Pivot for agent frameworks: the catalog as a pydantic-ai toolset, for agents Restate hosts.

    from pivot.agents import PivotToolset, run_agent_saga

`PivotToolset` offers the catalog's actions as tools, each call a step of the handler's own saga;
`run_agent_saga` runs a `restate.ext.pydantic.RestateAgent` inside that saga, committing when the
agent finishes and unwinding when it fails. Needs the `agents` extra (`pip install 'pivot[agents]'`).
The MCP server is the `pivot mcp` command.
"""

from pivot.services.agents.pydantic_saga import AgentSagaResult, run_agent_saga
from pivot.services.agents.pydantic_toolset import PivotToolset

__all__ = ["AgentSagaResult", "PivotToolset", "run_agent_saga"]
