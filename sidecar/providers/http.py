"""The HTTP machinery every dialect shares: one connection per chat, timeouts, the cancel.

`HttpProvider` is the base of both clients (`ollama.client.OllamaClient`,
`openai.client.OpenAIClient`); a subclass names its `provider`, its `errors` (how its failures
read, a `server_errors.ServerErrors`) and provides the paths, the body and `status_error`.

Every request runs on a connection of its own through `http1` (a plain trio stream, TLS for
https with `tls_context`), with `Connection: close`. The chat stream (`_stream`) decodes each
network read whole (`body.ChatBody`), so the chat loop handles a read's worth of tokens at once
(a general client hands a chunked body back one HTTP chunk at a time, and servers send one chunk
per token: docs/benchmarks.md has the numbers). The short requests (models, version, and whatever a dialect
adds: show, ps, delete) go through `_request`, which reads the whole answer. No proxy is
consulted: a desktop's HTTP(S)_PROXY must not capture a local server.

Timeouts follow the way model servers behave: a short connect timeout (a dead address should
fail at once), no total read timeout (a reply may stream for minutes), and an idle timeout per
network read that also covers the wait for the response head, which comes only after the model
has loaded, possibly tens of seconds later. Each is a trio scope at the call site (the chat
body's reads on a plain socket: `body.IdleWatch`), so tests can drive them with a fake clock.

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
from contextlib import asynccontextmanager
from typing import ClassVar, Final, NamedTuple

import trio

from ..config import Config
from ..errors import RpcError
from .body import READ_SIZE, ChatBody, describe
from .http1 import HeadParser, ProtocolError, ResponseHead, encode_request
from .pieces import send_parts
from .server_errors import ServerErrors

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S: Final = 30.0  # whole short requests (list_models)
PROBE_TIMEOUT_S: Final = 3.0  # status's reachability check
ERROR_BODY_LIMIT: Final = 64 * 1024
ANSWER_LIMIT: Final = 64 * 1024 * 1024  # a short request's answer (a model list, a model's details)
CLOSE_TIMEOUT_S: Final = 2.0
REDACTED: Final = "[redacted]"

# Opens a byte stream to (host, port), with TLS when asked; tests pass an in-memory one.
Connector = Callable[[str, int, bool], Awaitable[trio.abc.Stream]]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context of every request (chat streams and short requests), so all trust the
    same certificates: the system's store, or SSL_CERT_FILE / SSL_CERT_DIR."""
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


class Reply(NamedTuple):
    """A short request's whole answer."""

    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


class HttpProvider:
    """The HTTP side shared by both clients: one connection per request.

    A subclass sets `provider` and `errors` (how messages name it) and provides
    `status_error`, the translation of an HTTP error status and body.
    """

    provider: ClassVar[str]
    errors: ClassVar[ServerErrors]

    def __init__(
        self,
        config: Config,
        *,
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

    def status_error(self, status: int, body: bytes, *, model: str | None) -> RpcError:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Nothing to close: every request has a connection of its own, closed when it ends."""

    @asynccontextmanager
    async def _stream(
        self, path: str, accept: str, body: list[bytes], model: str
    ) -> AsyncIterator[ChatBody]:
        """POSTs `body` (its parts, from `pieces.body_in_pieces`) to the base URL's path + `path`;
        yields the response body once the status is OK.

        Raises `RpcError`: ollama_unreachable, model_not_found / upstream_error (by
        `status_error`), stream_interrupted (dropped before the head, or the head later than the
        idle timeout). Cancellation: leaving the block for any reason closes the connection.
        """
        head = encode_request(
            "POST",
            self._base_path + path,
            self._host_header,
            {
                **self._headers,
                "Content-Type": "application/json",
                "Accept": accept,
                "Connection": "close",  # one connection per chat: closing it is the cancel
            },
            body_length=sum(map(len, body)),
        )
        # A short body goes out with the head in one write; a long one in parts, never joined.
        payload = [head + body[0]] if len(body) == 1 and len(body[0]) < 64 * 1024 else [head, *body]
        async with self._connection() as stream:
            with trio.move_on_after(self._idle_timeout_s) as waiting:
                head, early = await _exchange(stream, payload, self.errors)
            if waiting.cancelled_caught:
                raise self.errors.stream_interrupted(
                    f"{self.errors.short} sent no response within {self._idle_timeout_s:g} s "
                    "(--idle-timeout)"
                )
            logger.debug("POST %s -> %d", path, head.status)
            chat_body = self._body(stream, head, early, "POST", self._idle_timeout_s, watch=True)
            try:
                if head.status >= 400:
                    content = await chat_body.read_limited(ERROR_BODY_LIMIT)
                    raise self.status_error(head.status, content, model=model)
                yield chat_body
            finally:
                chat_body.detach()

    async def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        timeout_s: float = REQUEST_TIMEOUT_S,
        *,
        model: str | None = None,
        check: bool = True,
    ) -> Reply:
        """One short request to the base URL's path + `path`, whole, within `timeout_s`.

        `body`, when given, is sent as JSON. The answer is read to its end (at most
        ANSWER_LIMIT). With `check`, a status >= 400 raises `self.status_error(status, body,
        model=model)`; without it the caller reads the status (an error body is then cut at
        ERROR_BODY_LIMIT in both cases).

        Raises `RpcError`: ollama_unreachable (no connection, or no whole answer within
        `timeout_s`), stream_interrupted (the connection dropped or the framing is broken),
        upstream_error (an answer over ANSWER_LIMIT), and the status errors. Cancellation: safe;
        the connection is closed.
        """
        headers = {**self._headers, "Accept": "application/json", "Connection": "close"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        payload = encode_request(
            method, self._base_path + path, self._host_header, headers, body or b""
        )
        with trio.move_on_after(timeout_s) as waited:
            async with self._connection() as stream:
                head, early = await _exchange(stream, [payload], self.errors)
                logger.debug("%s %s -> %d", method, path, head.status)
                reader = self._body(stream, head, early, method, timeout_s)
                if head.status >= 400:
                    content = await reader.read_limited(ERROR_BODY_LIMIT)
                    if check:
                        raise self.status_error(head.status, content, model=model)
                else:
                    content = await reader.read_all(ANSWER_LIMIT)
                return Reply(head.status, head.headers, content)
        assert waited.cancelled_caught
        raise self.unreachable(f"no answer to {path} within {timeout_s:g} s")

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[trio.abc.Stream]:
        """A new connection to the server, closed on the way out, whatever the way."""
        stream = await self._connect()
        try:
            yield stream
        finally:
            # Closing must happen even when a chat is being cancelled: it is the cancel.
            with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT_S):
                await stream.aclose()

    def _body(
        self, stream: trio.abc.Stream, head: ResponseHead, early: bytes, method: str,
        idle_timeout_s: float, *, watch: bool = False,
    ) -> ChatBody:
        try:
            decoder = head.body_decoder(method)
        except ProtocolError as exc:
            raise self.errors.stream_interrupted(
                f"broken HTTP framing from {self.errors.short} ({exc})"
            ) from None
        return ChatBody(stream, decoder, early, idle_timeout_s, self.errors, watch=watch)

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
    stream: trio.abc.Stream, payload: list[bytes], errors: ServerErrors
) -> tuple[ResponseHead, bytes]:
    """Sends the request (its parts in order) and reads the response head; returns it and any
    body bytes after it."""
    name = errors.short
    try:
        await send_parts(stream, payload)
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
