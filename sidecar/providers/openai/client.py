"""The client for OpenAI-compatible servers: `/chat/completions` streaming and `/models`.

llama.cpp's llama-server, LM Studio, vLLM, Ollama's own `/v1` and hosted APIs all serve these
two paths under one base URL (config.parse_base_url: `http://host:port` means `.../v1`).
Connections, timeouts and the cancel are `..http.HttpProvider`'s, as for Ollama; this module
holds the OpenAI dialect: the body (`wire.chat_body`), the SSE turn (`turn.OpenAITurn`), the
model list, and how error statuses read (`errors.status_error`). There is no version endpoint in
the API, so `probe` asks for `/models` and reports no version.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec

from ...errors import RpcError
from ...protocol import ModelInfo, RequestId
from ..base import ChatRequest
from ..http import PROBE_TIMEOUT_S, ChatBody, HttpProvider
from ..pieces import body_in_pieces
from ..unsupported import NoModelLifecycle
from .errors import OPENAI_COMPATIBLE, status_error
from .turn import OpenAITurn
from .wire import chat_body, models_decoder


class OpenAIClient(NoModelLifecycle, HttpProvider):
    """The way to one OpenAI-compatible server, shared by every chat."""

    provider = "openai"
    errors = OPENAI_COMPATIBLE

    @asynccontextmanager
    async def chat_stream(self, request: ChatRequest) -> AsyncIterator[ChatBody]:
        """Opens `POST <base>/chat/completions` (streamed, with usage) and yields its body.

        Raises `RpcError` as `OllamaClient.chat_stream` does. Cancellation: leaving the block
        for any reason closes the connection, which is how the server learns to stop.
        """
        body = await body_in_pieces(request, chat_body)
        async with self._stream("/chat/completions", "text/event-stream", body, request.model) as chat:
            yield chat

    def new_turn(self, chat_id: RequestId | None, started_at: float) -> OpenAITurn:
        return OpenAITurn(chat_id, started_at)

    async def list_models(self) -> list[ModelInfo]:
        """`GET <base>/models`: each `data[].id` as a model; sizes and details are unknown."""
        reply = await self._request("GET", "/models")
        try:
            models = models_decoder.decode(reply.body)
        except msgspec.DecodeError as exc:
            raise OPENAI_COMPATIBLE.upstream_error(
                reply.status, f"unexpected /models body ({exc})"
            ) from None
        return [
            ModelInfo(
                name=m.id,
                size=0,
                modified_at=_rfc3339(m.created),
                family="",
                parameter_size="",
                quantization="",
            )
            for m in models.data
        ]

    async def probe(self) -> None:
        """Raises `RpcError` unless `<base>/models` answers within the probe limit."""
        reply = await self._request("GET", "/models", timeout_s=PROBE_TIMEOUT_S)
        try:
            models_decoder.decode(reply.body)
        except msgspec.DecodeError:
            raise OPENAI_COMPATIBLE.upstream_error(
                reply.status, f"{self.url}/models is not an OpenAI-compatible model list"
            ) from None

    def status_error(self, status: int, body: bytes, *, model: str | None) -> RpcError:
        return status_error(status, body, model=model, hint=self.key_hint(status))


def _rfc3339(created: int | None) -> str:
    """`created` (Unix seconds) in the form of Ollama's `modified_at`; `""` when unknown."""
    if not created or created < 0:
        return ""
    try:
        moment = datetime.datetime.fromtimestamp(created, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
