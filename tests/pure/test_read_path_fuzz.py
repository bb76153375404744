"""The per-read read path against the per-token one it replaced, on random splits.

The chat stream's bytes go through HTTP chunk decoding (`http1.ChunkedBody`), then the dialect's
turn (`OllamaTurn` on NDJSON, `OpenAITurn` on SSE), which splits, decodes and applies them. The
path now works per network read (the chunks of a read framed in one pass, its whole lines or
events decoded with one msgspec call when that is exact); tests/reference/ keeps the code it
replaced. Both are fed the same bytes, cut into the same random reads, and must give the same
body bytes per read, the same framing errors, the same notifications per read, and the same
end: result, messages, usage counts, failure (code, message, data).

The bodies: every transcript of the scripted Ollama (the fixtures), every streamed scenario
(NDJSON, and SSE as each `/v1` flavour renders it), and the same with random damage: blank,
CRLF-ended, padded, malformed, truncated, doubled, non-UTF-8 or oversized lines, SSE comments,
fields and multi-line events, chunk extensions, bad chunk sizes, bodies cut short. Seeds are
fixed, so a failure replays exactly.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import msgspec
import pytest

import sidecar.providers.turn as turn_module
from sidecar.providers import http1
from sidecar.providers.ollama.turn import OllamaTurn
from sidecar.providers.openai.turn import OpenAITurn
from sidecar_testkit.fake_ollama.logprobs import with_logprobs
from sidecar_testkit.fake_ollama.openai_render import RenderOptions, render
from sidecar_testkit.fake_ollama.openai_wire import FLAVOURS
from sidecar_testkit.fake_ollama.scenarios import SCENARIOS, Script

from ..reference import http1 as old_http1
from ..reference import turn as old_turn_module
from ..reference.ollama_turn import OllamaTurn as OldOllamaTurn
from ..reference.openai_turn import OpenAITurn as OldOpenAITurn
from ..support import TRANSCRIPTS

CASES: Final = 400  # per dialect and seed block
REQUEST: Final = {
    "messages": [{"role": "user", "content": "hello there, general"}],
    "tools": [{"type": "function", "function": {"name": "read_file", "parameters": {}}}],
}


@dataclass(frozen=True)
class Body:
    name: str
    events: list[bytes]  # NDJSON lines or SSE events (each with its own terminator)
    complete: bool  # the stream ends with its terminating chunk


@cache
def bodies(kind: str) -> list[Body]:
    suffix = ".ndjson" if kind == "ndjson" else ".sse"
    found = [
        Body(path.name, path.read_bytes().splitlines(keepends=True), True)
        for path in sorted(TRANSCRIPTS.glob(f"*{suffix}"))
    ]
    for name, factory in SCENARIOS.items():
        script: Script = factory({**REQUEST, "model": name})
        if script.body is not None:
            continue
        if kind == "ndjson":
            found.append(Body(name, script.lines, script.ending in ("done", "eof")))
            continue
        for flavour in FLAVOURS:
            rendered = render(script, RenderOptions(flavour, name, "chatcmpl-1", True))
            found.append(Body(f"{name}/{flavour}", rendered.lines, script.ending in ("done", "eof")))
    assert len(found) > 20
    return found


# --- damage -------------------------------------------------------------------------------------


def damage_line(rng: random.Random, line: bytes, sse: bool) -> list[bytes]:
    choice = rng.randrange(18)
    body = line.rstrip(b"\r\n")
    end = b"\n\n" if sse else b"\n"
    if choice == 0:
        return [line, b"\n" if not sse else b"\n\n"]  # a blank line
    if choice == 1:
        return [line.replace(b"\n", b"\r\n")]
    if choice == 2:
        return [b"  " + body + b" \t" + end]
    if choice == 3:
        return [b"not json at all" + end] if not sse else [b"data: not json\n\n"]
    if choice == 4:
        return [body[: rng.randrange(1, max(2, len(body)))] + end]  # truncated
    if choice == 5:
        return [body + body.removeprefix(b"data: ") + end]  # two values on one line
    if choice == 6:
        return [body[:-1] + b"\xff\xfe}" + end]  # not UTF-8
    if choice == 7:
        return [body + b'"' + b"x" * rng.randrange(100, 600) + end]  # long (over a small limit)
    if choice == 8 and sse:
        return [b": keep-alive\n", line]
    if choice == 9 and sse:
        return [b"event: message\nid: 7\n" + line]
    if choice == 10 and sse:
        data = body.removeprefix(b"data: ")
        return [b"data: " + data[: len(data) // 2] + b"\ndata: " + data[len(data) // 2 :] + b"\n\n"]
    if choice == 11 and sse:
        return [body.replace(b"data: ", b"data:", 1) + end]
    if choice == 12:
        return [line.replace(b"\n", b"\r")]
    if choice == 13:
        return [b'{"a":[{}' + end.replace(b"\n\n", b"\n"), b'{}]}' + end]  # a forgery pair
    if choice == 14 and sse:
        return [b'error: {"message":"boom"}\n\n']
    if choice == 15:  # two bad lines that decode as two good values when read together
        prefix = b"data: " if sse else b""
        return [prefix + b'{"a":[1' + end, prefix + b',2]}' + body.removeprefix(b"data: ") + end]
    if choice == 16:  # one value over two lines, in one piece (one read, for the quick path)
        return [body[:-1] + b"\n" + body[-1:] + end]
    return [line, line]  # repeated


def damaged(rng: random.Random, body: Body, sse: bool) -> list[bytes]:
    out: list[bytes] = []
    rate = rng.choice((0.0, 0.0, 0.05, 0.3))
    for event in body.events:
        out += damage_line(rng, event, sse) if rng.random() < rate else [event]
    return out


# --- framing and reads ----------------------------------------------------------------------------


def chunked(rng: random.Random, pieces: list[bytes], complete: bool) -> list[bytes]:
    """The body as HTTP chunks: one per piece (as servers flush), or random sizes; the list
    of the framed chunks (the last one may be cut short: the connection drops)."""
    data = b"".join(pieces)
    if rng.random() < 0.6:
        frames = [p for p in pieces if p]
    else:
        frames, pos = [], 0
        while pos < len(data):
            size = rng.randrange(1, 300)
            frames.append(data[pos : pos + size])
            pos += size
    out = []
    for frame in frames:
        size = b"%x" % len(frame)
        roll = rng.random()
        if roll < 0.01:
            size += b";ext=1"
        elif roll < 0.015:
            size = b"%X" % len(frame)
        elif roll < 0.02:
            size = b"%x" % (len(frame) + rng.choice((-1, 1, 2)))
        elif roll < 0.022:
            size = b"zz"
        out.append(size + b"\r\n" + frame + b"\r\n")
    if complete:
        out.append(b"0\r\n\r\n" if rng.random() < 0.9 else b"0\r\nX-Trailer: 1\r\n\r\n")
    if rng.random() < 0.05:  # the connection drops
        cut = rng.randrange(sum(map(len, out)) + 1)
        kept: list[bytes] = []
        for framed in out:
            kept.append(framed[: max(cut, 0)])
            cut -= len(framed)
        out = [framed for framed in kept if framed]
    return out


def reads(rng: random.Random, framed: list[bytes]) -> list[bytes]:
    """The network reads: random sizes, the whole body at once, or (as a model that writes a
    token per chunk gives, and the quick paths take) one chunk per read."""
    style = rng.randrange(6)
    if style >= 4:
        return framed
    raw = b"".join(framed)
    out, pos = [], 0
    while pos < len(raw):
        if style == 0:
            size = rng.randrange(1, 8)
        elif style == 1:
            size = rng.randrange(1, 200)
        elif style == 2:
            size = rng.randrange(100, 5000)
        else:
            size = len(raw)
        out.append(raw[pos : pos + size])
        pos += size
    return out


# --- running both -----------------------------------------------------------------------------


def outcome(exc: Exception) -> tuple[str, str]:
    return type(exc).__name__, str(exc)


def run(
    make_body: Callable[[], Any], make_turn: Callable[[], Any], limit: int | None,
    sse: bool, chunks: list[bytes],
) -> list[Any]:
    """What the chat loop would see, step by step."""
    decoder, turn = make_body(), make_turn()
    if limit is not None:
        if sse:
            turn._sse.max_event_bytes = limit
        else:
            turn._lines.max_line_bytes = limit
    log: list[Any] = []
    now = 1.0
    for read in chunks:
        if turn.ended or decoder.done:
            break
        try:
            data = decoder.feed(read)
        except Exception as exc:  # ProtocolError: ChatBody raises stream_interrupted
            log.append(("framing", outcome(exc)))
            break
        log.append(("body", data))
        if data:
            now += 1.0
            log.append(("notes", msgspec.to_builtins(turn.feed(data, now))))
    else:  # the reads ran out: the connection closed
        if not turn.ended:
            try:
                decoder.eof()
            except Exception as exc:  # a body cut short: ChatBody raises stream_interrupted
                log.append(("eof", outcome(exc)))
            else:
                log.append(("notes", msgspec.to_builtins(turn.eof(now + 1.0))))
    if decoder.done and not turn.ended:  # the body ended: ChatBody.read returns b""
        log.append(("notes", msgspec.to_builtins(turn.eof(now + 1.0))))
    failure = turn.failure
    log.append((
        "end", turn.finished, turn.ended, turn.done_reason,
        None if failure is None else (failure.code, failure.message, failure.data()),
        msgspec.to_builtins(turn.result(now + 2.0)),
        msgspec.to_builtins(turn.messages()), tuple(turn.counts(now + 2.0)),
        turn.content.value(), turn.thinking.value(), turn.first_output_at,
    ))
    return log


@pytest.fixture(autouse=True)
def fixed_call_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls without an id get a made-up one: the same sequence in both implementations."""
    for module in (turn_module, old_turn_module):
        counter = iter(range(10**6))
        monkeypatch.setattr(module, "new_call_id", lambda c=counter: f"call_{next(c)}")


