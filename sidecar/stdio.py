"""Byte streams over the process's stdin and stdout, the claim on fd 1, and the stdout watch.

Only protocol lines may reach stdout, so at start-up the sidecar keeps a private duplicate of fd 1
for them and points fd 1 at stderr: a stray `print`, a banner or a library's output then lands in
the log instead of corrupting the wire. The protocol never uses Python's text layer (no
`sys.stdout`, no encodings, no buffering).

Two ways to move the bytes (`--stdio`):

- auto: pipes and sockets (what a desktop shell or a harness gives us) become trio `FdStream`s,
  true non-blocking I/O, restored to blocking on close. Anything else (a regular file, as in
  `ollama-sidecar < commands.jsonl > out.jsonl`, a terminal) cannot be polled that way, and
  Windows has no non-blocking pipes at all, so those take the thread path.
- threads: blocking reads and writes, each in a worker thread. A waiting task can always be
  cancelled: a read stays in flight and its bytes go to the next `receive_some`, so nothing is
  lost; a cancelled write leaves the stream broken (what reached the fd is unknown). Threads stuck
  in a read or a write that never returns are daemons, so they never hold up the exit.

`wait_reader_gone` tells when nobody can read stdout any more (the host died or closed its end)
without writing to it: a chat waiting on a long `exec_shell` writes nothing for minutes.
"""

from __future__ import annotations

import os
import select
import stat
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Generic, TypeVar

import trio

if TYPE_CHECKING:
    import outcome  # trio's own result type, what start_thread_soon delivers

READ_SIZE: Final = 64 * 1024
WINDOWS: Final = sys.platform == "win32"

T = TypeVar("T")

if not WINDOWS:
    import fcntl


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
    # At least fd 3, so a host that left fd 0 or 2 closed cannot make it look like stdin or stderr.
    if WINDOWS:
        low: list[int] = []
        protocol_fd = os.dup(1)  # not inheritable, as every fd Python makes
        while protocol_fd < 3:
            low.append(protocol_fd)
            protocol_fd = os.dup(1)
        for fd in low:
            os.close(fd)
        os.set_inheritable(protocol_fd, False)
    else:
        protocol_fd = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    os.dup2(2, 1)
    return protocol_fd


def _pollable(fd: int) -> bool:
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class _InThread(Generic[T]):
    """One blocking call in a worker thread; its outcome outlives a waiter that was cancelled."""

    def __init__(self, fn: Callable[[], T], name: str) -> None:
        self.done = trio.Event()
        self.outcome: outcome.Outcome[T] | None = None
        token = trio.lowlevel.current_trio_token()

        def deliver(result: outcome.Outcome[T]) -> None:  # runs in the worker thread
            def store() -> None:
                self.outcome = result
                self.done.set()

            try:
                token.run_sync_soon(store)
            except trio.RunFinishedError:
                pass  # abandoned, and the run is over: nobody wants the result

        trio.lowlevel.start_thread_soon(fn, deliver, name=name)

    def result(self) -> T:
        assert self.outcome is not None
        return self.outcome.unwrap()


def _wait_ready(fd: int, events: int) -> None:
    """Blocks until a non-blocking `fd` (someone else's O_NONBLOCK) is ready again."""
    poller = select.poll()
    poller.register(fd, events)
    poller.poll()


def _read(fd: int, size: int) -> bytes:
    while True:
        try:
            return os.read(fd, size)
        except BlockingIOError:
            _wait_ready(fd, select.POLLIN)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            _wait_ready(fd, select.POLLOUT)
            continue
        view = view[written:]


