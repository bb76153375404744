"""The client for Ollama: `/api/chat` streaming, `/api/tags`, `/api/version`.

The chat stream runs on its own connection through `http1` (a plain trio stream, TLS for
https), because httpx hands a chunked body back one HTTP chunk at a time and Ollama sends one
chunk per token: here each network read is decoded whole, so the chat loop handles a read's worth
of tokens at once (docs/benchmarks.md has the numbers). The short requests (`/api/tags`,
`/api/version`) use httpx, where per-chunk cost does not matter.

Timeouts follow the way Ollama behaves: a short connect timeout (a dead address should fail at
once), no total read timeout (a reply may stream for minutes), and an idle timeout per network
read that also covers the wait for the response head, because Ollama only sends it after the
model has loaded, which can take tens of seconds. Each is a trio scope at the call site, so tests
can drive them with a fake clock.

The body is handed out as decoded network reads; line splitting happens in
`framing.LineSplitter` (only on `\n`: never `str.splitlines`, which also splits on U+0085).
Leaving `chat_stream` for any reason, cancellation included, closes the connection, and closing
it is how Ollama is told to stop generating: it has no cancel endpoint.

Every transport and HTTP-status failure is translated to an `RpcError` here, where modules meet.
"""

from __future__ import annotations

import logging
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final

import httpx
import msgspec
import trio

from . import errors
from .config import Config
from .http1 import BodyDecoder, HeadParser, ProtocolError, ResponseHead, encode_request
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
READ_SIZE: Final = 256 * 1024

# Opens a byte stream to (host, port), with TLS when asked; tests pass an in-memory one.
Connector = Callable[[str, int, bool], Awaitable[trio.abc.Stream]]


async def open_connection(host: str, port: int, tls: bool) -> trio.abc.Stream:
    stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
    if tls:
        ssl_stream = trio.SSLStream(
            stream, ssl.create_default_context(), server_hostname=host, https_compatible=True
        )
        await ssl_stream.do_handshake()
        stream = ssl_stream
    return stream


