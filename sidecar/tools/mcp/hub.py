"""`McpHub`: the MCP servers of `--mcp-config` as one tool source: started, watched, called, ended.

Each enabled server has a supervisor task. It connects (connection.py, the SDK, imported here
only when the first server starts, after `sidecar:ready`), lists the tools, and then holds the
connection until the server fails, the hub stops, or `notifications/tools/list_changed` asks for
a new listing. Every change of state is written as `mcp:server_status`.

A server that does not finish starting within its `timeout` (at least 10 s), that crashes, or whose call runs
past its `timeout` becomes `failed` (its process tree is killed); a call to it answers an
`is_error` result that says what happened. A failed server is started again on its next use (a
chat that offers its tools, or a call), at most `RESTARTS_PER_MINUTE` times a minute. A server's
stderr goes to the sidecar's log, each line prefixed with its name; the last lines are kept for
the `error` of a failed one. No server outlives the sidecar (guard.py).
"""

from __future__ import annotations

import collections
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import trio

from .config import ServerConfig, exposed_name
from .guard import Reaper
from .results import McpResult, to_model_text

logger = logging.getLogger(__name__)
stderr_log = logging.getLogger("sidecar.mcp.stderr")
stderr_log.setLevel(logging.INFO)  # a server's stderr is always logged, whatever --log-level

RESTARTS_PER_MINUTE: Final = 3
STDERR_TAIL_LINES: Final = 10
KILL_GRACE_S: Final = 0.3  # on stop: how long servers may end on their own before SIGKILL


@dataclass(frozen=True)
class McpTool:
    exposed: str  # SERVER__TOOL, what the model sees
    server: str
    tool: str  # the server's own name
    description: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any] | None
    auto_approved: bool

    def spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.exposed,
                "description": self.description,
                "parameters": self.input_schema,
            },
        }


class ServerState:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.status = "stopped"
        self.error: str | None = None
        self.tools: dict[str, McpTool] = {}  # by exposed name, from the last listing
        self.session: Any = None
        self.process: Any = None
        self.settled = trio.Event()
        self.wanted = trio.Event()
        self.ended = trio.Event()  # the live connection should go
        self.refresh = trio.Event()
        self.starts: collections.deque[float] = collections.deque()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)

    def may_restart(self, now: float) -> bool:
        while self.starts and now - self.starts[0] > 60.0:
            self.starts.popleft()
        return len(self.starts) < RESTARTS_PER_MINUTE + 1  # the first start is not a restart

    def exposed(self) -> list[str]:
        return list(self.tools) if self.status == "ready" else []


