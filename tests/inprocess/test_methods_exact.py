"""The answers of methods.py's handlers, exactly, in-process so that scripts/mutate's fast set
sees them: `list_tools` (what asks for approval, and how an approval's scope "always" changes it),
`list_mcp_servers` when every configured server is disabled, and the `cancelled` list of a
`cancel_chat` that meets a chat finishing on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from sidecar.tools.mcp.config import ServerConfig

from .rig import CHAT, ndjson, open_rig, slow_closes, streaming, tool_calls


def asking(listed: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(t["name"], t["source"], t["needs_approval"]) for t in listed["result"]["tools"]]


BUILTINS = ["read_file", "list_directory", "search_files", "write_file", "exec_shell"]


async def test_list_tools_says_which_ask_and_an_always_approval_stops_the_asking(
    tmp_path: Path,
) -> None:
    calls = tool_calls(("s1", "exec_shell", {"command": "true"}))
    async with open_rig(streaming(calls, ndjson("ok")), root=str(tmp_path), allow_shell=True) as rig:
        before = await rig.call("list_tools")
        chat = await rig.request("chat", {**CHAT, "tools": ["exec_shell"]})
        await rig.notification("chat:approval_request")
        await rig.call("approve_tool", {"chat_id": chat, "call_id": "s1", "approved": True,
                                         "scope": "always"})
        await rig.response(chat)
        after = await rig.call("list_tools")
    assert asking(before) == [
        (name, "builtin", name in ("write_file", "exec_shell")) for name in BUILTINS
    ]
    assert asking(after) == [(name, "builtin", name == "write_file") for name in BUILTINS]
    read_file = before["result"]["tools"][0]
    assert read_file["description"].startswith("Read")
    assert read_file["input_schema"]["type"] == "object"
    assert "path" in read_file["input_schema"]["properties"]
    assert "server" not in read_file


async def test_list_tools_under_auto_approve_asks_for_nothing(tmp_path: Path) -> None:
    async with open_rig(streaming(), root=str(tmp_path), auto_approve=True) as rig:
        listed = await rig.call("list_tools")
    assert asking(listed) == [(name, "builtin", False) for name in BUILTINS[:-1]]


async def test_disabled_mcp_servers_are_listed_stopped_in_config_order() -> None:
    servers = (
        ServerConfig("zeta", "stdio", command="zeta-mcp", disabled=True),
        ServerConfig("alpha", "http", url="http://mcp.test/", disabled=True),
    )
    async with open_rig(streaming(), mcp_servers=servers) as rig:
        listed = await rig.call("list_mcp_servers")
    assert listed["result"] == {"servers": [
        {"name": "zeta", "transport": "stdio", "status": "stopped", "tools": [], "error": None},
        {"name": "alpha", "transport": "http", "status": "stopped", "tools": [], "error": None},
    ]}


@pytest.mark.parametrize("which", ["all", "by id"])
async def test_a_chat_that_finishes_as_it_is_cancelled_answers_normally_and_is_not_listed(
    monkeypatch: pytest.MonkeyPatch, mock_clock: trio.testing.MockClock, which: str
) -> None:
    """§4's race, placed on purpose: chat "done" has read its whole reply and is closing its
    upstream connection (held open by the test; the close is its last step and cannot be
    cancelled) when `cancel_chat` comes. It answers normally and `cancelled` does not list it;
    chat "held", still streaming, is cancelled and listed."""
    closing, release = slow_closes(monkeypatch)
    replies = streaming([*ndjson("h", done=False), trio.Event()], ndjson("a", "b"))
    num_ctx = {"options": {"num_ctx": 4096}}  # nothing to ask the server after the reply
    async with open_rig(replies) as rig:
        held = await rig.request("chat", {**CHAT, **num_ctx}, id="held")
        await rig.read_until(lambda l: rig.text(held) == "h")
        done = await rig.request("chat", {**CHAT, **num_ctx}, id="done")
        await closing.wait()  # "done" is at its very end
        cancel = await rig.request("cancel_chat", {} if which == "all" else {"chat_id": done})
        await trio.testing.wait_all_tasks_blocked()  # the cancel was asked for
        release.set()
        cancelled = (await rig.response(cancel))["result"]["cancelled"]
        finished = (await rig.response(done))["result"]
        if which == "by id":
            await rig.call("cancel_chat", {"chat_id": held})
        stopped = (await rig.response(held))["result"]
    assert cancelled == (["held"] if which == "all" else [])
    assert (finished["done_reason"], finished["messages"]) == (
        "stop", [{"role": "assistant", "content": "ab"}])
    assert stopped["done_reason"] == "cancelled"