class ChatBody:
    """The body of a streaming `/api/chat` response, one decoded network read at a time."""

    def __init__(
        self, stream: trio.abc.Stream, decoder: BodyDecoder, early: bytes, idle_timeout_s: float
    ) -> None:
        self._stream = stream
        self._decoder = decoder
        self._early = early  # body bytes that arrived with the response head
        self._idle_timeout_s = idle_timeout_s

    async def read(self) -> bytes:
        """The body bytes of the next network read, or `b""` at the end of the body.

        Raises `RpcError` (stream_interrupted) when the connection drops, the framing is broken
        or no data comes within the idle timeout. Cancellation: safe; nothing is lost that the
        caller was given.
        """
        if self._early:
            data, self._early = self._early, b""
            if body := self._feed(data):
                return body
        while not self._decoder.done:
            with trio.move_on_after(self._idle_timeout_s) as idle:
                try:
                    data = await self._stream.receive_some(READ_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                    raise errors.stream_interrupted(
                        f"the connection to Ollama dropped ({_describe(exc)})"
                    ) from None
            if idle.cancelled_caught:
                raise errors.stream_interrupted(
                    f"no data from Ollama for {self._idle_timeout_s:g} s (--idle-timeout)"
                )
            if not data:
                try:
                    self._decoder.eof()
                except ProtocolError as exc:
                    raise errors.stream_interrupted(
                        f"the connection to Ollama dropped ({exc})"
                    ) from None
                return b""
            if body := self._feed(data):
                return body
        return b""

    async def read_limited(self, limit: int) -> bytes:
        """Up to `limit` bytes of the body (for error bodies); transport failures end it."""
        body = bytearray()
        try:
            while len(body) < limit and (data := await self.read()):
                body += data
        except errors.RpcError:
            pass  # the status already says what went wrong
        return bytes(body[:limit])

    def _feed(self, data: bytes) -> bytes:
        try:
            return self._decoder.feed(data)
        except ProtocolError as exc:
            raise errors.stream_interrupted(f"broken HTTP framing from Ollama ({exc})") from None


class OllamaClient:
    """The way to one Ollama server, shared by every chat."""

    def __init__(
        self,
        config: Config,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        connector: Connector = open_connection,
    ) -> None:
        self.url = config.ollama_url
        self._idle_timeout_s = config.idle_timeout_s
        self._connect_timeout_s = config.connect_timeout_s
        self._connector = connector
        split = urllib.parse.urlsplit(self.url)
        self._tls = split.scheme == "https"
        self._host = split.hostname or "127.0.0.1"
        self._port = split.port or (443 if self._tls else 80)
        self._host_header = split.netloc
        self._chat_target = split.path.rstrip("/") + "/api/chat"
        headers = {"User-Agent": "ollama-sidecar"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self._headers = headers
        self._transport = transport
        self._http_client: httpx.AsyncClient | None = None

    @property
    def _http(self) -> httpx.AsyncClient:
        # Made on first use: chats never need it, and it costs an SSL context at creation.
        if self._http_client is None:
            self._http_client = httpx.AsyncClient(
                base_url=self.url,
                headers=self._headers,
                transport=self._transport,
                timeout=httpx.Timeout(
                    connect=self._connect_timeout_s, read=None, write=None, pool=None
                ),
                # A desktop's HTTP(S)_PROXY must not capture a local Ollama (Go's client skips
                # the proxy for loopback; httpx does not), so the environment is not consulted.
                trust_env=False,
            )
        return self._http_client

    async def aclose(self) -> None:
        if self._http_client is not None:
            await self._http_client.aclose()

    @asynccontextmanager
    async def chat_stream(self, request: OllamaChatRequest) -> AsyncIterator[ChatBody]:
        """Opens `POST /api/chat` and yields its body once the status says it streams.

        Raises `RpcError`: ollama_unreachable, model_not_found, upstream_error (HTTP status),
        stream_interrupted (dropped before the head, or the head later than the idle timeout).
        Cancellation: leaving the block for any reason closes the connection.
        """
        payload = encode_request(
            "POST",
            self._chat_target,
            self._host_header,
            {
                **self._headers,
                "Content-Type": "application/json",
                "Accept": "application/x-ndjson",
                "Connection": "close",  # one connection per chat: closing it is the cancel
            },
            body_encoder.encode(request),
        )
        stream = await self._connect()
        try:
            with trio.move_on_after(self._idle_timeout_s) as waiting:
                head, early = await _exchange(stream, payload)
            if waiting.cancelled_caught:
                raise errors.stream_interrupted(
                    f"Ollama sent no response within {self._idle_timeout_s:g} s (--idle-timeout)"
                )
            try:
                decoder = head.body_decoder("POST")
            except ProtocolError as exc:
                raise errors.stream_interrupted(f"broken HTTP framing from Ollama ({exc})") from None
            body = ChatBody(stream, decoder, early, self._idle_timeout_s)
            if head.status >= 400:
                content = await body.read_limited(ERROR_BODY_LIMIT)
                raise _status_error(head.status, content, model=request.model)
            yield body
        finally:
            # Closing must happen even when the chat is being cancelled: it is the cancel.
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT_S):
                await stream.aclose()

    async def _connect(self) -> trio.abc.Stream:
        with trio.move_on_after(self._connect_timeout_s) as connecting:
            try:
                return await self._connector(self._host, self._port, self._tls)
            except (OSError, trio.BrokenResourceError) as exc:
                raise errors.ollama_unreachable(self.url, _describe(exc)) from None
        assert connecting.cancelled_caught
        raise errors.ollama_unreachable(
            self.url, f"no connection within {self._connect_timeout_s:g} s (--connect-timeout)"
        )

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

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._http.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
            raise errors.ollama_unreachable(self.url, _describe(exc)) from None
        except httpx.TransportError as exc:
            raise errors.stream_interrupted(
                f"Ollama closed the connection before answering ({_describe(exc)})"
            ) from None


async def _exchange(stream: trio.abc.Stream, payload: bytes) -> tuple[ResponseHead, bytes]:
    """Sends the request and reads the response head; returns it and any body bytes after it."""
    try:
        await stream.send_all(payload)
        parser = HeadParser()
        while True:
            data = await stream.receive_some(READ_SIZE)
            if not data:
                raise errors.stream_interrupted("Ollama closed the connection before answering")
            head, early = parser.feed(data)
            if head is not None:
                return head, early
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
        raise errors.stream_interrupted(
            f"Ollama closed the connection before answering ({_describe(exc)})"
        ) from None
    except ProtocolError as exc:
        raise errors.stream_interrupted(f"Ollama's answer is not HTTP/1.1 ({exc})") from None


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