class McpHub:
    """The servers of one sidecar run. `run` supervises them; `close` ends them."""

    def __init__(
        self,
        servers: tuple[ServerConfig, ...],
        root: Path,
        on_status: Callable[[dict[str, Any]], None],
    ) -> None:
        self.states = {s.name: ServerState(s) for s in servers}
        self.root = root
        self.on_status = on_status
        self.reaper: Reaper | None = None
        self._scope = trio.CancelScope()
        self._done = trio.Event()

    # --- what chats and handlers use ----------------------------------------------------------

    def enabled(self) -> list[ServerState]:
        return [s for s in self.states.values() if not s.config.disabled]

    def server_of(self, exposed: str) -> ServerState | None:
        """The enabled server whose tool `exposed` is (or would be, by its prefix)."""
        for state in self.enabled():
            if exposed in state.tools:
                return state
        for state in self.enabled():
            if exposed.startswith(state.config.prefix):
                return state
        return None

    async def use(self, states: list[ServerState], *, wait: bool = True) -> None:
        """A chat is about to offer these servers' tools: restart failed ones (within the
        limit) and wait until none is starting. `wait=False` (a chat with `tools: true`, which
        offers what is ready right now, as `list_tools` says) only starts the restarts."""
        now = trio.current_time()
        waits = [s for s in states if s.status == "starting" or s.wanted.is_set()]
        for state in states:
            if state.status in ("failed", "stopped") and state.may_restart(now):
                state.settled = trio.Event()
                state.wanted.set()
                waits.append(state)
        if wait:
            for state in waits:
                await state.settled.wait()

    def ready_tools(self, states: list[ServerState] | None = None) -> list[McpTool]:
        states = self.enabled() if states is None else states
        return [t for s in states if s.status == "ready" for t in s.tools.values()]

    async def call(self, tool: McpTool, arguments: dict[str, Any]) -> McpResult:
        """Runs one tool call. Failures are results (`is_error`); only cancellation raises."""
        state = self.states[tool.server]
        if state.status != "ready":
            await self.use([state])
        if state.status != "ready" or state.session is None:
            why = state.error or "it is not running"
            if not state.may_restart(trio.current_time()):
                why += f" (restarted {RESTARTS_PER_MINUTE} times in the last minute; not again yet)"
            return _error(f"MCP server {state.config.name!r} is not available: {why}")
        from . import connection

        session = state.session
        timeout = state.config.timeout_s
        try:
            with trio.move_on_after(timeout) as deadline:
                data = await connection.call_tool(session, tool.tool, arguments)
        except trio.Cancelled:
            raise
        except Exception as exc:
            if state.session is session and not _connection_lost(exc):
                return _error(f"{tool.tool} failed: {connection.describe(exc)}")
            await self._lost(state)
            return _error(
                f"MCP server {state.config.name!r} stopped during the call to {tool.tool} "
                f"(it crashed or exited){self._tail(state)}"
            )
        if deadline.cancelled_caught:
            self._fail(state, f"the call to {tool.tool} did not answer within {timeout:g} s")
            return _error(
                f"{tool.tool} did not answer within {timeout:g} s: the call was cancelled and "
                f"MCP server {state.config.name!r} is restarted on its next use"
            )
        return to_model_text(data)

    def servers(self) -> list[dict[str, Any]]:
        return [
            {
                "name": s.config.name,
                "transport": s.config.transport,
                "status": s.status,
                "tools": s.exposed(),
                "error": s.error if s.status == "failed" else None,
            }
            for s in self.states.values()
        ]

    # --- lifetime -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Starts every enabled server at once; returns after `close`."""
        try:
            with self._scope:
                self.reaper = Reaper()
                async with trio.open_nursery() as nursery:
                    for state in self.enabled():
                        state.wanted.set()
                        nursery.start_soon(self._supervise, state)
        finally:
            if self.reaper is not None:
                self.reaper.kill_all()
                self.reaper.close()
            self._done.set()

    async def close(self) -> None:
        """Ends every server (stdin closed, then SIGKILL after a short grace); returns once the
        supervisors are done."""
        self._scope.cancel()
        with trio.move_on_after(KILL_GRACE_S):
            await self._done.wait()
        if self.reaper is not None:
            self.reaper.kill_all()
        with trio.move_on_after(5.0):
            await self._done.wait()

    async def _supervise(self, state: ServerState) -> None:
        while True:
            await state.wanted.wait()
            state.wanted = trio.Event()
            state.starts.append(trio.current_time())
            await self._connect_once(state)

    async def _connect_once(self, state: ServerState) -> None:
        from . import connection

        config = state.config
        state.ended, state.refresh = trio.Event(), trio.Event()
        state.stderr_tail.clear()
        state.error = None
        self._set(state, "starting")
        errlog, reader = _stderr_pipe()
        initialized = False
        stderr_done = trio.Event()
        try:
            async with trio.open_nursery() as nursery:
                if reader is not None:
                    nursery.start_soon(self._read_stderr, state, reader, stderr_done)
                else:
                    stderr_done.set()

                async def deadline() -> None:
                    await trio.sleep(config.start_timeout_s)
                    if not initialized:
                        state.error = f"did not finish initializing within {config.start_timeout_s:g} s"
                        nursery.cancel_scope.cancel()

                nursery.start_soon(deadline)

                async def list_changed() -> None:
                    state.refresh.set()

                def on_process(process: Any) -> None:
                    state.process = process
                    if self.reaper is not None:
                        self.reaper.register(process.pid)
                    nursery.start_soon(self._watch_exit, state, process)

                async with connection.open_session(
                    config, self.root, errlog=errlog, on_process=on_process,
                    on_list_changed=list_changed,
                ) as session:
                    self._list(state, await connection.list_tools(session))
                    initialized = True
                    state.session = session
                    self._set(state, "ready")
                    while not state.ended.is_set():
                        async with trio.open_nursery() as wait:
                            wait.start_soon(_first, state.ended, wait)
                            wait.start_soon(_first, state.refresh, wait)
                        if state.refresh.is_set() and not state.ended.is_set():
                            state.refresh = trio.Event()
                            self._list(state, await connection.list_tools(session))
                            self._set(state, "ready")
                    state.session = None
                # The server is gone: its last stderr lines (the crash's account) come at once.
                with trio.move_on_after(0.5):
                    await stderr_done.wait()
                nursery.cancel_scope.cancel()
        except trio.Cancelled:
            raise
        except Exception as exc:
            if state.error is None:
                state.error = f"could not start: {connection.describe(exc)}"
            logger.warning("MCP server %s: %s", config.name, state.error)
        except BaseExceptionGroup as group:
            # The sidecar stopping (a Cancelled) while the start failed (a spawn error): the
            # failure is logged, the Cancelled goes on, and the sidecar does not crash.
            cancelled, failed = group.split(trio.Cancelled)
            if failed is not None:
                state.error = state.error or f"could not start: {connection.describe(failed)}"
                logger.warning("MCP server %s: %s", config.name, state.error)
            if cancelled is not None:
                raise cancelled from None
            raise
        finally:
            state.session = None
            if errlog is not None and not errlog.closed:
                errlog.close()
            if state.process is not None and self.reaper is not None:
                self.reaper.unregister(state.process.pid)
            state.process = None
            if not self._scope.cancel_called:
                if state.error is None and not initialized:
                    state.error = "did not finish initializing"
                if state.error is not None:
                    state.error += self._tail(state)
                self._set(state, "failed" if state.error is not None else "stopped")
            else:
                self._set(state, "stopped")

    async def _watch_exit(self, state: ServerState, process: Any) -> None:
        status = await process.wait()
        if state.process is process and not self._scope.cancel_called and not state.ended.is_set():
            state.error = state.error or f"the server exited (status {status})"
            state.ended.set()

    async def _lost(self, state: ServerState) -> None:
        process = state.process
        if process is not None and state.error is None:
            with trio.move_on_after(0.5):  # its exit status, when it comes at once
                await process.wait()
            if process.returncode is not None:
                state.error = f"the server exited (status {process.returncode})"
        self._fail(state, "the connection closed")
        with trio.move_on_after(1.0):
            await state.settled.wait()

    def _fail(self, state: ServerState, error: str) -> None:
        state.error = state.error or error
        state.ended.set()

    def _tail(self, state: ServerState) -> str:
        lines = [line for line in state.stderr_tail if line.strip()]
        return (": " + " | ".join(lines[-3:])) if lines else ""

    def _list(self, state: ServerState, tools: list[dict[str, Any]]) -> None:
        taken = {name for s in self.states.values() if s is not state for name in s.tools}
        listed: dict[str, McpTool] = {}
        for tool in tools:
            name = exposed_name(state.config.name, tool["name"], taken | set(listed))
            listed[name] = McpTool(
                exposed=name,
                server=state.config.name,
                tool=tool["name"],
                description=tool.get("description") or tool.get("title") or "",
                input_schema=tool.get("inputSchema") or {"type": "object", "properties": {}},
                annotations=tool.get("annotations"),
                auto_approved=tool["name"] in state.config.auto_approve,
            )
        state.tools = listed

    def _set(self, state: ServerState, status: str) -> None:
        state.status = status
        if status != "starting":
            state.settled.set()
        else:
            state.settled = trio.Event() if state.settled.is_set() else state.settled
        note: dict[str, Any] = {"server": state.config.name, "status": status, "tools": state.exposed()}
        if status == "failed" and state.error:
            note["error"] = state.error
        self.on_status(note)

    async def _read_stderr(self, state: ServerState, reader: Any, done: trio.Event) -> None:
        pending = b""
        async with reader:
            while True:
                try:
                    data = await reader.receive_some(65536)
                except (trio.ClosedResourceError, trio.BrokenResourceError, OSError):
                    data = b""
                lines = (pending + data).split(b"\n")
                pending = lines.pop() if data else b""
                for raw in lines:
                    line = raw.decode("utf-8", "replace").rstrip("\r")
                    if line:
                        state.stderr_tail.append(line)
                        stderr_log.info("[%s] %s", state.config.name, line)
                if not data:
                    done.set()
                    return


async def _first(event: trio.Event, nursery: trio.Nursery) -> None:
    await event.wait()
    nursery.cancel_scope.cancel()


def _error(text: str) -> McpResult:
    return McpResult(text, True, [])


def _connection_lost(exc: BaseException) -> bool:
    error = getattr(exc, "error", None)
    return getattr(error, "code", None) == -32000 or isinstance(
        exc, (trio.BrokenResourceError, trio.ClosedResourceError, EOFError)
    )


def _stderr_pipe() -> tuple[Any, Any]:
    """A pipe for a stdio server's stderr: (the file the child gets, the stream we read)."""
    if sys.platform == "win32":
        return None, None  # the SDK's default: the sidecar's own stderr
    read_fd, write_fd = os.pipe()
    return os.fdopen(write_fd, "w"), trio.lowlevel.FdStream(read_fd)
