"""Wire types of protocol 1: stdin requests, stdout notifications and responses, and results.

Every line the sidecar reads or writes is one of these Structs: the params of each method, the
typed result each method returns, the params of each notification, and the envelopes. Which
method takes which params and returns which result is the method table's (methods.py).

Requests decode in two stages: a lenient `Envelope` whose fields accept any JSON value (so the id
survives anything wrong with the rest, and we can say exactly what is wrong), then the method's
params Struct from the raw params bytes (msgspec reports the path of a bad field; the params
decoders are built once, in methods.py). Output types use `omit_defaults` so absent optional
fields stay absent instead of `null`.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import UNSET, Meta, Raw, Struct, UnsetType

PROTOCOL_VERSION: Final = 1

RequestId = int | str
# The `protocol` field of `sidecar:ready` and `status`: the JSON Schema pins it to this protocol.
ProtocolNumber = Annotated[int, Meta(ge=PROTOCOL_VERSION, le=PROTOCOL_VERSION)]


class Envelope(Struct):
    """Any JSON object; fields are checked by `rpc.decode_request`, not by the decoder."""

    jsonrpc: Any = UNSET
    id: Any = UNSET
    method: Any = UNSET
    params: Raw | UnsetType = UNSET


# --- Ollama message objects (the `messages` a chat sends and returns) -----------------------


class ToolCallFunction(Struct):
    # No omit_defaults: `arguments` is always written, as Ollama expects an object back.
    name: str
    arguments: dict[str, Any] = {}
    index: int | UnsetType = UNSET


class ToolCall(Struct, omit_defaults=True):
    function: ToolCallFunction
    id: str | UnsetType = UNSET


class TopLogprob(Struct, omit_defaults=True):
    token: str
    logprob: float
    bytes: list[int] | UnsetType = UNSET


class Logprob(Struct, omit_defaults=True):
    """One generated token's log probability, as Ollama sends it (`logprobs: true`)."""

    token: str
    logprob: float
    bytes: list[int] | UnsetType = UNSET
    top_logprobs: list[TopLogprob] | UnsetType = UNSET


class Message(Struct):
    """An Ollama chat message; every field Ollama knows passes through unchanged.

    `content` is always written (even `""`, as Ollama does); the other fields only when set.
    `logprobs` is only written (on a reply of a chat that asked for them), never sent upstream.
    """

    role: str
    content: str = ""
    thinking: str | UnsetType = UNSET
    images: list[str] | UnsetType = UNSET
    tool_calls: list[ToolCall] | UnsetType = UNSET
    tool_name: str | UnsetType = UNSET
    tool_call_id: str | UnsetType = UNSET
    logprobs: list[Logprob] | UnsetType = UNSET


# --- Params of each method --------------------------------------------------------------------


class ToolChoiceName(Struct):
    name: Annotated[str, Meta(min_length=1)]


class ToolChoiceFunction(Struct):
    """`tool_choice` naming one function: `{"type":"function","function":{"name":...}}`."""

    type: Literal["function"]
    function: ToolChoiceName


# OpenAI's `tool_choice`: passed through by --provider openai, ignored by Ollama (no such field).
ToolChoice = Literal["auto", "none", "required"] | ToolChoiceFunction


class ChatParams(Struct, omit_defaults=True):
    # At least one, unless `thread_id` is given (a regenerate sends none).
    messages: list[Message] = []
    model: Annotated[str, Meta(min_length=1)] | UnsetType = UNSET
    options: dict[str, Any] | UnsetType = UNSET
    think: bool | Literal["low", "medium", "high", "max"] | UnsetType = UNSET
    format: Literal["json"] | dict[str, Any] | UnsetType = UNSET
    keep_alive: int | float | str | UnsetType = UNSET
    # true: every built-in tool allowed here; or built-in names and/or client tool definitions.
    tools: bool | list[str | dict[str, Any]] | UnsetType = UNSET
    approval: Literal["ask", "auto"] | UnsetType = UNSET
    tool_choice: ToolChoice | UnsetType = UNSET
    # A stored thread (thread_protocol.py): `messages` are then only the new ones, sent after
    # the stored path; `after` a message id (null: the root) to continue from instead of the
    # newest message.
    thread_id: Annotated[str, Meta(min_length=1)] | UnsetType = UNSET
    after: str | None | UnsetType = UNSET
    # Forwarded to Ollama as they are (its own defaults apply when absent).
    logprobs: bool | UnsetType = UNSET
    top_logprobs: Annotated[int, Meta(ge=0, le=20)] | UnsetType = UNSET
    truncate: bool | UnsetType = UNSET
    shift: bool | UnsetType = UNSET


