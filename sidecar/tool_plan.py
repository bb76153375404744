"""What a chat offers the model: `plan_tools` checks the chat's `tools` param into a `ToolPlan`.

`tools` is `true` (every built-in allowed here and every ready MCP server's tools), or a list of
built-in names, client tool definitions, `SERVER__TOOL` names of MCP tools and `"mcp:SERVER"` for
all of one server's tools. Checked when the chat is admitted (server.py), synchronously; the MCP
tools themselves are resolved when the chat starts (chat.py), once their servers are ready.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from . import errors
from .protocol import ChatParams
from .tools import Workspace
from .tools.mcp.hub import McpHub

__all__ = ["ToolPlan", "plan_tools"]


@dataclass(frozen=True)
class ToolPlan:
    """What a chat offered the model: built-in names, client tools by name, and approval."""

    builtins: tuple[str, ...] = ()
    client: dict[str, dict[str, Any]] = field(default_factory=dict)
    auto_approve: bool = False
    # MCP: every ready server's tools (`true`), whole servers ("mcp:SERVER"), SERVER__TOOL names.
    mcp_all: bool = False
    mcp_servers: tuple[str, ...] = ()
    mcp_names: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.builtins or self.client or self.uses_mcp)

    @property
    def uses_mcp(self) -> bool:
        return bool(self.mcp_all or self.mcp_servers or self.mcp_names)


def plan_tools(
    params: ChatParams, workspace: Workspace, auto_approve: bool, mcp: McpHub | None = None
) -> ToolPlan:
    """Checks the chat's `tools` param. Raises `RpcError` (invalid_params) naming the problem."""
    approve = auto_approve or params.approval == "auto"
    if params.tools is msgspec.UNSET or params.tools is False:
        return ToolPlan(auto_approve=approve)
    if params.tools is True:
        return ToolPlan(builtins=workspace.available(), auto_approve=approve, mcp_all=mcp is not None)
    builtins: list[str] = []
    client: dict[str, dict[str, Any]] = {}
    servers: list[str] = []
    names: list[str] = []
    for i, tool in enumerate(params.tools):
        if isinstance(tool, str) and tool.startswith("mcp:"):
            known = [s.config.name for s in mcp.enabled()] if mcp is not None else []
            if tool[4:] not in known:
                disabled = mcp is not None and tool[4:] in mcp.states
                what = "is disabled in --mcp-config" if disabled else "is not in --mcp-config"
                raise errors.invalid_params(
                    f"MCP server {tool[4:]!r} {what} - at `$.tools[{i}]` (enabled servers: "
                    f"{', '.join(known) or 'none; start the sidecar with --mcp-config FILE'})"
                )
            servers.append(tool[4:])
            continue
        if isinstance(tool, str) and mcp is not None and mcp.server_of(tool) is not None:
            names.append(tool)
            continue
        if isinstance(tool, str):
            if tool not in workspace.available():
                raise errors.invalid_params(_unknown_tool(tool, i, workspace, mcp))
            if tool not in builtins:
                builtins.append(tool)
            continue
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            raise errors.invalid_params(
                f"a client tool needs function.name - at `$.tools[{i}]`"
            )
        if name in workspace.available() or name in client:
            raise errors.invalid_params(f"tool name {name!r} is used twice - at `$.tools[{i}]`")
        client[name] = {"type": "function", **tool}
    return ToolPlan(
        tuple(builtins), client, approve, mcp_servers=tuple(servers), mcp_names=tuple(names)
    )


def _unknown_tool(tool: str, i: int, workspace: Workspace, mcp: McpHub | None) -> str:
    """Why a tool name names nothing: a built-in that is off, or neither a built-in nor a tool
    of an enabled MCP server (`SERVER__TOOL`)."""
    if tool == "exec_shell":
        return (
            f"unknown built-in tool 'exec_shell' - at `$.tools[{i}]` (start the sidecar with "
            "--allow-shell to offer it)"
        )
    builtins = f"built-in tools: {', '.join(workspace.available())}"
    if "__" not in tool:
        return f"unknown built-in tool {tool!r} - at `$.tools[{i}]` ({builtins})"
    servers = [s.config.name for s in mcp.enabled()] if mcp is not None else []
    return (
        f"unknown tool {tool!r} - at `$.tools[{i}]`: not a built-in ({builtins}) and no enabled "
        f"MCP server's SERVER__TOOL (enabled servers: "
        f"{', '.join(servers) or 'none; start the sidecar with --mcp-config FILE'})"
    )
