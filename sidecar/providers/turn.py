"""One chat turn's state, whatever the dialect: upstream body bytes in, notifications out.

Pure and synchronous, so every fixture transcript is tested without sockets. The I/O loop in
`chat.py` feeds a turn each upstream network read (`feed`), then the end of the body (`eof`), and
writes whatever it returns in one batch; the turn keeps the assistant message built so far, which
is what a cancelled or failed chat still returns. `Turn` holds what every dialect shares (the
message, the merging of deltas, results); `ollama.turn.OllamaTurn` reads Ollama's NDJSON, and
`openai.turn.OpenAITurn` an OpenAI-compatible server's SSE.

The work is per read, not per token, wherever the semantics allow: a read's chunks are split
and decoded as one block (`framing.decode_objects`), and the deltas of one read that go out as
one notification are collected in a list and joined once (`_text`, `_close_run`).
"""

from __future__ import annotations

import os
from typing import Any, Final, NamedTuple

import msgspec

from ..errors import RpcError
from ..protocol import (
    ChatResult,
    Logprob,
    Message,
    Notification,
    RequestId,
    TokenParams,
    ToolCall,
    ToolCallParams,
    Usage,
    notification,
)

# Upstream chunks are small; a line (or SSE event) this long means the body is not a chat stream.
UPSTREAM_MAX_LINE_BYTES: Final = 16 * 1024 * 1024


class TurnCounts(NamedTuple):
    prompt_tokens: int
    completion_tokens: int
    eval_s: float
    reported_ms: float | None  # the server's own total duration, when it sent one


def make_usage(
    counts: list[TurnCounts], started_at: float, first_output_at: float | None, now: float
) -> Usage:
    """The `usage` of a chat made of one or more turns (tool rounds)."""
    completion = sum(c.completion_tokens for c in counts)
    eval_s = sum(c.eval_s for c in counts)
    if len(counts) == 1 and counts[0].reported_ms is not None:
        duration_ms = round(counts[0].reported_ms)
    else:
        duration_ms = round(max(now - started_at, 0.0) * 1000)
    return Usage(
        prompt_tokens=sum(c.prompt_tokens for c in counts),
        completion_tokens=completion,
        duration_ms=duration_ms,
        tokens_per_second=round(completion / eval_s, 2) if eval_s > 0 else 0.0,
        first_token_ms=(
            None if first_output_at is None else round((first_output_at - started_at) * 1000)
        ),
    )


def new_call_id() -> str:
    # Servers before v0.12.10 send no id; the client still needs one to answer the call.
    return "call_" + os.urandom(4).hex()


def error_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return value["message"]
    return msgspec.json.encode(value).decode()


class TextBuffer:
    """Appends text deltas; holds them in blocks so a long reply costs its bytes, not one
    object per token."""

    __slots__ = ("_blocks", "_parts")
    BLOCK_PARTS: Final = 512

    def __init__(self) -> None:
        self._blocks: list[str] = []
        self._parts: list[str] = []

    def append(self, text: str) -> None:
        self._parts.append(text)
        if len(self._parts) >= self.BLOCK_PARTS:
            self._blocks.append("".join(self._parts))
            self._parts.clear()

    def __bool__(self) -> bool:
        return bool(self._parts or self._blocks)

    def value(self) -> str:
        return "".join(self._blocks) + "".join(self._parts)