class ApproveToolParams(Struct):
    chat_id: RequestId
    call_id: str
    approved: bool
    reason: str | UnsetType = UNSET
    # "chat": that tool for the rest of that chat; "always": for the rest of the sidecar's life.
    scope: Literal["once", "chat", "always"] = "once"


class ToolResultParams(Struct):
    chat_id: RequestId
    call_id: str
    content: str
    is_error: bool = False


class CancelChatParams(Struct):
    chat_id: RequestId | UnsetType = UNSET


class NoParams(Struct):
    """Methods without parameters accept `{}` (or no params at all); extra keys are ignored."""


# --- Output -----------------------------------------------------------------------------------


class Notification(Struct, kw_only=True):
    jsonrpc: str = "2.0"
    method: str
    params: Any


class Response(Struct, kw_only=True):
    jsonrpc: str = "2.0"
    id: RequestId | None
    result: Any


class ErrorData(Struct, omit_defaults=True):
    """`error.data`: `kind` always; `hint` when the user can act; `status` for upstream_error;
    `messages` (the partial reply) on every error of a chat that had started; `signin_url`
    when Ollama asks to sign in (401 of a cloud model); `progress` (the last
    `model:pull_progress`) when a pull fails after it started."""

    kind: str
    hint: str | UnsetType = UNSET
    status: int | UnsetType = UNSET
    messages: list[Message] | UnsetType = UNSET
    signin_url: str | UnsetType = UNSET
    progress: PullProgressParams | UnsetType = UNSET


class ErrorObject(Struct):
    code: int
    message: str
    data: ErrorData  # written from `RpcError.data()`, a dict of these keys (schema-checked e2e)


class ErrorResponse(Struct, kw_only=True):
    jsonrpc: str = "2.0"
    id: RequestId | None
    error: ErrorObject


class ReadyParams(Struct):
    name: str
    version: str
    protocol: ProtocolNumber
    ollama_url: str
    pid: int
    provider: Literal["ollama", "openai"] = "ollama"  # additive: which API ollama_url speaks
    methods: list[str] = []  # additive: the methods this provider supports


class TokenParams(Struct, omit_defaults=True):
    chat_id: RequestId | None  # null for a chat sent as a notification (no id)
    content: str
    logprobs: list[Logprob] | UnsetType = UNSET  # those of the tokens merged here, in order


class PullProgressParams(Struct, omit_defaults=True, kw_only=True):
    """`model:pull_progress`: bytes summed over every layer seen so far."""

    request_id: RequestId | None
    model: str
    status: str
    digest: str | UnsetType = UNSET  # the layer being pulled, when there is one
    total: int
    completed: int


class ToolCallParams(Struct, omit_defaults=True):
    """`chat:tool_call` and `chat:approval_request`. An MCP tool's also carry `server` and `tool`
    (the server's own name for it); its approval request carries the tool's `annotations` as the
    server sent them (hints, never trusted to skip approval)."""

    chat_id: RequestId | None
    call_id: str
    name: str
    arguments: dict[str, Any]
    server: str | UnsetType = UNSET
    tool: str | UnsetType = UNSET
    annotations: dict[str, Any] | UnsetType = UNSET


