"""One assistant reply read from Ollama's `/api/chat` NDJSON: body bytes in, notifications out.

Pure and synchronous. The body is handed over as decoded network reads; line splitting happens
here, only on `\n` (never `str.splitlines`, which also splits on U+0085). A read's whole lines
are decoded with one msgspec call when that is exact (`framing.decode_objects`), else line by
line, which gives the error of the first bad line. Rules of Ollama's wire:

- `message.content`, `message.thinking` and `message.tool_calls` are read on every chunk, the
  `done:true` chunk included (native-route tool calls arrive only there).
- An `{"error": ...}` line under HTTP 200 fails the turn; nothing follows it.
- Metrics come only on the final chunk; a cancelled turn estimates them from what it saw.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import msgspec

from ...framing import LineSplitter, OversizedLine, decode_objects, split_block
from ...protocol import Notification, RequestId
from ..turn import UPSTREAM_MAX_LINE_BYTES, Turn, TurnCounts, error_text
from .errors import OLLAMA
from .wire import ChatChunk, chunk_decoder

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
        """The notifications one network read of the body makes.

        The read of a model that writes a token per line, a line per read, is one whole compact
        line with nothing held before it: decoded alone (exactly what `decode_objects` does with
        a one-line block), and a text-only chunk (the common one) goes out through `_lone_text`.
        Everything else, a line that does not decode included, takes the general path."""
        if (
            data.endswith(b"}\n")
            and data.startswith(b"{")
            and data.count(b"\n") == 1
            and not self._lines.pending
            and len(data) <= self._lines.max_line_bytes
            and not self.ended
        ):
            try:
                chunk = chunk_decoder.decode(data)
            except (msgspec.DecodeError, UnicodeDecodeError):
                pass  # the general path gives the line's exact error
            else:
                message = chunk.message
                if (
                    message is not None
                    and not (message.tool_calls or chunk.done or chunk.logprobs)
                    and chunk.error is msgspec.UNSET
                    and bool(message.content) != bool(message.thinking)
                ):
                    self.chunks_seen += 1
                    if message.content:
                        return self._lone_text("chat:token", message.content, now)
                    return self._lone_text("chat:thinking", message.thinking, now)
                out: list[Notification] = []
                self._apply_all([chunk], out, now)
                self._close_run()
                return out
        return super().feed(data, now)

    def _read(self, data: bytes, out: list[Notification], now: float) -> None:
        block = self._lines.feed_block(data)
        if block is None:
            self._feed_lines(self._lines.feed(data), out, now)
        elif block and not self.ended:
            chunks = decode_objects(chunk_decoder, block)
            if chunks is None:
                self._feed_lines(split_block(block), out, now)
            else:
                self._apply_all(chunks, out, now)

    def _end(self, out: list[Notification], now: float) -> None:
        self._feed_lines(self._lines.flush(), out, now)
        if not self.ended:
            self.failure = OLLAMA.stream_interrupted("Ollama ended the stream without its final chunk")

    def feed_lines(self, lines: Iterable[bytes | OversizedLine], now: float) -> list[Notification]:
        """The notifications of complete lines (`feed` splits a read into them)."""
        out: list[Notification] = []
        self._feed_lines(lines, out, now)
        self._close_run()
        return out

    def _apply_all(self, chunks: list[ChatChunk], out: list[Notification], now: float) -> None:
        """A read's chunks, decoded at once: what `_feed_lines` does with their lines.

        The common chunk (text only, continuing the text notification last in `out`) costs an
        append; every other goes through `_apply`."""
        run = self._run
        unset = msgspec.UNSET
        for chunk in chunks:
            message = chunk.message
            if (
                message is not None
                and message.content
                and not (message.thinking or message.tool_calls or chunk.done or chunk.logprobs)
                and chunk.error is unset
                and out
                and out[-1] is self._run_note
                and out[-1].method == "chat:token"
            ):
                self.chunks_seen += 1
                run.append(message.content)
                continue
            if chunk.error is not unset:
                self.failure = OLLAMA.upstream_error(200, error_text(chunk.error))
                return
            self._apply(chunk, out, now)
            if self.finished:
                return

    def _feed_lines(
        self, lines: Iterable[bytes | OversizedLine], out: list[Notification], now: float
    ) -> None:
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

    def _apply(self, chunk: ChatChunk, out: list[Notification], now: float) -> None:
        self.chunks_seen += 1
        message = chunk.message
        logprobs = chunk.logprobs
        if logprobs:
            # Every entry goes into the final message; a delta carries those of its text
            # (content first; thinking when the chunk has no content; none for a chunk with no
            # text, which Ollama sends while it buffers a tool call).
            self.logprobs.extend(logprobs)
        if message is not None:
            if message.thinking:
                mine = logprobs if not message.content else None
                self._text(out, "chat:thinking", message.thinking, now, mine)
            if message.content:
                self._text(out, "chat:token", message.content, now, logprobs)
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
