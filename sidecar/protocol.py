"""Wire types of protocol 1 (stdin requests, stdout notifications and responses).

Requests decode in two stages: a lenient `Envelope` whose fields accept any JSON value (so the id
survives anything wrong with the rest, and we can say exactly what is wrong), then the method's
params Struct from the raw params bytes (msgspec reports the path of a bad field). Output types
use `omit_defaults` so absent optional fields stay absent instead of `null`.

Decoders and encoders are built once, here.
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


class Message(Struct):
    """An Ollama chat message; every field Ollama knows passes through unchanged.

    `content` is always written (even `""`, as Ollama does); the other fields only when set.
    """

    role: str
    content: str = ""
    thinking: str | UnsetType = UNSET
    images: list[str] | UnsetType = UNSET
    tool_calls: list[ToolCall] | UnsetType = UNSET
    tool_name: str | UnsetType = UNSET
    tool_call_id: str | UnsetType = UNSET


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
    messages: Annotated[list[Message], Meta(min_length=1)]
    model: Annotated[str, Meta(min_length=1)] | UnsetType = UNSET
    options: dict[str, Any] | UnsetType = UNSET
    think: bool | Literal["low", "medium", "high", "max"] | UnsetType = UNSET
    format: Literal["json"] | dict[str, Any] | UnsetType = UNSET
    keep_alive: int | float | str | UnsetType = UNSET
    # true: every built-in tool allowed here; or built-in names and/or client tool definitions.
    tools: bool | list[str | dict[str, Any]] | UnsetType = UNSET
    approval: Literal["ask", "auto"] | UnsetType = UNSET
    tool_choice: ToolChoice | UnsetType = UNSET


class ApproveToolParams(Struct):
    chat_id: RequestId
    call_id: str
    approved: bool
    reason: str | UnsetType = UNSET


class ToolResultParams(Struct):
    chat_id: RequestId
    call_id: str
    content: str
    is_error: bool = False


class CancelChatParams(Struct):
    chat_id: RequestId | UnsetType = UNSET


class NoParams(Struct):
    """Methods without parameters accept `{}` (or no params at all); extra keys are ignored."""


# --- Ollama request body ----------------------------------------------------------------------


class OllamaChatRequest(Struct, omit_defaults=True):
    model: str
    messages: list[Message]
    stream: bool  # always sent: Ollama streams by default, but say it
    options: dict[str, Any] | UnsetType = UNSET
    think: bool | str | UnsetType = UNSET
    format: str | dict[str, Any] | UnsetType = UNSET
    keep_alive: int | float | str | UnsetType = UNSET
    tools: list[dict[str, Any]] | UnsetType = UNSET
    # Not part of Ollama's API: the Ollama client leaves it out, the OpenAI client maps it.
    tool_choice: ToolChoice | UnsetType = UNSET


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
    `messages` (the partial reply) on every error of a chat that had started."""

    kind: str
    hint: str | UnsetType = UNSET
    status: int | UnsetType = UNSET
    messages: list[Message] | UnsetType = UNSET


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


class TokenParams(Struct):
    chat_id: RequestId | None  # null for a chat sent as a notification (no id)
    content: str


class ToolCallParams(Struct):
    chat_id: RequestId | None
    call_id: str
    name: str
    arguments: dict[str, Any]


class ToolResultNote(Struct):
    chat_id: RequestId | None
    call_id: str
    name: str
    content: str
    is_error: bool


class Usage(Struct):
    prompt_tokens: int
    completion_tokens: int
    duration_ms: int
    tokens_per_second: float
    first_token_ms: int | None = None


class ChatResult(Struct):
    done_reason: str
    messages: list[Message]
    usage: Usage


class ModelInfo(Struct):
    name: str
    size: int
    modified_at: str
    family: str
    parameter_size: str
    quantization: str


# Results that server.py builds as dicts today; the e2e schema check keeps the two equal.


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


# --- Ollama wire (responses) ------------------------------------------------------------------


class ChunkMessage(Struct):
    content: str = ""
    thinking: str = ""
    tool_calls: list[ToolCall] = []


class ChatChunk(Struct):
    """One NDJSON line of `/api/chat`. Untagged: an error line has only `error`."""

    message: ChunkMessage | None = None
    done: bool = False
    done_reason: str = ""
    error: Any = UNSET
    total_duration: int = 0
    prompt_eval_count: int = 0
    eval_count: int = 0
    eval_duration: int = 0


class ErrorBody(Struct):
    error: Any = UNSET
    message: Any = UNSET  # vLLM's own error body has no "error" key


class TagDetails(Struct):
    family: str = ""
    parameter_size: str = ""
    quantization_level: str = ""


class TagModel(Struct):
    name: str
    size: int = 0
    modified_at: str = ""
    details: TagDetails = msgspec.field(default_factory=TagDetails)


class TagsResponse(Struct):
    models: list[TagModel] = []


class VersionResponse(Struct):
    version: str = ""


envelope_decoder: Final = msgspec.json.Decoder(Envelope)
chunk_decoder: Final = msgspec.json.Decoder(ChatChunk)
error_body_decoder: Final = msgspec.json.Decoder(ErrorBody)
tags_decoder: Final = msgspec.json.Decoder(TagsResponse)
version_decoder: Final = msgspec.json.Decoder(VersionResponse)
any_decoder: Final = msgspec.json.Decoder()
body_encoder: Final = msgspec.json.Encoder()

PARAMS_DECODERS: Final[dict[type, msgspec.json.Decoder]] = {
    t: msgspec.json.Decoder(t)
    for t in (ChatParams, CancelChatParams, NoParams, ApproveToolParams, ToolResultParams)
}


def notification(method: str, params: Any) -> Notification:
    return Notification(method=method, params=params)