@pytest.mark.parametrize("kind", ["ndjson", "sse"])
@pytest.mark.parametrize("seed", range(3))
def test_the_per_read_path_gives_what_the_per_token_path_gave(kind: str, seed: int) -> None:
    rng = random.Random(f"{kind}-{seed}")
    sse = kind == "sse"
    new_turn, old_turn = (OpenAITurn, OldOpenAITurn) if sse else (OllamaTurn, OldOllamaTurn)
    streamed = 0
    for case in range(CASES):
        body = rng.choice(bodies(kind))
        pieces = damaged(rng, body, sse)
        framed = chunked(rng, pieces, body.complete)
        split = reads(rng, framed)
        limit = rng.choice((None, None, None, rng.randrange(40, 700)))
        new = run(http1.ChunkedBody, lambda: new_turn(7, 0.0), limit, sse, split)
        old = run(old_http1.ChunkedBody, lambda: old_turn(7, 0.0), limit, sse, split)
        assert new == old, f"case {case}: {body.name}, limit {limit}, reads {split!r}"
        streamed += sum(1 for entry in new if entry[0] == "notes" and entry[1])
    assert streamed > CASES  # the cases streamed text, not only errors


class GeneralOllamaTurn(OllamaTurn):
    """`OllamaTurn` without its quick path for a read of one line."""

    feed = turn_module.Turn.feed


