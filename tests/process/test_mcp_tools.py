"""MCP servers as tool sources, on real sidecar processes against real MCP servers (the
filesystem and everything servers from npm, run offline with node) and the scripted Ollama:
discovery, chats that call MCP tools, results, approval with each scope, `list_tools`,
`list_mcp_servers` and `mcp:server_status`."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from sidecar_testkit.fake_ollama import ScriptedOllama

from .e2e import GUARD_S, sidecar_for
from .mcp import FAULT_PY, McpSetup, ready
from .test_e2e_tools import call, tool_chat


@pytest.fixture
def setup(tmp_path: Path) -> McpSetup:
    return McpSetup(tmp_path)


def offered(fake: ScriptedOllama, index: int = -1) -> list[str]:
    return [t["function"]["name"] for t in fake.chat_records[index].chat.get("tools") or []]


async def approve(sidecar: Any, chat: Any, scope: str | None = None, approved: bool = True) -> dict[str, Any]:
    """Waits for the chat's next approval request not yet answered here, and answers it."""
    seen: set[tuple[Any, str]] = sidecar.__dict__.setdefault("answered_approvals", set())
    asked = await sidecar.wait_for(
        lambda l: l.method == "chat:approval_request"
        and l.value["params"]["chat_id"] == chat
        and (chat, l.value["params"]["call_id"]) not in seen
    )
    params = asked.value["params"]
    seen.add((chat, params["call_id"]))
    answer: dict[str, Any] = {"chat_id": chat, "call_id": params["call_id"], "approved": approved}
    if scope is not None:
        answer["scope"] = scope
    assert (await sidecar.call("approve_tool", answer))["result"] == {}
    return params


async def test_the_model_reads_a_file_through_the_filesystem_server(
    fake_ollama: ScriptedOllama, root: Path, setup: McpSetup
) -> None:
    (root / "notes.txt").write_text("the treasure is under the oak\n")
    setup.filesystem("fs", root, autoApprove=["read_text_file"])
    path = str(root / "notes.txt")
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root), *setup.args()) as sidecar:
            await sidecar.wait_for(ready("fs"))
            chat = await sidecar.request(
                "chat", tool_chat([call("fs__read_text_file", path=path)], tools=["mcp:fs"])
            )
            response = await sidecar.response(chat)
    # autoApprove names the server's own tool: no approval asked.
    assert sidecar.notifications("chat:approval_request", chat) == []
    [tool_call] = sidecar.notifications("chat:tool_call", chat)
    assert (tool_call["name"], tool_call["server"], tool_call["tool"]) == (
        "fs__read_text_file", "fs", "read_text_file",
    )
    [result] = sidecar.notifications("chat:tool_result", chat)
    assert (result["server"], result["tool"], result["is_error"]) == ("fs", "read_text_file", False)
    assert "the treasure is under the oak" in result["content"]
    assert result["mcp_content"][0]["type"] == "text"
    assert "the treasure is under the oak" in sidecar.text(chat)
    assert response["result"]["messages"][1]["tool_name"] == "fs__read_text_file"
    # "mcp:fs" offered the filesystem server's tools and nothing else.
    names = offered(fake_ollama, 0)
    assert "fs__read_text_file" in names and all(n.startswith("fs__") for n in names)


