"""Helpers of the MCP tests: the real servers installed in tests/mcp-servers (run with node,
offline), the fault server written with the SDK (tests/mcp-servers/fault_server.py), a
`--mcp-config` file per test, and a look at which of a test's server processes are still alive.

Every server a test configures gets `MCP_TEST_TOKEN` in its environment; whatever it starts
inherits it, so `alive(token)` finds the whole tree (npx-style grandchildren included) in /proc.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from typing import Any, Final

import msgspec
import trio

from ..support import REPO_ROOT

SERVERS: Final = REPO_ROOT / "tests" / "mcp-servers"
MODULES: Final = SERVERS / "node_modules" / "@modelcontextprotocol"
FILESYSTEM_JS: Final = MODULES / "server-filesystem" / "dist" / "index.js"
EVERYTHING_JS: Final = MODULES / "server-everything" / "dist" / "index.js"
FAULT_PY: Final = SERVERS / "fault_server.py"
# The contract: no MCP server process is left this long after the sidecar is gone.
GONE_WITHIN_S: Final = 2.0


class McpSetup:
    """A config file in `folder` and the token its servers carry."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.token = uuid.uuid4().hex
        self.servers: dict[str, dict[str, Any]] = {}
        self.path = folder / "mcp.json"

    def _add(self, name: str, entry: dict[str, Any]) -> McpSetup:
        if "command" in entry:
            entry.setdefault("env", {})["MCP_TEST_TOKEN"] = self.token
        self.servers[name] = entry
        self.path.write_bytes(msgspec.json.encode({"mcpServers": self.servers}))
        return self

    def filesystem(self, name: str, allowed: Path, **extra: Any) -> McpSetup:
        # Through /bin/sh, which stays as the parent: the server runs as a grandchild, as npx's do.
        command = f'exec_node() {{ node "$@"; }}; exec_node "{FILESYSTEM_JS}" "{allowed}"'
        return self._add(name, {"command": "/bin/sh", "args": ["-c", command], **extra})

    def everything(self, name: str = "everything", **extra: Any) -> McpSetup:
        return self._add(name, {"command": "node", "args": [str(EVERYTHING_JS)], **extra})

    def faults(self, name: str, mode: str = "serve", **extra: Any) -> McpSetup:
        marks = self.marks(name)
        return self._add(
            name, {"command": sys.executable, "args": [str(FAULT_PY), mode, str(marks)], **extra}
        )

    def stuck(self, name: str) -> McpSetup:
        """A server that never answers and ignores its stdin closing, with a grandchild (`sleep`)
        that ignores everything: only killing the process group ends them."""
        marks = self.marks(name)
        script = f'sleep 600 & run() {{ "$@"; }}; run "{sys.executable}" "{FAULT_PY}" never-init "{marks}"'
        return self._add(name, {"command": "/bin/sh", "args": ["-c", script], "timeout": 600})

    def http(self, name: str, url: str, **extra: Any) -> McpSetup:
        return self._add(name, {"url": url, **extra})

    def marks(self, name: str) -> Path:
        return self.folder / f"marks-{name}"

    def args(self) -> list[str]:
        return ["--mcp-config", str(self.path)]


def alive(token: str) -> list[int]:
    """The pids of live processes (zombies aside) carrying `token` in their environment."""
    found = []
    needle = f"MCP_TEST_TOKEN={token}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_bytes().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if needle in environ.split(b"\0") and state != b"Z":
            found.append(int(entry))
    return found


async def wait_gone(token: str, within: float = GONE_WITHIN_S) -> list[int]:
    """Waits up to `within` seconds for the token's processes to go; returns those left."""
    deadline = trio.current_time() + within
    while (left := alive(token)) and trio.current_time() < deadline:
        await trio.sleep(0.05)
    return left


def ready(server: str):  # a predicate for SidecarProcess.wait_for
    return lambda line: (
        line.method == "mcp:server_status"
        and line.value["params"]["server"] == server
        and line.value["params"]["status"] == "ready"
    )


def status_is(server: str, status: str):
    return lambda line: (
        line.method == "mcp:server_status"
        and line.value["params"]["server"] == server
        and line.value["params"]["status"] == status
    )
