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

from ...protocol import Message, ToolCall
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


_encoder: Final = msgspec.json.Encoder()


def chat_body(request: ChatRequest) -> bytes:
    """The JSON body of `POST /api/chat` for one streamed turn."""
    return _encoder.encode(
        OllamaChatRequest(
            model=request.model,
            messages=request.messages,
            stream=True,
            options=request.options,
            think=request.think,
            format=request.format,
            keep_alive=request.keep_alive,
            tools=request.tools,
        )
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


class TagsResponse(Struct):
    models: list[TagModel] = []


class VersionResponse(Struct):
    version: str = ""


chunk_decoder: Final = msgspec.json.Decoder(ChatChunk)
tags_decoder: Final = msgspec.json.Decoder(TagsResponse)
version_decoder: Final = msgspec.json.Decoder(VersionResponse)
