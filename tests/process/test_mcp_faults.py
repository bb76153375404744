"""MCP faults on real sidecar processes, with a small MCP server written with the SDK
(tests/mcp-servers/fault_server.py): a crash mid-call, a hang, a server that never finishes
initializing, restarts (at most 3 a minute), `tools/list_changed`, and a cancel mid-call."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import trio

from sidecar_testkit.fake_ollama import ScriptedOllama

from .e2e import GUARD_S, sidecar_for
from .mcp import EVERYTHING_JS, McpSetup, ready, status_is
from .test_e2e_tools import call, tool_chat


@pytest.fixture
def setup(tmp_path: Path) -> McpSetup:
    return McpSetup(tmp_path)


async def wait_file(path: Path) -> None:
    while not path.exists():
        await trio.sleep(0.02)


async def test_a_crash_mid_call_is_an_error_result_and_the_server_restarts_on_next_use(
    fake_ollama: ScriptedOllama, setup: McpSetup
) -> None:
    setup.faults("f", autoApprove=["crash", "ok"], timeout=5)
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, *setup.args()) as sidecar:
            await sidecar.wait_for(ready("f"))
            chat = await sidecar.request("chat", tool_chat([call("f__crash")], tools=["f__crash"]))
            response = await sidecar.response(chat)
            failed = await sidecar.wait_for(status_is("f", "failed"))
            # The next use starts it again.
            again = await sidecar.request("chat", tool_chat([call("f__ok", text="back")], tools=["f__ok"]))
            await sidecar.response(again)
    [crashed] = sidecar.notifications("chat:tool_result", chat)
    assert crashed["is_error"] is True and crashed["server"] == "f"
    assert "crash" in crashed["content"] and "stopped during the call" in crashed["content"]
    assert response["result"]["done_reason"] == "stop"  # the chat went on
    assert "crashing on purpose" in failed.value["params"]["error"]
    [ok] = sidecar.notifications("chat:tool_result", again)
    assert (ok["is_error"], ok["content"]) == (False, "ok: back")
    statuses = [n["status"] for n in sidecar.notifications("mcp:server_status") if n["server"] == "f"]
    assert statuses[:5] == ["starting", "ready", "failed", "starting", "ready"]


async def test_a_hung_call_times_out_as_an_error_result(
    fake_ollama: ScriptedOllama, setup: McpSetup
) -> None:
    setup.faults("f", autoApprove=["sleep"], timeout=1)
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, *setup.args()) as sidecar:
            await sidecar.wait_for(ready("f"))
            chat = await sidecar.request("chat", tool_chat([call("f__sleep", seconds=600)], tools=True))
            response = await sidecar.response(chat)
            failed = await sidecar.wait_for(status_is("f", "failed"))
    [result] = sidecar.notifications("chat:tool_result", chat)
    assert result["is_error"] and "did not answer within 1 s" in result["content"]
    assert response["result"]["done_reason"] == "stop"
    assert "did not answer within 1 s" in failed.value["params"]["error"]


async def test_a_server_that_never_initializes_fails_and_its_calls_say_so(
    fake_ollama: ScriptedOllama, setup: McpSetup
) -> None:
    setup.faults("f", autoApprove=["crash", "ok"], timeout=1)
    setup.faults("never", mode="never-init", timeout=1)
    with trio.fail_after(GUARD_S * 3):  # starts that each wait out the 10 s start limit
        async with sidecar_for(fake_ollama, *setup.args()) as sidecar:
            never = await sidecar.wait_for(status_is("never", "failed"))
            await sidecar.wait_for(ready("f"))
            crash = await sidecar.request("chat", tool_chat([call("f__crash")], tools=["f__crash"]))
            await sidecar.response(crash)
            await sidecar.wait_for(status_is("f", "failed"))
            (setup.marks("f") / "mode").write_text("never-init")
            # The model calls f's tool (known from before) and one of `never`, which no chat
            # could be offered: each call restarts its server, which again never initializes.
            calls = [call("f__ok", text="x"), call("never__ok", text="y")]
            chat = await sidecar.request("chat", tool_chat(calls, tools=["f__ok", "mcp:never"]))
            response = await sidecar.response(chat)
            servers = (await sidecar.call("list_mcp_servers"))["result"]["servers"]
    error = never.value["params"]["error"]
    # A server's start may take its `timeout`, but at least 10 s.
    assert "did not finish initializing within 10 s" in error and "starting, slowly" in error
    result, never_result = sidecar.notifications("chat:tool_result", chat)
    assert result["is_error"] and "did not finish initializing" in result["content"]
    assert never_result["is_error"] and never_result["server"] == "never"
    assert "not available: did not finish initializing" in never_result["content"]
    assert response["result"]["done_reason"] == "stop"
    by_name = {s["name"]: s for s in servers}
    assert by_name["never"]["status"] == "failed" and "initializing" in by_name["never"]["error"]
    assert by_name["f"]["status"] == "failed"


async def test_restarts_are_limited_to_three_a_minute(fake_ollama: ScriptedOllama, setup: McpSetup) -> None:
    setup.faults("f", autoApprove=["crash"], timeout=5)
    crash = tool_chat([call("f__crash")], tools=["f__crash"])
    with trio.fail_after(GUARD_S * 2):
        async with sidecar_for(fake_ollama, *setup.args()) as sidecar:
            await sidecar.wait_for(ready("f"))
            for _ in range(4):  # the first start, then three restarts, each crashed
                await sidecar.response(await sidecar.request("chat", crash))
            last = await sidecar.request("chat", crash)
            await sidecar.response(last)
    starts = [n for n in sidecar.notifications("mcp:server_status") if n["status"] == "starting"]
    assert len(starts) == 4
    [result] = sidecar.notifications("chat:tool_result", last)
    assert result["is_error"] and "restarted 3 times in the last minute" in result["content"]


async def test_tools_list_changed_refreshes_the_servers_tools(
    fake_ollama: ScriptedOllama, setup: McpSetup
) -> None:
    setup.faults("f", autoApprove=["grow", "extra"])
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, *setup.args()) as sidecar:
            await sidecar.wait_for(ready("f"))
            chat = await sidecar.request("chat", tool_chat([call("f__grow")], tools=["mcp:f"]))
            await sidecar.response(chat)
            grown = await sidecar.wait_for(
                lambda l: l.method == "mcp:server_status" and "f__extra" in l.value["params"]["tools"]
            )
            extra = await sidecar.request("chat", tool_chat([call("f__extra")], tools=["f__extra"]))
            await sidecar.response(extra)
    assert grown.value["params"]["status"] == "ready"
    [result] = sidecar.notifications("chat:tool_result", extra)
    assert (result["is_error"], result["content"]) == (False, "extra")


async def test_cancel_mid_call_sends_notifications_cancelled_and_answers_at_once(
    fake_ollama: ScriptedOllama, setup: McpSetup
) -> None:
    setup.faults("f", autoApprove=["sleep", "ok"])
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, *setup.args()) as sidecar:
            await sidecar.wait_for(ready("f"))
            chat = await sidecar.request("chat", tool_chat([call("f__sleep", seconds=600)], tools=True))
            await wait_file(setup.marks("f") / "sleeping")
            cancelled = await sidecar.call("cancel_chat", {"chat_id": chat})
            response = await sidecar.response(chat)
            await wait_file(setup.marks("f") / "cancelled")
            # The server stays usable.
            after = await sidecar.request("chat", tool_chat([call("f__ok", text="still")], tools=True))
            await sidecar.response(after)
    assert cancelled["result"] == {"cancelled": [chat]}
    assert response["result"]["done_reason"] == "cancelled"
    assert sidecar.notifications("chat:tool_result", chat) == []
    assert sidecar.notifications("chat:tool_result", after)[0]["content"] == "ok: still"


async def test_cancelling_the_everything_servers_long_running_operation(
    fake_ollama: ScriptedOllama, setup: McpSetup
) -> None:
    assert EVERYTHING_JS.exists()
    setup.everything(autoApprove=["trigger-long-running-operation"])
    long = call("everything__trigger-long-running-operation", duration=600, steps=600)
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, *setup.args()) as sidecar:
            await sidecar.wait_for(ready("everything"))
            chat = await sidecar.request("chat", tool_chat([long], tools=True))
            await sidecar.wait_for(lambda l: l.method == "chat:tool_call")
            await sidecar.call("cancel_chat", {"chat_id": chat})
            response = await sidecar.response(chat)
    assert response["result"]["done_reason"] == "cancelled"


async def test_a_server_that_dies_while_idle_is_failed_with_its_exit_status(
    fake_ollama: ScriptedOllama, setup: McpSetup
) -> None:
    setup.faults("f", autoApprove=["ok"])
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, *setup.args()) as sidecar:
            await sidecar.wait_for(ready("f"))
            os.kill(int((setup.marks("f") / "pid").read_text()), signal.SIGKILL)
            failed = await sidecar.wait_for(status_is("f", "failed"))
            servers = (await sidecar.call("list_mcp_servers"))["result"]["servers"]
            listed = (await sidecar.call("list_tools"))["result"]["tools"]
    assert "exited" in failed.value["params"]["error"] and failed.value["params"]["tools"] == []
    assert servers[0]["status"] == "failed" and "exited" in servers[0]["error"]
    assert not [t for t in listed if t["source"] == "mcp"]  # `true` offers only ready servers
