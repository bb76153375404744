"""The Ollama NDJSON turn, frozen as it was at commit 49e22c7 (before the read path was made per-read):
the reference that tests/pure/test_read_path_fuzz.py holds the current code to. Not used by
the product; do not change it, except to follow a deliberate change of behaviour.

One assistant reply read from Ollama's `/api/chat` NDJSON: body bytes in, notifications out.

Pure and synchronous. The body is handed over as decoded network reads; line splitting happens
here, only on `\n` (never `str.splitlines`, which also splits on U+0085). Rules of Ollama's wire:

- `message.content`, `message.thinking` and `message.tool_calls` are read on every chunk, the
  `done:true` chunk included (native-route tool calls arrive only there).
- An `{"error": ...}` line under HTTP 200 fails the turn; nothing follows it.
- Metrics come only on the final chunk; a cancelled turn estimates them from what it saw.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec

from .framing import LineSplitter, OversizedLine
from sidecar.protocol import Notification, RequestId
from .turn import UPSTREAM_MAX_LINE_BYTES, Turn, TurnCounts, error_text
from sidecar.providers.ollama.errors import OLLAMA
from sidecar.providers.ollama.wire import ChatChunk, chunk_decoder

NS_PER_MS: Final = 1_000_000
NS_PER_S: Final = 1_000_000_000


class OllamaTurn(Turn):
    """Accumulates one assistant reply from Ollama's `/api/chat` NDJSON.

    `feed_lines` takes complete lines and stops at the first one that ends the turn: after
    `done:true` it sets `finished`; after an error line, a malformed line or an oversized one it
    sets `failure`.
    """

    def __init__(self, chat_id: RequestId | None, started_at: float) -> None:
        super().__init__(chat_id, started_at)
        self.chunks_seen = 0
        self._final: ChatChunk | None = None
        self._lines = LineSplitter(UPSTREAM_MAX_LINE_BYTES)

    def feed(self, data: bytes, now: float) -> list[Notification]:
        return self.feed_lines(self._lines.feed(data), now)

    def eof(self, now: float) -> list[Notification]:
        out = self.feed_lines(self._lines.flush(), now)
        if not self.ended:
            self.failure = OLLAMA.stream_interrupted("Ollama ended the stream without its final chunk")
        return out

    def feed_lines(self, lines: Iterable[bytes | OversizedLine], now: float) -> list[Notification]:
        out: list[Notification] = []
        for line in lines:
            if self.ended:
                break
            if isinstance(line, OversizedLine):
                self.failure = OLLAMA.stream_interrupted(
                    f"a chunk of {line.size} bytes exceeds the line limit"
                )
                break
            if not line.strip():
                continue
            try:
                chunk = chunk_decoder.decode(line)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                self.failure = OLLAMA.stream_interrupted(f"malformed chunk from Ollama ({exc})")
                break
            if chunk.error is not msgspec.UNSET:
                self.failure = OLLAMA.upstream_error(200, error_text(chunk.error))
                break
            self._apply(chunk, out, now)
        return out

    def _apply(self, chunk: ChatChunk, out: list[Notification], now: float) -> None:
        self.chunks_seen += 1
        message = chunk.message
        if message is not None:
            if message.thinking:
                self._text(out, "chat:thinking", message.thinking, now)
            if message.content:
                self._text(out, "chat:token", message.content, now)
            for call in message.tool_calls:
                self._call(out, call, now)
        if chunk.done:
            self.finished = True
            self.done_reason = chunk.done_reason or "stop"
            self._final = chunk

    def counts(self, now: float) -> TurnCounts:
        """What this turn cost: Ollama's metrics when it sent them, else the chunks seen."""
        final = self._final
        if final is not None and final.eval_count:
            return TurnCounts(
                prompt_tokens=final.prompt_eval_count,
                completion_tokens=final.eval_count,
                eval_s=final.eval_duration / NS_PER_S,
                reported_ms=final.total_duration / NS_PER_MS if final.total_duration else None,
            )
        # No metrics (cancelled, failed, or a server that sends none): count the chunks seen.
        return TurnCounts(
            prompt_tokens=final.prompt_eval_count if final is not None else 0,
            completion_tokens=self.chunks_seen - (1 if final is not None else 0),
            eval_s=self.output_seconds(now),
            reported_ms=None,
        )
