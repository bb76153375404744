"""The upstream: the project's scripted Ollama, playing pre-rendered bytes and stamping send times.

`BenchScript` is a `Script` whose HTTP chunks were framed before timing started: every NDJSON line
is its own chunk (`len\\r\\n line \\r\\n`), as Ollama's gin handler flushes one line per write.
`BenchOllama` plays it by writing those bytes straight to the socket (h11 only writes the status
line and the terminating chunk), either as fast as the socket takes them, grouped into blocks of
about 64 KiB so the upstream is never the bottleneck, or on a schedule (tokens per second), one
write per line, stamping `time.monotonic()` just before each write. The reader process stamps
arrivals with the same clock (both run on this machine), so send -> read is a latency.

Token texts are fixed width and unique ("c03-000123 "), so the text a reader collected tells
which tokens arrived, whatever the sidecar merged into one notification.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import h11
import trio

from sidecar_testkit.fake_ollama import RequestRecord, Script, ScriptedOllama
from sidecar_testkit.fake_ollama.connection import Connection, response_head
from sidecar_testkit.fake_ollama.scenarios import last_user_message
from sidecar_testkit.fake_ollama.wire import ChunkWriter

NDJSON: Final = "application/x-ndjson"
BLOCK_BYTES: Final = 64 * 1024
BENCH_MODEL: Final = "bench"


def token(prefix: str, index: int) -> str:
    """The text of token `index` of a stream: fixed width, unique within the stream."""
    return f"{prefix}{index:06d} "


def token_width(prefix: str) -> int:
    return len(prefix) + 7


def expected_text(prefix: str, count: int) -> str:
    return "".join(token(prefix, i) for i in range(count))


def ndjson_lines(prefix: str, count: int, *, final: bool = True) -> list[bytes]:
    """Ollama's NDJSON lines for `count` tokens (plus the done:true line), as Go writes them."""
    writer = ChunkWriter(BENCH_MODEL)
    lines = [writer.chunk(token(prefix, i)) for i in range(count)]
    if final:
        lines.append(writer.final())
    return lines


def frame(line: bytes) -> bytes:
    """One HTTP/1.1 chunk carrying one line."""
    return b"%x\r\n%b\r\n" % (len(line), line)


def blocks(frames: list[bytes], size: int = BLOCK_BYTES) -> list[bytes]:
    """Frames joined into writes of about `size` bytes (never splitting a frame)."""
    out: list[bytes] = []
    current: list[bytes] = []
    length = 0
    for f in frames:
        current.append(f)
        length += len(f)
        if length >= size:
            out.append(b"".join(current))
            current, length = [], 0
    if current:
        out.append(b"".join(current))
    return out


@dataclass
class Rendered:
    """A reply rendered once, before timing: its writes and, if paced, when each goes out.

    `writes[i]` is sent at `start + offsets[i]` (all at once when `offsets` is None). The first
    write goes out together with the status line, like Ollama's headers after a model load.
    `hang` keeps the response open after the last write until the client leaves.
    """

    writes: list[bytes]
    offsets: list[float] | None = None
    hang: bool = False


@dataclass
class BenchScript(Script):
    rendered: Rendered | None = None
    tag: str = ""
    stamps: list[float] = field(default_factory=list)  # time.monotonic() before each write
    record: RequestRecord | None = None
    ended_at: float | None = None


def fast(prefix: str, count: int) -> Rendered:
    """`count` tokens as fast as the socket takes them (first write: one line, then blocks)."""
    frames = [frame(line) for line in ndjson_lines(prefix, count)]
    return Rendered(writes=[frames[0], *blocks(frames[1:])])


def paced(prefix: str, count: int, rate: float) -> Rendered:
    """`count` tokens at `rate` per second, one write per line; the final line right after."""
    frames = [frame(line) for line in ndjson_lines(prefix, count)]
    offsets = [i / rate for i in range(count)]
    offsets.append(offsets[-1] if offsets else 0.0)
    return Rendered(writes=frames, offsets=offsets)


def hanging(prefix: str, count: int) -> Rendered:
    """`count` tokens in one write, then silence with the connection open."""
    frames = [frame(line) for line in ndjson_lines(prefix, count, final=False)]
    return Rendered(writes=[b"".join(frames)], hang=True)


class BenchOllama(ScriptedOllama):
    """The scripted Ollama, plus pre-rendered replies keyed by the chat's user message.

    `expect(tag, rendered)` registers a reply; a chat whose last user message is `tag` (and whose
    model is "bench") gets it. `played[tag]` is then the script with its send stamps and record.
    """

    def __init__(self) -> None:
        super().__init__()
        self.rendered: dict[str, Rendered] = {}
        self.played: dict[str, BenchScript] = {}
        self.scripts[BENCH_MODEL] = self._factory

    def expect(self, tag: str, rendered: Rendered) -> None:
        self.rendered[tag] = rendered

    def reset(self) -> None:
        self.rendered.clear()
        self.played.clear()
        self.records.clear()

    def _factory(self, request: dict[str, Any]) -> Script:
        tag = last_user_message(request)
        rendered = self.rendered.get(tag)
        if rendered is None:
            raise KeyError(f"no bench reply registered for {tag!r}")
        script = BenchScript(rendered=rendered, tag=tag)
        self.played[tag] = script
        return script

    async def _play(self, conn: Connection, record: RequestRecord, script: Script) -> bool:
        if not isinstance(script, BenchScript) or script.rendered is None:
            return await super()._play(conn, record, script)
        script.record = record
        rendered = script.rendered
        head = conn.h11.send(response_head(200, NDJSON)) or b""
        start = trio.current_time()
        stamps = script.stamps
        for index, data in enumerate(rendered.writes):
            if rendered.offsets is not None:
                await trio.sleep_until(start + rendered.offsets[index])
            if index == 0:
                data = head + data
            stamps.append(time.monotonic())
            await conn.stream.send_all(data)
            record.lines_sent += 1
        if rendered.hang:
            await trio.sleep_forever()
        record._mark_finished()
        await conn.send([h11.EndOfMessage()])
        script.ended_at = time.monotonic()
        return True


@asynccontextmanager
async def open_bench_ollama() -> AsyncIterator[BenchOllama]:
    async with BenchOllama().running() as server:
        yield server


def chat_params(tag: str) -> dict[str, Any]:
    """The `chat` params that select the reply registered as `tag`."""
    return {"model": BENCH_MODEL, "messages": [{"role": "user", "content": tag}]}
