"""An in-process sidecar: `app.serve` over memory streams, Ollama faked with httpx.MockTransport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import msgspec
import trio
import trio.testing

from sidecar.app import serve
from sidecar.config import Config
from sidecar.ollama import OllamaClient

Piece = bytes | trio.Event | float


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


Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Rig:
    def __init__(self, stdin: trio.abc.SendStream, stdout: trio.abc.ReceiveStream) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.lines: list[dict[str, Any]] = []
        self.requests: list[httpx.Request] = []
        self.stop_reason: str | None = None
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


@asynccontextmanager
async def open_rig(
    handler: Handler, *, lockstep: bool = False, **config: Any
) -> AsyncIterator[Rig]:
    """Runs a sidecar in this trio run; yields once `sidecar:ready` was read."""
    base = replace(Config(ollama_url="http://ollama.test", model="m"), **config)
    stdin_send, stdin_recv = trio.testing.memory_stream_one_way_pair()
    if lockstep:
        stdout_send, stdout_recv = trio.testing.lockstep_stream_pair()
    else:
        stdout_send, stdout_recv = trio.testing.memory_stream_one_way_pair()
    rig = Rig(stdin_send, stdout_recv)

    async def record(request: httpx.Request) -> httpx.Response:
        rig.requests.append(request)
        return await handler(request)

    client = OllamaClient(base, transport=httpx.MockTransport(record))

    async def run() -> None:
        rig.stop_reason = await serve(base, stdin_recv, stdout_send, client=client)
        await stdout_send.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        ready = await rig.read_line()
        assert ready["method"] == "sidecar:ready"
        yield rig
        nursery.cancel_scope.cancel()


def streaming(*scripts: ScriptStream | list[Piece]) -> Handler:
    """A handler answering successive /api/chat requests with the given bodies."""
    queue = [s if isinstance(s, ScriptStream) else ScriptStream(s) for s in scripts]

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/version":
            return httpx.Response(200, json={"version": "0.33.0"})
        return httpx.Response(
            200, headers={"Content-Type": "application/x-ndjson"}, stream=queue.pop(0)
        )

    return handler
