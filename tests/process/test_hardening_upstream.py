"""A hostile or broken upstream, against the real process (issue 11, items 2 and 5).

- Text already received is never thrown away: valid chunks followed by broken HTTP framing in
  the same network read still reach the host as `chat:token`s and stay in `data.messages`.
- The OpenAI-compatible path never reports a broken reply as a finished one: `[DONE]` without a
  `finish_reason`, `finish_reason: "error"`, an `error:` field or a bare `{"error": ...}` line are
  errors that keep the partial text and say what the server said.

`raw_server` is a loopback server that answers every request with the given bytes in one write,
head and body together, and then closes: whatever the read boundaries on the sidecar's side, the
broken bytes arrive with (or right behind) the good ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Final

import msgspec
import pytest
import trio

from .e2e import GUARD_S, chat_params, checked_sidecar
from ..support import read_request_head

NDJSON_HEAD: Final = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
)
SSE_HEAD: Final = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def ndjson_token(text: str) -> bytes:
    return msgspec.json.encode(
        {"model": "m", "message": {"role": "assistant", "content": text}, "done": False}
    ) + b"\n"


def sse(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + msgspec.json.encode({"choices": [choice]}) + b"\n\n"


def sse_chunked(events: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        + events
    )


@asynccontextmanager
async def raw_server(response: bytes) -> AsyncIterator[str]:
    async def answer(stream: trio.SocketStream) -> None:
        try:
            if await read_request_head(stream) is not None:
                await stream.send_all(response)
        except trio.BrokenResourceError:
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        [listener] = await nursery.start(partial(trio.serve_tcp, answer, 0, host="127.0.0.1"))
        yield f"http://127.0.0.1:{listener.socket.getsockname()[1]}"
        nursery.cancel_scope.cancel()


async def chat_against(response: bytes, *args: str, provider: str = "ollama") -> tuple[dict[str, Any], str]:
    """One chat against a server that answers `response`: the chat's answer and its tokens."""
    with trio.fail_after(GUARD_S):
        async with raw_server(response) as url:
            upstream = (
                ["--ollama-url", url] if provider == "ollama"
                else ["--provider", "openai", "--base-url", url + "/v1"]
            )
            async with checked_sidecar(*upstream, *args) as sidecar:
                chat = await sidecar.request("chat", chat_params("m"))
                answer = await sidecar.response(chat)
    return answer, sidecar.text(chat)


# --- item 2: text received before broken framing ----------------------------------------------

GOOD_NDJSON: Final = b"".join(chunk(ndjson_token(t)) for t in ("p0 ", "p1 ", "p2 "))
GOOD_SSE: Final = b"".join(chunk(sse({"content": t})) for t in ("p0 ", "p1 ", "p2 "))
BROKEN: Final = {
    "a broken chunk-size line": b"zz\r\n",
    "chunk data not followed by CRLF": b"3\r\nabcX\r\n",
}


@pytest.mark.parametrize("broken", list(BROKEN.values()), ids=list(BROKEN))
@pytest.mark.parametrize("provider", ["ollama", "openai"])
async def test_tokens_before_broken_framing_in_the_same_read_are_kept(
    provider: str, broken: bytes
) -> None:
    head, good = (NDJSON_HEAD, GOOD_NDJSON) if provider == "ollama" else (sse_chunked(b""), GOOD_SSE)
    answer, streamed = await chat_against(head + good + broken, provider=provider)
    error = answer["error"]
    assert error["code"] == -32003 and "broken HTTP framing" in error["message"]
    assert streamed == "p0 p1 p2 "
    assert error["data"]["messages"] == [{"role": "assistant", "content": "p0 p1 p2 "}]


# --- item 5: the OpenAI-compatible path never calls a broken reply finished --------------------

PARTIAL: Final = sse({"role": "assistant", "content": "p0 "}) + sse({"content": "p1 "})
DONE: Final = b"data: [DONE]\n\n"


async def test_done_without_any_finish_reason_is_stream_interrupted() -> None:
    answer, streamed = await chat_against(SSE_HEAD + PARTIAL + DONE, provider="openai")
    error = answer["error"]
    assert error["code"] == -32003 and error["data"]["kind"] == "stream_interrupted"
    assert "finish_reason" in error["message"]
    assert streamed == "p0 p1 "
    assert error["data"]["messages"] == [{"role": "assistant", "content": "p0 p1 "}]


async def test_finish_reason_error_is_an_upstream_error() -> None:
    body = PARTIAL + sse({}, "error") + DONE
    answer, streamed = await chat_against(SSE_HEAD + body, provider="openai")
    error = answer["error"]
    assert error["code"] == -32002 and error["data"]["status"] == 200
    assert 'finish_reason "error"' in error["message"]
    assert error["data"]["messages"] == [{"role": "assistant", "content": "p0 p1 "}]
    assert streamed == "p0 p1 "


@pytest.mark.parametrize(
    "error_bytes",
    [
        b'error: {"code":500,"message":"the context is full","type":"server_error"}\n\n',
        b'data: {"error":{"code":500,"message":"the context is full","type":"server_error"}}\n\n',
        b'{"error":{"message":"the context is full"}}\n',
        b"error: the context is full\n\n",
    ],
    ids=["error field", "error member of a data event", "bare error line", "plain error field"],
)
async def test_an_error_the_server_sent_keeps_its_message_and_the_text(error_bytes: bytes) -> None:
    answer, streamed = await chat_against(SSE_HEAD + PARTIAL + error_bytes + DONE, provider="openai")
    error = answer["error"]
    assert error["code"] == -32002 and error["data"]["status"] == 200
    assert error["message"] == "OpenAI-compatible server error: the context is full"
    assert error["data"]["messages"] == [{"role": "assistant", "content": "p0 p1 "}]
    assert streamed == "p0 p1 "


async def test_a_bare_error_body_under_200_keeps_its_message() -> None:
    answer, _ = await chat_against(SSE_HEAD + b'{"error":"model is loading"}\n', provider="openai")
    error = answer["error"]
    assert error["code"] == -32002
    assert error["message"] == "OpenAI-compatible server error: model is loading"
    assert error["data"]["messages"] == []
