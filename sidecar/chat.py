"""One chat: a request to Ollama's `/api/chat`, streamed into notifications.

The loop is the thin I/O shell around `ChatTurn`: read what the network gives, split it into
lines, wait until stdout has room, then feed the turn and queue its notifications in one go. The
wait happens before the turn sees the lines, so when the chat is cancelled during that wait the
turn holds exactly the text that was written: the result's message always equals the
concatenation of the deltas the host received.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import trio

from . import errors
from .framing import LineSplitter, encode_lines
from .outbox import Outbox
from .protocol import ChatParams, OllamaChatRequest
from .turn import ChatTurn

if TYPE_CHECKING:
    from .ollama import OllamaClient

# Ollama's chunks are small; a line this long means the body is not an Ollama stream.
UPSTREAM_MAX_LINE_BYTES: Final = 16 * 1024 * 1024


def ollama_request(params: ChatParams, model: str) -> OllamaChatRequest:
    return OllamaChatRequest(
        model=model,
        messages=params.messages,
        stream=True,
        options=params.options,
        think=params.think,
        format=params.format,
        keep_alive=params.keep_alive,
        tools=params.tools,
    )


async def stream_chat(
    client: OllamaClient, request: OllamaChatRequest, turn: ChatTurn, outbox: Outbox
) -> None:
    """Streams one reply into `turn`, writing notifications as chunks arrive.

    Returns when Ollama sent `done:true`. Raises `RpcError` for every failure (the turn keeps
    the partial reply). Cancellation: closes the upstream response, which stops the model.
    """
    splitter = LineSplitter(UPSTREAM_MAX_LINE_BYTES)
    async with client.chat_stream(request) as body:
        while not turn.ended:
            data = await body.read()
            lines = splitter.feed(data) if data else splitter.flush()
            if lines:
                await outbox.wait_writable()
                outbox.put(encode_lines(turn.feed(lines, trio.current_time())))
            if not data:
                break
    if turn.failure is not None:
        raise turn.failure
    if not turn.finished:
        raise errors.stream_interrupted("Ollama ended the stream without its final chunk")
