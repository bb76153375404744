"""The HTTP machinery every dialect shares: one connection per chat, timeouts, the cancel.

`HttpProvider` is the base of both clients (`ollama.client.OllamaClient`,
`openai.client.OpenAIClient`); a subclass names its `provider`, its `errors` (how its failures
read, a `server_errors.ServerErrors`) and provides the paths, the body and `status_error`.

The chat stream runs on its own connection through `http1` (a plain trio stream, TLS for
https), because httpx hands a chunked body back one HTTP chunk at a time and servers send one
chunk per token: here each network read is decoded whole, so the chat loop handles a read's worth
of tokens at once (docs/benchmarks.md has the numbers). The short requests (models, version) use
httpx, where per-chunk cost does not matter.

Timeouts follow the way model servers behave: a short connect timeout (a dead address should
fail at once), no total read timeout (a reply may stream for minutes), and an idle timeout per
network read that also covers the wait for the response head, which comes only after the model
has loaded, possibly tens of seconds later. Each is a trio scope at the call site, so tests can
drive them with a fake clock.

Leaving `_stream` for any reason, cancellation included, closes the connection, and closing
it is how the server is told to stop generating: neither API has a cancel endpoint. Every
transport and HTTP-status failure is translated to an `RpcError` here, where modules meet; the
API key is sent as `Authorization: Bearer`; `redact` scrubs it from error text a server echoes
(the dispatcher applies it where answers are made).
"""

from __future__ import annotations

import functools
import logging
import ssl
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import ClassVar, Final

import httpx
import trio

from ..config import Config
from ..errors import RpcError, not_supported
from ..protocol_models import RunningModelsResult, ShowModelResult
from .http1 import BodyDecoder, HeadParser, ProtocolError, ResponseHead, encode_request
from .server_errors import ServerErrors

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S: Final = 30.0  # whole short requests (list_models)
PROBE_TIMEOUT_S: Final = 3.0  # status's reachability check
ERROR_BODY_LIMIT: Final = 64 * 1024
CLOSE_TIMEOUT_S: Final = 2.0
READ_SIZE: Final = 256 * 1024
REDACTED: Final = "[redacted]"

# Opens a byte stream to (host, port), with TLS when asked; tests pass an in-memory one.
Connector = Callable[[str, int, bool], Awaitable[trio.abc.Stream]]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context of both paths (chat streams, and httpx for the short requests), so
    both trust the same certificates: the system's store, or SSL_CERT_FILE / SSL_CERT_DIR."""
    return ssl.create_default_context()


async def open_connection(host: str, port: int, tls: bool) -> trio.abc.Stream:
    stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
    if tls:
        ssl_stream = trio.SSLStream(
            stream, tls_context(), server_hostname=host, https_compatible=True
        )
        await ssl_stream.do_handshake()
        stream = ssl_stream
    return stream


