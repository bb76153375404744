"""A long conversation's `/api/chat` body is encoded in pieces, with the loop let run between
them (`ollama.client.chat_body_in_pieces`): the bytes are exactly those of `wire.chat_body`."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.protocol import Message, ToolCall, ToolCallFunction
from sidecar.providers import ChatRequest
from sidecar.providers.ollama.client import MESSAGES_PER_PIECE, chat_body_in_pieces
from sidecar.providers.ollama.wire import chat_body


def conversation(count: int) -> list[Message]:
    out = []
    for i in range(count):
        message = Message(role="user" if i % 2 else "assistant",
                          content=f'm{i} "quoted" \u2028 caf\u00e9 "messages":[] \\')
        if i % 7 == 3:
            message.tool_calls = [ToolCall(function=ToolCallFunction(name="f", arguments={"a": i}))]
        out.append(message)
    return out


@pytest.mark.parametrize("count", [1, MESSAGES_PER_PIECE, MESSAGES_PER_PIECE + 1, 2000])
@pytest.mark.parametrize("extra", [
    {},
    {"options": {"temperature": 0.2}, "think": "high", "format": "json", "keep_alive": "5m",
     "tools": [{"type": "function", "function": {"name": "f"}}]},
])
async def test_the_body_in_pieces_is_the_body(count: int, extra: dict[str, Any]) -> None:
    request = ChatRequest(model='odd "messages":[] model', messages=conversation(count), **extra)
    assert await chat_body_in_pieces(request) == chat_body(request)