async def test_the_filesystem_server_works_in_root_whatever_folder_its_args_name(
    fake_ollama: ScriptedOllama, root: Path, setup: McpSetup, tmp_path: Path
) -> None:
    """The sidecar offers --root as the MCP root; the filesystem server follows roots, so its
    folder is --root (the README's example passes --root for this reason)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "other.txt").write_text("not for the model\n")
    (root / "notes.txt").write_text("inside the root\n")
    setup.filesystem("fs", elsewhere, autoApprove=["read_text_file"])
    calls = [
        call("fs__read_text_file", path=str(root / "notes.txt")),
        call("fs__read_text_file", path=str(elsewhere / "other.txt")),
    ]
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root), *setup.args()) as sidecar:
            await sidecar.wait_for(ready("fs"))
            # The server takes the roots after `initialized`, in the background: until it says
            # so on stderr (the sidecar's log), a call may still see the folder of its args.
            while b"[fs] Updated allowed directories from MCP roots" not in sidecar.stderr:
                await trio.sleep(0.01)  # wait for the log line itself
            chat = await sidecar.request("chat", tool_chat(calls, tools=["mcp:fs"]))
            await sidecar.response(chat)
    inside, outside = sidecar.notifications("chat:tool_result", chat)
    assert inside["is_error"] is False and "inside the root" in inside["content"]
    assert outside["is_error"] is True and "not for the model" not in outside["content"]


async def test_echo_and_add_round_trip_and_approval_once_asks_every_time(
    fake_ollama: ScriptedOllama, root: Path, setup: McpSetup
) -> None:
    setup.everything()
    calls = [call("everything__echo", message="hello mcp"), call("everything__get-sum", a=2, b=40)]
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, *setup.args()) as sidecar:
            await sidecar.wait_for(ready("everything"))
            chat = await sidecar.request("chat", tool_chat(calls, tools=True))
            first = await approve(sidecar, chat)
            second = await approve(sidecar, chat, "once")
            response = await sidecar.response(chat)
    assert (first["server"], first["tool"], first["arguments"]) == ("everything", "echo", {"message": "hello mcp"})
    assert second["tool"] == "get-sum"
    # The approval request carries the tool's MCP annotations as the server sent them.
    assert first["annotations"] == {
        "readOnlyHint": True, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False,
    }
    results = sidecar.notifications("chat:tool_result", chat)
    assert [r["is_error"] for r in results] == [False, False]
    assert "hello mcp" in results[0]["content"] and "42" in results[1]["content"]
    assert response["result"]["done_reason"] == "stop"
    assert "42" in sidecar.text(chat)


async def test_approval_scopes_chat_and_always_and_deny(
    fake_ollama: ScriptedOllama, root: Path, setup: McpSetup
) -> None:
    setup.everything()
    echo = call("everything__echo", message="x")
    twice = tool_chat([echo, echo], tools=["everything__echo"])
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root), *setup.args()) as sidecar:
            await sidecar.wait_for(ready("everything"))
            # "chat": the second call of the same chat runs without asking...
            chat1 = await sidecar.request("chat", twice)
            await approve(sidecar, chat1, "chat")
            await sidecar.response(chat1)
            assert len(sidecar.notifications("chat:approval_request", chat1)) == 1
            # ... but a new chat asks again. Deny it: the model hears the user declined.
            chat2 = await sidecar.request("chat", tool_chat([echo], tools=["everything__echo"]))
            await approve(sidecar, chat2, "always", approved=False)
            await sidecar.response(chat2)
            [denied] = sidecar.notifications("chat:tool_result", chat2)
            assert denied["is_error"] and "declined" in denied["content"]
            # "always": no chat asks again for the rest of the sidecar's life.
            chat3 = await sidecar.request("chat", tool_chat([echo], tools=["everything__echo"]))
            await approve(sidecar, chat3, "always")
            await sidecar.response(chat3)
            chat4 = await sidecar.request("chat", twice)
            await sidecar.response(chat4)
            listed = await sidecar.call("list_tools")
    assert sidecar.notifications("chat:approval_request", chat4) == []
    assert [r["is_error"] for r in sidecar.notifications("chat:tool_result", chat4)] == [False, False]
    echo_info = next(t for t in listed["result"]["tools"] if t["name"] == "everything__echo")
    assert echo_info["needs_approval"] is False


async def test_approval_scope_chat_applies_to_the_built_in_write_file(
    fake_ollama: ScriptedOllama, root: Path
) -> None:
    write = call("write_file", path="a.txt", content="one")
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root)) as sidecar:
            chat = await sidecar.request("chat", tool_chat([write, write], tools=["write_file"]))
            await approve(sidecar, chat, "chat")
            await sidecar.response(chat)
            again = await sidecar.request("chat", tool_chat([write], tools=["write_file"]))
            await approve(sidecar, again, "always")
            await sidecar.response(again)
            last = await sidecar.request("chat", tool_chat([write], tools=["write_file"]))
            await sidecar.response(last)
    assert len(sidecar.notifications("chat:approval_request", chat)) == 1
    assert sidecar.notifications("chat:approval_request", last) == []
    assert (root / "a.txt").read_text() == "one"


async def test_list_tools_list_mcp_servers_and_status_notifications(
    fake_ollama: ScriptedOllama, root: Path, setup: McpSetup
) -> None:
    setup.everything(autoApprove=["echo"]).filesystem("files", root)
    setup.faults("off", disabled=True)
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root), *setup.args()) as sidecar:
            await sidecar.wait_for(ready("everything"))
            await sidecar.wait_for(ready("files"))
            servers = (await sidecar.call("list_mcp_servers"))["result"]["servers"]
            tools = (await sidecar.call("list_tools"))["result"]["tools"]
            chat = await sidecar.request("chat", tool_chat([], tools=True))
            await sidecar.response(chat)
    by_name = {s["name"]: s for s in servers}
    assert set(by_name) == {"everything", "files", "off"}
    assert by_name["off"]["status"] == "stopped" and not (setup.marks("off") / "pid").exists()
    assert by_name["files"]["transport"] == "stdio" and by_name["files"]["error"] is None
    assert by_name["everything"]["status"] == "ready" and "everything__echo" in by_name["everything"]["tools"]
    statuses = [(n["server"], n["status"]) for n in sidecar.notifications("mcp:server_status")]
    assert statuses.index(("everything", "starting")) < statuses.index(("everything", "ready"))
    # The ready line comes before anything about the servers.
    assert sidecar.lines[0].method == "sidecar:ready"
    by_tool = {t["name"]: t for t in tools}
    assert by_tool["read_file"]["source"] == "builtin" and "server" not in by_tool["read_file"]
    echo = by_tool["everything__echo"]
    assert (echo["source"], echo["server"], echo["needs_approval"]) == ("mcp", "everything", False)
    assert by_tool["everything__get-sum"]["needs_approval"] is True
    assert echo["input_schema"]["type"] == "object"
    assert by_tool["write_file"]["needs_approval"] is True
    # `true` offered exactly what list_tools listed.
    assert sorted(offered(fake_ollama)) == sorted(by_tool)


async def test_unknown_mcp_names_are_refused(fake_ollama: ScriptedOllama, setup: McpSetup) -> None:
    setup.everything()
    setup.everything("off", disabled=True)
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, *setup.args()) as sidecar:
            await sidecar.wait_for(ready("everything"))
            off = await sidecar.call("chat", tool_chat([], tools=["mcp:off"]))
            server = await sidecar.call("chat", tool_chat([], tools=["mcp:nope"]))
            tool = await sidecar.call("chat", tool_chat([], tools=["everything__nope"]))
            nowhere = await sidecar.call("chat", tool_chat([], tools=["nope__tool"]))
            alive = await sidecar.call("list_mcp_servers")
    assert server["error"]["code"] == -32602 and "nope" in server["error"]["message"]
    assert "is not in --mcp-config" in server["error"]["message"]
    assert "enabled servers: everything" in server["error"]["message"]
    assert tool["error"]["code"] == -32602 and "everything__nope" in tool["error"]["message"]
    # A SERVER__TOOL of no configured server is not called a built-in: the message says both.
    assert nowhere["error"]["code"] == -32602
    assert "unknown tool 'nope__tool'" in nowhere["error"]["message"]
    assert "enabled servers: everything" in nowhere["error"]["message"]
    assert off["error"]["code"] == -32602
    assert "MCP server 'off' is disabled in --mcp-config" in off["error"]["message"]
    assert [(s["name"], s["status"]) for s in alive["result"]["servers"]] == [
        ("everything", "ready"), ("off", "stopped")
    ]


async def test_images_and_structured_content_reach_the_model_as_text(
    fake_ollama: ScriptedOllama, setup: McpSetup
) -> None:
    setup.everything(autoApprove=["get-tiny-image", "get-structured-content"])
    calls = [call("everything__get-tiny-image"), call("everything__get-structured-content", location="New York")]
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, *setup.args()) as sidecar:
            await sidecar.wait_for(ready("everything"))
            chat = await sidecar.request("chat", tool_chat(calls, tools=["mcp:everything"]))
            await sidecar.response(chat)
    image, structured = sidecar.notifications("chat:tool_result", chat)
    assert "[image image/png" in image["content"]
    assert any(item["type"] == "image" and item["data"] for item in image["mcp_content"])
    assert structured["is_error"] is False and "temperature" in structured["content"]


async def test_a_streamable_http_server(fake_ollama: ScriptedOllama, setup: McpSetup) -> None:
    """The fault server on Streamable HTTP, started by the test on a free loopback port."""

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await trio.lowlevel.open_process(
        [sys.executable, str(FAULT_PY), f"http:{port}", str(setup.marks("web"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        with trio.fail_after(GUARD_S):
            while True:  # until it listens
                try:
                    await (await trio.open_tcp_stream("127.0.0.1", port)).aclose()
                    break
                except OSError:
                    await trio.sleep(0.05)
            setup.http("web", f"http://127.0.0.1:{port}/mcp", autoApprove=["ok"])
            async with sidecar_for(fake_ollama, *setup.args()) as sidecar:
                await sidecar.wait_for(ready("web"))
                servers = (await sidecar.call("list_mcp_servers"))["result"]["servers"]
                chat = await sidecar.request("chat", tool_chat([call("web__ok", text="over http")], tools=["mcp:web"]))
                await sidecar.response(chat)
    finally:
        server.kill()
        await server.wait()
    assert servers[0]["transport"] == "http"
    [result] = sidecar.notifications("chat:tool_result", chat)
    assert (result["server"], result["content"]) == ("web", "ok: over http")


async def test_a_servers_stderr_is_logged_under_its_name_and_it_gets_a_small_environment(
    fake_ollama: ScriptedOllama, root: Path, setup: McpSetup, tmp_path: Path
) -> None:
    seen = tmp_path / "server-env"
    script = (
        f'echo "started, says noisy" >&2; env > "{seen}"; '
        f'exec "{sys.executable}" "{FAULT_PY}" serve "{setup.marks("noisy")}"'
    )
    setup._add("noisy", {"command": "/bin/sh", "args": ["-c", script], "env": {"GIVEN_BY_CONFIG": "yes"}})
    with trio.fail_after(GUARD_S):
        async with sidecar_for(
            fake_ollama, "--root", str(root), "--log-level", "INFO", *setup.args(),
            env={"ONLY_IN_THE_SIDECAR": "s3cret"},
        ) as sidecar:
            await sidecar.wait_for(ready("noisy"))
            while b"[noisy] started, says noisy" not in sidecar.stderr:
                await trio.sleep(0.01)  # wait for the log line itself
    assert all("started, says noisy" not in line.raw.decode() for line in sidecar.lines)
    env = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    assert env["GIVEN_BY_CONFIG"] == "yes"
    assert "PATH" in env and "HOME" in env
    assert "ONLY_IN_THE_SIDECAR" not in env


async def test_the_client_offers_the_root_as_a_file_uri(
    fake_ollama: ScriptedOllama, root: Path, setup: McpSetup
) -> None:
    setup.faults("f", autoApprove=["roots"])
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--root", str(root), *setup.args()) as sidecar:
            await sidecar.wait_for(ready("f"))
            chat = await sidecar.request("chat", tool_chat([call("f__roots")], tools=["f__roots"]))
            await sidecar.response(chat)
    [result] = sidecar.notifications("chat:tool_result", chat)
    assert (result["is_error"], result["content"]) == (False, root.resolve().as_uri())
