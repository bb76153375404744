"""Byte streams over the process's stdin and stdout, and the claim on fd 1.

Only protocol lines may reach stdout, so at start-up the sidecar keeps a private duplicate of fd 1
for them and points fd 1 at stderr: a stray `print`, a banner or a library's output then lands in
the log instead of corrupting the wire (field note 2). The protocol never uses Python's text layer
(no `sys.stdout`, no encodings, no buffering; field notes 1 and 6).

Pipes and sockets (what a desktop shell or a harness gives us) become trio `FdStream`s: true
non-blocking I/O, restored to blocking on close. Anything else — a regular file
(`ollama-sidecar < commands.jsonl > out.jsonl`), a terminal — cannot be polled that way, so its
reads and writes run in a worker thread.
"""

from __future__ import annotations

import fcntl
import os
import stat
from typing import Final

import trio

READ_SIZE: Final = 64 * 1024


def reserve_stdin() -> None:
    """Puts /dev/null on fd 0 if the host left it closed, so no later fd takes its place."""
    try:
        os.fstat(0)
    except OSError:
        fd = os.open(os.devnull, os.O_RDONLY)
        if fd != 0:
            os.dup2(fd, 0)
            os.close(fd)


def claim_stdout() -> int:
    """Returns a private fd for the protocol and points fd 1 at stderr."""
    # At least fd 3, so a host that left fd 0 closed cannot make the protocol fd look like stdin.
    protocol_fd = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    os.dup2(2, 1)
    return protocol_fd


def _pollable(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class ThreadReadStream(trio.abc.ReceiveStream):
    """Blocking reads in a worker thread, for files and terminals."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return await trio.to_thread.run_sync(
            os.read, self._fd, max_bytes or READ_SIZE, abandon_on_cancel=True
        )

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


class ThreadWriteStream(trio.abc.SendStream):
    """Blocking writes in a worker thread, for files and terminals."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.to_thread.run_sync(self._write_all, bytes(data), abandon_on_cancel=True)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


def open_input(fd: int, *, threads: bool = False) -> trio.abc.ReceiveStream:
    """A stream that reads `fd` (a duplicate is used for pipes, so closing it is harmless)."""
    if not threads and _pollable(fd):
        return trio.lowlevel.FdStream(os.dup(fd))
    return ThreadReadStream(fd)


def open_output(fd: int, *, threads: bool = False) -> trio.abc.SendStream:
    """A stream that writes to `fd`, which it owns."""
    if not threads and _pollable(fd):
        return trio.lowlevel.FdStream(fd)
    return ThreadWriteStream(fd)
