"""Process lifetime, with real processes: a host killed with SIGKILL takes the sidecar with it.

A small parent program (`PARENT`) spawns the real sidecar the way a desktop shell does; then the
test kills the parent with SIGKILL and checks that the sidecar, and the `exec_shell` command it
was running, are gone within `DEADLINE_S` (issue 6's contract). Each way the sidecar can learn of
the death is arranged to be the only one that fires: a stream the parent relays through a pipe
of its own closes when it dies, a stream it merely hands over stays open in the test.

| mechanism     | stdin         | stdout        | flags                                  | logged stop reason   |
|---------------|---------------|---------------|----------------------------------------|----------------------|
| stdin EOF     | parent's pipe | the test's    | idle; or busy (re-parented: no drain)  | eof / ... is gone    |
| broken stdout | the test's    | parent's pipe |                                        | stdout has no reader |
| --parent-pid  | the test's    | the test's    | --parent-pid                           | parent process N ... |
| a real host   | parent's pipe | parent's pipe |                                        | stdout has no reader |

Every case runs through both stdio paths (`--stdio auto` and `--stdio threads`). The test process
is a child subreaper meanwhile, so the orphaned sidecar is re-parented to it and its exit status
can be read (PID 1 here reaps nothing; zombies count as gone either way).

Then the stdout watch where it must not fire (a regular file; a terminal until it hangs up), and a
host that stopped reading: a write blocked on a full pipe must not keep SIGTERM from ending it.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import tty
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec
import pytest
import trio

from sidecar.procs import process_alive
from sidecar_testkit.fake_ollama import ScriptedOllama, tool_request_text

from ..support import GUARD_S, chat_params, request_line

# The contract, so a real deadline (not a hang guard): gone within 2 s of the kill.
DEADLINE_S: Final = 2.0
STDIO_PATHS: Final = ["auto", "threads"]
SHELL_COMMAND: Final = "sleep 600 & echo $! > child.pid; wait"

# argv: STDIN_MODE STDOUT_MODE COMMAND...; a mode is "pipe" (a pipe of the parent's own, relayed
# to or from the parent's fd, so it closes when the parent dies) or "share" (the parent's own fd
# is handed over). "{parent}" in COMMAND becomes the parent's pid.
PARENT: Final = r"""
import os, subprocess, sys, threading
stdin_mode, stdout_mode, *command = sys.argv[1:]
command = [str(os.getpid()) if arg == "{parent}" else arg for arg in command]
child = subprocess.Popen(
    command,
    stdin=subprocess.PIPE if stdin_mode == "pipe" else None,
    stdout=subprocess.PIPE if stdout_mode == "pipe" else None,
)
def pump(source, target):
    while data := os.read(source, 65536):
        os.write(target, data)
if stdin_mode == "pipe":
    threading.Thread(target=pump, args=(0, child.stdin.fileno()), daemon=True).start()
if stdout_mode == "pipe":
    threading.Thread(target=pump, args=(child.stdout.fileno(), 1), daemon=True).start()
child.wait()
"""

_decoder: Final = msgspec.json.Decoder()


# Orphaned sidecars and shell children are re-parented to the test process, which reaps them.
pytestmark = pytest.mark.usefixtures("subreaper")


def sidecar_command(fake: ScriptedOllama, stdio: str, root: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "sidecar", "--ollama-url", fake.url, "--stdio", stdio,
        "--root", str(root), "--allow-shell", "--auto-approve", "--log-level", "INFO", *extra,
    ]


def exec_shell_chat(id: int, command: str) -> bytes:
    """A chat whose scripted model calls exec_shell with `command` (auto-approved)."""
    content = tool_request_text([("exec_shell", {"command": command})])
    return request_line(id, "chat", chat_params("tools", content, tools=True))


@dataclass
class Reaped:
    """What became of a process the test watched."""

    status: int | None = None  # the wait status, if the process was ours to reap


def reap(pid: int, reaped: Reaped) -> bool:
    """True once `pid` is gone (exited, or a zombie); reaps it when it is our child."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not process_alive(pid)  # someone else's: a zombie counts as gone
    if done:
        reaped.status = status
    return bool(done)


