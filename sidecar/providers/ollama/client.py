"""The client for Ollama's own API: `/api/chat` streaming, `/api/tags`, `/api/version`.

The connection handling, timeouts and cancel-by-closing are shared with the OpenAI-compatible
client (`..http.HttpProvider`); this module holds what is Ollama's: the paths, the body
(`wire.chat_body`), the NDJSON turn (`turn.OllamaTurn`), the model list, and how its error
statuses read (`errors.status_error`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import msgspec
import trio

from ...errors import RpcError
from ...protocol import ModelInfo, RequestId
from ..base import ChatRequest
from ..http import PROBE_TIMEOUT_S, ChatBody, HttpProvider
from .errors import OLLAMA, status_error
from .turn import OllamaTurn
from .wire import chat_body, tags_decoder, version_decoder

MESSAGES_PER_PIECE: Final = 200  # a long conversation's body is encoded this many at a time
_EMPTY: Final = b'"messages":[]'


async def chat_body_in_pieces(request: ChatRequest) -> bytes:
    """`wire.chat_body(request)`, byte for byte, with the loop let run between pieces of a long
    conversation (megabytes of messages would hold it for the whole encode). Messages are
    written as they are, one after the other, so the body is the body without messages with the
    pieces' arrays put in; a piece that does not fit that shape makes it encode at once."""
    messages = request.messages
    if len(messages) <= MESSAGES_PER_PIECE:
        return chat_body(request)
    shell = chat_body(msgspec.structs.replace(request, messages=[]))
    at = shell.find(_EMPTY)  # the first: the model before it is a string, quotes escaped
    prefix, suffix = shell[: at + len(_EMPTY) - 1], shell[at + len(_EMPTY) - 1 :]
    parts: list[bytes] = []
    for start in range(0, len(messages), MESSAGES_PER_PIECE):
        await trio.lowlevel.checkpoint()
        piece = chat_body(
            msgspec.structs.replace(request, messages=messages[start : start + MESSAGES_PER_PIECE])
        )
        if at < 0 or not (piece.startswith(prefix) and piece.endswith(suffix)):
            return chat_body(request)
        parts.append(piece[len(prefix) : len(piece) - len(suffix)])
    return prefix + b",".join(parts) + suffix


class OllamaClient(HttpProvider):
    """The way to one Ollama server, shared by every chat."""

    provider = "ollama"
    errors = OLLAMA

    @asynccontextmanager
    async def chat_stream(self, request: ChatRequest) -> AsyncIterator[ChatBody]:
        """Opens `POST /api/chat` and yields its body once the status says it streams.

        Raises `RpcError`: ollama_unreachable, model_not_found, upstream_error (HTTP status),
        stream_interrupted (dropped before the head, or the head later than the idle timeout).
        Cancellation: leaving the block for any reason closes the connection.
        """
        body = await chat_body_in_pieces(request)
        async with self._stream("/api/chat", "application/x-ndjson", body, request.model) as chat:
            yield chat

    def new_turn(self, chat_id: RequestId | None, started_at: float) -> OllamaTurn:
        return OllamaTurn(chat_id, started_at)

    async def list_models(self) -> list[ModelInfo]:
        """`/api/tags` as `ModelInfo`s. Raises `RpcError` like `chat_stream`."""
        reply = await self._request("GET", "/api/tags")
        try:
            tags = tags_decoder.decode(reply.body)
        except msgspec.DecodeError as exc:
            raise OLLAMA.upstream_error(
                reply.status, f"unexpected /api/tags body ({exc})"
            ) from None
        return [
            ModelInfo(
                name=m.name,
                size=m.size,
                modified_at=m.modified_at,
                family=m.details.family,
                parameter_size=m.details.parameter_size,
                quantization=m.details.quantization_level,
            )
            for m in tags.models
        ]

    async def probe(self) -> str | None:
        """Ollama's version string; raises `RpcError` when it does not answer in time."""
        reply = await self._request("GET", "/api/version", timeout_s=PROBE_TIMEOUT_S)
        try:
            return version_decoder.decode(reply.body).version
        except msgspec.DecodeError:
            raise OLLAMA.upstream_error(
                reply.status, "the server at this address does not look like Ollama"
            ) from None

    def status_error(self, status: int, body: bytes, *, model: str | None) -> RpcError:
        return status_error(status, body, model=model, hint=self.key_hint(status))
