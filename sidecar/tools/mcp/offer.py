"""The MCP tools one chat offers (`McpOffer`): resolved when the chat starts, and what a call
of an MCP name finds.

A chat that names servers (`"mcp:SERVER"`, `SERVER__TOOL`) waits for them to be ready or failed
(a start, or a restart on this use); `"tools": true` offers the servers ready right now, as
`list_tools` says, and starts the restarts of failed ones. A call of a tool of a server the chat
asked for that was not ready when the chat started is that server's next use: restarted, or the
model hears why it is not available. `owner` gives the `server` and `tool` fields of the chat's
notifications.
"""

from __future__ import annotations

from typing import Any

from ... import errors
from ...tool_plan import ToolPlan
from ..result import ToolResult
from .hub import McpHub, McpTool, ServerState


class McpOffer:
    def __init__(self, hub: McpHub | None, plan: ToolPlan) -> None:
        self.hub = hub
        self.plan = plan
        self.tools: dict[str, McpTool] = {}  # by exposed name

    @property
    def active(self) -> bool:
        return self.hub is not None and self.plan.uses_mcp

    async def offer(self) -> list[dict[str, Any]]:
        """Waits for the servers this chat names (starting, or restarted on this use), then
        returns the specs of the tools it offers. Raises `RpcError` (invalid_params) for a
        SERVER__TOOL that its ready server does not have."""
        hub, plan = self.hub, self.plan
        assert hub is not None
        states = hub.enabled() if plan.mcp_all else [hub.states[n] for n in plan.mcp_servers]
        named = [s for n in plan.mcp_names if (s := hub.server_of(n)) is not None]
        if plan.mcp_all:
            await hub.use(states, wait=False)  # `true` offers what is ready now (list_tools)
        else:
            await hub.use(list({id(s): s for s in [*states, *named]}.values()))
        offered = {t.exposed: t for t in hub.ready_tools(states)}
        every = {t.exposed: t for s in named for t in s.tools.values()}
        for name in plan.mcp_names:
            if name in every:
                offered[name] = every[name]
                continue
            state = hub.server_of(name)
            if state is not None and state.status == "ready":
                raise errors.invalid_params(
                    f"unknown MCP tool {name!r}: server {state.config.name!r} has no such tool"
                )
            # Its server is not ready (failed, never initialized): a call of it says why.
        taken = {*plan.builtins, *plan.client}
        self.tools = {n: t for n, t in offered.items() if n not in taken}
        return [t.spec() for t in self.tools.values()]

    def owner(self, name: str) -> tuple[str, str] | None:
        """(server, the server's own tool name) of an MCP tool this chat offers or could call."""
        tool = self.tools.get(name)
        if tool is not None:
            return tool.server, tool.tool
        state = self._server(name)
        if state is None:
            return None
        known = state.tools.get(name)
        return state.config.name, known.tool if known else name.removeprefix(state.config.prefix)

    def _server(self, name: str) -> ServerState | None:
        """The server a name not offered belongs to, when this chat asked for that server."""
        hub, plan = self.hub, self.plan
        if hub is None or not plan.uses_mcp or name in plan.builtins or name in plan.client:
            return None
        state = hub.server_of(name)
        if state is None:
            return None
        asked = plan.mcp_all or state.config.name in plan.mcp_servers or name in plan.mcp_names
        return state if asked else None

    async def late_tool(self, name: str, others: list[str]) -> McpTool | ToolResult:
        """A call of a tool that was not offered. One of a server this chat asked for that was
        not ready is that server's next use (a restart); when it still is not, the model hears
        why."""
        state = self._server(name)
        hub = self.hub
        if state is not None and hub is not None:
            await hub.use([state])
            tool = state.tools.get(name) if state.status == "ready" else None
            if tool is not None:
                self.tools[name] = tool
                return tool
            if state.status != "ready":
                why = state.error or f"it is {state.status}"
                return ToolResult(f"MCP server {state.config.name!r} is not available: {why}", True)
        offered = ", ".join([*others, *self.tools]) or "none"
        return ToolResult(f"unknown tool {name!r}: it was not offered (offered: {offered})", True)