class Turn:
    """What every dialect's turn shares: the assistant message so far and its notifications.

    A subclass reads its dialect in `_read(data, out, now)` (one network read of the body) and
    `_end(out, now)` (the body ended), appending to `out` the notifications that `feed` and
    `eof` return. Once the turn ends,
    `finished` is set (the upstream said it is done) or `failure` (an `RpcError`); later input
    is ignored. `eof` on a turn that has not ended sets `failure` (stream_interrupted).
    """

    def __init__(self, chat_id: RequestId | None, started_at: float) -> None:
        self.chat_id = chat_id
        self.started_at = started_at
        self.first_output_at: float | None = None
        self.content = TextBuffer()
        self.thinking = TextBuffer()
        self.tool_calls: list[ToolCall] = []
        self.logprobs: list[Logprob] = []  # every entry, in arrival order (logprobs asked)
        self.finished = False
        self.failure: RpcError | None = None
        self.done_reason = "stop"
        self._run: list[str] = []  # the deltas of the notification last in `out`, when a text
        self._run_note: Notification | None = None  # ... one; `_close_run` joins them

    @property
    def ended(self) -> bool:
        return self.finished or self.failure is not None

    def feed(self, data: bytes, now: float) -> list[Notification]:
        """The notifications one network read of the body makes."""
        out: list[Notification] = []
        self._read(data, out, now)
        self._close_run()
        return out

    def eof(self, now: float) -> list[Notification]:
        """The notifications the end of the body makes (it may complete a last chunk)."""
        out: list[Notification] = []
        self._end(out, now)
        self._close_run()
        return out

    def _read(self, data: bytes, out: list[Notification], now: float) -> None:
        raise NotImplementedError

    def _end(self, out: list[Notification], now: float) -> None:
        raise NotImplementedError

    def counts(self, now: float) -> TurnCounts:
        raise NotImplementedError

    def _text(
        self,
        out: list[Notification],
        method: str,
        text: str,
        now: float,
        logprobs: list[Logprob] | None = None,
    ) -> None:
        """A `chat:thinking` or `chat:token` delta (with the logprobs of its tokens, when
        asked for), kept and queued.

        Deltas that arrived in the same network read, one after the other with the same method,
        go out as one notification: they are collected in `_run` and joined by `_close_run`
        (which `feed` and `eof` call before they return)."""
        if self.first_output_at is None:
            self.first_output_at = now
        note = self._run_note
        if note is not None and out and out[-1] is note and note.method == method:
            self._run.append(text)
            if logprobs:
                note.params.logprobs = [*(note.params.logprobs or ()), *logprobs]
            return
        self._close_run()
        params = TokenParams(chat_id=self.chat_id, content=text)
        if logprobs:
            params.logprobs = list(logprobs)
        note = notification(method, params)
        out.append(note)
        self._run_note = note
        self._run.append(text)

    def _lone_text(self, method: str, text: str, now: float) -> list[Notification]:
        """What `feed` returns for a read whose only output is one delta without logprobs:
        `_text` then `_close_run`, without the run (a dialect's quick path for a model that
        writes a token per read; no run is open between reads)."""
        if self.first_output_at is None:
            self.first_output_at = now
        (self.thinking if method == "chat:thinking" else self.content).append(text)
        return [Notification(method=method, params=TokenParams(chat_id=self.chat_id, content=text))]

    def _close_run(self) -> None:
        """The deltas collected for the last text notification: joined into it and kept."""
        note = self._run_note
        if note is None:
            return
        run = self._run
        text = run[0] if len(run) == 1 else "".join(run)
        note.params.content = text
        (self.thinking if note.method == "chat:thinking" else self.content).append(text)
        run.clear()
        self._run_note = None

    def _call(self, out: list[Notification], call: ToolCall, now: float) -> None:
        """A whole tool call, kept and queued; one without an id gets one."""
        self._close_run()
        if call.id is msgspec.UNSET or not call.id:
            call.id = new_call_id()
        self.tool_calls.append(call)
        self._mark_output(now)
        out.append(
            notification(
                "chat:tool_call",
                ToolCallParams(
                    chat_id=self.chat_id,
                    call_id=call.id,
                    name=call.function.name,
                    arguments=call.function.arguments,
                ),
            )
        )

    def _mark_output(self, now: float) -> None:
        if self.first_output_at is None:
            self.first_output_at = now

    # --- results ------------------------------------------------------------------------------

    def assistant_message(self) -> Message:
        message = Message(role="assistant", content=self.content.value())
        if self.thinking:
            message.thinking = self.thinking.value()
        if self.tool_calls:
            message.tool_calls = list(self.tool_calls)
        if self.logprobs:
            message.logprobs = list(self.logprobs)
        return message

    def messages(self) -> list[Message]:
        """The messages this turn produced so far (empty when Ollama sent nothing)."""
        if not (self.content or self.thinking or self.tool_calls):
            return []
        return [self.assistant_message()]

    def output_seconds(self, now: float) -> float:
        """Seconds since the first output: the generation time when the server reports none."""
        return 0.0 if self.first_output_at is None else max(now - self.first_output_at, 0.0)

    def usage(self, now: float) -> Usage:
        return make_usage([self.counts(now)], self.started_at, self.first_output_at, now)

    def result(self, now: float, *, cancelled: bool = False) -> ChatResult:
        """The chat's result: the final assistant message is always there, even if empty."""
        return ChatResult(
            done_reason="cancelled" if cancelled else self.done_reason,
            messages=[self.assistant_message()],
            usage=self.usage(now),
        )
