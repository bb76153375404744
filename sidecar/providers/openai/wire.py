"""The OpenAI-compatible wire: the chat request built from ours, and the stream's chunk shapes.

Pure and synchronous. The protocol's messages are Ollama-shaped (`Message`), so `chat_body`
translates a `ChatRequest` to `/chat/completions`:

- messages: assistant `tool_calls` get `type:"function"` and `arguments` as a JSON string;
  a `tool` message's `tool_call_id` (and `tool_name` as `name`) are kept; `images` (base64,
  Ollama's form) become content parts with `data:` URLs; an assistant message's `thinking` goes
  back as `reasoning_content` when the message has `tool_calls` (DeepSeek's and Moonshot's
  thinking modes refuse a tool-call turn without it, llama-server's templates read it, other
  servers ignore the key) and is dropped otherwise (no standard field takes it, and DeepSeek's
  reasoner refused it on plain turns);
- `options`: `temperature`, `top_p`, `seed`, `stop`, `frequency_penalty`, `presence_penalty`
  pass through, `num_predict` (when > 0) becomes `max_tokens`; other Ollama options have no
  OpenAI equivalent and are left out (strict servers reject unknown fields);
- `format`: `"json"` -> `response_format: {"type":"json_object"}`, a schema -> `json_schema`;
- `think`: `"low"`/`"medium"`/`"high"` -> `reasoning_effort`; booleans and `"max"` are left out;
- `tools` and `tool_choice` pass through; `keep_alive` is Ollama's alone and is left out.

Chunks are decoded into Structs with every field optional (servers differ in what they send,
and send `null` freely); unknown keys are skipped by msgspec without building them.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec
from msgspec import UNSET, Struct, UnsetType

from ...protocol import Message, ToolChoice
from ..base import ChatRequest

# --- request ----------------------------------------------------------------------------------


class FunctionCall(Struct):
    name: str
    arguments: str  # JSON text, as OpenAI sends and expects it


class OutToolCall(Struct, omit_defaults=True):
    type: Literal["function"]  # no default, so always written
    function: FunctionCall
    id: str | UnsetType = UNSET


class OutMessage(Struct, omit_defaults=True):
    role: str
    # Always written: text ("" for an assistant's tool calls) or content parts (with images).
    content: str | list[dict[str, Any]] | None
    tool_calls: list[OutToolCall] | UnsetType = UNSET
    tool_call_id: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    reasoning_content: str | UnsetType = UNSET


class StreamOptions(Struct):
    include_usage: bool = True


class CompletionRequest(Struct, omit_defaults=True):
    model: str
    messages: list[OutMessage]
    stream: bool  # no default, so always written
    stream_options: StreamOptions
    tools: list[dict[str, Any]] | UnsetType = UNSET
    tool_choice: ToolChoice | UnsetType = UNSET
    temperature: Any = UNSET
    top_p: Any = UNSET
    max_tokens: Any = UNSET
    stop: Any = UNSET
    seed: Any = UNSET
    frequency_penalty: Any = UNSET
    presence_penalty: Any = UNSET
    response_format: dict[str, Any] | UnsetType = UNSET
    reasoning_effort: str | UnsetType = UNSET


_PASSED_OPTIONS: Final = (
    "temperature", "top_p", "seed", "stop", "frequency_penalty", "presence_penalty"
)
_REASONING_EFFORTS: Final = frozenset({"low", "medium", "high"})
# The first base64 characters of each image format's magic bytes.
_IMAGE_TYPES: Final = (
    ("iVBORw0KGgo", "image/png"),
    ("/9j/", "image/jpeg"),
    ("R0lGOD", "image/gif"),
    ("UklGR", "image/webp"),
)
_encoder: Final = msgspec.json.Encoder()


def chat_body(request: ChatRequest) -> bytes:
    """The JSON body of `POST /chat/completions` for one streamed turn."""
    body = CompletionRequest(
        model=request.model,
        messages=[_message(m) for m in request.messages],
        stream=True,
        stream_options=StreamOptions(include_usage=True),
        tools=request.tools,
        tool_choice=request.tool_choice,
    )
    options = request.options if request.options is not UNSET else {}
    for name in _PASSED_OPTIONS:
        if options.get(name) is not None:
            setattr(body, name, options[name])
    num_predict = options.get("num_predict")
    if isinstance(num_predict, int) and num_predict > 0:
        body.max_tokens = num_predict
    if request.format == "json":
        body.response_format = {"type": "json_object"}
    elif isinstance(request.format, dict):
        body.response_format = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": request.format},
        }
    if isinstance(request.think, str) and request.think in _REASONING_EFFORTS:
        body.reasoning_effort = request.think
    return _encoder.encode(body)


def _message(message: Message) -> OutMessage:
    content: str | list[dict[str, Any]] | None = message.content
    if message.images is not UNSET and message.images:
        parts: list[dict[str, Any]] = []
        if message.content:
            parts.append({"type": "text", "text": message.content})
        parts += [{"type": "image_url", "image_url": {"url": data_url(i)}} for i in message.images]
        content = parts
    out = OutMessage(role=message.role, content=content)
    if message.tool_calls is not UNSET and message.tool_calls:
        out.tool_calls = [
            OutToolCall(
                type="function",
                function=FunctionCall(
                    name=call.function.name,
                    arguments=_encoder.encode(call.function.arguments).decode(),
                ),
                id=call.id,
            )
            for call in message.tool_calls
        ]
        # An assistant's tool calls go back with content "" (not null, as OpenAI returns them):
        # llama-cpp-python's server refuses null with a 500; llama-server, Ollama and OpenAI
        # all accept a string.
        if message.thinking is not UNSET and message.thinking:
            # Interleaved thinking: the reasoning that led to the calls stays in the history.
            out.reasoning_content = message.thinking
    if message.tool_call_id is not UNSET:
        out.tool_call_id = message.tool_call_id
    if message.role == "tool" and message.tool_name is not UNSET:
        out.name = message.tool_name
    return out


def data_url(image: str) -> str:
    """An Ollama image (bare base64) as a `data:` URL; a URL given as such is kept."""
    if image.startswith(("data:", "http://", "https://")):
        return image
    mime = next((m for prefix, m in _IMAGE_TYPES if image.startswith(prefix)), "image/png")
    return f"data:{mime};base64,{image}"


# --- stream chunks (`data:` events of the SSE body) -------------------------------------------
# gc=False: a chunk never holds a cycle, and a reply decodes thousands of them, which would
# otherwise each count towards the next garbage collection.


class FunctionDelta(Struct, gc=False):
    name: str | None = None
    # A JSON text (fragment) per the API; a few servers send the object itself, whole.
    arguments: str | dict[str, Any] | None = None


class ToolCallDelta(Struct, gc=False):
    index: int | None = None
    id: str | None = None
    function: FunctionDelta | None = None


class Delta(Struct, gc=False):
    content: str | None = None
    reasoning: str | None = None  # Ollama, vLLM
    reasoning_content: str | None = None  # llama-server, DeepSeek, LM Studio
    tool_calls: list[ToolCallDelta] | None = None


class Choice(Struct, gc=False):
    index: int = 0
    delta: Delta | None = None
    finish_reason: str | None = None


class ChunkUsage(Struct, gc=False):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Timings(Struct, gc=False):
    """llama-server's extension: its own measurement of the generation."""

    predicted_ms: float | None = None


class CompletionChunk(Struct, gc=False):
    """One `data:` event. Untagged: an error event has only `error`."""

    choices: list[Choice] | None = None
    usage: ChunkUsage | None = None
    timings: Timings | None = None
    error: Any = UNSET


class ModelEntry(Struct):
    id: str
    created: int | None = None


class ModelList(Struct):
    data: list[ModelEntry] = []


chunk_decoder: Final = msgspec.json.Decoder(CompletionChunk)
arguments_decoder: Final = msgspec.json.Decoder(dict[str, Any])
models_decoder: Final = msgspec.json.Decoder(ModelList)
