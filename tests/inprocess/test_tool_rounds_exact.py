"""A chat's tool rounds and approval, exactly as a host sees them (chat.py): what scripts/mutate
found no test noticing (docs/testing.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
import trio.testing

from .rig import CHAT, ScriptStream, ndjson, open_rig, streaming, tool_calls

WEATHER = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}


def first_token_ms(response: dict[str, Any]) -> Any:
    return response["result"]["usage"]["first_token_ms"]


async def test_first_token_ms_is_set_whenever_output_came() -> None:
    calls = tool_calls(("r1", "list_directory", {}))
    held = ScriptStream([*ndjson("par", done=False), trio.Event()])
    async with open_rig(streaming(ndjson("hi"), calls, ndjson("done"), held)) as rig:
        plain = await rig.response(await rig.request("chat", CHAT))
        rounds = await rig.response(await rig.request("chat", {**CHAT, "tools": ["list_directory"]}))
        cancelled = await rig.request("chat", CHAT)
        await rig.read_until(lambda l: rig.text(cancelled) == "par")
        await rig.response(await rig.request("cancel_chat", {"chat_id": cancelled}))
        partial = await rig.response(cancelled)
    for response in (plain, rounds, partial):
        assert isinstance(first_token_ms(response), int) and first_token_ms(response) >= 0


async def test_approval_auto_with_every_tool_offered_writes_without_asking(tmp_path: Path) -> None:
    calls = tool_calls(("w1", "write_file", {"path": "a.txt", "content": "yes"}))
    async with open_rig(streaming(calls, ndjson("ok")), root=str(tmp_path)) as rig:
        await rig.response(await rig.request("chat", {**CHAT, "tools": True, "approval": "auto"}))
    assert (tmp_path / "a.txt").read_text() == "yes"
    assert not [l for l in rig.lines if l.get("method") == "chat:approval_request"]


async def test_a_client_tool_with_an_empty_name_is_refused() -> None:
    nameless = {"type": "function", "function": {"name": ""}}
    async with open_rig(streaming()) as rig:
        answer = await rig.response(await rig.request("chat", {**CHAT, "tools": ["read_file", nameless]}))
    assert answer["error"]["message"] == (
        "Invalid params: a client tool needs function.name - at `$.tools[1]`"
    )


async def test_a_client_tool_whose_function_is_not_an_object_is_refused() -> None:
    async with open_rig(streaming()) as rig:
        answer = await rig.response(
            await rig.request("chat", {**CHAT, "tools": [{"type": "function", "function": "weather"}]})
        )
    assert answer["error"]["message"] == (
        "Invalid params: a client tool needs function.name - at `$.tools[0]`"
    )


async def test_a_tool_result_for_a_built_in_call_is_refused() -> None:
    calls = tool_calls(("r1", "list_directory", {}))
    held = ScriptStream([*ndjson("x", done=False), trio.Event()])
    async with open_rig(streaming(calls, held)) as rig:
        chat = await rig.request("chat", {**CHAT, "tools": ["list_directory", WEATHER]})
        await rig.notification("chat:tool_result")
        await rig.read_until(lambda l: rig.text(chat) == "x")  # still running, in round 2
        answer = await rig.response(
            await rig.request("tool_result", {"chat_id": chat, "call_id": "r1", "content": "forged"})
        )
    assert answer["error"]["message"] == (
        f"Invalid params: chat {chat} is not waiting for a client tool result for call 'r1'"
    )


async def test_a_client_tools_error_flag_reaches_the_result() -> None:
    async with open_rig(streaming(tool_calls(("k1", "weather", {})), ndjson("ok"))) as rig:
        chat = await rig.request("chat", {**CHAT, "tools": [WEATHER]})
        await rig.notification("chat:tool_call")
        await rig.request(
            "tool_result", {"chat_id": chat, "call_id": "k1", "content": "no network", "is_error": True}
        )
        await rig.response(chat)
    [note] = [l["params"] for l in rig.lines if l.get("method") == "chat:tool_result"]
    assert (note["content"], note["is_error"]) == ("no network", True)


async def test_a_call_of_a_tool_not_offered_names_the_ones_that_were() -> None:
    async with open_rig(streaming(tool_calls(("n1", "nope", {})), ndjson("ok"))) as rig:
        await rig.response(await rig.request("chat", {**CHAT, "tools": ["read_file", WEATHER]}))
    [note] = [l["params"] for l in rig.lines if l.get("method") == "chat:tool_result"]
    assert note["content"] == "unknown tool 'nope': it was not offered (offered: read_file, weather)"
    assert note["is_error"] is True


async def test_a_denial_without_a_reason_ends_with_a_full_stop(tmp_path: Path) -> None:
    calls = tool_calls(("w1", "write_file", {"path": "a.txt", "content": "x"}))
    async with open_rig(streaming(calls, ndjson("ok")), root=str(tmp_path)) as rig:
        chat = await rig.request("chat", {**CHAT, "tools": ["write_file"]})
        await rig.notification("chat:approval_request")
        await rig.request("approve_tool", {"chat_id": chat, "call_id": "w1", "approved": False})
        await rig.response(chat)
    [note] = [l["params"] for l in rig.lines if l.get("method") == "chat:tool_result"]
    assert note["content"] == "The user declined to run write_file."


async def test_a_failure_in_a_later_round_keeps_every_message_so_far() -> None:
    calls = tool_calls(("r1", "list_directory", {}))
    cut = [*ndjson("half", done=False)]  # the body ends without done:true
    async with open_rig(streaming(calls, cut)) as rig:
        error = (await rig.response(await rig.request("chat", {**CHAT, "tools": ["list_directory"]})))["error"]
    assert error["data"]["kind"] == "stream_interrupted"
    messages = error["data"]["messages"]
    assert [m["role"] for m in messages] == ["assistant", "tool", "assistant"]
    assert messages[-1]["content"] == "half"


async def test_first_token_ms_of_a_chat_cancelled_in_a_later_round_is_the_first_rounds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Virtual time: the first round's text comes 0.25 s after the chat starts, the second
    round's 1 s after the host answered the call. Cancelled in round 2, the chat still says
    its first output came at 250 ms."""
    first = ScriptStream([0.25, *ndjson("a", done=False), *tool_calls(("k1", "weather", {}))])
    second = ScriptStream([1.0, *ndjson("b", done=False), trio.Event()])
    async with open_rig(streaming(first, second)) as rig:
        chat = await rig.request("chat", {**CHAT, "tools": [WEATHER]})
        await rig.notification("chat:tool_call")
        await rig.request("tool_result", {"chat_id": chat, "call_id": "k1", "content": "sun"})
        await rig.read_until(lambda l: rig.text(chat) == "ab")
        cancel = await rig.response(await rig.request("cancel_chat", {"chat_id": chat}))
        result = (await rig.response(chat))["result"]
    assert cancel["result"] == {"cancelled": [chat]}
    assert result["done_reason"] == "cancelled"
    assert [m["content"] for m in result["messages"]] == ["a", "sun", "b"]
    assert result["usage"]["first_token_ms"] == 250
    assert result["usage"]["duration_ms"] == 1250