@dataclass
class Host:
    """The parent program, the test's ends of the sidecar's streams, and what was read."""

    parent: trio.Process
    requests: int  # the test's write end: the parent's stdin, or the sidecar's own
    replies: trio.lowlevel.FdStream  # the test's read end: relayed by the parent, or direct
    log: Path
    lines: list[Any] = field(default_factory=list)
    buffer: bytes = b""
    eof: bool = False
    sidecar_pid: int = 0
    shell_child: int | None = None  # the `sleep` an exec_shell command started

    def send(self, data: bytes) -> None:
        os.write(self.requests, data)

    async def read_until(self, predicate: Callable[[Any], bool]) -> Any:
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            if self.eof:
                raise EOFError(f"stdout closed; sidecar log:\n{self.log.read_text()}")
            await self._read()

    async def read_to_eof(self) -> None:
        while not self.eof:
            await self._read()

    async def _read(self) -> None:
        try:
            data = await self.replies.receive_some(65536)
        except trio.BrokenResourceError:
            data = b""
        if not data:
            self.eof = True
            return
        *complete, self.buffer = (self.buffer + data).split(b"\n")
        self.lines += [_decoder.decode(raw) for raw in complete]

    async def start_exec_shell(self, root: Path) -> None:
        """Sends a chat whose model runs SHELL_COMMAND; returns once the `sleep` runs."""
        self.send(exec_shell_chat(1, SHELL_COMMAND))
        line = await self.read_until(
            lambda line: line.get("method") == "chat:tool_call" or line.get("id") == 1
        )
        assert line.get("method") == "chat:tool_call", line
        pid_file = root / "child.pid"
        while not pid_file.exists() or not pid_file.read_text().strip():
            await trio.sleep(0.02)
        self.shell_child = int(pid_file.read_text())
        assert process_alive(self.shell_child)

    async def kill_parent_and_wait(self) -> Reaped:
        """SIGKILL to the parent; then waits until the sidecar and the `sleep` are gone.

        Fails if either is still running DEADLINE_S after the kill; returns the sidecar's fate.
        """
        sidecar = Reaped()
        pending: dict[int, Reaped] = {self.sidecar_pid: sidecar}
        if self.shell_child is not None:
            pending[self.shell_child] = Reaped()
        with trio.move_on_after(DEADLINE_S) as deadline:
            self.parent.kill()
            await self.parent.wait()
            while pending:
                pending = {pid: r for pid, r in pending.items() if not reap(pid, r)}
                await trio.sleep(0.01)
        assert not deadline.cancelled_caught, (
            f"still running {DEADLINE_S} s after the parent's SIGKILL: {sorted(pending)} "
            f"(sidecar {self.sidecar_pid}, exec_shell child {self.shell_child}); "
            f"sidecar log:\n{self.log.read_text()}"
        )
        return sidecar

    def assert_stopped_by(self, *reasons: str) -> None:
        """The sidecar logged that it exits for one of `reasons`."""
        log = self.log.read_text()
        assert any(f"exiting: {reason}" in log for reason in reasons), log


@asynccontextmanager
async def open_host(
    command: list[str], *, stdin: str, stdout: str, tmp_path: Path
) -> AsyncIterator[Host]:
    """Starts PARENT, which spawns `command`; waits for `sidecar:ready`. Kills everything after.

    The parent leads a process group of its own, which the sidecar joins, so cleaning up finds
    the sidecar even when the test failed before it said who it is.
    """
    log = tmp_path / "sidecar.log"
    to_parent_r, to_parent_w = os.pipe()
    from_parent_r, from_parent_w = os.pipe()
    host: Host | None = None
    parent: trio.Process | None = None
    try:
        with open(log, "wb") as log_file:
            parent = await trio.lowlevel.open_process(
                [sys.executable, "-c", PARENT, stdin, stdout, *command],
                stdin=to_parent_r, stdout=from_parent_w, stderr=log_file,
                start_new_session=True,
            )
        os.close(to_parent_r)
        os.close(from_parent_w)
        to_parent_r = from_parent_w = -1
        host = Host(parent, to_parent_w, trio.lowlevel.FdStream(from_parent_r), log)
        from_parent_r = -1
        with trio.fail_after(GUARD_S):
            ready = await host.read_until(lambda line: line.get("method") == "sidecar:ready")
        host.sidecar_pid = ready["params"]["pid"]
        yield host
    finally:
        for fd in (to_parent_r, to_parent_w, from_parent_r, from_parent_w):
            if fd >= 0:
                os.close(fd)
        if parent is not None:
            with suppress(ProcessLookupError):
                os.killpg(parent.pid, signal.SIGKILL)  # the parent and the sidecar
            with trio.CancelScope(shield=True):
                await parent.wait()
        if host is not None:
            await host.replies.aclose()
            _kill_and_reap(host.sidecar_pid, host.shell_child)


