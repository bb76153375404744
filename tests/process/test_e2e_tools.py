"""Tool rounds on the real process: built-in tools, approval, client tools, limits, the root wall."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import trio

from sidecar_testkit.fake_ollama import ScriptedOllama, neutral_messages

from .e2e import GUARD_S, sidecar_for


def tool_chat(calls: list[dict[str, Any]], *, on_done: bool = False, **extra: Any) -> dict[str, Any]:
    """A chat on the `tools` scenario: the model makes `calls`, then reports their results."""
    content = json.dumps({"calls": calls, "on_done": on_done})
    return {"model": "tools", "messages": [{"role": "user", "content": content}], **extra}


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def events(sidecar, chat_id) -> list[tuple[str, Any]]:
    """The chat's lines in order as (method or "response", tool name); token runs collapsed."""
    out: list[tuple[str, Any]] = []
    for line in sidecar.lines:
        value = line.value
        if line.method and value["params"].get("chat_id") == chat_id:
            item = (line.method, value["params"].get("name"))
        elif line.is_response and value.get("id") == chat_id:
            item = ("response", None)
        else:
            continue
        if not (item == ("chat:token", None) and out and out[-1] == item):
            out.append(item)
    return out


@pytest.fixture
def root(root: Path) -> Path:
    """The shared empty project (../conftest.py), with a README in it and a secret beside it."""
    (root / "README.md").write_text("hello from the project\n")
    (root.parent / "outside.txt").write_text("secret\n")
    return root


async def test_a_built_in_tool_runs_between_two_streamed_replies(
    fake_ollama: ScriptedOllama, root: Path
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root)) as sidecar:
            chat = await sidecar.request("chat", tool_chat([call("read_file", path="README.md")], tools=True))
            response = await sidecar.response(chat)
    assert events(sidecar, chat) == [
        ("chat:token", None),
        ("chat:tool_call", "read_file"),
        ("chat:tool_result", "read_file"),
        ("chat:token", None),
        ("response", None),
    ]
    [result_note] = sidecar.notifications("chat:tool_result", chat)
    [call_note] = sidecar.notifications("chat:tool_call", chat)
    assert result_note == {
        "chat_id": chat, "call_id": call_note["call_id"], "name": "read_file",
        "content": "hello from the project\n", "is_error": False,
    }
    messages = response["result"]["messages"]
    assert [m["role"] for m in messages] == ["assistant", "tool", "assistant"]
    assert messages[0]["tool_calls"][0]["function"]["arguments"] == {"path": "README.md"}
    assert messages[1] == {
        "role": "tool", "content": "hello from the project\n", "tool_name": "read_file",
        "tool_call_id": call_note["call_id"],
    }
    assert messages[2]["content"] == "Tool results: [read_file] hello from the project\n"
    assert response["result"]["done_reason"] == "stop"
    # The second request carried the whole exchange, tools offered both times.
    first, second = (record.chat for record in fake_ollama.chat_records)
    assert [t["function"]["name"] for t in first["tools"]] == [
        "read_file", "list_directory", "search_files", "write_file",
    ]
    assert second["tools"] == first["tools"]
    assert second["messages"][1:] == neutral_messages(messages[:2])


async def test_parallel_calls_and_calls_on_the_done_chunk(fake_ollama: ScriptedOllama, root: Path) -> None:
    calls = [call("list_directory", path="."), call("read_file", path="README.md")]
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root)) as sidecar:
            chat = await sidecar.request("chat", tool_chat(calls, on_done=True, tools=["read_file", "list_directory"]))
            response = await sidecar.response(chat)
    notes = sidecar.notifications("chat:tool_result", chat)
    assert [(n["name"], n["is_error"]) for n in notes] == [("list_directory", False), ("read_file", False)]
    assert notes[0]["content"] == "README.md"
    assert [m["role"] for m in response["result"]["messages"]] == ["assistant", "tool", "tool", "assistant"]


async def test_write_file_waits_for_approval_and_runs_when_approved(
    fake_ollama: ScriptedOllama, root: Path
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root)) as sidecar:
            chat = await sidecar.request(
                "chat", tool_chat([call("write_file", path="notes/a.txt", content="hi")], tools=True)
            )
            asked = await sidecar.wait_for(lambda l: l.method == "chat:approval_request")
            assert not (root / "notes").exists()
            params = asked.value["params"]
            assert params["name"] == "write_file" and params["arguments"] == {"path": "notes/a.txt", "content": "hi"}
            approved = await sidecar.call(
                "approve_tool", {"chat_id": chat, "call_id": params["call_id"], "approved": True}
            )
            response = await sidecar.response(chat)
    assert approved["result"] == {}
    assert (root / "notes" / "a.txt").read_text() == "hi"
    assert response["result"]["messages"][1]["tool_name"] == "write_file"
    assert events(sidecar, chat)[1:4] == [
        ("chat:tool_call", "write_file"), ("chat:approval_request", "write_file"),
        ("chat:tool_result", "write_file"),
    ]


