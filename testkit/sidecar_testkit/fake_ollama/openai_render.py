"""A scenario's NDJSON lines rendered as the `/v1/chat/completions` SSE stream of one flavour.

Why it is built this way: every scenario is written once, as the lines Ollama's `/api/chat` sends
(`scenarios.py`). The `/v1` endpoint plays the same script through `render`, which turns each
line into the events a server of the chosen flavour (`openai_wire`) would write for it, so a test
of the OpenAI dialect covers exactly the replies the Ollama tests cover.

One rendered piece per script line keeps the server's pacing, `pause_after` and `lines_sent`
identical in both dialects. A done line renders the reply's end (finish chunk, usage chunk when
the request asked for it, `[DONE]`); an `{"error"}` line becomes `data: {"error":{...}}` and no
`[DONE]`; a line that is not a chunk (malformed, custom) goes out as the data of one event,
unchanged. With `keepalive`, SSE comment lines (`: ping`) precede the first two lines' events,
so clients prove they skip them.

Real Ollama differs in one place on purpose: for a mid-stream error it sends a bogus empty chunk
and then EOF; here both flavours send llama-server's explicit error event, so a client's
"upstream error" path can be tested (the EOF path is the `truncated` scenario).

Pure code: no I/O, no trio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

import msgspec
from msgspec import UNSET, UnsetType

from sidecar_testkit.fake_ollama.openai_wire import (
    DEFAULT_FLAVOUR,
    LLAMA_FINGERPRINT,
    OLLAMA_FINGERPRINT,
    LlamaChoice,
    LlamaChunk,
    LlamaDelta,
    LlamaFunction,
    LlamaToolCall,
    LlamaUsage,
    OllamaChoice,
    OllamaChunk,
    OllamaDelta,
    OllamaFunction,
    OllamaToolCall,
    OpenAIUsage,
    Timings,
    argument_fragments,
    count,
    error_body,
    error_message,
    event,
    llama_arguments,
    made_up_id,
    timings_from,
    unix_seconds,
)
from sidecar_testkit.fake_ollama.wire import go_json

if TYPE_CHECKING:
    from sidecar_testkit.fake_ollama.scenarios import Script

KEEPALIVE: Final = b": ping\n\n"
SSE_TYPE: Final = "text/event-stream"
_LOWER_ALNUM: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
_encoder: Final = msgspec.json.Encoder()


# --- one reply ---------------------------------------------------------------------------------


def _message(chunk: dict[str, Any]) -> dict[str, Any]:
    message = chunk.get("message")
    return message if isinstance(message, dict) else {}


def _text(message: dict[str, Any], key: str) -> str:
    value = message.get(key)
    return value if isinstance(value, str) else ""


def _calls(message: dict[str, Any]) -> list[dict[str, Any]]:
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        return []
    return [c for c in calls if isinstance(c, dict) and isinstance(c.get("function"), dict)]


class _Reply:
    """The state of one reply while its lines are rendered (what was sent so far)."""

    def __init__(self, flavour: str, model: str, reply_id: str, include_usage: bool) -> None:
        self.flavour = flavour
        self.model = model
        self.id = reply_id
        self.include_usage = include_usage
        self.created: int | None = None
        self.started = False
        self.calls_sent = 0

    # -- one line ----------------------------------------------------------------------

    def line(self, line: bytes) -> bytes:
        try:
            chunk = msgspec.json.decode(line)
        except msgspec.DecodeError:
            chunk = None
        if not isinstance(chunk, dict) or not ({"error", "message", "done"} & chunk.keys()):
            return event(line.rstrip(b"\n"))  # not a chunk: passed on as it is
        if "error" in chunk:
            return event(self._error(chunk["error"]))
        model = chunk.get("model")
        if isinstance(model, str):
            self.model = model
        created = unix_seconds(chunk.get("created_at"))
        if self.flavour == "ollama":
            return self._ollama(chunk, created)
        return self._llama(chunk, created)

    def _error(self, message: Any) -> bytes:
        text = message if isinstance(message, str) else go_json(message).decode()
        return error_body(self.flavour, 500, text).rstrip(b"\n")

    def _finish_reason(self, chunk: dict[str, Any]) -> str:
        if self.calls_sent:
            return "tool_calls"
        reason = chunk.get("done_reason")
        return reason if isinstance(reason, str) and reason else "stop"

    # -- Ollama ------------------------------------------------------------------------

    def _ollama(self, chunk: dict[str, Any], created: int) -> bytes:
        if self.created is None:
            self.created = created  # Ollama fixes `created` from the first response
        message = _message(chunk)
        content, thinking = _text(message, "content"), _text(message, "thinking")
        calls = [self._ollama_call(call) for call in _calls(message)]
        done = chunk.get("done") is True
        deltas: list[OllamaDelta] = []
        if thinking and content:  # ToStreamChunks splits such a chunk in two
            deltas.append(OllamaDelta(content="", reasoning=thinking))
            deltas.append(OllamaDelta(content=content, tool_calls=calls))
        elif thinking or content or calls or not done:
            deltas.append(OllamaDelta(content=content, reasoning=thinking, tool_calls=calls))
        out = []
        for delta in deltas:
            if not self.started:
                delta.role, self.started = "assistant", True
            out.append(self._ollama_chunk([OllamaChoice(0, delta, None)]))
        if done:
            finish = OllamaChoice(0, OllamaDelta(), self._finish_reason(chunk))
            out.append(self._ollama_chunk([finish]))
            if self.include_usage:
                prompt, completion = count(chunk, "prompt_eval_count"), count(chunk, "eval_count")
                usage = OpenAIUsage(prompt, completion, prompt + completion)
                out.append(self._ollama_chunk([], usage))
            out.append(b"[DONE]")
        return b"".join(map(event, out))

    def _ollama_call(self, call: dict[str, Any]) -> OllamaToolCall:
        function = call["function"]
        index = function.get("index")
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:  # older Ollama made one up here
            call_id = "call_" + made_up_id(f"{self.id} {self.calls_sent}", 8, _LOWER_ALNUM)
        self.calls_sent += 1
        return OllamaToolCall(
            id=call_id,
            index=index if isinstance(index, int) else 0,
            type="function",
            function=OllamaFunction(
                name=_text(function, "name"),
                arguments=go_json(function.get("arguments", {})).decode(),
            ),
        )

    def _ollama_chunk(
        self, choices: list[OllamaChoice], usage: OpenAIUsage | UnsetType = UNSET
    ) -> bytes:
        assert self.created is not None
        return go_json(
            OllamaChunk(
                id=self.id, object="chat.completion.chunk", created=self.created,
                model=self.model, system_fingerprint=OLLAMA_FINGERPRINT, choices=choices,
                usage=usage,
            )
        )

    # -- llama-server ------------------------------------------------------------------

    def _llama(self, chunk: dict[str, Any], created: int) -> bytes:
        message = _message(chunk)
        deltas: list[LlamaDelta] = []
        if not self.started:
            deltas.append(LlamaDelta(role="assistant", content=None))
            self.started = True
        if thinking := _text(message, "thinking"):
            deltas.append(LlamaDelta(reasoning_content=thinking))
        if content := _text(message, "content"):
            deltas.append(LlamaDelta(content=content))
        for call in _calls(message):
            deltas += self._llama_call(call)
        out = [self._llama_chunk([LlamaChoice(None, 0, delta)], created) for delta in deltas]
        if chunk.get("done") is True:
            finish = LlamaChoice(self._finish_reason(chunk), 0, LlamaDelta())
            timings = timings_from(chunk)
            if self.include_usage:
                prompt, completion = count(chunk, "prompt_eval_count"), count(chunk, "eval_count")
                usage = LlamaUsage(completion, prompt, prompt + completion)
                out.append(self._llama_chunk([finish], created))
                out.append(self._llama_chunk([], created, usage, timings))
            else:
                out.append(self._llama_chunk([finish], created, timings=timings))
            out.append(b"[DONE]")
        return b"".join(map(event, out))

    def _llama_call(self, call: dict[str, Any]) -> list[LlamaDelta]:
        function = call["function"]
        index = self.calls_sent
        self.calls_sent += 1
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = made_up_id(f"{self.id} {index}", 32)
        header = LlamaToolCall(
            index=index, id=call_id, type="function",
            function=LlamaFunction(name=_text(function, "name"), arguments=""),
        )
        deltas = [LlamaDelta(tool_calls=[header])]
        for fragment in argument_fragments(llama_arguments(function.get("arguments", {}))):
            piece = LlamaToolCall(index=index, function=LlamaFunction(arguments=fragment))
            deltas.append(LlamaDelta(tool_calls=[piece]))
        return deltas

    def _llama_chunk(
        self,
        choices: list[LlamaChoice],
        created: int,
        usage: LlamaUsage | UnsetType = UNSET,
        timings: Timings | UnsetType = UNSET,
    ) -> bytes:
        return _encoder.encode(
            LlamaChunk(
                choices=choices, created=created, id=self.id, model=self.model,
                system_fingerprint=LLAMA_FINGERPRINT, object="chat.completion.chunk",
                usage=usage, timings=timings,
            )
        )


# --- a whole script -------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderOptions:
    """How to render one `/v1` reply: the server's flavour and what the request asked for."""

    flavour: str = DEFAULT_FLAVOUR
    model: str = ""
    reply_id: str = ""
    include_usage: bool = False
    keepalive: bool = True