def _kill_and_reap(sidecar: int, shell_child: int | None) -> None:
    if shell_child is not None and process_alive(shell_child):
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(shell_child), signal.SIGKILL)
    for pid in (sidecar, shell_child):
        if pid and process_alive(pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if pid:
            with suppress(ChildProcessError):
                os.waitpid(pid, 0)


def assert_exited_0(sidecar: Reaped) -> None:
    assert sidecar.status is not None, "the sidecar was not re-parented to the test"
    assert os.waitstatus_to_exitcode(sidecar.status) == 0


def assert_chat_cancelled(host: Host) -> None:
    """The chat that ran exec_shell answered, cancelled, as the sidecar's last line."""
    last = host.lines[-1]
    assert last["id"] == 1 and last["result"]["done_reason"] == "cancelled", last


# --- one mechanism at a time ---------------------------------------------------------------------


@pytest.mark.parametrize("stdio", STDIO_PATHS)
async def test_stdin_eof_ends_an_idle_sidecar(
    fake_ollama: ScriptedOllama, root: Path, tmp_path: Path, stdio: str
) -> None:
    command = sidecar_command(fake_ollama, stdio, root)
    with trio.fail_after(GUARD_S):
        async with open_host(command, stdin="pipe", stdout="share", tmp_path=tmp_path) as host:
            sidecar = await host.kill_parent_and_wait()
            await host.read_to_eof()
    assert_exited_0(sidecar)
    host.assert_stopped_by("eof")
    assert [line.get("method") for line in host.lines] == ["sidecar:ready"]


@pytest.mark.parametrize("stdio", STDIO_PATHS)
async def test_stdin_eof_from_a_dead_host_does_not_wait_for_the_running_exec_shell(
    fake_ollama: ScriptedOllama, root: Path, tmp_path: Path, stdio: str
) -> None:
    # stdin EOF alone is the soft stop: in-flight work may drain for --drain-timeout (60 s by
    # default). Not when the host that started the sidecar is gone: nobody waits for that work.
    command = sidecar_command(fake_ollama, stdio, root)
    with trio.fail_after(GUARD_S):
        async with open_host(command, stdin="pipe", stdout="share", tmp_path=tmp_path) as host:
            await host.start_exec_shell(root)
            sidecar = await host.kill_parent_and_wait()
            await host.read_to_eof()
    assert_exited_0(sidecar)
    host.assert_stopped_by("stdin closed and the parent process is gone")
    assert_chat_cancelled(host)


@pytest.mark.parametrize("stdio", STDIO_PATHS)
async def test_a_stdout_without_reader_ends_the_sidecar_and_its_exec_shell(
    fake_ollama: ScriptedOllama, root: Path, tmp_path: Path, stdio: str
) -> None:
    # stdin stays open (the test holds it) and nothing is written while the shell sleeps: only
    # noticing that stdout's reader is gone can end this.
    command = sidecar_command(fake_ollama, stdio, root)
    with trio.fail_after(GUARD_S):
        async with open_host(command, stdin="share", stdout="pipe", tmp_path=tmp_path) as host:
            await host.start_exec_shell(root)
            sidecar = await host.kill_parent_and_wait()
    assert_exited_0(sidecar)
    host.assert_stopped_by("stdout has no reader")


@pytest.mark.parametrize("stdio", STDIO_PATHS)
async def test_parent_pid_ends_the_sidecar_and_its_exec_shell(
    fake_ollama: ScriptedOllama, root: Path, tmp_path: Path, stdio: str
) -> None:
    # Both streams stay open in the test: only --parent-pid can tell the parent is gone.
    command = sidecar_command(fake_ollama, stdio, root, "--parent-pid", "{parent}")
    with trio.fail_after(GUARD_S):
        async with open_host(command, stdin="share", stdout="share", tmp_path=tmp_path) as host:
            await host.start_exec_shell(root)
            parent_pid = host.parent.pid
            sidecar = await host.kill_parent_and_wait()
            await host.read_to_eof()
    assert_exited_0(sidecar)
    host.assert_stopped_by(f"parent process {parent_pid} is gone")
    assert_chat_cancelled(host)


@pytest.mark.parametrize("stdio", STDIO_PATHS)
async def test_a_host_holding_both_pipes_dies_and_takes_the_exec_shell_along(
    fake_ollama: ScriptedOllama, root: Path, tmp_path: Path, stdio: str
) -> None:
    # What a crashed desktop shell does: stdin reaches EOF (a soft stop that would let the
    # 60 s drain run) and stdout loses its reader at the same moment; either that or being
    # re-parented makes it urgent, whichever the sidecar sees first.
    command = sidecar_command(fake_ollama, stdio, root)
    with trio.fail_after(GUARD_S):
        async with open_host(command, stdin="pipe", stdout="pipe", tmp_path=tmp_path) as host:
            await host.start_exec_shell(root)
            sidecar = await host.kill_parent_and_wait()
    assert_exited_0(sidecar)
    host.assert_stopped_by("stdout has no reader", "stdin closed and the parent process is gone")


# --- where the stdout watch must not fire ----------------------------------------------------------


@asynccontextmanager
async def sidecar_writing_to(
    command: list[str], stdout: int, tmp_path: Path
) -> AsyncIterator[tuple[trio.Process, Path]]:
    log = tmp_path / "sidecar.log"
    with open(log, "wb") as log_file:
        process = await trio.lowlevel.open_process(
            command, stdin=subprocess.PIPE, stdout=stdout, stderr=log_file
        )
    try:
        yield process, log
    finally:
        with suppress(ProcessLookupError):
            process.kill()
        with trio.CancelScope(shield=True):
            await process.wait()
            assert process.stdin is not None
            await process.stdin.aclose()


HANG_CHAT: Final = request_line(1, "chat", chat_params("hang"))


@pytest.mark.parametrize("stdio", STDIO_PATHS)
async def test_a_regular_file_on_stdout_keeps_the_sidecar_serving(
    fake_ollama: ScriptedOllama, root: Path, tmp_path: Path, stdio: str
) -> None:
    out = tmp_path / "out.jsonl"

    async def until_written(text: bytes) -> None:
        while text not in out.read_bytes():
            await trio.sleep(0.02)

    command = sidecar_command(fake_ollama, stdio, root)
    with trio.fail_after(GUARD_S), open(out, "wb") as stdout:
        async with sidecar_writing_to(command, stdout.fileno(), tmp_path) as (process, log):
            assert process.stdin is not None
            await process.stdin.send_all(HANG_CHAT)
            await until_written(b"Thinking")
            await process.stdin.send_all(request_line(2, "status"))
            await until_written(b'"id":2,"result"')
            await process.stdin.send_all(request_line(3, "shutdown"))
            code = await process.wait()
    lines = [_decoder.decode(raw) for raw in out.read_bytes().splitlines()]
    assert code == 0
    assert [line.get("id") for line in lines if "method" not in line] == [2, 1, 3]
    assert "exiting: shutdown" in log.read_text()


@pytest.mark.parametrize("stdio", STDIO_PATHS)
async def test_a_terminal_on_stdout_is_watched_until_it_hangs_up(
    fake_ollama: ScriptedOllama, root: Path, tmp_path: Path, stdio: str
) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)  # bytes through unchanged (no \n -> \r\n)
    received = b""

    async def until_received(text: bytes) -> None:
        nonlocal received
        while text not in received:
            await trio.lowlevel.wait_readable(master)
            received += os.read(master, 65536)

    command = sidecar_command(fake_ollama, stdio, root)
    try:
        with trio.fail_after(GUARD_S):
            async with sidecar_writing_to(command, slave, tmp_path) as (process, log):
                os.close(slave)
                slave = -1
                assert process.stdin is not None
                await process.stdin.send_all(HANG_CHAT)
                await until_received(b'hard"}')  # the end of the last token
                await process.stdin.send_all(request_line(2, "status"))
                await until_received(b'"id":2,"result"')
                assert process.returncode is None
                os.close(master)  # the terminal goes away: nobody reads stdout any more
                master = -1
                code = await process.wait()
                await fake_ollama.chat_records[0].disconnected.wait()
    finally:
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)
    assert code == 0
    assert "exiting: stdout has no reader" in log.read_text()


