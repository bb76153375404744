"""A response body read one network read at a time, and the idle timeout of those reads.

`ChatBody` is what `http.HttpProvider` hands a chat: `read()` returns the body bytes of the
next network read, decoded from its HTTP framing (`http1`), and turns every transport failure
into an `RpcError` (stream_interrupted).

A slow model's reply is a network read per token, and at that pace what a read costs is mostly
the wake-up around it, so on a plain TCP connection (not Windows, where a socket is no fd) the
read path is kept to one wait and one `read`: `trio.lowlevel.wait_readable`, then `os.read`.
The wait is also the read's checkpoint, so a chat whose data keeps coming does not hold the
loop. The idle timeout of those reads has no timer per read either: a read notes when it
started waiting, and one task for the whole process (`IdleWatch`) wakes about once per idle
period and ends a read that waited longer than its limit (`trio.lowlevel.notify_closing` wakes
it with ClosedResourceError, which it reports as the timeout). Other streams (TLS, the tests'
memory streams) use `receive_some` under a `move_on_after` per read.

While the stream pump (pump.py) streams a body, its thread reads the socket and uses the same
steps without the waits (`take`, `settled`), and the idle watch calls the
pump (`on_idle`) instead of waking a read.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import Final

import trio

from ..errors import RpcError
from .http1 import BodyDecoder, ProtocolError
from .server_errors import ServerErrors

READ_SIZE: Final = 256 * 1024
_WATCH: Final[trio.lowlevel.RunVar[IdleWatch]] = trio.lowlevel.RunVar("sidecar_idle_watch")


class ChatBody:
    """The body of a streamed response, one decoded network read at a time.

    `watch`: on a plain socket, read it directly and leave the idle timeout to `IdleWatch`
    (then `detach()` when done with the body); otherwise every read uses `receive_some`.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        decoder: BodyDecoder,
        early: bytes,
        idle_timeout_s: float,
        errors: ServerErrors,
        *,
        watch: bool = False,
    ) -> None:
        self._stream = stream
        self._decoder = decoder
        self._early = early  # body bytes that arrived with the response head
        self._ended = False  # the connection closed and the framing says that ends the body
        self.idle_timeout_s = idle_timeout_s
        self._errors = errors  # how error messages name the server
        self._name = errors.short  # ... and how their details do
        self._fd: int | None = None
        self.waiting_since: float | None = None  # when the read now waiting began
        self._idle_expired = False
        self.on_idle: Callable[[], None] | None = None  # set by the stream pump (pump.py)
        if watch and isinstance(stream, trio.SocketStream) and sys.platform != "win32":
            self._fd = stream.socket.fileno()
            IdleWatch.current().add(self)

    @property
    def fd(self) -> int | None:
        """The socket's fd when reads go straight to it (and the idle watch has this body)."""
        return self._fd

    def detach(self) -> None:
        """No more reads: the idle watch forgets this body."""
        if self._fd is not None:
            IdleWatch.current().discard(self)
            self._fd = None

    async def read(self) -> bytes:
        """The body bytes of the next network read, or `b""` at the end of the body.

        Raises `RpcError` (stream_interrupted) when the connection drops, the framing is broken
        or no data comes within the idle timeout. Cancellation: safe; nothing is lost that the
        caller was given.
        """
        early = self.take_early()
        if early and (body := self.take(early)):
            return body
        while not self._decoder.done:
            self.raise_held_error()
            if self._fd is not None:
                data = await self._read_fd(self._fd)
            else:
                data = await self._receive_some()
            if not data:
                self.take(b"")
                return b""
            if body := self.take(data):
                return body
        return b""

    # The same steps without the waits, for the stream pump (pump.py), which reads the socket
    # itself: `take` each read's bytes, then whether the body is `settled`.

    def take_early(self) -> bytes:
        """The body bytes that came with the response head (once), or b""."""
        data, self._early = self._early, b""
        return data

    def take(self, data: bytes) -> bytes:
        """The body bytes in one network read's `data`; `data` b"" is the connection's end.
        Raises `RpcError` (stream_interrupted) for broken framing or a body cut short."""
        if data:
            return self._feed(data)
        if self._decoder.done:
            return b""
        try:
            self._decoder.eof()
        except ProtocolError as exc:
            raise self._errors.stream_interrupted(
                f"the connection to {self._name} dropped ({exc})"
            ) from None
        self._ended = True
        return b""

    def settled(self) -> bool:
        """After `take`: whether the body is complete (its framing ended, or the connection
        closed a body that ends so). Raises `RpcError` for the framing error found after the
        last good bytes, if there is one."""
        if self._decoder.done or self._ended:
            return True
        self.raise_held_error()
        return False

    def raise_held_error(self) -> None:
        """Raises the framing error found after the last good bytes, if there is one."""
        if self._decoder.error is not None:
            self._feed(b"")

    async def _read_fd(self, fd: int) -> bytes:
        while True:
            self.waiting_since = trio.current_time()
            try:
                await trio.lowlevel.wait_readable(fd)
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:  # a spurious wake-up
                continue
            except (trio.ClosedResourceError, OSError) as exc:
                if self._idle_expired:
                    raise self.idle_error() from None
                raise self.dropped(exc) from None
            finally:
                self.waiting_since = None
            self._idle_expired = False  # data came after all
            return data

    async def _receive_some(self) -> bytes:
        with trio.move_on_after(self.idle_timeout_s) as idle:
            try:
                return await self._stream.receive_some(READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
                raise self.dropped(exc) from None
        assert idle.cancelled_caught
        raise self.idle_error()

    def expire(self) -> None:
        """Called by the idle watch: the waiting read ends with the idle timeout."""
        if self._fd is not None and self.waiting_since is not None:
            if self.on_idle is not None:  # the stream pump reads this body
                self.on_idle()
                return
            self._idle_expired = True
            trio.lowlevel.notify_closing(self._fd)

    def idle_error(self) -> RpcError:
        return self._errors.stream_interrupted(
            f"no data from {self._name} for {self.idle_timeout_s:g} s (--idle-timeout)"
        )

    def dropped(self, exc: BaseException) -> RpcError:
        return self._errors.stream_interrupted(
            f"the connection to {self._name} dropped ({describe(exc)})"
        )

    async def read_limited(self, limit: int) -> bytes:
        """Up to `limit` bytes of the body (for error bodies); transport failures end it."""
        body = bytearray()
        try:
            while len(body) < limit and (data := await self.read()):
                body += data
        except RpcError:
            pass  # the status already says what went wrong
        return bytes(body[:limit])

    async def read_all(self, limit: int) -> bytes:
        """The whole body; raises `RpcError` like `read`, and upstream_error past `limit`."""
        body = bytearray()
        while data := await self.read():
            body += data
            if len(body) > limit:
                raise self._errors.upstream_error(
                    200, f"an answer over {limit // (1024 * 1024)} MiB from {self._name}"
                )
        return bytes(body)

    def _feed(self, data: bytes) -> bytes:
        try:
            return self._decoder.feed(data)
        except ProtocolError as exc:
            raise self._errors.stream_interrupted(
                f"broken HTTP framing from {self._name} ({exc})"
            ) from None


class IdleWatch:
    """The idle timeouts of every watched body of this trio run, in one system task.

    The task sleeps until the earliest moment a body could time out (a body not waiting now
    cannot time out sooner than its limit from now), then ends the reads that waited too long
    and plans again; a new body wakes it to plan again. So it wakes about once per idle period,
    whatever the number of reads.
    """

    def __init__(self) -> None:
        self.bodies: set[ChatBody] = set()
        self._sleep: trio.CancelScope | None = None

    @classmethod
    def current(cls) -> IdleWatch:
        try:
            return _WATCH.get()
        except LookupError:
            watch = cls()
            _WATCH.set(watch)
            trio.lowlevel.spawn_system_task(watch._run, name="sidecar idle watch")
            return watch

    def add(self, body: ChatBody) -> None:
        self.bodies.add(body)
        if self._sleep is not None:
            self._sleep.cancel()  # plan again: this body may time out sooner

    def discard(self, body: ChatBody) -> None:
        self.bodies.discard(body)

    async def _run(self) -> None:
        while True:
            now = trio.current_time()
            due = math.inf
            for body in list(self.bodies):
                since = body.waiting_since
                expiry = (now if since is None else since) + body.idle_timeout_s
                if expiry <= now:
                    body.expire()
                    expiry = now + body.idle_timeout_s
                due = min(due, expiry)
            with trio.CancelScope(deadline=due) as self._sleep:
                await trio.sleep_forever()
            self._sleep = None


def describe(exc: BaseException) -> str:
    """What went wrong, for an error message: the first exception down the chain that says
    something (trio's BrokenResourceError around a refused certificate says nothing)."""
    cause: BaseException | None = exc
    while cause is not None and not str(cause).strip():
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return type(exc).__name__
    return f"{type(cause).__name__}: {str(cause).strip()}"