@pytest.mark.parametrize("approved", [True, False])
async def test_exec_shell_asks_for_approval_and_runs_nothing_before_it(
    fake_ollama: ScriptedOllama, root: Path, approved: bool
) -> None:
    # --allow-shell without --auto-approve: the safety gate (§4, Approval).
    command = "echo ran > ran.txt"
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root), "--allow-shell") as sidecar:
            chat = await sidecar.request("chat", tool_chat([call("exec_shell", command=command)], tools=True))
            asked = await sidecar.wait_for(
                lambda l: l.method == "chat:approval_request" or (l.is_response and l.value["id"] == chat)
            )
            ran_before_the_answer = (root / "ran.txt").exists()
            answer = await sidecar.call("approve_tool", {
                "chat_id": chat, "call_id": asked.value.get("params", {}).get("call_id", "?"),
                "approved": approved, "reason": "not on my machine",
            })
            response = await sidecar.response(chat)
    assert asked.method == "chat:approval_request"
    assert asked.value["params"]["name"] == "exec_shell"
    assert asked.value["params"]["arguments"] == {"command": command}
    assert ran_before_the_answer is False
    assert answer["result"] == {}
    assert (root / "ran.txt").exists() is approved
    [note] = sidecar.notifications("chat:tool_result", chat)
    assert note["is_error"] is not approved
    assert note["content"] == (
        "[exit code 0]" if approved else "The user declined to run exec_shell: not on my machine"
    )
    assert response["result"]["done_reason"] == "stop"


async def test_a_denied_approval_is_a_tool_error_the_model_sees(fake_ollama: ScriptedOllama, root: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root)) as sidecar:
            chat = await sidecar.request("chat", tool_chat([call("write_file", path="x.txt", content="x")], tools=True))
            asked = await sidecar.wait_for(lambda l: l.method == "chat:approval_request")
            await sidecar.call("approve_tool", {
                "chat_id": chat, "call_id": asked.value["params"]["call_id"], "approved": False,
                "reason": "not now",
            })
            response = await sidecar.response(chat)
    [note] = sidecar.notifications("chat:tool_result", chat)
    assert note["is_error"] is True and note["content"] == "The user declined to run write_file: not now"
    assert not (root / "x.txt").exists()
    assert "declined" in response["result"]["messages"][-1]["content"]


async def test_cancel_while_waiting_for_approval_answers_at_once(fake_ollama: ScriptedOllama, root: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root)) as sidecar:
            chat = await sidecar.request("chat", tool_chat([call("write_file", path="x.txt", content="x")], tools=True))
            asked = await sidecar.wait_for(lambda l: l.method == "chat:approval_request")
            cancelled = await sidecar.call("cancel_chat", {"chat_id": chat})
            late = await sidecar.call("approve_tool", {
                "chat_id": chat, "call_id": asked.value["params"]["call_id"], "approved": True,
            })
    response = next(r for r in sidecar.responses() if r["id"] == chat)
    assert cancelled["result"] == {"cancelled": [chat]}
    assert response["result"]["done_reason"] == "cancelled"
    assert response["result"]["messages"][0]["tool_calls"][0]["function"]["name"] == "write_file"
    assert late["error"]["code"] == -32602
    assert not (root / "x.txt").exists()


@pytest.mark.parametrize("how", ["flag", "param"])
async def test_auto_approve_skips_the_wait(fake_ollama: ScriptedOllama, root: Path, how: str) -> None:
    flags = ["--auto-approve"] if how == "flag" else []
    extra = {"approval": "auto"} if how == "param" else {}
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root), *flags) as sidecar:
            chat = await sidecar.request(
                "chat", tool_chat([call("write_file", path="auto.txt", content="ok")], tools=True, **extra)
            )
            await sidecar.response(chat)
    assert sidecar.notifications("chat:approval_request") == []
    assert (root / "auto.txt").read_text() == "ok"


CLIENT_TOOL = {
    "type": "function",
    "function": {
        "name": "get_selection",
        "description": "The text selected in the editor",
        "parameters": {"type": "object", "properties": {}},
    },
}


async def test_a_client_tool_is_answered_by_the_client(fake_ollama: ScriptedOllama, root: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root)) as sidecar:
            chat = await sidecar.request("chat", tool_chat([call("get_selection")], tools=[CLIENT_TOOL]))
            asked = await sidecar.wait_for(lambda l: l.method == "chat:tool_call")
            answered = await sidecar.call("tool_result", {
                "chat_id": chat, "call_id": asked.value["params"]["call_id"], "content": "def main(): ...",
            })
            response = await sidecar.response(chat)
    assert answered["result"] == {}
    assert response["result"]["messages"][-1]["content"] == "Tool results: [get_selection] def main(): ..."
    assert fake_ollama.chat_records[0].chat["tools"] == [CLIENT_TOOL]


async def test_an_unanswered_client_tool_waits_until_cancelled(fake_ollama: ScriptedOllama, root: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root)) as sidecar:
            chat = await sidecar.request("chat", tool_chat([call("get_selection")], tools=[CLIENT_TOOL]))
            await sidecar.wait_for(lambda l: l.method == "chat:tool_call")
            other = await sidecar.call("chat", {"model": "text", "messages": [{"role": "user", "content": "hi"}]})
            await sidecar.call("cancel_chat", {"chat_id": chat})
    assert other["result"]["done_reason"] == "stop"  # other chats kept flowing
    response = next(r for r in sidecar.responses() if r["id"] == chat)
    assert response["result"]["done_reason"] == "cancelled"


