"""What the scripted Ollama says: the `Script` type and the named scenarios.

Why it is built this way: a scenario is a plain function from the decoded request JSON to a
`Script`, a description of the bytes to send (status, lines, how the body ends, timing). The
functions are pure, so they can be tested without a socket, and tests can add their own
(`fake.scripts["mine"] = lambda request: Script(...)`). The HTTP server in `server.py` only
plays a Script; it never decides what to say.

Fixture scenarios replay the byte-exact transcripts in `transcripts/` (see the fixtures README)
and only rewrite the `model` value to the one the request sent. Generated scenarios are built
with `wire.ChunkWriter`, so they follow the same Go field order and escaping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Final, Literal

import msgspec

from sidecar_testkit.fake_ollama.openai_wire import split_events
from sidecar_testkit.fake_ollama.wire import (
    ChunkWriter,
    ToolCall,
    error_body,
    go_json,
    tool_call,
)

Ending = Literal["done", "drop", "hang", "eof"]
ENDINGS: Final[frozenset[str]] = frozenset({"done", "drop", "hang", "eof"})


@dataclass
class Script:
    """The bytes of one response and how to pace them.

    - `body` not None: a non-streamed response (`application/json; charset=utf-8`, Content-Length).
    - otherwise `lines` (each ending in `b"\\n"`) are sent as `application/x-ndjson` with chunked
      encoding, one HTTP chunk (one socket write) per line, and then `ending` decides the rest:
      `done`/`eof` finish the body properly (`eof` names transcripts without a done line), `drop`
      closes the TCP connection without the terminating 0-chunk, `hang` sends nothing more and
      keeps the connection open until the client goes away.
    - `first_delay` seconds pass before the status line, which goes out together with the first
      line (as Ollama's headers do after a model load).
    - `pace` seconds between lines overrides the server's pace; `split_bytes` sends each line as
      several chunks of that many bytes, 2 ms apart, so multi-byte characters straddle chunks.
    - On `/v1/chat/completions` the same script is rendered as SSE (`openai_render.render`), one
      piece per line; `v1_ids` maps a flavour to the reply id it shows (else one is made up per
      request), and `v1_events` maps a flavour to SSE events replayed verbatim instead (a
      fixture's bytes). The rendered script's `stream_type` is `text/event-stream`.
    """

    status: int = 200
    body: bytes | None = None
    lines: list[bytes] = field(default_factory=list)
    ending: Ending = "done"
    first_delay: float = 0.0
    pace: float | None = None
    split_bytes: int | None = None
    v1_ids: dict[str, str] = field(default_factory=dict)
    v1_events: dict[str, list[bytes]] = field(default_factory=dict)
    stream_type: str = "application/x-ndjson"  # the Content-Type of `lines`
    on_done: Callable[[], None] | None = None  # called just before the last line is sent

    def __post_init__(self) -> None:
        if self.ending not in ENDINGS:
            raise ValueError(f"ending must be one of {sorted(ENDINGS)}, not {self.ending!r}")
        if self.split_bytes is not None and self.split_bytes < 1:
            raise ValueError("split_bytes must be a positive number of bytes")


ScriptFactory = Callable[[dict[str, Any]], Script]

SEPARATORS_TEXT: Final = "line one\u0085line two\u2028line three\u2029<b>&\tend\n"
MULTIBYTE_TEXT: Final = "Café, 日本語 🙂 Ω!"
LONG_DEFAULT_TOKENS: Final = 1000
SLOW_FIRST_TOKEN_DELAY_S: Final = 2.0
TOOLS_DEFAULT_TEXT: Final = "Let me check."
TOOLS_BAD_REQUEST_TEXT: Final = (
    "tools scenario: the last user message must be a JSON object with calls"
)
TOOL_RESULTS_PREFIX: Final = "Tool results: "
TOOLS_FOREVER_TEXT: Final = "Looking again."
# Fixture f is Ollama's /v1 rendering of fixture b; this is the reply id it shows.
F_FIXTURE_REPLY_ID: Final = "chatcmpl-417"
G_FIXTURE_START_NS: Final = 1_787_331_731_000_000_000
G_FIXTURE_CALL_ID: Final = "Xc4Rj8Lm2Pq7Tz1Wn6Bv9Kd3Hs5Fy0Ga"
SIGNIN_URL: Final = "https://ollama.com/connect?name=scripted-host&key=c3NoLWVkMjU1MTkgQUFBQQ"


# --- request helpers ---------------------------------------------------------------------------


def request_model(request: dict[str, Any]) -> str:
    """The request's `model` string as sent ("" if absent or not a string)."""
    model = request.get("model")
    return model if isinstance(model, str) else ""


def last_user_message(request: dict[str, Any]) -> str:
    """The `content` of the last `role:"user"` message, or "" if there is none."""
    messages = request.get("messages")
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else ""
    return ""


def words(text: str) -> list[str]:
    """Split into word pieces that keep their whitespace, so `"".join(words(t)) == t`."""
    return re.findall(r"\S+\s*|\s+", text)


# --- fixture replay ----------------------------------------------------------------------------


@cache
def transcript(name: str) -> bytes:
    """The bytes of a file in `transcripts/` (package data, byte-identical to the fixtures)."""
    return (resources.files("sidecar_testkit.fake_ollama") / "transcripts" / name).read_bytes()


def replay_lines(name: str, model: str) -> list[bytes]:
    """The lines of an NDJSON transcript, with the fixture's model replaced by `model`."""
    lines = transcript(name).split(b"\n")
    if lines[-1] != b"":
        raise ValueError(f"transcript {name} does not end in a newline")
    lines = [line + b"\n" for line in lines[:-1]]
    fixture_model = msgspec.json.decode(lines[0])["model"]
    old = b'{"model":' + go_json(fixture_model)
    new = b'{"model":' + go_json(model)
    return [new + line[len(old) :] if line.startswith(old) else line for line in lines]


def _replay(
    name: str,
    doc: str,
    *,
    ending: Ending = "done",
    first_delay: float = 0.0,
    v1_ids: dict[str, str] | None = None,
) -> ScriptFactory:
    """A factory replaying transcript `name` with the request's model; `doc` describes it."""

    def factory(request: dict[str, Any]) -> Script:
        return Script(
            lines=replay_lines(name, request_model(request)),
            ending=ending,
            first_delay=first_delay,
            v1_ids=dict(v1_ids or {}),
        )

    factory.__doc__ = doc
    return factory


# --- generated streams -------------------------------------------------------------------------


def _tokens(request: dict[str, Any], tokens: list[str]) -> tuple[ChunkWriter, list[bytes]]:
    writer = ChunkWriter(request_model(request))
    return writer, [writer.chunk(token) for token in tokens]


def sse_events(name: str) -> list[bytes]:
    """The events of an SSE transcript, each `data: ...\\n\\n`."""
    return split_events(transcript(name))


def tool_call_fragments(request: dict[str, Any]) -> Script:
    """Text, then a tool call; on /v1 in the llama-server flavour, fixture g byte for byte.

    The /api/chat lines say what fixture g says (same text, call, id and token counts), so the
    reply is the same in both dialects; only llama-server's /v1 replays the fixture's events.
    """
    writer = ChunkWriter(request_model(request), start_ns=G_FIXTURE_START_NS)
    lines = [writer.chunk(t) for t in ["I'll", " check", " the weather."]]
    call = tool_call("get_weather", {"city": "Tokyo"}, id=G_FIXTURE_CALL_ID)
    lines.append(writer.chunk(tool_calls=[call]))
    lines.append(writer.final(prompt_eval_count=205, eval_count=21))
    return Script(
        lines=lines,
        v1_events={"llama-server": sse_events("g-v1-llama-server-sse-tool-call.sse")},
    )


def thinking_and_content(request: dict[str, Any]) -> Script:
    """Thinking chunks, one chunk with both thinking and content, content chunks, done."""
    writer = ChunkWriter(request_model(request))
    lines = [writer.chunk(thinking=t) for t in ["The user", " wants", " a greeting"]]
    lines.append(writer.chunk("Hi", thinking="."))
    lines += [writer.chunk(t) for t in [" there", ", friend", "!"]]
    return Script(lines=[*lines, writer.final()])


def tool_call_on_done(request: dict[str, Any]) -> Script:
    """Text chunks, then a tool call riding on the done:true chunk (rendered path)."""
    writer, lines = _tokens(request, ["Let", " me", " look", " that", " up."])
    call = tool_call("get_weather", {"city": "Tokyo"}, id="call_m4x7q2ze")
    return Script(lines=[*lines, writer.final(tool_calls=[call])])


def legacy_tool_call(request: dict[str, Any]) -> Script:
    """A tool call with no id and no function.index (pre-v0.12.6 server), then done."""
    writer = ChunkWriter(request_model(request))
    call = tool_call("get_weather", {"city": "Paris"}, index=None)
    return Script(lines=[writer.chunk(tool_calls=[call]), writer.final()])


def length(request: dict[str, Any]) -> Script:
    """A few tokens, then a final chunk with done_reason "length"."""
    writer, lines = _tokens(request, ["Once", " upon", " a", " time"])
    return Script(lines=[*lines, writer.final("length")])


def multibyte(request: dict[str, Any]) -> Script:
    """Content with 2-, 3- and 4-byte UTF-8 characters, sent 3 bytes per HTTP chunk."""
    writer, lines = _tokens(request, words(MULTIBYTE_TEXT))
    return Script(lines=[*lines, writer.final()], split_bytes=3)


def separators(request: dict[str, Any]) -> Script:
    """Raw U+0085, escaped U+2028/U+2029, Go-escaped <b>&, a tab, a newline: SEPARATORS_TEXT."""
    pieces = ["line one\u0085line two", "\u2028line three\u2029", "<b>&", "\tend", "\n"]
    writer, lines = _tokens(request, pieces)
    return Script(lines=[*lines, writer.final()])


def echo(request: dict[str, Any]) -> Script:
    """Streams the last user message back, one chunk per word, then done with metrics."""
    writer, lines = _tokens(request, words(last_user_message(request)))
    return Script(lines=[*lines, writer.final()])


def demo(request: dict[str, Any]) -> Script:
    """A friendly canned reply that quotes the last user message, for trying out a shell."""
    said = last_user_message(request).strip() or "(nothing)"
    if len(said) > 120:
        said = said[:119] + "…"
    text = (
        "Hello! This reply comes from the scripted Ollama of ollama-sidecar, so no real model "
        f"was involved. You wrote: “{said}”. If you can read this as it streams in, word by "
        "word, your shell is wired up correctly."
    )
    writer, lines = _tokens(request, words(text))
    return Script(lines=[*lines, writer.final()])


def long(request: dict[str, Any]) -> Script:
    """Tokens "tok1 ", "tok2 ", ...: options.num_predict of them ("length"), else 1000 ("stop")."""
    options = request.get("options")
    limit = options.get("num_predict") if isinstance(options, dict) else None
    limited = isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
    count = limit if limited else LONG_DEFAULT_TOKENS
    writer, lines = _tokens(request, [f"tok{i} " for i in range(1, count + 1)])
    return Script(lines=[*lines, writer.final("length" if limited else "stop")])


def drop(request: dict[str, Any]) -> Script:
    """Three tokens, then the TCP connection is cut without ending the chunked body."""
    return Script(lines=_tokens(request, ["This", " is", " cut"])[1], ending="drop")


def truncated(request: dict[str, Any]) -> Script:
    """Three tokens, then a clean end of body with no done line."""
    return Script(lines=_tokens(request, ["This", " just", " stops"])[1], ending="eof")


def hang(request: dict[str, Any]) -> Script:
    """Two tokens, then silence with the connection kept open until the client leaves."""
    return Script(lines=_tokens(request, ["Thinking", " hard"])[1], ending="hang")


def malformed(request: dict[str, Any]) -> Script:
    """Two tokens, then a line that is not valid JSON, then a clean end of body."""
    broken = b'{"model":"x","message":{"role":"assistant","content":"oops"\n'
    return Script(lines=[*_tokens(request, ["Fine", " so far"])[1], broken], ending="eof")


# --- tool rounds: what a chat loop sends back decides the reply ---------------------------------


class ToolCallSpec(msgspec.Struct, forbid_unknown_fields=True):
    """One call the `tools` scenario should make: a function name and its arguments object."""

    name: str
    arguments: dict[str, Any] = {}


class ToolRequest(msgspec.Struct, forbid_unknown_fields=True):
    """The JSON object the `tools` scenario reads from the last user message."""

    calls: list[ToolCallSpec]
    on_done: bool = False
    text: str = TOOLS_DEFAULT_TEXT


def tool_request_text(
    calls: Iterable[tuple[str, Mapping[str, Any]] | Mapping[str, Any]],
    on_done: bool = False,
    text: str | None = None,
) -> str:
    """The user message content that makes the `tools` scenario call `calls`.

    `calls` holds `(name, arguments)` pairs or `{"name": ..., "arguments": ...}` objects;
    `on_done` puts the calls on the done:true chunk; `text` replaces "Let me check.".
    """
    specs = []
    for call in calls:
        if isinstance(call, Mapping):
            specs.append(dict(call))
        else:
            name, arguments = call
            specs.append({"name": name, "arguments": dict(arguments)})
    request: dict[str, Any] = {"calls": specs}
    if on_done:
        request["on_done"] = True
    if text is not None:
        request["text"] = text
    return msgspec.json.encode(request).decode()


def request_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's `messages` that are JSON objects (anything else is skipped)."""
    messages = request.get("messages")
    if not isinstance(messages, list):
        return []
    return [message for message in messages if isinstance(message, dict)]


def trailing_tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The `role:"tool"` messages at the end of the history, in order ([] if the last is not)."""
    messages = request_messages(request)
    start = len(messages)
    while start > 0 and messages[start - 1].get("role") == "tool":
        start -= 1
    return messages[start:]


def assistant_rounds(request: dict[str, Any]) -> int:
    """How many assistant messages the history holds: the round number used in call ids."""
    return sum(1 for message in request_messages(request) if message.get("role") == "assistant")


def scripted_call_id(kind: str, round_number: int, position: int) -> str:
    """`call_` + 8 characters of [a-z0-9], the shape of Ollama's ids, fixed per call and round.

    `kind` is one letter naming the scenario, then 3 digits of the round (the number of assistant
    messages in the history) and 4 of the call's position, each wrapping around when too big:
    `scripted_call_id("t", 0, 1) == "call_t0000001"`.
    """
    return f"call_{kind}{round_number % 1000:03d}{position % 10000:04d}"


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else go_json(value).decode()


def tool_results_text(tool_messages: list[dict[str, Any]]) -> str:
    """"Tool results: " + "[tool_name] content" of each message, joined with " | "."""
    parts = [
        f"[{_as_text(message.get('tool_name', ''))}] {_as_text(message.get('content', ''))}"
        for message in tool_messages
    ]
    return TOOL_RESULTS_PREFIX + " | ".join(parts)


def _text_then_calls(
    request: dict[str, Any], text: str, calls: list[ToolCall], *, on_done: bool = False
) -> Script:
    writer, lines = _tokens(request, words(text))
    if on_done:
        return Script(lines=[*lines, writer.final(tool_calls=calls)])
    if calls:
        lines.append(writer.chunk(tool_calls=calls))
    return Script(lines=[*lines, writer.final()])


def tools(request: dict[str, Any]) -> Script:
    """Calls the tools a JSON last user message names; after tool messages, quotes their results.

    The last user message is `{"calls": [{"name", "arguments"}, ...], "on_done"?, "text"?}`
    (see `tool_request_text`). If the request ends in `role:"tool"` messages, the reply is
    TOOL_RESULTS_PREFIX + `[tool_name] content` of each, joined with " | ". Otherwise `text`
    streams word by word, then all calls in one done:false chunk and a done chunk (or, with
    `on_done`, the calls on the done chunk). Ids are `call_t` + 3 digits of the round + 4 of the
    position. A user message of another shape gets TOOLS_BAD_REQUEST_TEXT.
    """
    results = trailing_tool_messages(request)
    if results:
        writer, lines = _tokens(request, words(tool_results_text(results)))
        return Script(lines=[*lines, writer.final()])
    try:
        wanted = msgspec.json.decode(last_user_message(request), type=ToolRequest)
    except msgspec.DecodeError:
        writer, lines = _tokens(request, words(TOOLS_BAD_REQUEST_TEXT))
        return Script(lines=[*lines, writer.final()])
    round_number = assistant_rounds(request)
    calls = [
        tool_call(
            spec.name, spec.arguments, index=i, id=scripted_call_id("t", round_number, i)
        )
        for i, spec in enumerate(wanted.calls)
    ]
    return _text_then_calls(request, wanted.text, calls, on_done=wanted.on_done)


def tools_forever(request: dict[str, Any]) -> Script:
    """Every reply: "Looking again." and a list_directory {"path": "."} call, never an answer.

    The call comes in a done:false chunk before the done chunk; its id is `call_f` + 3 digits of
    the number of assistant messages in the history + "0000", so each round's id is new.
    """
    call = tool_call(
        "list_directory", {"path": "."}, id=scripted_call_id("f", assistant_rounds(request), 0)
    )
    return _text_then_calls(request, TOOLS_FOREVER_TEXT, [call])


# --- errors before the stream (gin c.JSON bodies, no trailing newline) --------------------------


def not_found(request: dict[str, Any]) -> Script:
    """404 {"error":"model 'NAME' not found"}, as for a model that is not installed."""
    return Script(status=404, body=error_body(f"model '{request_model(request)}' not found"))


def no_tools(request: dict[str, Any]) -> Script:
    """400: the model does not support tools."""
    message = f"registry.ollama.ai/library/{request_model(request)} does not support tools"
    return Script(status=400, body=error_body(message))


def no_thinking(request: dict[str, Any]) -> Script:
    """400: the model does not support thinking."""
    quoted = '"' + request_model(request).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return Script(status=400, body=error_body(f"{quoted} does not support thinking"))


def busy(request: dict[str, Any]) -> Script:
    """503 server busy (the scheduler queue is full)."""
    return Script(status=503, body=transcript("error-503-server-busy.json"))


def unauthorized(request: dict[str, Any]) -> Script:
    """401 with a signin_url, as for a cloud model on a server that is not signed in."""
    return Script(status=401, body=go_json({"error": "unauthorized", "signin_url": SIGNIN_URL}))


def vision(request: dict[str, Any]) -> Script:
    """Says how many images the last user message carried ("I see N image(s).")."""
    count = 0
    for message in request_messages(request):
        if message.get("role") == "user":
            images = message.get("images")
            count = len(images) if isinstance(images, list) else 0
    writer, lines = _tokens(request, words(f"I see {count} image(s)."))
    return Script(lines=[*lines, writer.final()])


def server_error(request: dict[str, Any]) -> Script:
    """500: the llama runner died before the first token."""
    return Script(
        status=500, body=error_body("llama runner process has terminated: exit status 2")
    )


SCENARIOS: Final[dict[str, ScriptFactory]] = {
    "text": _replay("a-text-stream.ndjson", "A plain reply (fixture a-text-stream)."),
    "tool-call": _replay(
        "b-text-then-tool-call.ndjson",
        "Text, then a whole tool call (fixture b; on Ollama-flavoured /v1, fixture f).",
        v1_ids={"ollama": F_FIXTURE_REPLY_ID},
    ),
    "tool-call-fragments": tool_call_fragments,
    "tool-calls-only": _replay(
        "c-tool-calls-only.ndjson", "Two parallel tool calls and no text (fixture c)."
    ),
    "tool-call-final": _replay(
        "c2-native-tool-call-in-final-chunk.ndjson",
        "One line: a tool call on the done:true chunk, native route (fixture c2).",
    ),
    "thinking": _replay(
        "d-thinking-then-content.ndjson", "Thinking chunks, then content (fixture d)."
    ),
    "midstream-error": _replay(
        "e-midstream-error.ndjson",
        'Four tokens, then an {"error"} line under status 200 and no done line (fixture e).',
        ending="eof",
    ),
    "thinking-and-content": thinking_and_content,
    "tool-call-on-done": tool_call_on_done,
    "legacy-tool-call": legacy_tool_call,
    "length": length,
    "multibyte": multibyte,
    "separators": separators,
    "echo": echo,
    "demo": demo,
    "long": long,
    "drop": drop,
    "truncated": truncated,
    "hang": hang,
    "slow-first-token": _replay(
        "a-text-stream.ndjson",
        f"Like text, after {SLOW_FIRST_TOKEN_DELAY_S:g} s without even a status line.",
        first_delay=SLOW_FIRST_TOKEN_DELAY_S,
    ),
    "malformed": malformed,
    "tools": tools,
    "tools-forever": tools_forever,
    "vision": vision,
    "plain": _replay("a-text-stream.ndjson", "Like text; a model without tools (capabilities)."),
    "not-found": not_found,
    "no-tools": no_tools,
    "no-thinking": no_thinking,
    "busy": busy,
    "server-error": server_error,
    "unauthorized": unauthorized,
}

# Scenarios that answer with an error status instead of a stream (left out of /api/tags).
ERROR_SCENARIOS: Final[frozenset[str]] = frozenset(
    {"not-found", "no-tools", "no-thinking", "busy", "server-error", "unauthorized"}
)


def describe(factory: ScriptFactory) -> str:
    """The first line of a scenario's docstring ("" if it has none)."""
    doc = (getattr(factory, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def scenario_for_model(scripts: dict[str, ScriptFactory], model: str) -> str | None:
    """The scenario a model name selects: the name itself, or the name without `:latest`."""
    if model in scripts:
        return model
    base = model.removesuffix(":latest")
    return base if base in scripts else None
