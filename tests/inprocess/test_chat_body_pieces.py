"""A long conversation's request body is encoded in pieces, with the loop let run between them,
and sent in parts never joined (`providers.pieces`): the bytes are exactly those of each
dialect's `wire.chat_body`, and they reach the server whole and in order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

from sidecar.protocol import Message, ToolCall, ToolCallFunction
from sidecar.providers import ChatRequest
from sidecar.providers.ollama import wire as ollama_wire
from sidecar.providers.openai import wire as openai_wire
from sidecar.providers.pieces import (
    MESSAGES_PER_PIECE,
    SEND_PIECE_BYTES,
    body_in_pieces,
    send_parts,
)

DIALECTS: dict[str, Callable[[ChatRequest], bytes]] = {
    "ollama": ollama_wire.chat_body,
    "openai": openai_wire.chat_body,
}


def conversation(count: int) -> list[Message]:
    out = []
    for i in range(count):
        message = Message(role="user" if i % 2 else "assistant",
                          content=f'm{i} "quoted" \u2028 caf\u00e9 "messages":[] \\')
        if i % 7 == 3:
            message.tool_calls = [ToolCall(function=ToolCallFunction(name="f", arguments={"a": i}))]
        out.append(message)
    return out


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("count", [1, MESSAGES_PER_PIECE, MESSAGES_PER_PIECE + 1, 2000])
@pytest.mark.parametrize("extra", [
    {},
    {"options": {"temperature": 0.2, "num_predict": 5}, "think": "high", "format": "json",
     "keep_alive": "5m", "tools": [{"type": "function", "function": {"name": "f"}}]},
])
async def test_the_body_in_pieces_is_the_body(
    dialect: str, count: int, extra: dict[str, Any]
) -> None:
    encode = DIALECTS[dialect]
    request = ChatRequest(model='odd "messages":[] model', messages=conversation(count), **extra)
    parts = await body_in_pieces(request, encode)
    assert b"".join(parts) == encode(request)
    # A long conversation is never one buffer (one encode, one join: the loop held meanwhile).
    assert (len(parts) == 1) == (count <= MESSAGES_PER_PIECE)


async def test_parts_reach_the_other_end_whole_and_in_order() -> None:
    big = bytes(range(256)) * (3 * SEND_PIECE_BYTES // 256 + 7)
    parts = [b"head", big, b",", b"", b"tail"]
    sender, receiver = trio.testing.memory_stream_pair()
    received = bytearray()
    writes: list[int] = []
    original = sender.send_stream.send_all

    async def counting_send_all(data: bytes | bytearray | memoryview) -> None:
        writes.append(len(data))
        await original(data)

    sender.send_stream.send_all = counting_send_all  # type: ignore[method-assign]

    async def read_all() -> None:
        while chunk := await receiver.receive_some():
            received.extend(chunk)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read_all)
        await send_parts(sender, parts)
        await sender.aclose()
    assert bytes(received) == b"".join(parts)
    assert max(writes) <= SEND_PIECE_BYTES  # a megabyte is never handed over in one write

