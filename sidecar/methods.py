"""The method table: every JSON-RPC method of protocol 1, in one place.

Each `Method` names the method, its params Struct, the result Struct its handler returns, the
handler and a one-line doc. Everything else derives from this table: the dispatcher
(server.py) looks methods up here and decodes params with the decoder built here; the JSON
Schema (schema.py, `--print-schema`) takes requests and responses from it; a test holds the
method sections of docs/protocol.md to it.

A handler is `async (server, handle, params) -> result`. It runs inside the request's own cancel
scope and raises `RpcError` for an answer that is an error; the dispatcher turns whatever comes
out into the one response (server.py). A new method is a params and a result Struct in
protocol.py, a handler here, and one row in `METHODS`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import msgspec

from . import __version__, lifecycle
from . import thread_methods as threads
from .errors import RpcError
from .protocol import (
    PROTOCOL_VERSION,
    ApproveToolParams,
    CancelChatParams,
    CancelChatResult,
    ChatParams,
    ChatResult,
    EmptyResult,
    ListMcpServersResult,
    ListModelsResult,
    ListToolsResult,
    McpServerInfo,
    NoParams,
    OllamaStatus,
    StatusResult,
    ToolInfo,
    ToolResultParams,
)
from .thread_protocol import (
    CreateThreadParams,
    ExportThreadParams,
    ExportThreadResult,
    GetThreadParams,
    GetThreadResult,
    ListThreadsParams,
    ListThreadsResult,
    RenameThreadParams,
    ThreadIdParams,
    ThreadResult,
)
from .protocol_models import (
    CancelRequestParams,
    CancelRequestResult,
    LoadModelParams,
    LoadModelResult,
    ModelParams,
    PullModelParams,
    PullModelResult,
    RunningModelsResult,
    ShowModelResult,
)
from .tools import NEEDS_APPROVAL

if TYPE_CHECKING:
    from msgspec import Struct

    from .server import Handle, Server

Handler = Callable[["Server", "Handle", Any], Awaitable[Any]]


@dataclass(frozen=True)
class Method:
    name: str
    params: type[Struct]
    result: type[Struct]
    handler: Handler
    doc: str
    decoder: msgspec.json.Decoder = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "decoder", msgspec.json.Decoder(self.params))


# --- handlers -----------------------------------------------------------------------------------


async def chat(server: Server, handle: Handle, params: ChatParams) -> ChatResult:
    # The dispatcher opened the session when it admitted the chat (model, tools, --max-chats).
    assert handle.session is not None
    if handle.thread is not None:
        return await handle.thread.run(server.config.model)
    return await handle.session.run()


async def cancel_chat(server: Server, handle: Handle, params: CancelChatParams) -> CancelChatResult:
    if params.chat_id is msgspec.UNSET:
        targets = server.chats()
    else:
        target = server.handles.get(params.chat_id)
        targets = [target] if target is not None and target.session is not None else []
    await server.cancel(targets)
    # A chat that finished in the same instant answered normally: it is not listed.
    return CancelChatResult(
        cancelled=[h.id for h in targets if h.cancelled and h.id is not None]
    )


async def approve_tool(server: Server, handle: Handle, params: ApproveToolParams) -> EmptyResult:
    server.session(params.chat_id).answer("approve_tool", params.call_id, params)
    return EmptyResult()


async def tool_result(server: Server, handle: Handle, params: ToolResultParams) -> EmptyResult:
    server.session(params.chat_id).answer("tool_result", params.call_id, params)
    return EmptyResult()


async def list_models(server: Server, handle: Handle, params: NoParams) -> ListModelsResult:
    return ListModelsResult(models=await server.shared.call("list_models", server.client.list_models))


async def status(server: Server, handle: Handle, params: NoParams) -> StatusResult:
    chats = [h.id for h in server.chats()]
    # `ollama` describes the upstream whatever its provider (an OpenAI-compatible server has
    # no version endpoint: its version stays null).
    upstream = OllamaStatus(reachable=False, version=None, error=None)
    try:
        upstream.version = await server.shared.call("probe", server.client.probe)
        upstream.reachable = True
    except RpcError as exc:
        upstream.error = server.client.redact(exc.message)
    return StatusResult(
        version=__version__,
        protocol=PROTOCOL_VERSION,
        ollama_url=server.client.url,
        chats=chats,
        ollama=upstream,
        provider=server.client.provider,  # type: ignore[arg-type]
        methods=methods_for(server.client.provider),
    )


async def list_tools(server: Server, handle: Handle, params: NoParams) -> ListToolsResult:
    # What a chat with `"tools": true` would offer right now (MCP: the ready servers' tools).
    context = server.chat_context
    always = context.always_approved
    ask = not server.config.auto_approve
    tools = [
        ToolInfo(
            name=spec["function"]["name"],
            description=spec["function"]["description"],
            input_schema=spec["function"]["parameters"],
            source="builtin",
            needs_approval=ask and spec["function"]["name"] in NEEDS_APPROVAL
            and spec["function"]["name"] not in always,
        )
        for spec in context.workspace.specs(context.workspace.available())
    ]
    if context.mcp is not None:
        tools += [
            ToolInfo(
                name=t.exposed,
                description=t.description,
                input_schema=t.input_schema,
                source="mcp",
                server=t.server,
                needs_approval=ask and not t.auto_approved and t.exposed not in always,
            )
            for t in context.mcp.ready_tools()
        ]
    return ListToolsResult(tools=tools)


async def list_mcp_servers(server: Server, handle: Handle, params: NoParams) -> ListMcpServersResult:
    hub = server.chat_context.mcp
    if hub is None:  # configured servers that are all disabled are still listed
        servers = [
            McpServerInfo(s.name, s.transport, "stopped", [], None) for s in server.config.mcp_servers
        ]
        return ListMcpServersResult(servers=servers)
    return ListMcpServersResult(
        servers=[msgspec.convert(info, McpServerInfo) for info in hub.servers()]
    )


async def shutdown(server: Server, handle: Handle, params: NoParams) -> EmptyResult:
    # Chats and pulls have a cancelled answer of their own: both are written before the `{}`.
    pulls = [h for h in list(server.handles.values()) if h.on_cancel is not None]
    await server.cancel([*server.chats(), *pulls])
    handle.stop_after = True
    return EmptyResult()


# --- the table ----------------------------------------------------------------------------------

METHODS: Final[dict[str, Method]] = {
    m.name: m
    for m in (
        Method(
            "chat", ChatParams, ChatResult, chat,
            "Streams a reply: chat:* notifications with params.chat_id = this id, then one "
            "response.",
        ),
        Method(
            "cancel_chat", CancelChatParams, CancelChatResult, cancel_chat,
            "Cancels one chat (chat_id) or every running chat (no chat_id).",
        ),
        Method(
            "approve_tool", ApproveToolParams, EmptyResult, approve_tool,
            "Answers a chat:approval_request; scope once (default), chat or always.",
        ),
        Method(
            "tool_result", ToolResultParams, EmptyResult, tool_result,
            "Answers a client tool's chat:tool_call.",
        ),
        Method("list_models", NoParams, ListModelsResult, list_models, "The models installed upstream."),
        Method(
            "status", NoParams, StatusResult, status,
            "The sidecar's state and whether upstream answers.",
        ),
        Method(
            "list_tools", NoParams, ListToolsResult, list_tools,
            "The tools a chat with \"tools\": true would offer right now: built-ins and the "
            "ready MCP servers' tools.",
        ),
        Method(
            "list_mcp_servers", NoParams, ListMcpServersResult, list_mcp_servers,
            "The MCP servers of --mcp-config: transport, status, exposed tool names, error.",
        ),
        Method(
            "shutdown", NoParams, EmptyResult, shutdown,
            "Cancels every chat, answers {} once each has answered, exits 0.",
        ),
        Method(
            "create_thread", CreateThreadParams, ThreadResult, threads.create_thread,
            "Starts a stored conversation (a thread); chat with its thread_id to talk in it.",
        ),
        Method(
            "list_threads", ListThreadsParams, ListThreadsResult, threads.list_threads,
            "The stored threads, newest first; query searches their messages' text.",
        ),
        Method(
            "get_thread", GetThreadParams, GetThreadResult, threads.get_thread,
            "A thread's messages from the root to a leaf, and the reply in flight on it.",
        ),
        Method(
            "rename_thread", RenameThreadParams, EmptyResult, threads.rename_thread,
            "Gives a thread a title.",
        ),
        Method(
            "delete_thread", ThreadIdParams, EmptyResult, threads.delete_thread,
            "Deletes a thread and all its messages.",
        ),
        Method(
            "export_thread", ExportThreadParams, ExportThreadResult, threads.export_thread,
            "A thread as one JSON or Markdown document.",
        ),
        Method(
            "cancel_request", CancelRequestParams, CancelRequestResult, lifecycle.cancel_request,
            "Cancels any request in flight (a pull, a chat, ...) once it has answered.",
        ),
        Method(
            "show_model", ModelParams, ShowModelResult, lifecycle.show_model,
            "A model's capabilities, trained context and details.",
        ),
        Method(
            "running_models", NoParams, RunningModelsResult, lifecycle.running_models,
            "The models loaded in memory upstream.",
        ),
        Method(
            "pull_model", PullModelParams, PullModelResult, lifecycle.pull_model,
            "Downloads a model: model:pull_progress notifications, then one response.",
        ),
        Method(
            "delete_model", ModelParams, EmptyResult, lifecycle.delete_model,
            "Deletes an installed model.",
        ),
        Method(
            "load_model", LoadModelParams, LoadModelResult, lifecycle.load_model,
            "Loads a model into memory; answers once it is there.",
        ),
        Method(
            "unload_model", ModelParams, EmptyResult, lifecycle.unload_model,
            "Unloads a model from memory.",
        ),
    )
}

# Methods only Ollama's own API can serve; other providers answer them not_supported.
OLLAMA_ONLY: Final = frozenset(
    {"show_model", "running_models", "pull_model", "delete_model", "load_model", "unload_model"}
)


def methods_for(provider: str) -> list[str]:
    """The methods a sidecar with this `--provider` serves (sidecar:ready, status)."""
    return [name for name in METHODS if provider == "ollama" or name not in OLLAMA_ONLY]
