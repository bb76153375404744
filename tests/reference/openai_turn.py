"""The OpenAI SSE turn, frozen as it was at commit 49e22c7 (before the read path was made per-read):
the reference that tests/pure/test_read_path_fuzz.py holds the current code to. Not used by
the product; do not change it, except to follow a deliberate change of behaviour.

One chat turn read from an OpenAI-compatible server's SSE stream (`/chat/completions`).

The same outward interface as `ollama.turn.OllamaTurn` (both are a `..turn.Turn`), so the chat
loop only needs the client's `new_turn`; the host sees the same notifications, results and error
kinds whichever server streamed. Rules, from the servers' `/v1` behaviour as the scripted
Ollama's `.sse` transcripts record it:

- Events come from `sse.SSEDecoder`; `data: [DONE]` ends the turn, and a body that ends
  without it is a stream_interrupted (Ollama's `/v1` ends a failed stream with a bogus empty
  chunk and no `[DONE]`; llama-server with an error event and no `[DONE]`). `[DONE]` before any
  choice sent a `finish_reason` is a stream_interrupted too: llama-cpp-python's server ends a
  reply it interrupted that way, and a reply without its finish is not a finished reply.
- Of `choices[0].delta`: `reasoning_content` or `reasoning` (one of them, never both: some
  servers send the same text under both names) -> `chat:thinking`, then `content` ->
  `chat:token`; deltas of one network read are merged as on the Ollama path.
- `tool_calls` deltas are assembled by `index`: the first delta of a call brings `id` and
  `function.name`, later ones fragments of `function.arguments`; the first id and the first name
  seen are kept. A delta without `index` continues the last call unless it brings a new id.
  The calls are complete when the choice's `finish_reason` comes:
  each one's arguments are then parsed once, and it is written as `chat:tool_call` exactly as on
  the Ollama path (arguments an object; `""` counts as `{}`; no id -> a made-up one; an object
  sent in place of the JSON text, as a few servers do, is taken as it is). Arguments
  that are not a JSON object fail the turn with upstream_error (status 200): the protocol
  promises an object, and the model's output is what is wrong.
- `finish_reason` becomes `done_reason`: `tool_calls` (and the older `function_call`) -> `stop`,
  as Ollama reports a reply with tool calls; everything else (`stop`, `length`, ...) as sent.
- `usage` (with `stream_options.include_usage`) gives the token counts; llama-server's
  `timings.predicted_ms` the generation time, else the time since the first output.
- `{"error": ...}` in a `data:` event (or an `error:` field, or a bare `{"error": ...}` line,
  which the SSE decoder hands over as such data) fails the turn with upstream_error, status 200,
  like Ollama's error line, with the server's message; so does `finish_reason: "error"`.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from .framing import OversizedLine
from sidecar.protocol import Notification, RequestId, ToolCall, ToolCallFunction
from .turn import UPSTREAM_MAX_LINE_BYTES, Turn, TurnCounts, error_text
from sidecar.providers.openai.errors import OPENAI_COMPATIBLE as SERVER
from .sse import SSEDecoder
from sidecar.providers.openai.wire import (
    CompletionChunk,
    ToolCallDelta,
    arguments_decoder,
    chunk_decoder,
)

DONE: Final = b"[DONE]"
_FINISH_REASONS: Final = {"tool_calls": "stop", "function_call": "stop"}
_ARGUMENTS_SHOWN: Final = 200  # characters of bad arguments quoted in the error
_encoder: Final = msgspec.json.Encoder()


class _Call:
    """A tool call being assembled from deltas."""

    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments: list[str] = []


class OpenAITurn(Turn):
    def __init__(self, chat_id: RequestId | None, started_at: float) -> None:
        super().__init__(chat_id, started_at)
        self.chunks_seen = 0  # chunks that carried output: the token estimate without usage
        self.events_seen = 0
        self._sse = SSEDecoder(UPSTREAM_MAX_LINE_BYTES)
        self._calls: dict[int, _Call] = {}
        self._last_index = -1
        self._prompt_tokens: int | None = None
        self._completion_tokens: int | None = None
        self._generation_ms: float | None = None
        self._finish_seen = False  # a choice sent its finish_reason

    def feed(self, data: bytes, now: float) -> list[Notification]:
        return self._events(self._sse.feed(data), now)

    def eof(self, now: float) -> list[Notification]:
        out = self._events(self._sse.flush(), now)
        if not self.ended:
            if self.events_seen:
                detail = "the server ended the stream without `data: [DONE]`"
            else:
                detail = (
                    "the body held no server-sent events (is the base URL an OpenAI-compatible "
                    "API, e.g. http://host:port/v1?)"
                )
            self.failure = SERVER.stream_interrupted(detail)
        return out

    def _events(self, events: list[bytes | OversizedLine], now: float) -> list[Notification]:
        out: list[Notification] = []
        for event in events:
            if self.ended:
                break
            if isinstance(event, OversizedLine):
                self.failure = SERVER.stream_interrupted(
                    f"an event of {event.size} bytes exceeds the size limit"
                )
                break
            self.events_seen += 1
            if event[:1] != b"{":
                if event.strip() == DONE:
                    if not self._finish_seen:
                        self.failure = SERVER.stream_interrupted(
                            "the server sent `data: [DONE]` before any finish_reason (it cut the "
                            "reply short)"
                        )
                        break
                    self._complete_calls(out, now)
                    if self.failure is None:
                        self.finished = True
                    break
                if not event.strip():
                    continue  # an empty event: nothing to read
            try:
                chunk = chunk_decoder.decode(event)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                self.failure = SERVER.stream_interrupted(
                    f"malformed event from the server ({exc})"
                )
                break
            if chunk.error is not msgspec.UNSET:
                self.failure = SERVER.upstream_error(200, error_text(chunk.error))
                break
            self._apply(chunk, out, now)
        return out

    def _apply(self, chunk: CompletionChunk, out: list[Notification], now: float) -> None:
        if chunk.usage is not None:
            self._prompt_tokens = chunk.usage.prompt_tokens
            self._completion_tokens = chunk.usage.completion_tokens
        if chunk.timings is not None and chunk.timings.predicted_ms:
            self._generation_ms = chunk.timings.predicted_ms
        for choice in chunk.choices or ():
            if choice.index != 0:
                continue  # one reply was asked for; other choices are not ours
            delta = choice.delta
            if delta is not None:
                output = False
                reasoning = delta.reasoning_content or delta.reasoning
                if reasoning:
                    self._text(out, "chat:thinking", reasoning, now)
                    output = True
                if delta.content:
                    self._text(out, "chat:token", delta.content, now)
                    output = True
                if delta.tool_calls:
                    for fragment in delta.tool_calls:
                        self._assemble(fragment)
                    self._mark_output(now)
                    output = True
                if output:
                    self.chunks_seen += 1
            if choice.finish_reason:
                self._finish_seen = True
                if choice.finish_reason == "error":
                    self.failure = SERVER.upstream_error(
                        200, 'the server ended the reply with finish_reason "error"'
                    )
                    return
                self.done_reason = _FINISH_REASONS.get(choice.finish_reason, choice.finish_reason)
                self._complete_calls(out, now)

    def _assemble(self, fragment: ToolCallDelta) -> None:
        index = fragment.index
        if index is None:
            last = self._calls.get(self._last_index)
            starts_new = last is None or bool(fragment.id and last.id and fragment.id != last.id)
            index = self._last_index + 1 if starts_new else self._last_index
        call = self._calls.get(index)
        if call is None:
            call = self._calls[index] = _Call()
        self._last_index = max(self._last_index, index)
        if fragment.id and not call.id:
            call.id = fragment.id
        function = fragment.function
        if function is not None:
            if function.name and not call.name:
                call.name = function.name
            arguments = function.arguments
            if isinstance(arguments, dict):
                arguments = _encoder.encode(arguments).decode()
            if arguments:
                call.arguments.append(arguments)

    def _complete_calls(self, out: list[Notification], now: float) -> None:
        """Parses and writes the calls assembled so far, in index order."""
        calls, self._calls = self._calls, {}
        for index in sorted(calls):
            call = calls[index]
            if not call.name:
                self.failure = SERVER.upstream_error(
                    200, f"the model sent tool call {index} without a function name"
                )
                return
            arguments = self._arguments(call)
            if arguments is None:
                return
            self._call(
                out,
                ToolCall(
                    function=ToolCallFunction(name=call.name, arguments=arguments, index=index),
                    id=call.id or msgspec.UNSET,
                ),
                now,
            )

    def _arguments(self, call: _Call) -> dict[str, Any] | None:
        text = "".join(call.arguments)
        if not text.strip():
            return {}
        try:
            return arguments_decoder.decode(text)
        except msgspec.DecodeError:
            shown = text if len(text) <= _ARGUMENTS_SHOWN else text[:_ARGUMENTS_SHOWN] + "…"
            self.failure = SERVER.upstream_error(
                200,
                f"the model called {call.name!r} with arguments that are not a JSON object: "
                f"{shown!r}",
                hint="The model wrote malformed tool call arguments; retry, or pick a model that "
                "handles tools better.",
            )
            return None

    def counts(self, now: float) -> TurnCounts:
        """The server's usage when it sent one, else the chunks that carried output."""
        completion = self._completion_tokens
        if completion:
            eval_s = (
                self._generation_ms / 1000 if self._generation_ms else self.output_seconds(now)
            )
            return TurnCounts(self._prompt_tokens or 0, completion, eval_s, None)
        return TurnCounts(
            prompt_tokens=self._prompt_tokens or 0,
            completion_tokens=self.chunks_seen,
            eval_s=self.output_seconds(now),
            reported_ms=None,
        )
