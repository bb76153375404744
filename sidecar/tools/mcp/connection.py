"""One connection to one MCP server, through the official `mcp` SDK (stdio or Streamable HTTP).

This is the only module that imports the SDK (the `mcp` extra: without it, each server fails
with an install hint), and the hub (hub.py) imports it only once a configured server starts,
after `sidecar:ready`: the SDK brings pydantic and more, and a sidecar
without MCP servers never pays for it. The SDK negotiates the protocol version; the client offers
the sidecar's `--root` as its one root (a `file://` URI), so a filesystem server works inside the
same folder as the built-in tools.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import IO, Any

from ... import __version__
from . import guard
from .config import ServerConfig

try:
    import mcp_types as types
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client
except ImportError as exc:  # the `mcp` extra is not installed: every server says so
    SDK_MISSING: ImportError | None = exc
else:
    SDK_MISSING = None

logger = logging.getLogger(__name__)

INSTALL_HINT = "the mcp package is not installed: pip install 'ollama-sidecar[mcp]'"


@asynccontextmanager
async def open_session(
    server: ServerConfig,
    root: Path,
    *,
    errlog: IO[str] | None,
    on_process: Callable[[Any], None],
    on_list_changed: Callable[[], Awaitable[None]],
) -> AsyncIterator[Any]:
    """Starts (stdio) or dials (http) the server and initializes the session.

    `on_process` gets the stdio server's process right after it is spawned (no checkpoint in
    between); `errlog`, the stdio server's stderr, is closed in this process once it is handed
    over. `on_list_changed` runs on `notifications/tools/list_changed`.
    """
    if SDK_MISSING is not None:
        raise RuntimeError(f"{INSTALL_HINT} ({SDK_MISSING})") from SDK_MISSING
    guard.install()

    async def on_message(message: Any) -> None:
        root_message = getattr(message, "root", message)
        if isinstance(root_message, types.ToolListChangedNotification):
            await on_list_changed()
        elif isinstance(message, Exception):
            logger.warning("MCP server %s: %s", server.name, message)

    async def list_roots(context: Any) -> types.ListRootsResult:
        return types.ListRootsResult(
            roots=[types.Root(uri=root.resolve().as_uri(), name=root.resolve().name or "root")]
        )

    async with AsyncExitStack() as stack:
        if server.transport == "stdio":
            params = StdioServerParameters(
                command=server.command, args=list(server.args), env=server.env or None, cwd=server.cwd
            )

            def spawned(process: Any) -> None:
                if errlog is not None:
                    errlog.close()  # the child holds its own copy
                on_process(process)

            token = guard.spawned.set(spawned)
            try:
                read, write = await stack.enter_async_context(
                    stdio_client(params, errlog=errlog) if errlog is not None else stdio_client(params)
                )
            finally:
                guard.spawned.reset(token)
        else:
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            http = await stack.enter_async_context(create_mcp_http_client(headers=server.headers or None))
            read, write = await stack.enter_async_context(
                streamable_http_client(server.url, http_client=http)
            )
        session = await stack.enter_async_context(
            ClientSession(
                read,
                write,
                message_handler=on_message,
                list_roots_callback=list_roots,
                client_info=types.Implementation(name="ollama-sidecar", version=__version__),
            )
        )
        await session.initialize()
        yield session


async def list_tools(session: Any) -> list[dict[str, Any]]:
    """Every tool, following `nextCursor`, as JSON (`name`, `description`, `inputSchema`, ...)."""
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        tools += [t.model_dump(by_alias=True, mode="json", exclude_none=True) for t in page.tools]
        cursor = page.next_cursor
        if not cursor:
            return tools


async def call_tool(session: Any, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """`tools/call`; the result as JSON. Cancelling it sends `notifications/cancelled`."""
    result = await session.call_tool(tool, arguments)
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


def describe(exc: BaseException) -> str:
    """A one-line account of an SDK failure."""
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None)
    if isinstance(message, str) and message:
        return message
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return describe(exc.exceptions[0])
    return str(exc) or type(exc).__name__
