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
"""

from __future__ import annotations

import logging
import os
from collections import deque

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
        self.broken = trio.Event()  # set when stdout fails; later output is dropped
        self.drained = trio.Event()  # set when closed and everything was written (or broken)

    @property
    def queued_bytes(self) -> int:
        return self._queued

    def put(self, data: bytes) -> None:
        """Queues whole lines without waiting. Never raises; dropped once stdout is broken."""
        if self.broken.is_set() or not data:
            return
        if self._fd is not None and not self._queue and not self._writing:
            try:
                written = os.write(self._fd, data)
            except BlockingIOError:
                written = 0
            except OSError as exc:
                logger.warning("stdout is closed (%s); output is dropped from now on", exc)
                self._mark_broken()
                return
            if written == len(data):
                return
            data = data[written:]
        self._queue.append(data)
        self._queued += len(data)
        self._wake_writer.unpark_all()

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
                    self._writing = False
                self._queued -= len(batch)
                self._wake_producers.unpark_all()
        finally:
            if self._queue and not self.broken.is_set():
                logger.warning("exiting with %d bytes of output unwritten", self._queued)
            self.drained.set()

    def _mark_broken(self) -> None:
        self._queue.clear()
        self._queued = 0
        self.broken.set()
        self._wake_producers.unpark_all()
        self._wake_writer.unpark_all()  # a writer waiting for output ends