class ToolResultNote(Struct, omit_defaults=True):
    """`chat:tool_result`: `content` is the text the model sees; an MCP tool's also carries
    `server`, `tool` and `mcp_content` (the MCP `content` array as the server sent it)."""

    chat_id: RequestId | None
    call_id: str
    name: str
    content: str
    is_error: bool
    server: str | UnsetType = UNSET
    tool: str | UnsetType = UNSET
    mcp_content: list[dict[str, Any]] | UnsetType = UNSET


class Usage(Struct):
    prompt_tokens: int
    completion_tokens: int
    duration_ms: int
    tokens_per_second: float
    first_token_ms: int | None = None
    # The context window in effect (options.num_ctx, else what /api/ps reports), null if unknown.
    context_length: int | None = None


class ChatResult(Struct, omit_defaults=True):
    done_reason: str
    messages: list[Message]
    usage: Usage
    # A chat on a thread: the thread, and the ids of the messages it stored, in order (the
    # new messages first, then the replies and tool results).
    thread_id: str | UnsetType = UNSET
    message_ids: list[str] | UnsetType = UNSET


class ModelInfo(Struct):
    name: str
    size: int
    modified_at: str
    family: str
    parameter_size: str
    quantization: str
    capabilities: list[str] = []  # Ollama's list as sent; [] when the server sends none


class EmptyResult(Struct):
    """The result of approve_tool, tool_result and shutdown: `{}`."""


class CancelChatResult(Struct):
    cancelled: list[RequestId]


class ListModelsResult(Struct):
    models: list[ModelInfo]


class OllamaStatus(Struct):
    reachable: bool
    version: str | None
    error: str | None


class StatusResult(Struct):
    version: str
    protocol: ProtocolNumber
    ollama_url: str
    chats: list[RequestId | None]
    ollama: OllamaStatus
    provider: Literal["ollama", "openai"] = "ollama"
    methods: list[str] = []  # the methods this provider supports


class ToolInfo(Struct, omit_defaults=True):
    name: str
    description: str
    input_schema: dict[str, Any]
    source: Literal["builtin", "mcp"]
    needs_approval: bool
    server: str | UnsetType = UNSET


class ListToolsResult(Struct):
    tools: list[ToolInfo]


McpStatus = Literal["starting", "ready", "failed", "stopped"]


class McpServerInfo(Struct):
    name: str
    transport: Literal["stdio", "http"]
    status: McpStatus
    tools: list[str]
    error: str | None


class ListMcpServersResult(Struct):
    servers: list[McpServerInfo]


class McpServerStatusParams(Struct, omit_defaults=True):
    """`mcp:server_status`: a server's state changed; `tools` are the exposed names."""

    server: str
    status: McpStatus
    tools: list[str]
    error: str | UnsetType = UNSET


# A big `chat` line read in pieces (`rpc.decode_chat_head`): `ChatParams` with each message left
# as raw JSON, built from ChatParams's own fields so the two never differ.
ChatParamsHead: Final = msgspec.defstruct(
    "ChatParamsHead",
    [
        (f.name, list[Raw], [])  # optional since a thread's chat may send none
        if f.name == "messages"
        else (f.name, f.type) if f.required else (f.name, f.type, f.default)
        for f in msgspec.structs.fields(ChatParams)
    ],
    omit_defaults=True,
)


class ChatEnvelope(Struct):
    """The envelope of a big `chat` line, its params as a `ChatParamsHead`."""

    jsonrpc: Any = UNSET
    id: Any = UNSET
    method: Any = UNSET
    params: ChatParamsHead | UnsetType = UNSET  # type: ignore[valid-type]


envelope_decoder: Final = msgspec.json.Decoder(Envelope)
chat_envelope_decoder: Final = msgspec.json.Decoder(ChatEnvelope)
message_decoder: Final = msgspec.json.Decoder(Message)
any_decoder: Final = msgspec.json.Decoder()


def notification(method: str, params: Any) -> Notification:
    return Notification(method=method, params=params)