@pytest.mark.parametrize("stdio", STDIO_PATHS)
async def test_a_host_that_stopped_reading_can_still_stop_the_sidecar(
    fake_ollama: ScriptedOllama, root: Path, tmp_path: Path, stdio: str
) -> None:
    # stdout is a pipe the test fills to the brim right after `sidecar:ready` and never reads
    # again, so every write the sidecar tries blocks (in a worker thread with --stdio threads),
    # the chat's final answer at exit included. SIGTERM must still end it.
    read_end, write_end = os.pipe()
    command = sidecar_command(fake_ollama, stdio, root)
    try:
        with trio.fail_after(GUARD_S):
            async with sidecar_writing_to(command, write_end, tmp_path) as (process, log):
                ready = b""
                while not ready.endswith(b"\n"):
                    await trio.lowlevel.wait_readable(read_end)
                    ready += os.read(read_end, 65536)
                assert b"sidecar:ready" in ready
                filler = memoryview(b"x" * fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ))
                while filler:  # an empty pipe takes exactly its capacity
                    filler = filler[os.write(write_end, filler):]
                os.close(write_end)
                write_end = -1
                assert process.stdin is not None
                await process.stdin.send_all(HANG_CHAT)
                await fake_ollama.wait_for_request(path="/api/chat")
                process.send_signal(signal.SIGTERM)
                code = await process.wait()
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
    assert code == 0
    assert "exiting: SIGTERM" in log.read_text()
