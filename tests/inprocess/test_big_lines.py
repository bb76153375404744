"""A line of `server.BIG_LINE_BYTES` or more (a long conversation sent whole) is read in pieces
(`Server.dispatch_big`): a valid chat reaches the model with every message, in order, and the
params around them; anything else gets exactly the answer a short line would; and the lines after
it are still served in the order they came."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import trio

from sidecar import server
from sidecar.server import BIG_LINE_BYTES, MESSAGES_PER_PIECE, Server

from .rig import ScriptStream, ndjson, open_rig, streaming

COUNT = 2 * MESSAGES_PER_PIECE + 37  # three pieces, the last one partial


def conversation(count: int = COUNT) -> list[dict[str, Any]]:
    size = BIG_LINE_BYTES // count + 64  # the line passes BIG_LINE_BYTES
    return [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i} " + "x" * size}
        for i in range(count)
    ]


def line(message: dict[str, Any]) -> bytes:
    data = msgspec.json.encode(message) + b"\n"
    assert len(data) > BIG_LINE_BYTES
    return data


async def test_a_big_chat_reaches_the_model_whole_and_the_next_line_finds_it() -> None:
    messages = conversation()
    held = ScriptStream([trio.Event()])
    async with open_rig(streaming(ndjson("ok"), held)) as rig:
        await rig.send_raw(line({"jsonrpc": "2.0", "id": "big", "method": "chat", "params": {
            "messages": messages, "options": {"temperature": 0.25}, "keep_alive": "7m"}}))
        answer = await rig.response("big")
        # One write: the cancel is read right behind the big line and must find its chat.
        second = line({"id": "next", "method": "chat", "params": {"messages": messages}})
        await rig.send_raw(second + b'{"id":"c","method":"cancel_chat","params":{"chat_id":"next"}}\n')
        cancel = await rig.response("c")
    assert answer["result"]["done_reason"] == "stop"
    assert answer["result"]["messages"] == [{"role": "assistant", "content": "ok"}]
    assert cancel["result"] == {"cancelled": ["next"]}
    sent = msgspec.json.decode(rig.requests[0].content)
    assert rig.requests[0].url.path == "/api/chat"
    assert [(m["role"], m["content"]) for m in sent["messages"]] == [
        (m["role"], m["content"]) for m in messages
    ]
    assert (sent["model"], sent["options"], sent["keep_alive"]) == ("m", {"temperature": 0.25}, "7m")


async def test_a_big_chat_with_one_bad_message_gets_the_short_lines_exact_error() -> None:
    messages = conversation()
    messages[MESSAGES_PER_PIECE + 5]["role"] = 5  # in the second piece
    async with open_rig(streaming()) as rig:
        await rig.send_raw(line({"id": 1, "method": "chat", "params": {"messages": messages}}))
        answer = await rig.response(1)
        await rig.request("status", id=2)
        status = await rig.response(2)
    assert answer["error"]["code"] == -32602
    assert f"$.messages[{MESSAGES_PER_PIECE + 5}].role" in answer["error"]["message"]
    assert status["result"]["chats"] == []  # nothing was started


async def test_big_lines_that_are_not_valid_chats_are_answered_as_short_ones_are() -> None:
    messages = conversation()
    cases = [
        # (the line, the id answered, the code, a word of the message)
        ({"id": 1.5, "method": "chat", "params": {"messages": messages}}, None, -32600, "id must be"),
        ({"id": 2, "jsonrpc": "1.0", "method": "chat", "params": {"messages": messages}}, 2, -32600, "jsonrpc"),
        ({"id": 3, "method": "chats", "params": {"messages": messages}}, 3, -32601, "Method not found"),
        ({"id": 4, "method": "chat", "params": {"messages": messages, "after": 1}}, 4, -32602, "after"),
        ({"id": 5, "method": "chat"}, 5, -32602, "messages"),
    ]
    cases[-1][0]["pad"] = "x" * BIG_LINE_BYTES
    async with open_rig(streaming()) as rig:
        answers = []
        for message, id, *_ in cases:
            await rig.send_raw(line(message))
            answers.append(await rig.read_until(lambda l, i=id: "error" in l and l["id"] == i))
    for (_, id, code, word), answer in zip(cases, answers, strict=True):
        assert (answer["id"], answer["error"]["code"]) == (id, code), answer
        assert word in answer["error"]["message"], answer


async def test_a_big_chat_after_shutdown_is_not_served() -> None:
    async with open_rig(streaming()) as rig:
        await rig.send_raw(
            b'{"id":"s","method":"shutdown"}\n'
            + line({"id": "late", "method": "chat", "params": {"messages": conversation()}})
        )
        lines = await rig.read_all()
    assert [l.get("id") for l in lines[1:]] == ["s"]
    assert [r.url.path for r in rig.requests if r.url.path == "/api/chat"] == []


async def test_a_bug_while_admitting_a_big_chat_is_an_internal_error_and_serving_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(self: Server, request: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    async with open_rig(streaming()) as rig:
        monkeypatch.setattr(Server, "_admit", broken)
        await rig.send_raw(line({"id": 1, "method": "chat", "params": {"messages": conversation()}}))
        error = await rig.read_line()
        monkeypatch.undo()
        cancel = await rig.response(await rig.request("cancel_chat", {}))
    assert error["id"] is None
    assert (error["error"]["code"], error["error"]["message"]) == (
        -32603, "Internal error: RuntimeError: boom"
    )
    assert cancel["result"] == {"cancelled": []}


async def test_a_bug_in_reading_a_big_chat_in_pieces_falls_back_to_reading_it_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(head: Any, messages: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(server, "chat_params", broken)
    async with open_rig(streaming(ndjson("ok"))) as rig:
        await rig.send_raw(line({"id": 1, "method": "chat", "params": {"messages": conversation()}}))
        answer = await rig.response(1)
    assert answer["result"]["messages"] == [{"role": "assistant", "content": "ok"}]