@cache
def ndjson_with_logprobs() -> list[Body]:
    """The NDJSON bodies, and those with text again with logprobs (which the reference
    implementation predates)."""
    found = list(bodies("ndjson"))
    for name, factory in SCENARIOS.items():
        script = factory({**REQUEST, "model": name})
        logprobs = with_logprobs(script, {"logprobs": True, "top_logprobs": 2})
        if script.body is None and logprobs.lines != script.lines:
            found.append(Body(f"{name}+logprobs", logprobs.lines, script.ending in ("done", "eof")))
    return found


@pytest.mark.parametrize("seed", range(2))
def test_the_quick_path_for_a_read_of_one_line_gives_what_the_general_path_gives(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`OllamaTurn.feed` takes a read that is one whole compact line on its own: the same
    notifications and the same end as the general path, on every body, damaged or not, read a
    chunk at a time (where the quick path is taken) or in random pieces."""
    rng = random.Random(f"one-line-{seed}")
    taken = {"feed": 0, "general": 0, "text": 0}  # OllamaTurn's reads, and how it took them

    def counted(name: str, method: Any) -> Any:
        def call(self: Any, *args: Any) -> Any:
            if type(self) is OllamaTurn:
                taken[name] += 1
            return method(self, *args)
        return call

    for name, attr in (("feed", "feed"), ("general", "_read"), ("text", "_lone_text")):
        monkeypatch.setattr(OllamaTurn, attr, counted(name, getattr(OllamaTurn, attr)))
    for case in range(CASES):
        body = rng.choice(ndjson_with_logprobs())
        framed = chunked(rng, damaged(rng, body, False), body.complete)
        split = reads(rng, framed)
        limit = rng.choice((None, None, None, rng.randrange(40, 700)))
        logs = []
        for make_turn in (OllamaTurn, GeneralOllamaTurn):
            counter = iter(range(10**6))  # both runs make up the same call ids
            monkeypatch.setattr(turn_module, "new_call_id", lambda c=counter: f"call_{next(c)}")
            logs.append(run(http1.ChunkedBody, lambda: make_turn(7, 0.0), limit, False, split))
        new, general = logs
        assert new == general, f"case {case}: {body.name}, limit {limit}, reads {split!r}"
    # Most reads were text on the quick path; some were other chunks (a tool call, the end) on
    # it; the rest (pieces, damage, several lines) on the general path.
    quick_other = taken["feed"] - taken["general"] - taken["text"]
    assert taken["text"] > CASES // 8 and quick_other > CASES // 16 and taken["general"] > CASES


def test_the_fuzz_reaches_both_the_one_call_decoding_and_its_fallback() -> None:
    """The cases above exercise both branches: a clean read decodes in one call, a damaged one
    falls back to line by line (which gives the error)."""
    from sidecar import framing
    from sidecar.providers.ollama.wire import chunk_decoder

    clean = b"".join(bodies("ndjson")[0].events)
    assert framing.decode_objects(chunk_decoder, clean) is not None
    for bad in (clean + b"\n", clean + b"nope\n", clean + b'{"a":[1\n,2]}{"b":3}\n', b" " + clean):
        assert framing.decode_objects(chunk_decoder, bad) is None
