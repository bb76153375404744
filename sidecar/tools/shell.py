"""exec_shell: one `/bin/sh -c` command in the root, and nothing it started outlives the call.

The shell runs in its own session (`start_new_session=True`), so its process group holds
everything it forks unless a child deliberately leaves it. When the shell exits, when the timeout
fires, and when the caller is cancelled, the whole group gets SIGKILL; then the shell is reaped
under a shield. Background children (`cmd &`) are killed too: a tool call is a bounded unit of
work, not a way to start daemons.

stdout and stderr share one pipe, read concurrently with the wait so a chatty command can never
block on a full pipe. Output beyond the cap is read and counted but not kept. If something
outside the group still holds the pipe after the kill, reading stops after a short grace.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from pathlib import Path
from typing import Final

import trio

from .files import decode_text
from .result import ToolResult

logger = logging.getLogger(__name__)

SHELL: Final = "/bin/sh"
OUTPUT_CAP_BYTES: Final = 64 * 1024
READ_CHUNK_BYTES: Final = 64 * 1024
# After the group is killed, the pipe reaches EOF at once unless a process outside the group
# (one that called setsid) still holds it; stop waiting for it after this long.
DRAIN_GRACE_S: Final = 1.0


class _Capture:
    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.kept = bytearray()
        self.total = 0
        self.eof = trio.Event()

    async def drain(self, stream: trio.abc.ReceiveStream) -> None:
        while chunk := await stream.receive_some(READ_CHUNK_BYTES):
            self.total += len(chunk)
            room = self.cap - len(self.kept)
            if room > 0:
                self.kept += chunk[:room]
        self.eof.set()

    def text(self) -> str:
        complete = self.total == len(self.kept)
        text = decode_text(bytes(self.kept), complete=complete)
        if text and not text.endswith("\n"):
            text += "\n"
        if not complete:
            text += f"[output truncated: showing {len(self.kept)} of {self.total} bytes]\n"
        return text


def kill_group(pgid: int) -> None:
    """SIGKILL to every process left in the group; a group already gone is fine."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError:
        logger.warning("cannot kill process group %d (a member changed user)", pgid)


async def exec_shell(command: str, *, cwd: Path, timeout_s: float) -> ToolResult:
    """Runs `command`; the result holds the output and a last line with the exit status.

    `is_error` when the exit code is not 0, the shell was killed, or the timeout fired.
    Cancellation: kills the whole process group, reaps the shell, then lets `Cancelled` through.
    """
    if not command.strip():
        return ToolResult("exec_shell: the command is empty", is_error=True)
    try:
        process = await trio.lowlevel.open_process(
            [SHELL, "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        message = f"exec_shell: cannot start {SHELL} in {cwd}: {exc.strerror}"
        return ToolResult(message, is_error=True)
    assert process.stdout is not None
    capture = _Capture(OUTPUT_CAP_BYTES)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(capture.drain, process.stdout)
            with trio.move_on_after(timeout_s) as deadline:
                await process.wait()
            kill_group(process.pid)
            with trio.move_on_after(DRAIN_GRACE_S):
                await capture.eof.wait()
            nursery.cancel_scope.cancel()
    finally:
        kill_group(process.pid)
        with trio.CancelScope(shield=True):
            await process.wait()
            await process.stdout.aclose()
    code = process.returncode
    logger.debug("exec_shell %r -> %s (timed out: %s)", command, code, deadline.cancelled_caught)
    if deadline.cancelled_caught:
        status = f"[timed out after {timeout_s:g} s; process group killed]"
    elif code is not None and code < 0:
        status = f"[killed by signal {_signal_name(-code)}]"
    else:
        status = f"[exit code {code}]"
    return ToolResult(capture.text() + status, is_error=deadline.cancelled_caught or code != 0)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
