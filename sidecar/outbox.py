"""The only writer of stdout: one FIFO of encoded lines and one task that drains it.

Why one FIFO: a chat's tokens, its final response and the `cancel_chat` result that follows it
must reach the host in that order, so nothing may overtake anything else.

Why two ways in: responses and errors (`put`) never wait, so the stdin reader and `cancel_chat`
keep working while the host is not reading; streamed output (`wait_writable`
then `put`) waits while more than `limit_bytes` are queued, which pushes back through the chat to
its Ollama connection, so memory stays bounded however fast the model or slow the host.

Each drain writes everything queued in one `send_all`, so output is written as whole lines, at
most one write per wake-up.

When stdout is a non-blocking fd (a pipe: what a desktop shell gives), `put` writes at once
itself if nothing is queued or being written: a streaming chat then costs one `write` per
upstream read, with no wake-up of the writer task and no extra pass of the event loop (what a
slow model's reply, one token per read, mostly costs). Whatever the pipe does not take at once
is queued for the writer, so order and the bound are as before.

`put` is thread-safe: the stream pump (pump.py) writes its chats' tokens from its own thread,
under the same lock as everything else, and waits for room with `wait_room` (a thread's wait on
a condition the writer signals) instead of `wait_writable`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable

import trio

logger = logging.getLogger(__name__)


class Outbox:
    def __init__(self, stream: trio.abc.SendStream, limit_bytes: int) -> None:
        self._stream = stream
        self._limit = limit_bytes
        self._queue: deque[bytes] = deque()
        self._queued = 0
        # The fd `put` may write to directly: a non-blocking one (trio's FdStream) only.
        self._fd = stream.fileno() if isinstance(stream, trio.lowlevel.FdStream) else None
        self._writing = False  # the writer task is inside send_all
        self._wake_writer = trio.lowlevel.ParkingLot()
        self._wake_producers = trio.lowlevel.ParkingLot()
        self._closed = False
        # `put` may be called from the stream pump's thread: the queue and the direct write are
        # under this lock, and what must happen on the loop is handed to it (`_in_loop`).
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # wait_room: the pump waits for room here
        self._dead = False  # stdout failed: the thread-safe twin of `broken`
        self._loop_thread = threading.get_ident()
        self._gatherer: int | None = None  # the thread whose `put`s are gathered (`gather`)
        self._gathered: list[bytes] = []
        try:
            self._token: trio.lowlevel.TrioToken | None = trio.lowlevel.current_trio_token()
        except RuntimeError:
            self._token = None
        self.broken = trio.Event()  # set when stdout fails; later output is dropped
        self.drained = trio.Event()  # set when closed and everything was written (or broken)

    @property
    def queued_bytes(self) -> int:
        return self._queued

    def put(self, data: bytes) -> None:
        """Queues whole lines without waiting. Never raises; dropped once stdout is broken.

        Thread-safe: the stream pump (pump.py) writes its chats' tokens from its own thread.
        """
        if not data:
            return
        if self._gatherer is not None and self._gatherer == threading.get_ident():
            self._gathered.append(data)
            return
        failure: OSError | None = None
        with self._lock:
            if self._dead:
                return
            if self._fd is not None and not self._queue and not self._writing:
                try:
                    written = os.write(self._fd, data)
                except BlockingIOError:
                    written = 0
                except OSError as exc:
                    self._dead = True
                    written, failure = 0, exc
                if failure is None and written == len(data):
                    return
                data = data[written:]
            if failure is None:
                self._queue.append(data)
                self._queued += len(data)
        if failure is not None:
            logger.warning("stdout is closed (%s); output is dropped from now on", failure)
            self._in_loop(self._mark_broken)
        else:
            self._in_loop(self._wake_writer.unpark_all)

    def _in_loop(self, callback: Callable[[], object]) -> None:
        """Runs `callback` now on the loop's thread, or soon from any other thread."""
        if threading.get_ident() == self._loop_thread:
            callback()
        elif self._token is not None:
            try:
                self._token.run_sync_soon(callback)
            except trio.RunFinishedError:
                pass

    def has_room(self) -> bool:
        """Whether streamed output may be added now (`wait_writable` would not wait)."""
        return self._queued <= self._limit or self._dead

    def wait_room(self, stop: threading.Event) -> None:
        """Blocks the calling thread (not the loop's) while the queue is over its limit, until
        there is room, stdout breaks or `stop` is set (then `release_room_waiters`)."""
        if self._queued <= self._limit:  # the common case, without the lock
            return
        with self._room:
            while self._queued > self._limit and not self._dead and not stop.is_set():
                self._room.wait()

    def gather(self) -> None:
        """From now on, `put` on the calling thread collects its lines, until
        `release_gathered` writes them as one: the stream pump serving many chats in one pass
        writes once. (Only the pump's thread gathers, holding its lock: nothing that concerns
        those chats can be written by the loop in between.)"""
        self._gatherer = threading.get_ident()

    def release_gathered(self) -> None:
        self._gatherer = None
        if self._gathered:
            data = b"".join(self._gathered)
            self._gathered.clear()
            self.put(data)

    def release_room_waiters(self) -> None:
        with self._room:
            self._room.notify_all()

    async def wait_writable(self) -> None:
        """Waits while the queue is over its limit (returns at once when stdout is broken).

        Cancellation: safe; nothing was queued.
        """
        while self._queued > self._limit and not self.broken.is_set():
            await self._wake_producers.park()
        await trio.lowlevel.checkpoint_if_cancelled()

    async def wait_drained(self) -> None:
        """Waits until everything queued so far was written (or stdout broke)."""
        while self._queued and not self.broken.is_set():
            await self._wake_producers.park()
        await trio.lowlevel.checkpoint_if_cancelled()

    def close(self) -> None:
        """No more output: the writer drains what is queued, then `drained` is set."""
        self._closed = True
        self._wake_writer.unpark_all()

    async def run(self) -> None:
        """The writer task. Returns when closed and drained, or when stdout breaks."""
        try:
            while True:
                if self.broken.is_set():
                    return
                if not self._queue:
                    if self._closed:
                        return
                    await self._wake_writer.park()
                    continue
                with self._lock:
                    batch = b"".join(self._queue)
                    self._queue.clear()
                    self._writing = True
                try:
                    await self._stream.send_all(batch)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                    logger.warning("stdout is closed (%s); output is dropped from now on", exc)
                    self._mark_broken()
                    return
                finally:
                    with self._lock:
                        self._writing = False
                with self._room:
                    self._queued -= len(batch)
                    if self._queued <= self._limit:
                        self._room.notify_all()
                self._wake_producers.unpark_all()
        finally:
            if self._queue and not self.broken.is_set():
                logger.warning("exiting with %d bytes of output unwritten", self._queued)
            self.drained.set()

    def _mark_broken(self) -> None:
        with self._room:
            self._dead = True
            self._queue.clear()
            self._queued = 0
            self._room.notify_all()
        self.broken.set()
        self._wake_producers.unpark_all()
        self._wake_writer.unpark_all()  # a writer waiting for output ends