class ThreadReadStream(trio.abc.ReceiveStream):
    """Blocking reads in a worker thread (files, terminals, Windows, `--stdio threads`).

    One read is in flight at a time. A cancelled `receive_some` leaves it running and the next
    call takes its bytes; EOF (b"") is final; a read error raises `BrokenResourceError`.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._read: _InThread[bytes] | None = None
        self._buffer = b""
        self._eof = False
        self._busy = False
        self._closed = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if self._busy:
            raise trio.BusyResourceError("another task is reading this stream")
        if self._closed:
            raise trio.ClosedResourceError("the stream is closed")
        self._busy = True
        try:
            if self._buffer or self._eof:
                await trio.lowlevel.checkpoint()
            else:
                if self._read is None:
                    fd = self._fd
                    self._read = _InThread(lambda: _read(fd, READ_SIZE), "sidecar stdin read")
                await self._read.done.wait()  # cancellable: the read stays in flight
                read, self._read = self._read, None
                try:
                    self._buffer = read.result()
                except OSError as exc:
                    raise trio.BrokenResourceError(f"reading fd {self._fd} failed: {exc}") from exc
                self._eof = not self._buffer
        finally:
            self._busy = False
        size = max_bytes or READ_SIZE
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    async def aclose(self) -> None:
        # The fd is not closed: a read may still be blocked in it (the process exit closes it).
        self._closed = True
        await trio.lowlevel.checkpoint()


class ThreadWriteStream(trio.abc.SendStream):
    """Blocking writes in a worker thread (files, terminals, Windows, `--stdio threads`).

    `send_all` writes everything or raises `BrokenResourceError` (EPIPE and any other write
    error). Cancelling it returns at once, even from a write blocked on a full pipe; the write
    goes on in its thread and the stream is broken from then on.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._busy = False
        self._closed = False
        self._broken = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._busy:
            raise trio.BusyResourceError("another task is writing to this stream")
        if self._closed:
            raise trio.ClosedResourceError("the stream is closed")
        if self._broken:
            raise trio.BrokenResourceError("an earlier write failed or was cancelled")
        self._busy = True
        try:
            if not data:
                await trio.lowlevel.checkpoint()
                return
            fd, payload = self._fd, bytes(data)
            write = _InThread(lambda: _write_all(fd, payload), "sidecar stdout write")
            try:
                await write.done.wait()
            except trio.Cancelled:
                self._broken = True
                raise
            try:
                write.result()
            except OSError as exc:
                self._broken = True
                raise trio.BrokenResourceError(f"writing fd {self._fd} failed: {exc}") from exc
        finally:
            self._busy = False

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        # The fd is not closed: a write may still be blocked in it (the process exit closes it).
        self._closed = True
        await trio.lowlevel.checkpoint()


def _wait_hangup(fd: int) -> bool:
    """Blocks until `fd` reports POLLERR/POLLHUP; False if poll cannot watch it."""
    poller = select.poll()
    poller.register(fd, 0)  # no events asked for: only an error or a hang-up wakes it
    while True:
        for _, revents in poller.poll():
            if revents & select.POLLNVAL:
                return False  # a closed fd, or a device poll cannot watch (macOS ttys)
            if revents & (select.POLLERR | select.POLLHUP):
                return True


async def wait_reader_gone(fd: int) -> None:
    """Returns once nobody can read `fd` any more; never returns if that cannot be seen.

    The write end of a pipe reports POLLERR when its last reader closes (the host died or closed
    its end), a terminal POLLHUP when it hangs up, a socket POLLHUP when the peer has closed it.
    A regular file or /dev/null never reports either, and Windows has no poll(): there only a
    failed write, stdin EOF or `--parent-pid` tells that the host is gone. The poll runs in a
    worker thread, so this works with either stdio path; cancelling abandons the thread.
    """
    if not hasattr(select, "poll"):
        await trio.sleep_forever()
    watch = _InThread(lambda: _wait_hangup(fd), "sidecar stdout watch")
    await watch.done.wait()
    try:
        gone = watch.result()
    except OSError:
        gone = False
    if not gone:
        await trio.sleep_forever()


def open_input(fd: int, *, threads: bool = False) -> trio.abc.ReceiveStream:
    """A stream that reads `fd` (a duplicate is used for pipes, so closing it is harmless)."""
    if not threads and not WINDOWS and _pollable(fd):
        return trio.lowlevel.FdStream(os.dup(fd))
    return ThreadReadStream(fd)


def open_output(fd: int, *, threads: bool = False) -> trio.abc.SendStream:
    """A stream that writes to `fd`, which it owns."""
    if not threads and not WINDOWS and _pollable(fd):
        return trio.lowlevel.FdStream(fd)
    return ThreadWriteStream(fd)
