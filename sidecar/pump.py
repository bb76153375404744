"""The stream pump: every streaming chat on a plain socket, read, decoded and written by one thread.

Why a thread: a local model writes a token per network read, 20 to 100 times a second, and at
that pace what a token costs is mostly the wake-up around it. A pass of trio's loop (epoll, the
task switch, the run queue) costs two to three times a blocking loop's `epoll` + `read` + `write`
in CPU time (docs/benchmarks.md, "The stream pump"), and that is the figure that drains a
laptop's battery. So while a chat's reply streams, its socket is read by this thread: one
`poll` wakes it for every socket with data, and for each it reads, decodes (`ChatBody.take`,
then the `Turn`) and writes the notifications through the chat's `emit` (the thread-safe
`Outbox.put`). The trio loop sleeps meanwhile; the chat's task waits on one event.

What keeps the guarantees:
- One lock (`lock`). The thread holds it while it serves the sockets one `poll` returned; the
  loop holds it to add a flow, to stop one and to read a turn that is being pumped. Outside the
  lock, a flow's turn and body are the thread's alone; once stopped, its task's alone.
- The chat's task is handed its flow back (`done`) whenever the loop must act at once: the turn
  ended, a tool call came (the client may answer it the moment it reads `chat:tool_call`, so
  the call is registered on the loop right after its line is queued, as without the pump), the
  body failed, the idle timeout (`IdleWatch`, on the loop) fired, or `recall` asked. The notes of
  that last read are handed back unwritten, and the task writes them before anything else (or
  `recall` does, if it comes first): so the host has received exactly what the turn holds,
  also when the task is cancelled.
- Cancelling the chat's task stops its flow under the lock before the connection is closed, so
  nothing is read or written for it afterwards, and its answer comes after its last token.
- The output bound: the thread reads a socket only while stdout's queue has room
  (`Outbox.wait_room`), so a host that does not read pushes back to the model, as before; that
  wait is not the server's idleness (no body counts as waiting for data meanwhile).
- The thread has an owner: `run`, a task of the app's root nursery, starts it on first use and
  stops and joins it when the sidecar ends. A bug in a flow's step ends that chat with
  internal_error; the thread goes on (if the thread itself fails, its chats end so and later
  ones use the loop's path).
- Linux waits with epoll; elsewhere (macOS) with poll(), whose object sees a new fd only on its
  next call and holds a socket open while it waits: the thread is woken (a pipe) whenever a
  flow comes or goes.
- The clock: the thread reads the run's clock (`current_time`, the idle timeout's and the
  turn's), which for trio's own clock is `perf_counter` plus an offset.
TLS connections and Windows keep the loop's own read path (`ChatBody.read`).
"""

from __future__ import annotations

import logging
import os
import select
import sys
import threading
from collections.abc import Callable
from typing import Final, Protocol, TypeGuard

import trio

from . import errors
from .errors import RpcError
from .protocol import Notification
from .providers.body import READ_SIZE, ChatBody
from .providers.turn import Turn

logger = logging.getLogger(__name__)

JOIN_TIMEOUT_S: Final = 2.0
SWITCH_INTERVAL_S: Final = 0.0005

Emit = Callable[[list[Notification]], None]


class Room(Protocol):
    """What the pump needs of stdout: to wait, on its own thread, until it has room."""

    def has_room(self) -> bool: ...

    def wait_room(self, stop: threading.Event) -> None: ...

    def release_room_waiters(self) -> None: ...

    def gather(self) -> None: ...

    def release_gathered(self) -> None: ...


class Flow:
    """One turn being pumped: from `Pump.stream`'s registering to the hand-back (`done`)."""

    __slots__ = (
        "body", "fd", "turn", "emit", "on_batch", "calls_seen", "active", "notes", "error", "done"
    )

    def __init__(
        self, body: ChatBody, fd: int, turn: Turn, emit: Emit, on_batch: Callable[[], None] | None
    ) -> None:
        self.body = body
        self.fd = fd
        self.turn = turn
        self.emit = emit
        self.on_batch = on_batch
        self.calls_seen = len(turn.tool_calls)
        self.active = False  # registered with the thread's poll
        self.notes: list[Notification] = []  # handed back unwritten
        self.error: RpcError | None = None
        self.done = trio.Event()


