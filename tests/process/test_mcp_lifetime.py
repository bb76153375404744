"""Every stdio MCP server goes when the sidecar goes: stdin EOF, `shutdown`, SIGTERM, a lost
`--parent-pid` and a SIGKILL of the sidecar each leave no server process (the filesystem server
run as a grandchild through /bin/sh, as npx runs its servers; the fault server mid-call; a stuck
server that ignores its stdin closing, with a grandchild that ignores everything) running 2 s
later; a bad `--mcp-config` exits with status 2 before starting any server; and stopping while
a server fails to spawn is an ordinary exit 0."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from sidecar_testkit.fake_ollama import ScriptedOllama

from ..support import REPO_ROOT
from .e2e import GUARD_S, sidecar_for
from .mcp import McpSetup, alive, ready, wait_gone
from .test_e2e_tools import call, tool_chat

WAYS = ["eof", "shutdown", "sigterm", "parent", "sigkill"]


@pytest.mark.parametrize("way", WAYS)
async def test_no_server_process_outlives_the_sidecar(
    fake_ollama: ScriptedOllama, root: Path, tmp_path: Path, way: str
) -> None:
    setup = McpSetup(tmp_path).filesystem("fs", root).faults("f", autoApprove=["sleep"]).stuck("stuck")
    parent = await trio.lowlevel.open_process([sys.executable, "-c", "import time; time.sleep(60)"])
    args = [*setup.args(), "--root", str(root), "--drain-timeout", "1", "--parent-pid", str(parent.pid)]
    try:
        with trio.fail_after(GUARD_S):
            async with sidecar_for(fake_ollama, *args) as sidecar:
                await sidecar.wait_for(ready("fs"))
                await sidecar.wait_for(ready("f"))
                # A call in flight: the fault server is mid-call when the sidecar goes.
                await sidecar.request("chat", tool_chat([call("f__sleep", seconds=600)], tools=["f__sleep"]))
                while not (setup.marks("f") / "sleeping").exists():
                    await trio.sleep(0.02)
                while not (setup.marks("stuck") / "pid").exists():
                    await trio.sleep(0.02)
                # sh and node under it, the fault server, sh, sleep and the stuck server under it
                assert len(alive(setup.token)) >= 6
                if way == "eof":
                    await sidecar.close_stdin()
                elif way == "shutdown":
                    await sidecar.request("shutdown")
                elif way == "sigterm":
                    sidecar.send_signal(signal.SIGTERM)
                elif way == "parent":
                    parent.kill()
                else:
                    sidecar.process.kill()
                code = await sidecar.process.wait()
                if way != "sigkill":
                    await sidecar.wait_exit()
                left = await wait_gone(setup.token)
    finally:
        parent.kill()
        await parent.wait()
    assert left == []
    assert code == (-signal.SIGKILL if way == "sigkill" else 0)


def test_a_bad_config_exits_2_naming_file_server_and_field(tmp_path: Path) -> None:
    setup = McpSetup(tmp_path).faults("good")
    servers = dict(setup.servers)
    servers["broken"] = {"command": "node", "args": "not-a-list"}
    setup.path.write_text(__import__("json").dumps({"mcpServers": servers}))
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", *setup.args()],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=GUARD_S,
    )
    assert done.returncode == 2
    assert done.stdout == ""  # not even sidecar:ready
    assert str(setup.path) in done.stderr and "'broken'" in done.stderr and "'args'" in done.stderr
    assert not (setup.marks("good") / "pid").exists()  # no server was started


def test_a_config_that_is_not_json_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "mcp.json"
    config.write_text('{"mcpServers": {')
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "--mcp-config", str(config)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=GUARD_S,
    )
    assert done.returncode == 2 and str(config) in done.stderr and "not valid JSON" in done.stderr


def test_a_sidecar_without_mcp_servers_never_imports_the_sdk() -> None:
    code = "import sys, sidecar.__main__, sidecar.app, sidecar.server; print('mcp' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.parametrize("way", ["eof", "shutdown"])
def test_stopping_while_a_server_fails_to_spawn_exits_0_without_a_crash(
    tmp_path: Path, way: str
) -> None:
    """stdin is closed (or `shutdown` sent) at once, while the server whose program does not
    exist is being spawned: the failure is logged, the sidecar stops as usual."""
    setup = McpSetup(tmp_path)
    setup.path.write_text('{"mcpServers": {"gone": {"command": "/nonexistent/mcp-server"}}}')
    stdin = '{"jsonrpc":"2.0","id":1,"method":"shutdown"}\n' if way == "shutdown" else ""
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "--no-store", "--ollama-url", "http://127.0.0.1:9",
         *setup.args()],
        input=stdin, capture_output=True, text=True, timeout=GUARD_S,
    )
    assert done.returncode == 0, done.stderr
    assert "crashed" not in done.stderr and "Traceback" not in done.stderr
    assert done.stdout.splitlines()[0].startswith('{"jsonrpc":"2.0","method":"sidecar:ready"')
