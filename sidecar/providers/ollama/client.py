"""The client for Ollama's own API: `/api/chat` streaming, `/api/tags`, `/api/version`.

The connection handling, timeouts and cancel-by-closing are shared with the OpenAI-compatible
client (`upstream.HttpUpstream`); this module holds what is Ollama's: the paths, the body
(`OllamaChatRequest` as is, minus `tool_choice`, which Ollama does not know), the NDJSON turn
(`turn.ChatTurn`), and how its error bodies and model list read. The body is handed to the turn
as decoded network reads; line splitting happens there, only on `\n` (never
`str.splitlines`, which also splits on U+0085).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec

from . import errors
from .protocol import (
    ModelInfo,
    OllamaChatRequest,
    RequestId,
    body_encoder,
    error_body_decoder,
    tags_decoder,
    version_decoder,
)
from .turn import ChatTurn
from .upstream import PROBE_TIMEOUT_S, REQUEST_TIMEOUT_S, ChatBody, HttpUpstream


class OllamaClient(HttpUpstream):
    """The way to one Ollama server, shared by every chat."""

    provider = "ollama"
    server = errors.OLLAMA

    @asynccontextmanager
    async def chat_stream(self, request: OllamaChatRequest) -> AsyncIterator[ChatBody]:
        """Opens `POST /api/chat` and yields its body once the status says it streams.

        Raises `RpcError`: ollama_unreachable, model_not_found, upstream_error (HTTP status),
        stream_interrupted (dropped before the head, or the head later than the idle timeout).
        Cancellation: leaving the block for any reason closes the connection.
        """
        if request.tool_choice is not msgspec.UNSET:
            request = msgspec.structs.replace(request, tool_choice=msgspec.UNSET)
        body = body_encoder.encode(request)
        async with self._stream("/api/chat", "application/x-ndjson", body, request.model) as chat:
            yield chat

    def new_turn(self, chat_id: RequestId, started_at: float) -> ChatTurn:
        return ChatTurn(chat_id, started_at)

    async def list_models(self) -> list[ModelInfo]:
        """`/api/tags` as `ModelInfo`s. Raises `RpcError` like `chat_stream`."""
        response = await self._get("/api/tags", REQUEST_TIMEOUT_S)
        try:
            tags = tags_decoder.decode(response.content)
        except msgspec.DecodeError as exc:
            raise errors.upstream_error(
                response.status_code, f"unexpected /api/tags body ({exc})"
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
        response = await self._get("/api/version", PROBE_TIMEOUT_S)
        try:
            return version_decoder.decode(response.content).version
        except msgspec.DecodeError:
            raise errors.upstream_error(
                response.status_code, "the server at this address does not look like Ollama"
            ) from None

    def status_error(self, status: int, body: bytes, *, model: str | None) -> errors.RpcError:
        detail = error_detail(body)
        # Only Ollama's JSON error says a model is missing; gin's plain-text 404 means a wrong path.
        if status == 404 and model is not None and "not found" in detail:
            return errors.model_not_found(model, detail)
        if not detail:
            detail = body.decode("utf-8", "replace").strip()[:500] or f"HTTP {status}"
        return errors.upstream_error(status, detail, hint=self.key_hint(status))


def error_detail(body: bytes) -> str:
    """The message of `{"error": str}`, OpenAI's `{"error": {"message": str}}` or vLLM's
    `{"object": "error", "message": str}`, else `""`."""
    try:
        decoded = error_body_decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return ""
    error = decoded.error
    if isinstance(error, str):
        return error
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    if isinstance(decoded.message, str):
        return decoded.message
    return ""