class ChatBody:
    """The body of a streamed chat response, one decoded network read at a time."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        decoder: BodyDecoder,
        early: bytes,
        idle_timeout_s: float,
        errors: ServerErrors,
    ) -> None:
        self._stream = stream
        self._decoder = decoder
        self._early = early  # body bytes that arrived with the response head
        self._idle_timeout_s = idle_timeout_s
        self._errors = errors  # how error messages name the server
        self._name = errors.short  # ... and how their details do

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
            if self._decoder.error is not None:
                self._feed(b"")  # raises the framing error held back after the last good bytes
            with trio.move_on_after(self._idle_timeout_s) as idle:
                try:
                    data = await self._stream.receive_some(READ_SIZE)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                    raise self._errors.stream_interrupted(
                        f"the connection to {self._name} dropped ({describe(exc)})"
                    ) from None
            if idle.cancelled_caught:
                raise self._errors.stream_interrupted(
                    f"no data from {self._name} for {self._idle_timeout_s:g} s (--idle-timeout)"
                )
            if not data:
                try:
                    self._decoder.eof()
                except ProtocolError as exc:
                    raise self._errors.stream_interrupted(
                        f"the connection to {self._name} dropped ({exc})"
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
        except RpcError:
            pass  # the status already says what went wrong
        return bytes(body[:limit])

    def _feed(self, data: bytes) -> bytes:
        try:
            return self._decoder.feed(data)
        except ProtocolError as exc:
            raise self._errors.stream_interrupted(
                f"broken HTTP framing from {self._name} ({exc})"
            ) from None


class HttpProvider:
    """The HTTP side shared by both clients: one connection per chat, httpx for the rest.

    A subclass sets `provider` and `errors` (how messages name it) and provides
    `status_error`, the translation of an HTTP error status and body.
    """

    provider: ClassVar[str]
    errors: ClassVar[ServerErrors]

    def __init__(
        self,
        config: Config,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        connector: Connector = open_connection,
    ) -> None:
        self.url = config.base_url
        self._idle_timeout_s = config.idle_timeout_s
        self._connect_timeout_s = config.connect_timeout_s
        self._connector = connector
        split = urllib.parse.urlsplit(self.url)
        self._tls = split.scheme == "https"
        self._host = split.hostname or "127.0.0.1"
        self._port = split.port or (443 if self._tls else 80)
        self._host_header = split.netloc
        self._base_path = split.path.rstrip("/")
        self._key = config.api_key
        self._key_env = config.api_key_env
        headers = {"User-Agent": "ollama-sidecar"}
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        self._headers = headers
        self._transport = transport
        self._http_client: httpx.AsyncClient | None = None

    def status_error(self, status: int, body: bytes, *, model: str | None) -> RpcError:
        raise NotImplementedError

    # --- the model lifecycle: Ollama's own API (ollama/client.py); others cannot ------------

    def _unsupported(self, method: str) -> RpcError:
        return not_supported(self.provider, method)

    async def show_model(self, model: str) -> ShowModelResult:
        raise self._unsupported("show_model")

    async def running_models(self) -> RunningModelsResult:
        raise self._unsupported("running_models")

    def pull_stream(
        self, model: str, insecure: bool | None
    ) -> AbstractAsyncContextManager[ChatBody]:
        raise self._unsupported("pull_model")

    async def delete_model(self, model: str) -> None:
        raise self._unsupported("delete_model")

    async def load_model(self, model: str, keep_alive: int | float | str | None) -> None:
        raise self._unsupported("load_model")

    async def unload_model(self, model: str) -> None:
        raise self._unsupported("unload_model")

    async def context_length(self, model: str) -> int | None:
        """The context window the server runs `model` with, None when it cannot say."""
        return None

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
                # A desktop's HTTP(S)_PROXY must not capture a local server (Go's client skips
                # the proxy for loopback; httpx does not), so the environment is not consulted.
                trust_env=False,
                verify=tls_context() if self._tls else True,
            )
        return self._http_client

    async def aclose(self) -> None:
        if self._http_client is not None:
            await self._http_client.aclose()

    @asynccontextmanager
    async def _stream(
        self, path: str, accept: str, body: bytes, model: str
    ) -> AsyncIterator[ChatBody]:
        """POSTs `body` to the base URL's path + `path`; yields the body once the status is OK.

        Raises `RpcError`: ollama_unreachable, model_not_found / upstream_error (by
        `status_error`), stream_interrupted (dropped before the head, or the head later than the
        idle timeout). Cancellation: leaving the block for any reason closes the connection.
        """
        payload = encode_request(
            "POST",
            self._base_path + path,
            self._host_header,
            {
                **self._headers,
                "Content-Type": "application/json",
                "Accept": accept,
                "Connection": "close",  # one connection per chat: closing it is the cancel
            },
            body,
        )
        stream = await self._connect()
        try:
            with trio.move_on_after(self._idle_timeout_s) as waiting:
                head, early = await _exchange(stream, payload, self.errors)
            if waiting.cancelled_caught:
                raise self.errors.stream_interrupted(
                    f"{self.errors.short} sent no response within {self._idle_timeout_s:g} s "
                    "(--idle-timeout)"
                )
            try:
                decoder = head.body_decoder("POST")
            except ProtocolError as exc:
                raise self.errors.stream_interrupted(
                    f"broken HTTP framing from {self.errors.short} ({exc})"
                ) from None
            chat_body = ChatBody(stream, decoder, early, self._idle_timeout_s, self.errors)
            if head.status >= 400:
                content = await chat_body.read_limited(ERROR_BODY_LIMIT)
                raise self.status_error(head.status, content, model=model)
            yield chat_body
        finally:
            # Closing must happen even when the chat is being cancelled: it is the cancel.
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT_S):
                await stream.aclose()

    async def _connect(self) -> trio.abc.Stream:
        with trio.move_on_after(self._connect_timeout_s) as connecting:
            try:
                return await self._connector(self._host, self._port, self._tls)
            except (OSError, trio.BrokenResourceError) as exc:
                raise self.unreachable(describe(exc)) from None
        assert connecting.cancelled_caught
        raise self.unreachable(
            f"no connection within {self._connect_timeout_s:g} s (--connect-timeout)"
        )

    async def _get(self, path: str, timeout_s: float) -> httpx.Response:
        """GET base URL + `path` within `timeout_s`; an error status raises `RpcError`."""
        with trio.move_on_after(timeout_s) as waited:
            response = await self._send(self._http.build_request("GET", path))
        if waited.cancelled_caught:
            raise self.unreachable(f"no answer to {path} within {timeout_s:g} s")
        if response.status_code >= 400:
            raise self.status_error(response.status_code, response.content, model=None)
        return response

    async def _request(
        self, method: str, path: str, body: bytes | None, timeout_s: float
    ) -> tuple[int, bytes]:
        """One short request (the seam of every non-streamed call): `(status, body)`.

        Raises `RpcError`: ollama_unreachable (no connection, or no answer within
        `timeout_s`), stream_interrupted (the connection dropped). Cancellation: safe.
        """
        headers = {"Content-Type": "application/json"} if body is not None else None
        request = self._http.build_request(method, path, content=body, headers=headers)
        with trio.move_on_after(timeout_s) as waited:
            response = await self._send(request)
        if waited.cancelled_caught:
            raise self.unreachable(f"no answer to {path} within {timeout_s:g} s")
        return response.status_code, response.content

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._http.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
            raise self.unreachable(describe(exc)) from None
        except httpx.TransportError as exc:
            raise self.errors.stream_interrupted(
                f"{self.errors.short} closed the connection before answering ({describe(exc)})"
            ) from None

    def unreachable(self, detail: str) -> RpcError:
        return self.errors.unreachable(self.url, detail)

    def redact(self, text: str) -> str:
        """`text` without the API key (a server may echo what it was sent). The dispatcher
        applies it to every error text it writes (server.py), so error builders need not."""
        if self._key and self._key in text:
            text = text.replace(self._key, REDACTED)
        return text

    def key_hint(self, status: int) -> str | None:
        """What to do about a 401/403: names the variable the key comes from, never the key."""
        if status not in (401, 403):
            return None
        if self._key:
            return (
                f"The server refused the API key from {self._key_env}: check it, or name the "
                "variable that holds the right one with --api-key-env."
            )
        return (
            f"The server wants an API key, and {self._key_env} is not set: set it, or name the "
            "variable that holds the key with --api-key-env."
        )


async def _exchange(
    stream: trio.abc.Stream, payload: bytes, errors: ServerErrors
) -> tuple[ResponseHead, bytes]:
    """Sends the request and reads the response head; returns it and any body bytes after it."""
    name = errors.short
    try:
        await stream.send_all(payload)
        parser = HeadParser()
        while True:
            data = await stream.receive_some(READ_SIZE)
            if not data:
                raise errors.stream_interrupted(f"{name} closed the connection before answering")
            head, early = parser.feed(data)
            if head is not None:
                return head, early
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
        raise errors.stream_interrupted(
            f"{name} closed the connection before answering ({describe(exc)})"
        ) from None
    except ProtocolError as exc:
        raise errors.stream_interrupted(f"{name}'s answer is not HTTP/1.1 ({exc})") from None


def describe(exc: BaseException) -> str:
    # httpx's ConnectError can be empty, wrapping empty ones: what went wrong (a certificate
    # refused) is the first exception down the chain that says something.
    cause: BaseException | None = exc
    while cause is not None and not str(cause).strip():
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return type(exc).__name__
    return f"{type(cause).__name__}: {str(cause).strip()}"
