"""The in-process floor: the relay's CPU work with nothing else, no sockets, no pipes, no event loop.

The same NDJSON lines the upstream sends are split on `\\n`, each decoded with a typed msgspec
decoder, and one `chat:token` JSON-RPC line encoded per token, in a tight loop. Nothing a
relay in Python does per token can be cheaper than this, so it is the ceiling for tokens/s.
"""

from __future__ import annotations

import gc
import time

import msgspec


class _Message(msgspec.Struct):
    content: str = ""


class _Chunk(msgspec.Struct):
    message: _Message | None = None
    done: bool = False


class _TokenParams(msgspec.Struct):
    chat_id: int
    content: str


class _Notification(msgspec.Struct):
    jsonrpc: str
    method: str
    params: _TokenParams


def relay_bytes(body: bytes) -> tuple[list[bytes], int]:
    """Decode every line of `body`, encode one `chat:token` line per token; (lines, tokens)."""
    decode = msgspec.json.Decoder(_Chunk).decode
    encode = msgspec.json.Encoder().encode
    out: list[bytes] = []
    append = out.append
    for line in body.split(b"\n"):
        if not line:
            continue
        chunk = decode(line)
        message = chunk.message
        if message is not None and message.content:
            append(encode(_Notification("2.0", "chat:token", _TokenParams(1, message.content))))
    return out, len(out)


def measure(body: bytes, expected_text: str) -> dict[str, float]:
    """Times one pass over `body`; checks the output text outside the timed region."""
    gc.collect()
    start = time.perf_counter()
    out, tokens = relay_bytes(body)
    payload = b"\n".join(out) + b"\n"
    elapsed = time.perf_counter() - start
    decoded = msgspec.json.Decoder(_Notification)
    text = "".join(decoded.decode(line).params.content for line in payload.splitlines())
    if text != expected_text:
        raise AssertionError("the floor relay changed the text")
    return {"tokens": tokens, "seconds": elapsed, "tokens_per_s": tokens / elapsed,
            "us_per_token": elapsed / tokens * 1e6}
