"""The client for OpenAI-compatible servers: `/chat/completions` streaming and `/models`.

llama.cpp's llama-server, LM Studio, vLLM, Ollama's own `/v1` and hosted APIs all serve these
two paths under one base URL (config.parse_base_url: `http://host:port` means `.../v1`).
Connections, timeouts and the cancel are `upstream.HttpUpstream`'s, as for Ollama; this module
holds the OpenAI dialect: the body (`openai_wire.chat_body`), the SSE turn
(`openai_turn.OpenAITurn`), the model list, and how error bodies read. There is no version
endpoint in the API, so `probe` asks for `/models` and reports no version.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import msgspec

from . import errors
from .ollama import error_detail
from .openai_turn import OpenAITurn
from .openai_wire import chat_body, models_decoder
from .protocol import ModelInfo, OllamaChatRequest, RequestId, error_body_decoder
from .upstream import PROBE_TIMEOUT_S, REQUEST_TIMEOUT_S, ChatBody, HttpUpstream

# What servers put in a 404 when the model (not the path) is missing: Ollama's /v1 says
# "model 'x' not found", OpenAI "The model `x` does not exist" (code model_not_found), vLLM
# "The model `x` does not exist.". The error type alone says nothing: llama-server answers a
# wrong path with type not_found_error too ("File Not Found").
_MODEL_MISSING_CODE: Final = "model_not_found"
_MODEL_MISSING_WORDS: Final = ("not found", "does not exist", "no such model", "unknown model")


class OpenAIClient(HttpUpstream):
    """The way to one OpenAI-compatible server, shared by every chat."""

    provider = "openai"
    server = errors.OPENAI_COMPATIBLE

    @asynccontextmanager
    async def chat_stream(self, request: OllamaChatRequest) -> AsyncIterator[ChatBody]:
        """Opens `POST <base>/chat/completions` (streamed, with usage) and yields its body.

        Raises `RpcError` as `OllamaClient.chat_stream` does. Cancellation: leaving the block
        for any reason closes the connection, which is how the server learns to stop.
        """
        body = chat_body(request)
        async with self._stream("/chat/completions", "text/event-stream", body, request.model) as chat:
            yield chat

    def new_turn(self, chat_id: RequestId, started_at: float) -> OpenAITurn:
        return OpenAITurn(chat_id, started_at)

    async def list_models(self) -> list[ModelInfo]:
        """`GET <base>/models`: each `data[].id` as a model; sizes and details are unknown."""
        response = await self._get("/models", REQUEST_TIMEOUT_S)
        try:
            models = models_decoder.decode(response.content)
        except msgspec.DecodeError as exc:
            raise errors.upstream_error(
                response.status_code, f"unexpected /models body ({exc})", self.server
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
        response = await self._get("/models", PROBE_TIMEOUT_S)
        try:
            models_decoder.decode(response.content)
        except msgspec.DecodeError:
            raise errors.upstream_error(
                response.status_code,
                f"{self.url}/models is not an OpenAI-compatible model list",
                self.server,
            ) from None

    def status_error(self, status: int, body: bytes, *, model: str | None) -> errors.RpcError:
        detail = error_detail(body)
        if status == 404 and model is not None and _says_model_missing(body, detail):
            return errors.model_not_found(model, detail, self.server)
        if not detail:
            detail = body.decode("utf-8", "replace").strip()[:500] or f"HTTP {status}"
        return errors.upstream_error(status, detail, self.server, hint=self.key_hint(status))


def _says_model_missing(body: bytes, detail: str) -> bool:
    """Whether an OpenAI-shaped 404 body is about the model (a wrong path is not)."""
    lowered = detail.lower()
    if "model" in lowered and any(words in lowered for words in _MODEL_MISSING_WORDS):
        return True
    try:
        error = error_body_decoder.decode(body).error
    except (msgspec.DecodeError, UnicodeDecodeError):
        return False
    if not isinstance(error, dict):
        return False
    return error.get("code") == _MODEL_MISSING_CODE


def _rfc3339(created: int | None) -> str:
    """`created` (Unix seconds) in the form of Ollama's `modified_at`; `""` when unknown."""
    if not created or created < 0:
        return ""
    try:
        moment = datetime.datetime.fromtimestamp(created, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
