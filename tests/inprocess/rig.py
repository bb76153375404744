"""An in-process sidecar: `app.serve` over memory streams, the upstream faked in memory.

Every upstream request goes over `MemoryOllama` (real HTTP/1.1 bytes over lockstep memory
streams), chats and short requests alike; handlers speak httpx's Request and Response types. `open_rig(..., provider="openai")` runs the OpenAI client
against the same fakes; `sse(...)` builds its bodies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Final

import httpx
import msgspec
import pytest
import trio
import trio.testing

from sidecar.app import serve
from sidecar.config import Config
from sidecar.providers.ollama.client import OllamaClient
from sidecar.providers.openai.client import OpenAIClient
from sidecar.store import Store

from ..support import user

Piece = bytes | trio.Event | float
CHAT: Final = {"messages": user("hi")}  # the params of the plainest chat (the model is --model)


class ScriptStream(httpx.AsyncByteStream):
    """A response body: bytes are sent, an Event is waited for, a float is slept."""

    def __init__(self, pieces: list[Piece]) -> None:
        self.pieces = pieces
        self.closed = trio.Event()
        self.sent = 0

    # A class-based iterator, not an async generator: nothing for the GC to finalize.
    def __aiter__(self) -> ScriptStream:
        self._pending = iter(self.pieces)
        return self

    async def __anext__(self) -> bytes:
        for piece in self._pending:
            if isinstance(piece, trio.Event):
                await piece.wait()
            elif isinstance(piece, float):
                await trio.sleep(piece)
            else:
                self.sent += 1
                return piece
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.closed.set()


def ndjson(*contents: str, done: bool = True, reason: str = "stop") -> list[bytes]:
    """Ollama-shaped lines: one content chunk per string, then a final chunk."""
    lines = [
        msgspec.json.encode(
            {"model": "m", "message": {"role": "assistant", "content": c}, "done": False}
        ) + b"\n"
        for c in contents
    ]
    if done:
        lines.append(
            msgspec.json.encode(
                {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True,
                 "done_reason": reason, "prompt_eval_count": 3, "eval_count": len(contents),
                 "eval_duration": 1_000_000_000, "total_duration": 1_500_000_000}
            ) + b"\n"
        )
    return lines


def tool_calls(*calls: tuple[str, str, dict[str, Any]]) -> list[bytes]:
    """An Ollama reply whose final chunk calls tools (id, name, arguments)."""
    message = {
        "role": "assistant", "content": "",
        "tool_calls": [{"id": i, "function": {"name": n, "arguments": a}} for i, n, a in calls],
    }
    return [msgspec.json.encode({"message": message, "done": True, "done_reason": "stop"}) + b"\n"]


def sse(*contents: str, done: bool = True, reason: str = "stop") -> list[bytes]:
    """OpenAI-shaped SSE events: one content delta per string, then the finish, usage, [DONE]."""
    def event(chunk: dict[str, Any]) -> bytes:
        return b"data: " + msgspec.json.encode(chunk) + b"\n\n"

    def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"object": "chat.completion.chunk", "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    events = [event(choice({"role": "assistant", "content": c})) for c in contents]
    if done:
        events.append(event(choice({}, reason)))
        events.append(event({"choices": [], "usage": {
            "prompt_tokens": 3, "completion_tokens": len(contents),
            "total_tokens": 3 + len(contents)}}))
        events.append(b"data: [DONE]\n\n")
    return events


Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Rig:
    def __init__(self, stdin: trio.abc.SendStream, stdout: trio.abc.ReceiveStream) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.lines: list[dict[str, Any]] = []
        self.requests: list[httpx.Request] = []
        self.stop_reason: str | None = None
        self.stopped = trio.Event()  # `serve` returned
        self.stopped_at: float | None = None  # trio.current_time() then
        self._buffer = b""
        self._next_id = 1

    async def send(self, message: Any) -> None:
        await self.send_raw(msgspec.json.encode(message) + b"\n")

    async def send_raw(self, data: bytes) -> None:
        await self.stdin.send_all(data)

    async def request(self, method: str, params: Any = None, id: Any = None) -> Any:
        if id is None:
            id, self._next_id = self._next_id, self._next_id + 1
        message = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)
        return id

    async def read_line(self) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            data = await self.stdout.receive_some()
            if not data:
                raise EOFError("stdout closed")
            self._buffer += data
        raw, self._buffer = self._buffer.split(b"\n", 1)
        line = msgspec.json.decode(raw)
        self.lines.append(line)
        return line

    async def read_until(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        for line in self.lines:
            if predicate(line):
                return line
        while True:
            line = await self.read_line()
            if predicate(line):
                return line

    async def response(self, id: Any) -> dict[str, Any]:
        return await self.read_until(lambda l: "method" not in l and l.get("id") == id)

    async def call(self, method: str, params: Any = None) -> dict[str, Any]:
        """Sends a request and returns its answer."""
        return await self.response(await self.request(method, params))

    def chat_bodies(self) -> list[dict[str, Any]]:
        """The `/api/chat` bodies the upstream received, in order."""
        return [msgspec.json.decode(r.content) for r in self.requests if r.url.path == "/api/chat"]

    async def notification(self, method: str) -> dict[str, Any]:
        return await self.read_until(lambda l: l.get("method") == method)

    async def read_all(self) -> list[dict[str, Any]]:
        """Reads until stdout closes."""
        try:
            while True:
                await self.read_line()
        except EOFError:
            return self.lines

    def text(self, chat_id: Any) -> str:
        return "".join(
            l["params"]["content"] for l in self.lines
            if l.get("method") == "chat:token" and l["params"]["chat_id"] == chat_id
        )


class MemoryOllama:
    """Serves the connections of an in-process sidecar over lockstep memory streams.

    Each connection reads one raw HTTP/1.1 request, asks `handler` for an httpx.Response, and
    writes it back: a `ScriptStream` body chunked, one HTTP chunk per piece, anything else with a
    Content-Length. A client that closes early closes the body (`ScriptStream.closed`), like a
    real server noticing the disconnect. Lockstep streams give real backpressure.
    """

    def __init__(
        self, handler: Handler, nursery: trio.Nursery, refuse: bool, sockets: bool = False
    ) -> None:
        self.handler = handler
        self.nursery = nursery
        self.refuse = refuse
        self.sockets = sockets  # a real socket pair per connection (what the stream pump reads)

    async def connect(self, host: str, port: int, tls: bool) -> trio.abc.Stream:
        if self.refuse:
            raise ConnectionRefusedError(111, "Connection refused")
        if self.sockets:
            mine, theirs = trio.socket.socketpair()
            self.nursery.start_soon(self._serve_socket, trio.SocketStream(theirs))
            return trio.SocketStream(mine)
        client, server = trio.testing.lockstep_stream_pair()
        self.nursery.start_soon(self._serve, server)
        return client

    async def _serve_socket(self, stream: trio.SocketStream) -> None:
        try:
            await self._serve(stream)
        finally:
            stream.socket.close()  # also when the rig is torn down mid-reply

    async def _serve(self, stream: trio.abc.Stream) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some()
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        while len(body) < int(headers.get("Content-Length", "0")):
            body += await stream.receive_some()
        request = httpx.Request(
            method, f"http://{headers['Host']}{target}", headers=headers, content=body
        )
        response = await self.handler(request)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_close, stream, response, nursery.cancel_scope)
            try:
                await self._write(stream, response)
            except trio.BrokenResourceError:
                await response.aclose()
            nursery.cancel_scope.cancel()
        await stream.aclose()

    @staticmethod
    async def _watch_close(
        stream: trio.abc.Stream, response: httpx.Response, writing: trio.CancelScope
    ) -> None:
        try:
            data = await stream.receive_some()
        except trio.BrokenResourceError:  # a socket closed with data unread is reset
            data = b""
        if not data:
            writing.cancel()
            await response.aclose()

    @staticmethod
    async def _write(stream: trio.abc.Stream, response: httpx.Response) -> None:
        head = f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n"
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        if isinstance(response.stream, ScriptStream):
            headers["Transfer-Encoding"] = "chunked"
            await stream.send_all(
                (head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
            )
            try:
                async for piece in response.stream:
                    await stream.send_all(b"%x\r\n%s\r\n" % (len(piece), piece))
            except httpx.TransportError:
                return  # "drop": end without the terminating chunk
            await stream.send_all(b"0\r\n\r\n")
        else:
            content = await response.aread()
            headers["Content-Length"] = str(len(content))
            await stream.send_all(
                (head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
                + content
            )


@asynccontextmanager
async def open_rig(
    handler: Handler,
    *,
    lockstep: bool = False,
    refuse: bool = False,
    sockets: bool = False,
    store: Store | None = None,
    serve_options: dict[str, Any] | None = None,
    **config: Any,
) -> AsyncIterator[Rig]:
    """Runs a sidecar in this trio run; yields once `sidecar:ready` was read.

    `handler` answers every request to the upstream (over `MemoryOllama`). `refuse` makes every connection attempt fail as if the server
    were down. `sockets` serves each connection over a real socket pair instead (so the stream
    pump, which reads sockets, streams the chats). `store` is the conversation store (none: as --no-store). `serve_options` go to
    `app.serve` as they are (`handle_signals`, `wait_stdout_gone`, `orphaned`: what
    `python -m sidecar` passes). `provider="openai"` (with `base_url` the base, default http://ollama.test/v1)
    runs the OpenAI-compatible client.
    """
    if config.get("provider") == "openai":
        config.setdefault("base_url", "http://ollama.test/v1")
        config.setdefault("api_key_env", "OPENAI_API_KEY")
    base = replace(Config(base_url="http://ollama.test", model="m"), **config)
    stdin_send, stdin_recv = trio.testing.memory_stream_one_way_pair()
    if lockstep:
        stdout_send, stdout_recv = trio.testing.lockstep_stream_pair()
    else:
        stdout_send, stdout_recv = trio.testing.memory_stream_one_way_pair()
    rig = Rig(stdin_send, stdout_recv)

    async def record(request: httpx.Request) -> httpx.Response:
        rig.requests.append(request)
        return await handler(request)

    async with trio.open_nursery() as nursery:
        ollama = MemoryOllama(record, nursery, refuse, sockets)
        client_type = OpenAIClient if base.provider == "openai" else OllamaClient
        client = client_type(base, connector=ollama.connect)

        async def run() -> None:
            options = dict(serve_options or {})
            if store is not None:
                options["store"] = store
            rig.stop_reason = await serve(base, stdin_recv, stdout_send, client=client, **options)
            rig.stopped_at = trio.current_time()
            rig.stopped.set()
            await stdout_send.aclose()

        nursery.start_soon(run)
        ready = await rig.read_line()
        assert ready["method"] == "sidecar:ready"
        yield rig
        nursery.cancel_scope.cancel()


class SlowToClose(trio.abc.Stream):
    """An upstream connection whose close waits for `release` (see `slow_closes`)."""

    def __init__(self, inner: trio.abc.Stream, closing: trio.Event, release: trio.Event) -> None:
        self.inner, self.closing, self.release = inner, closing, release

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        self.closing.set()
        await self.release.wait()
        await self.inner.aclose()


def slow_closes(monkeypatch: pytest.MonkeyPatch) -> tuple[trio.Event, trio.Event]:
    """Makes every upstream connection slow to close: `closing` is set once a close starts, which
    then waits for `release`. The sidecar closes a connection under a shield (closing is the
    cancel), so this holds a request at its very end, past its last cancellable step: a chat
    there finishes normally even if cancelled meanwhile, and a stopping sidecar stays alive.
    With a frozen clock (`mock_clock`) the close's own time limit does not run out meanwhile."""
    closing, release = trio.Event(), trio.Event()
    connect = MemoryOllama.connect

    async def slow(self: MemoryOllama, host: str, port: int, tls: bool) -> trio.abc.Stream:
        return SlowToClose(await connect(self, host, port, tls), closing, release)

    monkeypatch.setattr(MemoryOllama, "connect", slow)
    return closing, release


def streaming(*scripts: ScriptStream | list[Piece]) -> Handler:
    """A handler answering successive chat requests (/api/chat or /v1/chat/completions) with
    the given bodies."""
    queue = [s if isinstance(s, ScriptStream) else ScriptStream(s) for s in scripts]

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/version":
            return httpx.Response(200, json={"version": "0.33.0"})
        if request.url.path == "/api/ps":  # a chat's usage.context_length, asked at its end
            return httpx.Response(200, json={"models": []})
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": [{"id": "m"}]})
        kind = "text/event-stream" if request.url.path.endswith("/completions") else "application/x-ndjson"
        return httpx.Response(200, headers={"Content-Type": kind}, stream=queue.pop(0))

    return handler