def render(script: Script, options: RenderOptions) -> Script:
    """`script` as a `/v1/chat/completions` response: SSE pieces instead of NDJSON lines.

    A non-streamed body with an Ollama `{"error": str}` becomes the flavour's error body (same
    status); other bodies pass unchanged. A script with `v1_events` for this flavour replays
    those events verbatim (with the request's model). Each output line is one line's events.
    """
    if script.body is not None:
        message = error_message(script.body) if script.status >= 400 else None
        if message is None:
            return script
        return replace(script, body=error_body(options.flavour, script.status, message))
    replayed = script.v1_events.get(options.flavour)
    if replayed is not None:
        pieces = [replay_model(piece, options.model, options.flavour) for piece in replayed]
    else:
        reply_id = script.v1_ids.get(options.flavour, options.reply_id)
        reply = _Reply(options.flavour, options.model, reply_id, options.include_usage)
        pieces = [reply.line(line) for line in script.lines]
    if options.keepalive:
        pieces[:2] = [KEEPALIVE + piece for piece in pieces[:2]]
    return replace(script, lines=pieces, stream_type=SSE_TYPE)


def replay_model(piece: bytes, model: str, flavour: str) -> bytes:
    """An SSE fixture event with its `"model"` value replaced by `model`."""
    value = go_json(model) if flavour == "ollama" else _encoder.encode(model)
    return re.sub(rb'"model":"(?:[^"\\]|\\.)*"', lambda _: b'"model":' + value, piece)
