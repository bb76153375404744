"""The dispatcher's answers, exactly (server.py): what scripts/mutate found no test noticing
(docs/testing.md). Each test is a behaviour a host sees on the wire."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio

from sidecar.methods import METHODS
from sidecar.server import Server

from ..support import GUARD_S
from .rig import CHAT, ScriptStream, ndjson, open_rig, streaming, tool_calls


async def test_a_bug_while_reading_a_line_is_an_internal_error_with_a_null_id_and_serving_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admit = Server._admit
    calls = 0

    def broken_once(self: Server, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return admit(self, request, *args, **kwargs)

    monkeypatch.setattr(Server, "_admit", broken_once)
    with trio.fail_after(GUARD_S):
        async with open_rig(streaming()) as rig:
            await rig.request("status", id=1)
            error = await rig.read_line()
            cancel = await rig.response(await rig.request("cancel_chat", {}))
    assert error == {
        "jsonrpc": "2.0", "id": None,
        "error": {"code": -32603, "message": "Internal error: RuntimeError: boom", "data": {
            "kind": "internal_error",
            "hint": "This is a bug in ollama-sidecar; its stderr log has the details.",
        }},
    }
    assert cancel["result"] == {"cancelled": []}


async def test_a_bug_in_a_running_chat_is_an_internal_error_that_keeps_its_messages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sidecar.chat import ChatSession

    async def broken(self: ChatSession) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(ChatSession, "run", broken)
    async with open_rig(streaming()) as rig:
        error = (await rig.response(await rig.request("chat", CHAT)))["error"]
        status = await rig.response(await rig.request("status"))
    assert (error["code"], error["message"]) == (-32603, "Internal error: RuntimeError: boom")
    assert error["data"] == {
        "kind": "internal_error", "messages": [],
        "hint": "This is a bug in ollama-sidecar; its stderr log has the details.",
    }
    assert status["result"]["chats"] == []


async def test_an_oversized_line_names_its_size_and_the_limit() -> None:
    async with open_rig(streaming(), max_line_bytes=64) as rig:
        line = b'{"id":1,"method":"status","params":{"pad":"' + b"x" * 100 + b'"}}'
        await rig.send_raw(line + b"\n")
        error = (await rig.read_line())["error"]
    assert len(line) == 146
    assert error["message"] == (
        "Invalid request: line of 146 bytes exceeds the limit of 64 bytes (--max-line-bytes)"
    )


async def test_refusals_say_exactly_what_is_wrong() -> None:
    async with open_rig(streaming(ScriptStream([trio.Event()])), model=None, max_chats=1) as rig:
        unknown = await rig.response(await rig.request("nope"))
        no_model = await rig.response(await rig.request("chat", CHAT))
        await rig.request("chat", {"model": "m", **CHAT})
        busy = await rig.response(await rig.request("chat", {"model": "m", **CHAT}))
        no_chat = await rig.response(
            await rig.request("approve_tool", {"chat_id": 99, "call_id": "c", "approved": True})
        )
    assert unknown["error"]["message"] == (
        f"Method not found: 'nope' (methods: {', '.join(METHODS)})"
    )
    assert list(METHODS)[:2] == ["chat", "cancel_chat"]  # the table's order, comma-separated
    assert no_model["error"]["message"] == (
        "Invalid params: no model: pass params.model, or start the sidecar with --model NAME"
    )
    assert busy["error"]["message"] == "Busy: 1 chats are already running (--max-chats 1)"
    assert busy["error"]["data"] == {
        "kind": "busy", "hint": "Wait for a chat to finish, or stop one with cancel_chat.",
    }
    assert no_chat["error"]["message"] == "Invalid params: no chat with id 99 is running"


async def test_an_error_without_a_hint_is_answered_when_an_api_key_is_set() -> None:
    async with open_rig(streaming(), api_key="sekrit") as rig:
        answer = await rig.response(
            await rig.request("tool_result", {"chat_id": 5, "call_id": "c", "content": "x"})
        )
    assert answer["error"]["data"] == {"kind": "invalid_params"}


async def test_a_finished_chat_leaves_the_running_list_and_frees_its_place() -> None:
    async with open_rig(streaming(ndjson("one"), ndjson("two")), max_chats=1) as rig:
        first = await rig.response(await rig.request("chat", CHAT))
        status = await rig.response(await rig.request("status"))
        second = await rig.response(await rig.request("chat", CHAT))
    assert status["result"]["chats"] == []
    assert (first["result"]["messages"][0]["content"], second["result"]["messages"][0]["content"]) == (
        "one", "two",
    )


async def test_auto_approve_from_the_command_line_writes_without_asking(tmp_path: Path) -> None:
    calls = tool_calls(("w1", "write_file", {"path": "a.txt", "content": "yes"}))
    async with open_rig(streaming(calls, ndjson("ok")), root=str(tmp_path), auto_approve=True) as rig:
        await rig.response(await rig.request("chat", {**CHAT, "tools": ["write_file"]}))
    assert (tmp_path / "a.txt").read_text() == "yes"
    assert not [l for l in rig.lines if l.get("method") == "chat:approval_request"]


async def test_the_shell_timeout_comes_from_the_command_line(tmp_path: Path) -> None:
    calls = tool_calls(("s1", "exec_shell", {"command": "sleep 30"}))
    async with open_rig(
        streaming(calls, ndjson("ok")), root=str(tmp_path), allow_shell=True, auto_approve=True,
        shell_timeout_s=0.2,
    ) as rig:
        with trio.fail_after(20):
            response = await rig.response(await rig.request("chat", {**CHAT, "tools": ["exec_shell"]}))
    assert response["result"]["messages"][1]["content"].endswith(
        "[timed out after 0.2 s; process group killed]"
    )


async def test_a_chat_cancelled_in_its_second_round_keeps_the_partial_reply_last() -> None:
    calls = tool_calls(("k1", "weather", {}))
    second = ScriptStream([*ndjson("part", done=False), trio.Event()])
    tool = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    async with open_rig(streaming(calls, second)) as rig:
        chat = await rig.request("chat", {**CHAT, "tools": [tool]})
        await rig.notification("chat:tool_call")
        await rig.request("tool_result", {"chat_id": chat, "call_id": "k1", "content": "cold"})
        await rig.read_until(lambda l: rig.text(chat) == "part")
        await rig.response(await rig.request("cancel_chat", {"chat_id": chat}))
        response = await rig.response(chat)
    result = response["result"]
    assert result["done_reason"] == "cancelled"
    assert [m["role"] for m in result["messages"]] == ["assistant", "tool", "assistant"]
    assert result["messages"][-1] == {"role": "assistant", "content": "part"}


async def test_a_request_cut_off_by_shutdown_says_why() -> None:
    hung = trio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        await hung.wait()
        raise AssertionError("unreachable")

    async with open_rig(handler) as rig:
        status = await rig.request("status")
        await rig.request("shutdown", id="bye")
        lines = await rig.read_all()
    answers = [l for l in lines if "method" not in l]
    assert [a["id"] for a in answers] == ["bye", status]
    assert answers[1]["error"] == {
        "code": -32603, "message": "Request interrupted: the sidecar is exiting (shutdown)",
        "data": {"kind": "internal_error"},
    }


def test_the_ready_line_describes_this_process() -> None:
    import os

    import msgspec

    from sidecar.app import ready_line
    from sidecar.config import Config

    line = ready_line(Config(base_url="http://h:1", provider="openai"))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    ready = msgspec.json.decode(line)
    assert (ready["jsonrpc"], ready["method"]) == ("2.0", "sidecar:ready")
    params = {key: value for key, value in ready["params"].items() if key != "methods"}
    assert params == {
        "name": "ollama-sidecar", "version": "0.1.0", "protocol": 1,
        "ollama_url": "http://h:1", "pid": os.getpid(), "provider": "openai",
    }


async def test_an_unterminated_last_line_is_served_at_eof() -> None:
    async with open_rig(streaming()) as rig:
        await rig.send_raw(b'{"id":"last","method":"cancel_chat"}')  # no \n
        await rig.stdin.aclose()
        answer = await rig.response("last")
    assert answer["result"] == {"cancelled": []}
