"""Promises of docs/protocol.md that a broken sidecar used to pass (issue 13), held in-process
so that scripts/mutate's fast test set sees them: §5's check order (each line breaks two
adjacent checks, so a swap of the two changes the answer), the order of `cancel_chat`'s list,
the safety gate of `exec_shell`, and a second answer to the same tool call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from ..support import request_line
from .rig import CHAT, Rig, ScriptStream, ndjson, open_rig, streaming, tool_calls


async def next_line(rig: Rig) -> dict[str, Any]:
    """The next line written that is not a notification."""
    while True:
        line = await rig.read_line()
        if "method" not in line:
            return line


# --- §5: check order ----------------------------------------------------------------------------
# The rig holds one chat "held" in flight, with no --model, --max-chats 1 and --max-requests 1,
# so every check of §5's table can fail. Each line fails check N and check N+1; the answer must
# be check N's.
ORDER_CASES = [
    # (checks broken, raw line, code, id in the error, a word of the expected message)
    ("3 utf-8 before 4 json", b'{"id":1,\xff', -32700, None, "UTF-8"),
    ("4 json before 5 object", b'[{"id":1}', -32700, None, "Parse error"),
    ("6 id before 7 jsonrpc", b'{"id":1.5,"jsonrpc":"1.0","method":"status"}', -32600, None, "id must be"),
    ("7 jsonrpc before 8 method", b'{"id":7,"jsonrpc":"1.0"}', -32600, 7, "jsonrpc"),
    ("8 method before 9 known", b'{"id":8,"method":8}', -32600, 8, '"method" must be a string'),
    ("9 known before 10 in flight", b'{"id":"held","method":"nope"}', -32601, "held", "Method not found"),
    ("10 in flight before 11 params", b'{"id":"held","method":"chat","params":{"messages":"x"}}',
     -32600, "held", "already in flight"),
    ("11 params before 12 model", b'{"id":11,"method":"chat","params":{"messages":"x"}}',
     -32602, 11, "$.messages"),
    ("12 model before 13 busy", b'{"id":12,"method":"chat","params":{"messages":[{"role":"user"}]}}',
     -32602, 12, "no model"),
    ("13 busy before 14 overloaded",
     b'{"id":13,"method":"chat","params":{"model":"m","messages":[{"role":"user"}]}}',
     -32004, 13, "Busy"),
]


async def test_each_line_is_answered_by_the_first_check_of_section_5_it_fails() -> None:
    held = ScriptStream([trio.Event()])
    async with open_rig(streaming(held), model=None, max_chats=1, max_requests=1) as rig:
        await rig.request("chat", {"model": "m", **CHAT}, id="held")
        answers = []
        for _, line, *_ in ORDER_CASES:
            await rig.send_raw(line + b"\n")
            answers.append(await next_line(rig))
    for (name, _, code, id, word), answer in zip(ORDER_CASES, answers, strict=True):
        assert (name, answer["id"], answer["error"]["code"]) == (name, id, code), answer
        assert word in answer["error"]["message"], name


async def test_cancel_shutdown_are_past_the_request_limit_but_not_past_the_earlier_checks() -> None:
    held = ScriptStream([trio.Event()])
    async with open_rig(streaming(held), max_requests=1) as rig:
        await rig.request("chat", CHAT, id="held")
        await rig.request("cancel_chat", {"chat_id": None}, id="c")
        bad = await rig.response("c")
        await rig.request("status", id="s")
        overloaded = await rig.response("s")
        cancel = await rig.response(await rig.request("cancel_chat", {"chat_id": "held"}))
    assert bad["error"]["code"] == -32602  # 11 params before 14 (skipped for cancel_chat)
    assert overloaded["error"]["code"] == -32005
    assert cancel["result"] == {"cancelled": ["held"]}


# --- cancel_chat ----------------------------------------------------------------------------------


async def test_cancel_all_lists_the_chats_in_the_order_they_were_accepted() -> None:
    ids = ["c", "a", "b", 2, 1]  # neither sorted nor reverse-sorted, mixed kinds
    bodies = [ScriptStream([*ndjson("x", done=False), trio.Event()]) for _ in ids]
    async with open_rig(streaming(*bodies), max_chats=len(ids)) as rig:
        for id in ids:
            await rig.request("chat", CHAT, id=id)
        for id in ids:
            await rig.read_until(lambda l, c=id: rig.text(c) == "x")
        cancel = await rig.response(await rig.request("cancel_chat", {}, id="all"))
    assert cancel["result"] == {"cancelled": ids}
    answers = [l for l in rig.lines if "result" in l and l["id"] in ids]
    assert sorted(a["result"]["done_reason"] for a in answers) == ["cancelled"] * len(ids)
    assert rig.lines.index(cancel) > max(i for i, l in enumerate(rig.lines) if l.get("id") in ids)


# --- approval: exec_shell is gated ----------------------------------------------------------------


@pytest.mark.parametrize("approved", [True, False])
async def test_exec_shell_asks_first_and_runs_nothing_before_the_answer(
    tmp_path: Path, approved: bool
) -> None:
    calls = tool_calls(("s1", "exec_shell", {"command": "echo ran > ran.txt"}))
    body = streaming(calls, ndjson("ok"))
    async with open_rig(body, root=str(tmp_path), allow_shell=True) as rig:
        chat = await rig.request("chat", {**CHAT, "tools": ["exec_shell"]})
        asked = await rig.read_until(
            lambda l: l.get("method") == "chat:approval_request" or l.get("id") == chat
        )
        assert asked.get("params") == {
            "chat_id": chat, "call_id": "s1", "name": "exec_shell",
            "arguments": {"command": "echo ran > ran.txt"},
        }
        ran_before = (tmp_path / "ran.txt").exists()
        approve = {"chat_id": chat, "call_id": "s1", "approved": approved, "reason": "no"}
        answer = await rig.response(await rig.request("approve_tool", approve))
        response = await rig.response(chat)
    assert ran_before is False
    assert answer["result"] == {}
    assert (tmp_path / "ran.txt").exists() is approved
    tool_message = response["result"]["messages"][1]
    if approved:
        assert tool_message["content"] == "[exit code 0]"
    else:
        assert tool_message["content"] == "The user declined to run exec_shell: no"


async def test_exec_shell_with_approval_auto_runs_without_asking(tmp_path: Path) -> None:
    calls = tool_calls(("s1", "exec_shell", {"command": "echo ran > ran.txt"}))
    async with open_rig(streaming(calls, ndjson("ok")), root=str(tmp_path), allow_shell=True) as rig:
        chat = await rig.request("chat", {**CHAT, "tools": ["exec_shell"], "approval": "auto"})
        await rig.response(chat)
    assert (tmp_path / "ran.txt").read_text() == "ran\n"
    assert not [l for l in rig.lines if l.get("method") == "chat:approval_request"]


# --- a second answer to the same call -------------------------------------------------------------


async def test_a_second_approve_tool_for_the_same_call_is_invalid_params(tmp_path: Path) -> None:
    calls = tool_calls(("w1", "write_file", {"path": "a.txt", "content": "yes"}))
    async with open_rig(streaming(calls, ndjson("ok")), root=str(tmp_path)) as rig:
        chat = await rig.request("chat", {**CHAT, "tools": ["write_file"]})
        await rig.notification("chat:approval_request")
        # Both answers in one write: both are read before the chat moves on. Their handlers
        # run as tasks, so which one wins is trio's choice; exactly one may.
        params = {"chat_id": chat, "call_id": "w1", "reason": "no"}
        await rig.send_raw(
            request_line("yes", "approve_tool", {**params, "approved": True})
            + request_line("no", "approve_tool", {**params, "approved": False})
        )
        answers = {id: await rig.response(id) for id in ("yes", "no")}
        response = await rig.response(chat)
        late = await rig.response(await rig.request("approve_tool", {**params, "approved": True}))
    [won] = [id for id, a in answers.items() if a.get("result") == {}]
    [lost] = [a["error"] for id, a in answers.items() if id != won]
    assert (lost["code"], lost["data"]["kind"]) == (-32602, "invalid_params")
    assert "not waiting for an approval for call 'w1'" in lost["message"]
    assert late["error"]["code"] == -32602
    assert (tmp_path / "a.txt").exists() is (won == "yes")  # the winning answer stood
    assert response["result"]["messages"][1]["content"] == (
        "wrote 3 bytes to a.txt" if won == "yes" else "The user declined to run write_file: no"
    )


CLIENT_TOOL = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}


async def test_a_second_tool_result_for_the_same_call_is_invalid_params() -> None:
    calls = tool_calls(("k1", "weather", {"city": "Oslo"}))
    async with open_rig(streaming(calls, ndjson("ok"))) as rig:
        chat = await rig.request("chat", {**CHAT, "tools": [CLIENT_TOOL]})
        await rig.notification("chat:tool_call")
        params = {"chat_id": chat, "call_id": "k1"}
        await rig.send_raw(
            request_line("r1", "tool_result", {**params, "content": "-3 C"})
            + request_line("r2", "tool_result", {**params, "content": "+30 C"})
        )
        answers = {id: await rig.response(id) for id in ("r1", "r2")}
        response = await rig.response(chat)
        late = await rig.response(await rig.request("tool_result", {**params, "content": "x"}))
    [won] = [id for id, a in answers.items() if a.get("result") == {}]
    [lost] = [a["error"] for id, a in answers.items() if id != won]
    assert (lost["code"], lost["data"]["kind"]) == (-32602, "invalid_params")
    assert "not waiting for a client tool result for call 'k1'" in lost["message"]
    assert late["error"]["code"] == -32602
    assert response["result"]["messages"][1]["content"] == {"r1": "-3 C", "r2": "+30 C"}[won]


# --- §4 envelope: ids and params -------------------------------------------------------------------


async def test_ids_1_and_string_1_differ_and_an_answered_id_can_be_used_again() -> None:
    held = ScriptStream([trio.Event()])
    async with open_rig(streaming(held, ndjson("again"))) as rig:
        await rig.request("chat", CHAT, id=1)
        other = await rig.response(await rig.request("status", id="1"))
        await rig.response(await rig.request("cancel_chat", {"chat_id": 1}, id="stop"))
        first = await rig.response(1)
        await rig.request("chat", CHAT, id=1)
        again = await rig.read_until(lambda l: l.get("id") == 1 and "method" not in l and l is not first)
    assert other["result"]["chats"] == [1]
    assert again["result"]["messages"][0]["content"] == "again"


async def test_cancel_chat_without_params_cancels_all_and_a_null_chat_id_is_invalid() -> None:
    held = ScriptStream([trio.Event()])
    async with open_rig(streaming(held)) as rig:
        chat = await rig.request("chat", CHAT)
        null = await rig.response(await rig.request("cancel_chat", {"chat_id": None}))
        bare = await rig.response(await rig.request("cancel_chat"))
    assert null["error"]["code"] == -32602
    assert bare["result"] == {"cancelled": [chat]}


async def test_empty_deltas_are_not_sent() -> None:
    body = [
        b'{"message":{"role":"assistant","content":""},"done":false}\n',
        b'{"message":{"role":"assistant","content":"a","thinking":""},"done":false}\n',
        b'{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}\n',
    ]
    async with open_rig(streaming(body)) as rig:
        chat = await rig.request("chat", CHAT)
        await rig.response(chat)
    notes = [l for l in rig.lines if l.get("method", "").startswith("chat:")]
    assert [(n["method"], n["params"]["content"]) for n in notes] == [("chat:token", "a")]