async def test_answers_for_unknown_calls_are_invalid_params(fake_ollama: ScriptedOllama, root: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root)) as sidecar:
            no_chat = await sidecar.call("tool_result", {"chat_id": 99, "call_id": "c", "content": "x"})
            chat = await sidecar.request("chat", tool_chat([call("get_selection")], tools=[CLIENT_TOOL]))
            await sidecar.wait_for(lambda l: l.method == "chat:tool_call")
            wrong_call = await sidecar.call("tool_result", {"chat_id": chat, "call_id": "nope", "content": "x"})
            wrong_kind = await sidecar.call("approve_tool", {
                "chat_id": chat, "call_id": sidecar.notifications("chat:tool_call")[0]["call_id"], "approved": True,
            })
            bad = await sidecar.call("tool_result", {"chat_id": chat, "call_id": "nope"})
            await sidecar.call("cancel_chat", {})
    for answer in (no_chat, wrong_call, wrong_kind, bad):
        assert answer["error"]["code"] == -32602


async def test_a_model_that_never_stops_calling_tools_hits_the_limit(
    fake_ollama: ScriptedOllama, root: Path
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root), "--max-tool-rounds", "2") as sidecar:
            response = await sidecar.call("chat", {
                "model": "tools-forever", "tools": True, "messages": [{"role": "user", "content": "go"}],
            })
    result = response["result"]
    assert result["done_reason"] == "tool_limit"
    assert [m["role"] for m in result["messages"]] == [
        "assistant", "tool", "assistant", "tool", "assistant",
    ]
    assert len(fake_ollama.chat_records) == 3
    assert len(sidecar.notifications("chat:tool_result")) == 2


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"path": "../outside.txt"}, ".."),
        ({"path": "/etc/passwd"}, "outside"),
        ({"path": "~/x"}, "~"),
        ({"path": "a\u0000b"}, "NUL"),
        ({}, "path"),
        ({"path": 5}, "path"),
    ],
)
async def test_refused_paths_and_bad_arguments_are_tool_errors(
    fake_ollama: ScriptedOllama, root: Path, arguments: dict[str, Any], expected: str
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root)) as sidecar:
            response = await sidecar.call("chat", tool_chat([call("read_file", **arguments)], tools=True))
    [note] = sidecar.notifications("chat:tool_result")
    assert note["is_error"] is True and expected in note["content"]
    assert "secret" not in note["content"]
    assert response["result"]["done_reason"] == "stop"


async def test_a_symlink_out_of_the_root_is_refused(fake_ollama: ScriptedOllama, root: Path) -> None:
    (root / "link.txt").symlink_to(root.parent / "outside.txt")
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root)) as sidecar:
            await sidecar.call("chat", tool_chat([call("read_file", path="link.txt")], tools=True))
    [note] = sidecar.notifications("chat:tool_result")
    assert note["is_error"] is True and "secret" not in note["content"]


async def test_cancel_during_a_long_exec_shell_kills_its_process_group(
    fake_ollama: ScriptedOllama, root: Path
) -> None:
    command = "sleep 60 & echo $! > child.pid; wait"
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root), "--allow-shell", "--auto-approve") as sidecar:
            chat = await sidecar.request("chat", tool_chat([call("exec_shell", command=command)], tools=True))
            while not (root / "child.pid").exists() or not (root / "child.pid").read_text().strip():
                await trio.sleep(0.02)
            child = int((root / "child.pid").read_text())
            cancelled = await sidecar.call("cancel_chat", {"chat_id": chat})
            while _alive(child):
                await trio.sleep(0.02)
    assert cancelled["result"] == {"cancelled": [chat]}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


async def test_exec_shell_needs_the_flag(fake_ollama: ScriptedOllama, root: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root)) as sidecar:
            refused = await sidecar.call("chat", tool_chat([], tools=["exec_shell"]))
            unknown = await sidecar.call("chat", tool_chat([], tools=["nope"]))
            offered = await sidecar.call("chat", tool_chat([call("exec_shell", command="true")], tools=True))
    assert refused["error"]["code"] == -32602 and "--allow-shell" in refused["error"]["message"]
    assert unknown["error"]["code"] == -32602 and "$.tools[0]" in unknown["error"]["message"]
    [note] = sidecar.notifications("chat:tool_result")
    assert note["is_error"] is True and "not offered" in note["content"]
    assert offered["result"]["done_reason"] == "stop"


async def test_a_model_without_tool_support_is_an_upstream_error_with_a_hint(
    fake_ollama: ScriptedOllama, root: Path
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root)) as sidecar:
            response = await sidecar.call("chat", {
                "model": "no-tools", "tools": True, "messages": [{"role": "user", "content": "hi"}],
            })
    error = response["error"]
    assert (error["code"], error["data"]["status"]) == (-32002, 400)
    assert "does not support tools" in error["message"] and "tools" in error["data"]["hint"]