class Pump:
    """The pump of one sidecar run: `run` owns its thread, `stream` pumps one turn, `recall`
    takes a turn back for a moment. `room` is stdout's Outbox."""

    def __init__(self, room: Room) -> None:
        self._room = room
        self.lock = threading.Lock()
        self._flows: dict[int, Flow] = {}  # the registered flows, by fd
        self._live: set[Flow] = set()  # every flow whose task has not taken it back yet
        self._waiting_room = False  # the thread waits for stdout: no body is idle meanwhile
        self._poll = _poller()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._poll.register(self._wake_r, select.POLLIN)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._clock_now: Callable[[], float] = _not_running  # the run's clock, from `run`
        self._closed = False
        # The thread reads into one buffer and copies out what came: no 256 KiB allocation per
        # read in the thread's own malloc arena, whose pages would stay in RSS.
        self._buffer = bytearray(READ_SIZE)
        self._view = memoryview(self._buffer)

    def takes(self, body: object) -> TypeGuard[ChatBody]:
        """Whether this pump can stream `body` (a chat body on a plain socket)."""
        return not self._closed and isinstance(body, ChatBody) and body.fd is not None

    # --- on the loop --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The thread's owner: started in the app's root nursery; when cancelled (the sidecar
        ends), stops the thread and joins it."""
        self._token = trio.lowlevel.current_trio_token()
        self._clock_now = trio.lowlevel.current_clock().current_time
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            self._close()

    def _ensure_thread(self) -> None:
        if self._thread is None:
            # While the loop is busy (a burst of requests), the thread waits for the GIL after
            # each of its system calls; CPython's default 5 ms per wait would delay tokens.
            sys.setswitchinterval(SWITCH_INTERVAL_S)
            self._thread = threading.Thread(
                target=self._serve_forever, name="sidecar stream pump", daemon=True
            )
            self._thread.start()

    def _close(self) -> None:
        self._closed = True
        self._stop.set()
        self._room.release_room_waiters()
        os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
            if self._thread.is_alive():  # pragma: no cover - never seen; its fds stay open
                logger.warning("the stream pump's thread did not stop")
                return
        with self.lock:
            for flow in list(self._flows.values()):  # none are left in a clean stop
                stopping = errors.internal_error(RuntimeError("the sidecar is stopping"))
                self._hand_back(flow, [], stopping, on_loop=True)
        close = getattr(self._poll, "close", None)  # select.poll has none
        if close is not None:
            close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    async def stream(
        self, body: ChatBody, turn: Turn, emit: Emit, on_batch: Callable[[], None] | None
    ) -> None:
        """Streams the rest of `turn` from `body`, as `chat.stream_chat`'s loop would; returns
        when the turn ended. Raises `RpcError` when the body fails. Cancellation: safe; the
        host has received exactly what the turn holds."""
        assert body.fd is not None and self._token is not None
        while not turn.ended:
            flow = Flow(body, body.fd, turn, emit, on_batch)
            with self.lock:
                self._live.add(flow)
                early = body.take_early()
                if early:
                    self._step(flow, early, self._clock_now(), on_loop=True)
                if not flow.done.is_set():
                    self._flows[flow.fd] = flow
                    flow.active = True
                    body.waiting_since = None if self._waiting_room else self._clock_now()
                    body.on_idle = lambda flow=flow: self._expire(flow)
                    self._poll.register(flow.fd, select.POLLIN)
                    self._ensure_thread()
                    if not _EPOLL:  # a poll() object sees a new fd only on its next call
                        os.write(self._wake_w, b"x")
            try:
                await flow.done.wait()
            finally:
                with self.lock:
                    self._drop(flow)
                    self._live.discard(flow)
                    body.on_idle = None
                    body.waiting_since = None
                    notes, flow.notes = flow.notes, []
                if notes:
                    emit(notes)
                    if on_batch is not None:
                        on_batch()
            if flow.error is not None:
                raise flow.error

    def recall(self, turn: Turn) -> None:
        """Stops pumping `turn` until its chat's task runs again: until this task's next
        checkpoint, what the turn holds is exactly what was written (a stored thread's reply
        read while it streams)."""
        with self.lock:
            for flow in self._live:
                if flow.turn is turn:
                    if flow.active:
                        self._hand_back(flow, [], None, on_loop=True)
                    elif flow.notes:  # handed back, its task not run yet: its notes go now
                        notes, flow.notes = flow.notes, []
                        flow.emit(notes)
                        if flow.on_batch is not None:
                            flow.on_batch()
                    return

    def _expire(self, flow: Flow) -> None:
        """`IdleWatch`: the flow's body waited longer than its idle timeout."""
        with self.lock:
            body = flow.body
            since = body.waiting_since
            if flow.active and since is not None and (
                self._clock_now() - since >= body.idle_timeout_s
            ):
                self._hand_back(flow, [], body.idle_error(), on_loop=True)

    # --- under the lock, on either thread --------------------------------------------------

    def _drop(self, flow: Flow) -> None:
        if flow.active:
            flow.active = False
            self._flows.pop(flow.fd, None)
            try:
                self._poll.unregister(flow.fd)
            except (KeyError, OSError, ValueError):
                pass
            if not _EPOLL:
                # A poll() in progress holds the socket open (the kernel keeps a reference
                # while it waits): wake it, or closing the connection would not reach the
                # server until the next read of another chat.
                os.write(self._wake_w, b"x")

    def _hand_back(
        self, flow: Flow, notes: list[Notification], error: RpcError | None, *, on_loop: bool
    ) -> None:
        self._drop(flow)
        flow.notes = notes
        flow.error = error
        if on_loop:
            flow.done.set()
        else:
            assert self._token is not None
            try:
                self._token.run_sync_soon(flow.done.set)
            except trio.RunFinishedError:  # pragma: no cover - the owner joins the thread first
                pass

    def _step(self, flow: Flow, data: bytes, now: float, *, on_loop: bool) -> None:
        """One network read's bytes (b"": the connection closed) into the flow's turn, its
        notifications written, or handed back with them when the loop must act."""
        body, turn = flow.body, flow.turn
        notes: list[Notification] = []
        try:
            chunk = body.take(data)
            if chunk:
                notes = turn.feed(chunk, now)
            if not turn.ended and body.settled():
                notes += turn.eof(now)
        except RpcError as exc:
            self._hand_back(flow, notes, exc, on_loop=on_loop)
            return
        if turn.ended or len(turn.tool_calls) != flow.calls_seen:
            self._hand_back(flow, notes, None, on_loop=on_loop)
        elif notes:
            flow.emit(notes)

    # --- the thread ---------------------------------------------------------------------------

    def _serve_forever(self) -> None:
        try:
            self._serve_until_stopped()
        except BaseException as exc:  # a bug: every chat here ends, later ones keep the loop's reads
            logger.exception("the stream pump stopped")
            with self.lock:
                self._closed = True
                for flow in list(self._flows.values()):
                    self._hand_back(flow, [], errors.internal_error(exc), on_loop=False)

    def _serve_until_stopped(self) -> None:
        poll = self._poll.poll
        while not self._stop.is_set():
            if not self._room.has_room():
                self._set_waiting_room(True)
                self._room.wait_room(self._stop)
                self._set_waiting_room(False)
            ready = poll()
            with self.lock:
                many = len(ready) > 1
                if many:  # the lines of every chat served now, in one write (Outbox.gather)
                    self._room.gather()
                try:
                    for fd, _ in ready:
                        flow = self._flows.get(fd)
                        if flow is not None:
                            if not self._room.has_room():
                                break  # its data stays readable: the next poll returns it
                            self._serve(flow)
                        elif fd == self._wake_r:
                            _drain(fd)
                finally:
                    if many:
                        self._room.release_gathered()

    def _set_waiting_room(self, waiting: bool) -> None:
        """While the thread waits for stdout, no body waits for its server: the idle timeout
        counts only the time a read waits for data, as on the loop's path."""
        with self.lock:
            self._waiting_room = waiting
            now = None if waiting else self._clock_now()
            for flow in self._flows.values():
                flow.body.waiting_since = now

    def _serve(self, flow: Flow) -> None:
        try:
            try:
                data = self._view[: os.readv(flow.fd, (self._buffer,))].tobytes()
            except BlockingIOError:
                return
            except OSError as exc:
                self._hand_back(flow, [], flow.body.dropped(exc), on_loop=False)
                return
            now = flow.body.waiting_since = self._clock_now()
            self._step(flow, data, now, on_loop=False)
        except Exception as exc:  # a bug: this chat ends with internal_error, the others go on
            logger.exception("the stream pump failed on a chat")
            if flow.active:
                self._hand_back(flow, [], errors.internal_error(exc), on_loop=False)


_EPOLL: Final = hasattr(select, "epoll")


def _poller() -> select.epoll | select.poll:
    return select.epoll() if _EPOLL else select.poll()


def _not_running() -> float:
    raise RuntimeError("the stream pump is not running")


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass
