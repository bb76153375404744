"""MCP tools through the whole in-process sidecar, so that scripts/mutate's fast set sees the
dispatcher, methods.py and chat.py handle them: a real `McpHub` whose one server is already
ready (no process: its listing is set, `call` is answered here). What a host sees: `list_tools`,
the chat's offer to the model, the `server`/`tool` fields of its notifications, the approval (with
the server's annotations), the result's `mcp_content`, and an approval's scope. The servers'
real lifetime is tests/process/test_mcp_*.py's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from sidecar import app
from sidecar.tools.mcp.config import ServerConfig
from sidecar.tools.mcp.hub import RESTARTS_PER_MINUTE, McpHub, McpTool
from sidecar.tools.mcp.results import McpResult

from .rig import CHAT, ScriptStream, ndjson, open_rig, streaming, tool_calls

SERVER = ServerConfig("files", "stdio", command="files-mcp")
READ = McpTool("files__read", "files", "read", "Reads a note", {"type": "object", "properties": {
    "name": {"type": "string"}}}, {"readOnlyHint": True}, auto_approved=False)
STAT = McpTool("files__stat", "files", "stat", "A note's size", {"type": "object"}, None,
               auto_approved=True)


class ReadyHub(McpHub):
    """One server, ready with READ and STAT; calls are recorded and answered."""

    def __init__(self) -> None:
        super().__init__((SERVER,), Path("."), lambda note: None)
        state = self.states["files"]
        state.status, state.session = "ready", object()
        state.tools = {READ.exposed: READ, STAT.exposed: STAT}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def use(self, states: list[Any], *, wait: bool = True) -> None:
        """A server that is not ready starts on a use that waits (its supervisor's part)."""
        if wait:
            for state in states:
                state.status = "ready"

    async def call(self, tool: McpTool, arguments: dict[str, Any]) -> McpResult:
        self.calls.append((tool.tool, arguments))
        return McpResult(f"{tool.tool}: 42", False, [{"type": "text", "text": f"{tool.tool}: 42"}])

    async def close(self) -> None:
        pass


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> ReadyHub:
    ready = ReadyHub()
    monkeypatch.setattr(app, "_start_mcp", lambda config, outbox, nursery: ready)
    return ready


async def test_list_tools_lists_the_ready_servers_tools_after_the_built_ins(
    hub: ReadyHub, tmp_path: Path
) -> None:
    async with open_rig(streaming(), root=str(tmp_path), mcp_servers=(SERVER,)) as rig:
        listed = await rig.call("list_tools")
        servers = await rig.call("list_mcp_servers")
    mcp = [t for t in listed["result"]["tools"] if t["source"] == "mcp"]
    assert mcp == [
        {"name": "files__read", "description": "Reads a note", "input_schema": READ.input_schema,
         "source": "mcp", "server": "files", "needs_approval": True},
        {"name": "files__stat", "description": "A note's size", "input_schema": {"type": "object"},
         "source": "mcp", "server": "files", "needs_approval": False},
    ]
    assert listed["result"]["tools"][0]["source"] == "builtin"
    assert servers["result"] == {"servers": [{"name": "files", "transport": "stdio",
                                              "status": "ready", "tools": ["files__read", "files__stat"],
                                              "error": None}]}


OFFERS = {  # what `tools` offers the model, in order
    "server": (["read_file", "mcp:files"], ["read_file", "files__read", "files__stat"]),
    "true": (True, ["read_file", "list_directory", "search_files", "write_file",
                    "files__read", "files__stat"]),
}


@pytest.mark.parametrize("case", OFFERS)
async def test_an_mcp_call_asks_names_its_server_and_hands_back_the_content(
    hub: ReadyHub, tmp_path: Path, case: str
) -> None:
    tools, offers = OFFERS[case]
    replies = streaming(
        tool_calls(("r1", "files__read", {"name": "a"}), ("s1", "files__stat", {"name": "a"})),
        tool_calls(("r2", "files__read", {"name": "b"})),  # approved for the chat: not asked
        ndjson("done"),
    )
    async with open_rig(replies, root=str(tmp_path), mcp_servers=(SERVER,)) as rig:
        chat = await rig.request("chat", {**CHAT, "tools": tools})
        asked = await rig.notification("chat:approval_request")
        held = list(hub.calls)
        await rig.call("approve_tool", {"chat_id": chat, "call_id": "r1", "approved": True,
                                         "scope": "chat"})
        answer = await rig.response(chat)
    assert held == []  # nothing ran before the answer
    assert hub.calls == [("read", {"name": "a"}), ("stat", {"name": "a"}), ("read", {"name": "b"})]
    assert len([l for l in rig.lines if l.get("method") == "chat:approval_request"]) == 1
    assert asked["params"] == {"chat_id": chat, "call_id": "r1", "name": "files__read",
                               "arguments": {"name": "a"}, "server": "files", "tool": "read",
                               "annotations": {"readOnlyHint": True}}
    notes = [l for l in rig.lines if l.get("method") in ("chat:tool_call", "chat:tool_result")]
    assert [(l["method"], l["params"]["call_id"], l["params"].get("server"), l["params"].get("tool"))
            for l in notes] == [
        ("chat:tool_call", "r1", "files", "read"), ("chat:tool_call", "s1", "files", "stat"),
        ("chat:tool_result", "r1", "files", "read"), ("chat:tool_result", "s1", "files", "stat"),
        ("chat:tool_call", "r2", "files", "read"), ("chat:tool_result", "r2", "files", "read"),
    ]
    assert notes[2]["params"]["content"] == "read: 42"
    assert notes[2]["params"]["mcp_content"] == [{"type": "text", "text": "read: 42"}]
    assert notes[2]["params"]["is_error"] is False
    first, second, _ = rig.chat_bodies()
    assert [t["function"]["name"] for t in first["tools"]] == offers
    assert second["messages"][-2:] == [
        {"role": "tool", "content": "read: 42", "tool_name": "files__read", "tool_call_id": "r1"},
        {"role": "tool", "content": "stat: 42", "tool_name": "files__stat", "tool_call_id": "s1"},
    ]
    assert answer["result"]["messages"][-1] == {"role": "assistant", "content": "done"}


async def test_a_chat_that_names_no_mcp_tool_offers_none(hub: ReadyHub, tmp_path: Path) -> None:
    async with open_rig(streaming(ndjson("ok")), root=str(tmp_path), mcp_servers=(SERVER,)) as rig:
        await rig.call("chat", {**CHAT, "tools": ["read_file"]})
    [body] = rig.chat_bodies()
    assert [t["function"]["name"] for t in body["tools"]] == ["read_file"]


async def test_a_server_not_ready_when_the_chat_started_is_started_by_the_call(
    hub: ReadyHub, tmp_path: Path
) -> None:
    hub.states["files"].status = "failed"  # `true` offers what is ready now: none of its tools
    replies = streaming(tool_calls(("s1", "files__stat", {"name": "a"})), ndjson("done"))
    async with open_rig(replies, root=str(tmp_path), mcp_servers=(SERVER,)) as rig:
        answer = await rig.call("chat", {**CHAT, "tools": True})
    [result] = [l["params"] for l in rig.lines if l.get("method") == "chat:tool_result"]
    assert hub.calls == [("stat", {"name": "a"})]
    assert (result["content"], result["server"], result["tool"]) == ("stat: 42", "files", "stat")
    assert "files__stat" not in [t["function"]["name"] for t in rig.chat_bodies()[0]["tools"]]
    assert answer["result"]["messages"][-1]["content"] == "done"


async def test_an_offered_tool_whose_server_failed_mid_chat_is_still_asked_about_then_says_why(
    hub: ReadyHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The server was ready when the chat started, then failed (restarted too often to start
    again) before the model's call of its tool: the call is the offered tool's, so the user is
    asked first, and the model then hears why it did not run, the restart limit included."""
    monkeypatch.setattr(ReadyHub, "use", McpHub.use)  # the hub's own restart rule and call
    monkeypatch.setattr(ReadyHub, "call", McpHub.call)
    gate = trio.Event()
    first = ScriptStream([gate, *tool_calls(("r1", "files__read", {"name": "a"}))])
    async with open_rig(streaming(first, ndjson("done")), root=str(tmp_path),
                        mcp_servers=(SERVER,)) as rig:
        chat = await rig.request("chat", {**CHAT, "tools": ["mcp:files"]})
        await trio.testing.wait_all_tasks_blocked()  # the chat offered READ and STAT, and waits
        state = hub.states["files"]
        state.status, state.session, state.error = "failed", None, "exited with code 1"
        state.starts.extend([trio.current_time()] * (RESTARTS_PER_MINUTE + 1))
        gate.set()
        asked = await rig.read_until(
            lambda l: l.get("method") in ("chat:approval_request", "chat:tool_result"))
        await rig.call("approve_tool", {"chat_id": chat, "call_id": "r1", "approved": True})
        answer = await rig.response(chat)
    assert asked["params"] == {"chat_id": chat, "call_id": "r1", "name": "files__read",
                               "arguments": {"name": "a"}, "server": "files", "tool": "read",
                               "annotations": {"readOnlyHint": True}}
    [result] = [l["params"] for l in rig.lines if l.get("method") == "chat:tool_result"]
    assert (result["content"], result["is_error"], result["server"], result["tool"]) == (
        "MCP server 'files' is not available: exited with code 1 "
        "(restarted 3 times in the last minute; not again yet)", True, "files", "read")
    assert [t["function"]["name"] for t in rig.chat_bodies()[0]["tools"]] == ["files__read", "files__stat"]
    assert answer["result"]["messages"][-1]["content"] == "done"
