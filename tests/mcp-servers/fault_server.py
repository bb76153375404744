"""A small MCP server for the fault tests, written with the `mcp` SDK (stdio).

`python fault_server.py MODE MARKS`: MODE `serve` answers on stdio, `http:PORT` on Streamable
HTTP at http://127.0.0.1:PORT/mcp; `never-init` never answers anything (a server that never
finishes initializing). MARKS is a folder where the tools leave files the
tests read: `pid`, `sleeping` once `sleep` runs, `cancelled` when it was cancelled (MCP's
notifications/cancelled). A file `mode` there, when present, replaces MODE (for restarts).

Tools: `ok(text)` answers text; `sleep(seconds)` answers after that long (a hang);
`crash()` writes a line to stderr and exits mid-call; `grow()` adds the tool `extra` and sends
`notifications/tools/list_changed`; `roots()` answers the client's roots (MCP's roots/list), one
URI a line.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

MODE, MARKS = sys.argv[1], Path(sys.argv[2])
MARKS.mkdir(parents=True, exist_ok=True)
(MARKS / "pid").write_text(str(os.getpid()))
if (MARKS / "mode").exists():  # a test changes what the next start does
    MODE = (MARKS / "mode").read_text().strip()

if MODE == "never-init":
    sys.stderr.write("starting, slowly\n")
    sys.stderr.flush()
    time.sleep(3600)
    sys.exit(0)

import anyio  # noqa: E402
from mcp.server.mcpserver import Context, MCPServer  # noqa: E402

server = MCPServer("faults")


@server.tool()
def ok(text: str) -> str:
    """Answers its text."""
    return f"ok: {text}"


@server.tool()
async def sleep(seconds: float) -> str:
    """Answers after `seconds`."""
    (MARKS / "sleeping").write_text("yes")
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        (MARKS / "cancelled").write_text("yes")
        raise
    return "slept"


@server.tool()
def crash() -> str:
    """Exits mid-call."""
    sys.stderr.write("fault server: crashing on purpose\n")
    sys.stderr.flush()
    os._exit(3)


@server.tool()
async def roots(ctx: Context) -> str:
    """Answers the roots the client offers, one URI a line."""
    listed = await ctx.request_context.session.list_roots()
    return "\n".join(str(root.uri) for root in listed.roots)


@server.tool()
async def grow(ctx: Context) -> str:
    """Adds the tool `extra` and says the tool list changed."""

    def extra() -> str:
        """A tool that appeared later."""
        return "extra"

    server.add_tool(extra)
    await ctx.request_context.session.send_tool_list_changed()  # the handshake-era notification
    return "grown"


if MODE.startswith("http:"):  # Streamable HTTP on 127.0.0.1:PORT/mcp
    server.run("streamable-http", host="127.0.0.1", port=int(MODE[5:]))
else:
    server.run()
