"""Ollama's wire: the `/api/chat` body built from a `ChatRequest`, and what Ollama sends back.

Pure and synchronous. The body is the request as it is (the protocol's messages are Ollama's
own shape), with `stream: true` always written and without `tool_choice`, which Ollama does not
know. Responses are decoded into Structs whose fields are all optional, as Ollama leaves out
what it has not got; a chunk is untagged (an error line has only `error`).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from msgspec import UNSET, Struct, UnsetType

from ...protocol import Logprob, Message, ToolCall
from ..base import ChatRequest

# --- request ----------------------------------------------------------------------------------


class OllamaChatRequest(Struct, omit_defaults=True):
    """The body of `POST /api/chat`."""

    model: str
    messages: list[Message]
    stream: bool  # always sent: Ollama streams by default, but say it
    options: dict[str, Any] | UnsetType = UNSET
    think: bool | str | UnsetType = UNSET
    format: str | dict[str, Any] | UnsetType = UNSET
    keep_alive: int | float | str | UnsetType = UNSET
    tools: list[dict[str, Any]] | UnsetType = UNSET
    logprobs: bool | UnsetType = UNSET
    top_logprobs: int | UnsetType = UNSET
    truncate: bool | UnsetType = UNSET
    shift: bool | UnsetType = UNSET


class ModelRequest(Struct, omit_defaults=True):
    """The body of `/api/show`, `/api/pull`, `/api/delete`."""

    model: str
    insecure: bool | UnsetType = UNSET


class LoadRequest(Struct, omit_defaults=True):
    """`POST /api/chat` with no messages: load (or, with `keep_alive` 0, unload) the model."""

    model: str
    messages: list[Message]
    stream: bool  # false: one JSON answer (Ollama sends one anyway), said for clarity
    keep_alive: int | float | str | UnsetType = UNSET


_encoder: Final = msgspec.json.Encoder()


def chat_body(request: ChatRequest) -> bytes:
    """The JSON body of `POST /api/chat` for one streamed turn."""
    return _encoder.encode(
        OllamaChatRequest(
            model=request.model,
            messages=_upstream(request.messages),
            stream=True,
            options=request.options,
            think=request.think,
            format=request.format,
            keep_alive=request.keep_alive,
            tools=request.tools,
            logprobs=request.logprobs,
            top_logprobs=request.top_logprobs,
            truncate=request.truncate,
            shift=request.shift,
        )
    )


def _upstream(messages: list[Message]) -> list[Message]:
    """The messages as Ollama takes them: a reply's `logprobs` (ours to give) stay here."""
    if all(m.logprobs is UNSET for m in messages):
        return messages
    return [msgspec.structs.replace(m, logprobs=UNSET) for m in messages]


def model_body(model: str, insecure: bool | None = None) -> bytes:
    return _encoder.encode(ModelRequest(model, UNSET if insecure is None else insecure))


def load_body(model: str, keep_alive: int | float | str | None) -> bytes:
    return _encoder.encode(
        LoadRequest(model, [], False, keep_alive=UNSET if keep_alive is None else keep_alive)
    )


# --- responses --------------------------------------------------------------------------------


# gc=False: a chunk never holds a cycle, and a reply decodes thousands of them, which would
# otherwise each count towards the next garbage collection.
class ChunkMessage(Struct, gc=False):
    content: str = ""
    thinking: str = ""
    tool_calls: list[ToolCall] = []


class ChatChunk(Struct, gc=False):
    """One NDJSON line of `/api/chat`. Untagged: an error line has only `error`."""

    message: ChunkMessage | None = None
    done: bool = False
    done_reason: str = ""
    error: Any = UNSET
    logprobs: list[Logprob] = []
    total_duration: int = 0
    prompt_eval_count: int = 0
    eval_count: int = 0
    eval_duration: int = 0


class TagDetails(Struct):
    family: str = ""
    parameter_size: str = ""
    quantization_level: str = ""


class TagModel(Struct):
    name: str
    size: int = 0
    modified_at: str = ""
    details: TagDetails = msgspec.field(default_factory=TagDetails)
    capabilities: list[str] = []  # since v0.30.0


class ShowResponse(Struct):
    details: TagDetails = msgspec.field(default_factory=TagDetails)
    model_info: dict[str, Any] | None = None
    capabilities: list[str] = []
    modified_at: str = ""


class PsModel(Struct):
    name: str
    size: int = 0
    size_vram: int = 0
    expires_at: str = ""
    context_length: int | None = None  # since v0.10.0


class PsResponse(Struct):
    models: list[PsModel] = []


class LoadAnswer(Struct):
    done_reason: str = ""


class PullLine(Struct):
    """One NDJSON line of `/api/pull` (0 is left out, so every number defaults to it)."""

    status: str = ""
    digest: str = ""
    total: int = 0
    completed: int = 0
    error: Any = UNSET


class TagsResponse(Struct):
    models: list[TagModel] = []


class VersionResponse(Struct):
    version: str = ""


chunk_decoder: Final = msgspec.json.Decoder(ChatChunk)
tags_decoder: Final = msgspec.json.Decoder(TagsResponse)
version_decoder: Final = msgspec.json.Decoder(VersionResponse)
show_decoder: Final = msgspec.json.Decoder(ShowResponse)
ps_decoder: Final = msgspec.json.Decoder(PsResponse)
load_decoder: Final = msgspec.json.Decoder(LoadAnswer)
pull_line_decoder: Final = msgspec.json.Decoder(PullLine)


def trained_context(model_info: dict[str, Any] | None) -> int | None:
    """`<general.architecture>.context_length` of `/api/show`'s `model_info`, else None."""
    if not model_info:
        return None
    arch = model_info.get("general.architecture")
    value = model_info.get(f"{arch}.context_length") if isinstance(arch, str) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def full_name(name: str) -> str:
    """`name` as Ollama lists it (`/api/ps`, `/api/tags`): a bare name gets `:latest`."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
