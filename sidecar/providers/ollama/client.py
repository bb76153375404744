"""The client for Ollama's own API: `/api/chat` streaming, `/api/tags`, `/api/version`, and the
model lifecycle: `/api/show`, `/api/ps`, `/api/pull` (streamed like a chat, so leaving it closes
the connection and Ollama stops downloading), `/api/delete`, load and unload (`/api/chat` with no
messages). Every short request goes through the one seam `HttpProvider._request`.

The connection handling, timeouts and cancel-by-closing are shared with the OpenAI-compatible
client (`..http.HttpProvider`); this module holds what is Ollama's: the paths, the body
(`wire.chat_body`, encoded in pieces by `..pieces.body_in_pieces`), the NDJSON turn (`turn.OllamaTurn`), the model list, and how its error
statuses read (`errors.status_error`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from ...errors import RpcError
from ...protocol import ModelInfo, RequestId
from ...protocol_models import RunningModel, RunningModelsResult, ShowModelResult
from ..base import ChatRequest
from ..http import PROBE_TIMEOUT_S, REQUEST_TIMEOUT_S, ChatBody, HttpProvider
from ..pieces import body_in_pieces
from .errors import OLLAMA, status_error
from .pull import PullState
from .turn import OllamaTurn
from .wire import (
    chat_body,
    full_name,
    load_body,
    load_decoder,
    model_body,
    ps_decoder,
    show_decoder,
    tags_decoder,
    trained_context,
    version_decoder,
)

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
        body = await body_in_pieces(request, chat_body)
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
                capabilities=m.capabilities,
            )
            for m in tags.models
        ]

    # --- the model lifecycle ------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, body: bytes | None, *, model: str | None,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> bytes:
        """One short request through the shared seam (`HttpProvider._request`); an error
        status raises `RpcError` (`status_error`, naming `model`)."""
        return (await self._request(method, path, body, timeout_s, model=model)).body

    def _decode(self, decoder: msgspec.json.Decoder[Any], content: bytes, path: str) -> Any:
        try:
            return decoder.decode(content)
        except msgspec.DecodeError as exc:
            raise OLLAMA.upstream_error(200, f"unexpected {path} body ({exc})") from None

    async def show_model(self, model: str) -> ShowModelResult:
        content = await self._call("POST", "/api/show", model_body(model), model=model)
        shown = self._decode(show_decoder, content, "/api/show")
        return ShowModelResult(
            name=model,
            capabilities=shown.capabilities,
            context_length=trained_context(shown.model_info),
            family=shown.details.family,
            parameter_size=shown.details.parameter_size,
            quantization=shown.details.quantization_level,
            modified_at=shown.modified_at,
        )

    async def running_models(self) -> RunningModelsResult:
        return RunningModelsResult(
            models=[
                RunningModel(
                    name=m.name,
                    size=m.size,
                    size_vram=m.size_vram,
                    expires_at=m.expires_at,
                    context_length=m.context_length,
                )
                for m in await self._ps(REQUEST_TIMEOUT_S)
            ]
        )

    async def _ps(self, timeout_s: float) -> list[Any]:
        content = await self._call("GET", "/api/ps", None, model=None, timeout_s=timeout_s)
        return self._decode(ps_decoder, content, "/api/ps").models  # type: ignore[no-any-return]

    async def context_length(self, model: str) -> int | None:
        """What `/api/ps` says `model` was loaded with; None when it is not listed or the
        question fails (the chat's usage just says it does not know)."""
        try:
            running = await self._ps(PROBE_TIMEOUT_S)
        except RpcError:
            return None
        wanted = full_name(model)
        return next((m.context_length for m in running if m.name == wanted), None)

    @asynccontextmanager
    async def pull_stream(self, model: str, insecure: bool | None) -> AsyncIterator[ChatBody]:
        """Opens `POST /api/pull`; yields its NDJSON body (see `pull.PullState`). Raises and
        cancels like `chat_stream`: leaving the block closes the connection, and Ollama stops
        the download (its partial blobs stay; a later pull resumes them)."""
        body = model_body(model, insecure)
        async with self._stream("/api/pull", "application/x-ndjson", [body], model) as pulled:
            yield pulled

    def new_pull(self, request_id: RequestId | None, model: str) -> PullState:
        return PullState(request_id, model)

    async def delete_model(self, model: str) -> None:
        await self._call("DELETE", "/api/delete", model_body(model), model=model)

    async def load_model(self, model: str, keep_alive: int | float | str | None) -> None:
        # Ollama answers once the model is in memory, which may take a while: the idle timeout
        # (the wait for a chat's first byte) bounds it, not the short requests' one.
        await self._load(model, keep_alive, "load")

    async def unload_model(self, model: str) -> None:
        await self._load(model, 0, "unload")

    async def _load(self, model: str, keep_alive: int | float | str | None, want: str) -> None:
        timeout_s = max(self._idle_timeout_s, REQUEST_TIMEOUT_S)
        content = await self._call(
            "POST", "/api/chat", load_body(model, keep_alive), model=model, timeout_s=timeout_s
        )
        answer = self._decode(load_decoder, content, "/api/chat")
        if answer.done_reason != want:
            raise OLLAMA.upstream_error(
                200, f"asked to {want} {model!r}, Ollama answered done_reason "
                f"{answer.done_reason!r}"
            )

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
