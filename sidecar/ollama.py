"""The HTTP client for Ollama: `/api/chat` streaming, `/api/tags`, `/api/version`.

Timeouts follow the way Ollama behaves: a short connect timeout (a dead address should fail at
once), no total read timeout (a reply may stream for minutes), and an idle timeout per network
read that also covers the wait for the response headers, because Ollama only sends them after the
model has loaded, which can take tens of seconds. The idle timeout is a trio scope around each
read, not an httpx read timeout, so tests can drive it with a fake clock.

The body is handed out as raw network reads; line splitting happens in `framing.LineSplitter`
(never httpx's `aiter_lines()`, which also splits on U+0085). Cancelling the caller's scope
while a stream is open closes the response, and closing the response is how Ollama is told to
stop generating: it has no cancel endpoint.

Every httpx and HTTP-status failure is translated to an `RpcError` here, where the modules meet.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import httpx
import msgspec
import trio

from . import errors
from .config import Config
from .protocol import (
    ModelInfo,
    OllamaChatRequest,
    body_encoder,
    error_body_decoder,
    tags_decoder,
    version_decoder,
)

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S: Final = 30.0  # whole short requests (/api/tags)
PROBE_TIMEOUT_S: Final = 3.0  # status's reachability check
ERROR_BODY_LIMIT: Final = 64 * 1024
CLOSE_TIMEOUT_S: Final = 2.0


class ChatBody:
    """The body of a streaming `/api/chat` response, one network read at a time."""

    def __init__(self, response: httpx.Response, idle_timeout_s: float) -> None:
        self._reads = response.aiter_bytes()
        self._idle_timeout_s = idle_timeout_s

    async def aclose(self) -> None:
        await self._reads.aclose()

    async def read(self) -> bytes:
        """The next network read, or `b""` at the end of the body.

        Raises `RpcError` (stream_interrupted) when the connection drops or no data comes
        within the idle timeout. Cancellation: safe; the caller's scope closes the response.
        """
        with trio.move_on_after(self._idle_timeout_s) as idle:
            try:
                return await self._reads.__anext__()
            except StopAsyncIteration:
                return b""
            except httpx.TransportError as exc:
                raise errors.stream_interrupted(
                    f"the connection to Ollama dropped ({_describe(exc)})"
                ) from None
        assert idle.cancelled_caught
        raise errors.stream_interrupted(
            f"no data from Ollama for {self._idle_timeout_s:g} s (--idle-timeout)"
        )


class OllamaClient:
    """One connection pool to one Ollama server, shared by every chat."""

    def __init__(self, config: Config, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = config.ollama_url
        self._idle_timeout_s = config.idle_timeout_s
        headers = {"User-Agent": "ollama-sidecar"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(connect=config.connect_timeout_s, read=None, write=None, pool=None),
            # A desktop's HTTP(S)_PROXY must not capture a local Ollama (Go's client skips the
            # proxy for loopback; httpx does not), so the environment is not consulted.
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    @asynccontextmanager
    async def chat_stream(self, request: OllamaChatRequest) -> AsyncIterator[ChatBody]:
        """Opens `POST /api/chat` and yields its body once the status says it streams.

        Raises `RpcError`: ollama_unreachable, model_not_found, upstream_error (HTTP status),
        stream_interrupted (dropped before headers, or headers later than the idle timeout).
        Cancellation: leaving the block for any reason closes the response and its connection.
        """
        http_request = self._http.build_request(
            "POST",
            "/api/chat",
            content=body_encoder.encode(request),
            headers={"Content-Type": "application/json", "Accept": "application/x-ndjson"},
        )
        with trio.move_on_after(self._idle_timeout_s) as idle:
            response = await self._send(http_request, stream=True)
        if idle.cancelled_caught:
            raise errors.stream_interrupted(
                f"Ollama sent no response within {self._idle_timeout_s:g} s (--idle-timeout)"
            )
        body: ChatBody | None = None
        try:
            if response.status_code >= 400:
                content = await _read_limited(response)
                raise _status_error(response.status_code, content, model=request.model)
            body = ChatBody(response, self._idle_timeout_s)
            yield body
        finally:
            # Closing must happen even when the chat is being cancelled: it is the cancel.
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT_S):
                if body is not None:
                    await body.aclose()
                await response.aclose()

    async def list_models(self) -> list[ModelInfo]:
        """`/api/tags` as `ModelInfo`s. Raises `RpcError` like `chat_stream`."""
        with trio.move_on_after(REQUEST_TIMEOUT_S) as waited:
            response = await self._send(self._http.build_request("GET", "/api/tags"))
        if waited.cancelled_caught:
            raise errors.ollama_unreachable(
                self.url, f"no answer to /api/tags within {REQUEST_TIMEOUT_S:g} s"
            )
        if response.status_code >= 400:
            raise _status_error(response.status_code, response.content, model=None)
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

    async def version(self) -> str:
        """Ollama's version string; raises `RpcError` when it does not answer in time."""
        with trio.move_on_after(PROBE_TIMEOUT_S) as probe:
            response = await self._send(self._http.build_request("GET", "/api/version"))
        if probe.cancelled_caught:
            raise errors.ollama_unreachable(self.url, f"no answer within {PROBE_TIMEOUT_S:g} s")
        if response.status_code >= 400:
            raise _status_error(response.status_code, response.content, model=None)
        try:
            return version_decoder.decode(response.content).version
        except msgspec.DecodeError:
            raise errors.upstream_error(
                response.status_code, "the server at this address does not look like Ollama"
            ) from None

    async def _send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        try:
            return await self._http.send(request, stream=stream)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
            raise errors.ollama_unreachable(self.url, _describe(exc)) from None
        except httpx.TransportError as exc:
            raise errors.stream_interrupted(
                f"Ollama closed the connection before answering ({_describe(exc)})"
            ) from None


async def _read_limited(response: httpx.Response) -> bytes:
    body = bytearray()
    reads = response.aiter_bytes()
    try:
        async for data in reads:
            body += data
            if len(body) >= ERROR_BODY_LIMIT:
                break
    except httpx.TransportError:
        pass  # the status already says what went wrong
    finally:
        await reads.aclose()
    return bytes(body)


def _status_error(status: int, body: bytes, *, model: str | None) -> errors.RpcError:
    detail = ""
    try:
        error = error_body_decoder.decode(body).error
        if isinstance(error, str):
            detail = error
        elif isinstance(error, dict) and isinstance(error.get("message"), str):
            detail = error["message"]  # OpenAI-shaped errors
    except (msgspec.DecodeError, UnicodeDecodeError):
        pass
    # Only Ollama's JSON error says a model is missing; gin's plain-text 404 means a wrong path.
    if status == 404 and model is not None and "not found" in detail:
        return errors.model_not_found(model, detail)
    if not detail:
        detail = body.decode("utf-8", "replace").strip()[:500] or f"HTTP {status}"
    return errors.upstream_error(status, detail)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
