"""The stdio streams on real fds (pipes, sockets, files): the thread-backed path (`--stdio
threads`, files, Windows), which path `open_input`/`open_output` pick, and the stdout watch. Fds
0-2 themselves: test_stdio_fds.py. Process-level behaviour is in test_process_lifetime.py."""

from __future__ import annotations

import os
import select
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from sidecar import stdio
from sidecar.stdio import (
    READ_SIZE,
    ThreadReadStream,
    ThreadWriteStream,
    open_input,
    open_output,
    wait_reader_gone,
)

from ..support import GUARD_S


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    fds = {read_end, write_end}
    yield read_end, write_end
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass  # the test closed it


async def test_a_cancelled_read_loses_nothing_and_eof_is_final(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    stream = ThreadReadStream(read_end)
    with trio.fail_after(GUARD_S):
        with trio.move_on_after(0.05) as waiting:
            await stream.receive_some()  # nothing to read: blocks in its thread
        assert waiting.cancelled_caught
        os.write(write_end, b"hello")
        assert await stream.receive_some(3) == b"hel"  # the read started before the cancel
        assert await stream.receive_some() == b"lo"
        os.close(write_end)
        assert await stream.receive_some() == b""
        assert await stream.receive_some() == b""
        await stream.aclose()
        with pytest.raises(trio.ClosedResourceError) as closed:
            await stream.receive_some()
        assert str(closed.value) == "the stream is closed"


async def test_a_failed_read_is_a_broken_stream(pipe: tuple[int, int]) -> None:
    _, write_end = pipe
    stream = ThreadReadStream(write_end)  # not readable: EBADF
    with trio.fail_after(GUARD_S), pytest.raises(trio.BrokenResourceError) as broken:
        await stream.receive_some()
    # What the log shows: which fd, and the system's reason.
    assert str(broken.value) == f"reading fd {write_end} failed: [Errno 9] Bad file descriptor"


async def test_two_readers_at_once_are_refused(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    stream = ThreadReadStream(read_end)
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stream.receive_some)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError) as busy:
                await stream.receive_some()
            assert str(busy.value) == "another task is reading this stream"
            os.write(write_end, b"x")


async def test_writing_to_a_pipe_nobody_reads_is_a_broken_stream(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.close(read_end)
    stream = ThreadWriteStream(write_end)
    with trio.fail_after(GUARD_S):
        with pytest.raises(trio.BrokenResourceError) as broken:
            await stream.send_all(b"line\n")
        assert str(broken.value) == f"writing fd {write_end} failed: [Errno 32] Broken pipe"
        with pytest.raises(trio.BrokenResourceError) as again:
            await stream.send_all(b"again\n")
        assert str(again.value) == "an earlier write failed or was cancelled"


async def test_a_write_blocked_on_a_full_pipe_can_be_cancelled(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    stream = ThreadWriteStream(write_end)
    payload = b"x" * (4 * 1024 * 1024)  # far more than a pipe holds
    with trio.fail_after(GUARD_S):
        with trio.move_on_after(0.1) as waiting:
            await stream.send_all(payload)
        assert waiting.cancelled_caught
        # What reached the pipe is unknown now, so the stream refuses to go on.
        with pytest.raises(trio.BrokenResourceError):
            await stream.send_all(b"more\n")
        # Let the abandoned write finish before the fixture closes its fd.
        received = 0
        while received < len(payload):
            received += len(await trio.to_thread.run_sync(os.read, read_end, 1 << 20))
    assert received == len(payload)


async def test_a_write_of_everything_arrives_whole(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    stream = ThreadWriteStream(write_end)
    payload = bytes(range(256)) * 4096  # 1 MiB: several partial writes into the pipe
    received = bytearray()

    async def drain() -> None:
        while len(received) < len(payload):
            received.extend(await trio.to_thread.run_sync(os.read, read_end, 65536))

    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain)
            await stream.send_all(payload)
    assert received == payload


async def test_wait_reader_gone_returns_when_the_last_reader_closes(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    returned = trio.Event()

    async def watch() -> None:
        await wait_reader_gone(write_end)
        returned.set()

    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await trio.testing.wait_all_tasks_blocked()
            extra_reader = os.dup(read_end)
            os.close(read_end)
            # Another reader is left: the kernel reports no hang-up, so the watch (a poll() on
            # the same fd) has nothing to wake on. Asserted on the fd itself, not over a window.
            poller = select.poll()
            poller.register(write_end, select.POLLERR | select.POLLHUP)
            assert poller.poll(0) == []
            await trio.testing.wait_all_tasks_blocked()
            assert not returned.is_set()
            os.close(extra_reader)
            await returned.wait()


async def test_auto_uses_non_blocking_pipes_and_threads_for_files(
    pipe: tuple[int, int], tmp_path: Path
) -> None:
    read_end, write_end = pipe
    with open(tmp_path / "file", "w+b") as file:
        assert isinstance(open_input(file.fileno()), ThreadReadStream)
        assert isinstance(open_output(file.fileno()), ThreadWriteStream)
    assert isinstance(open_input(read_end, threads=True), ThreadReadStream)
    assert isinstance(open_output(write_end, threads=True), ThreadWriteStream)
    stream = open_input(read_end)
    assert isinstance(stream, trio.lowlevel.FdStream)
    await stream.aclose()  # a duplicate: the pipe itself stays open
    os.write(write_end, b"still open")
    output = open_output(os.dup(write_end))  # owns its fd, non-blocking
    assert isinstance(output, trio.lowlevel.FdStream)
    with trio.fail_after(GUARD_S):
        await output.send_all(b"a line\n")
        await output.aclose()
    assert os.read(read_end, 64) == b"still opena line\n"


async def test_the_thread_path_reads_and_writes_a_regular_file(tmp_path: Path) -> None:
    # `ollama-sidecar < commands.jsonl > out.jsonl`
    commands, out = tmp_path / "commands.jsonl", tmp_path / "out.jsonl"
    content = bytes(range(256)) * (READ_SIZE // 256) + b"tail\n"  # more than one read
    commands.write_bytes(content)
    with open(commands, "rb") as source, open(out, "wb") as sink:
        reader = open_input(source.fileno())
        writer = open_output(os.dup(sink.fileno()))
        assert isinstance(reader, ThreadReadStream)
        assert isinstance(writer, ThreadWriteStream)
        received = b""
        with trio.fail_after(GUARD_S):
            while chunk := await reader.receive_some():
                received += chunk
            await writer.send_all(b'{"jsonrpc":"2.0","id":1,"result":{}}\n')
            # EOF is final: a file that grows afterwards is not read again.
            with open(commands, "ab") as more:
                more.write(b"late\n")
            assert await reader.receive_some() == b""
            await writer.aclose()
        assert received == content
    assert out.read_bytes() == b'{"jsonrpc":"2.0","id":1,"result":{}}\n'


async def test_a_read_of_one_byte_takes_one_and_later_data_is_read_too(
    pipe: tuple[int, int],
) -> None:
    read_end, write_end = pipe
    stream = ThreadReadStream(read_end)
    with trio.fail_after(GUARD_S):
        os.write(write_end, b"ab")
        assert await stream.receive_some(1) == b"a"
        assert await stream.receive_some(1) == b"b"
        os.write(write_end, b"c")  # after the buffer ran dry: not an end of input
        assert await stream.receive_some() == b"c"
        with pytest.raises(ValueError) as refused:
            await stream.receive_some(0)
    assert str(refused.value) == "max_bytes must be at least 1"


async def test_a_closed_write_stream_writes_nothing(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    stream = ThreadWriteStream(write_end)
    with trio.fail_after(GUARD_S):
        await stream.aclose()
        with pytest.raises(trio.ClosedResourceError) as closed:
            await stream.send_all(b"line\n")
    assert str(closed.value) == "the stream is closed"
    os.set_blocking(read_end, False)
    with pytest.raises(BlockingIOError):
        os.read(read_end, 64)  # the pipe is empty


async def test_two_writers_at_once_are_refused(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    stream = ThreadWriteStream(write_end)
    payload = b"x" * (1024 * 1024)  # more than the pipe holds: the first write waits
    received = 0
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stream.send_all, payload)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError) as busy:
                await stream.send_all(b"interleaved\n")
            assert str(busy.value) == "another task is writing to this stream"
            while received < len(payload):
                received += len(await trio.to_thread.run_sync(os.read, read_end, 1 << 20))
    assert received == len(payload)
    os.set_blocking(read_end, False)
    with pytest.raises(BlockingIOError):
        os.read(read_end, 64)  # the refused write added nothing


async def test_after_a_failed_write_nothing_more_is_written() -> None:
    # What reached the fd before the failure is unknown (a half line, say), so nothing may
    # follow it, even where a later write would succeed (a full disk with room again).
    bad_read, bad_write = os.pipe()
    target_read, target_write = os.pipe()
    stream = ThreadWriteStream(bad_read)  # the read end: writing fails with EBADF
    try:
        with trio.fail_after(GUARD_S):
            with pytest.raises(trio.BrokenResourceError):
                await stream.send_all(b"line\n")
            os.dup2(target_write, bad_read)  # the same fd number can be written now
            with pytest.raises(trio.BrokenResourceError) as refused:
                await stream.send_all(b"more\n")
        assert str(refused.value) == "an earlier write failed or was cancelled"
    finally:
        for fd in (bad_read, bad_write, target_write):
            os.close(fd)
    assert os.read(target_read, 64) == b""
    os.close(target_read)


class PollSpy:
    """`select.poll` for the stdio module, recording the events of every wake-up. `settled` is set
    once a poll has found nothing ready (it is about to block) or has woken up."""

    def __init__(self) -> None:
        self.make_poll = select.poll
        self.wakes: list[int] = []
        self.settled = threading.Event()

    def __call__(self) -> Any:
        spy, poller = self, self.make_poll()

        class Poller:
            def register(self, fd: int, *mask: int) -> None:
                poller.register(fd, *mask)

            def poll(self, *timeout: Any) -> list[tuple[int, int]]:
                ready = poller.poll(0)
                if not ready:
                    spy.settled.set()
                    ready = poller.poll(*timeout)
                spy.wakes.extend(events for _, events in ready)
                spy.settled.set()
                return ready

        return Poller()

    async def wait_settled(self) -> None:
        await trio.to_thread.run_sync(self.settled.wait, abandon_on_cancel=True)


@pytest.fixture
def poll_spy(monkeypatch: pytest.MonkeyPatch) -> PollSpy:
    spy = PollSpy()
    monkeypatch.setattr(select, "poll", spy)
    return spy


async def test_a_read_of_a_non_blocking_fd_waits_for_data_without_spinning(
    poll_spy: PollSpy,
) -> None:
    # The host made its end O_NONBLOCK (shared by our fd): a read finds nothing (EAGAIN) and
    # waits in the kernel for data, woken by the data alone (a writable socket must not wake it).
    ours, host = socket.socketpair()
    with ours, host:
        ours.setblocking(False)
        stream = ThreadReadStream(ours.fileno())
        received: list[bytes] = []

        async def read() -> None:
            received.append(await stream.receive_some())

        with trio.fail_after(GUARD_S):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(read)
                await poll_spy.wait_settled()
                host.sendall(b'{"jsonrpc":"2.0","id":1,"method":"status"}\n')
    assert received == [b'{"jsonrpc":"2.0","id":1,"method":"status"}\n']
    assert poll_spy.wakes == [select.POLLIN]


async def test_a_write_to_a_non_blocking_fd_waits_for_room_and_arrives_whole(
    poll_spy: PollSpy,
) -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # the host's O_NONBLOCK: partial writes, then EAGAIN
    stream = ThreadWriteStream(write_end)
    payload = bytes(range(256)) * 4096  # 1 MiB: the pipe fills before the reader starts
    received = bytearray()

    async def write() -> None:
        try:
            await stream.send_all(payload)
        finally:
            os.close(write_end)  # the reader sees EOF
            poll_spy.settled.set()

    try:
        with trio.fail_after(GUARD_S):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(write)
                await poll_spy.wait_settled()  # the pipe is full: the write waits for room
                while chunk := await trio.to_thread.run_sync(os.read, read_end, 65536):
                    received.extend(chunk)
    finally:
        os.close(read_end)
    assert received == payload
    assert set(poll_spy.wakes) == {select.POLLOUT}


async def test_the_stdout_watch_sleeps_until_the_hang_up_even_on_a_busy_socket(
    poll_spy: PollSpy,
) -> None:
    # One socket for stdin and stdout: the host's requests make our end readable, and it is
    # writable; neither may wake the watch (a busy loop), only the host closing its end.
    ours, host = socket.socketpair()
    with ours, host:
        host.sendall(b'{"jsonrpc":"2.0","id":1,"method":"status"}\n')
        with trio.fail_after(GUARD_S):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(wait_reader_gone, ours.fileno())
                await poll_spy.wait_settled()
                host.close()
    assert poll_spy.wakes and all(
        events & (select.POLLERR | select.POLLHUP) for events in poll_spy.wakes
    )


async def _settles_asleep(monkeypatch: pytest.MonkeyPatch, fd: int) -> bool:
    """Runs `wait_reader_gone(fd)` until it returns (False) or sleeps for good (True)."""
    settled, asleep = trio.Event(), []
    sleep_forever = trio.sleep_forever

    async def sleep_for_good() -> None:
        asleep.append(True)
        settled.set()
        await sleep_forever()

    monkeypatch.setattr(trio, "sleep_forever", sleep_for_good)

    async def watch() -> None:
        await wait_reader_gone(fd)
        settled.set()

    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await settled.wait()
            nursery.cancel_scope.cancel()
    return bool(asleep)


async def test_the_stdout_watch_never_says_gone_for_an_fd_poll_cannot_watch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed = os.open(os.devnull, os.O_RDONLY)
    os.close(closed)  # poll answers POLLNVAL, as for a macOS terminal
    assert await _settles_asleep(monkeypatch, closed)


async def test_the_stdout_watch_never_says_gone_when_poll_fails(
    monkeypatch: pytest.MonkeyPatch, pipe: tuple[int, int]
) -> None:
    class FailingPoll:
        def register(self, fd: int, mask: int) -> None:
            pass

        def poll(self) -> list[tuple[int, int]]:
            raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(select, "poll", FailingPoll)
    assert await _settles_asleep(monkeypatch, pipe[1])


async def test_worker_threads_are_named_for_what_they_wait_on(
    monkeypatch: pytest.MonkeyPatch, pipe: tuple[int, int]
) -> None:
    # What a thread dump (py-spy, a debugger) shows of a sidecar stuck in its stdio.
    names: dict[str, str] = {}

    def named(key: str, blocking: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            names[key] = threading.current_thread().name
            return blocking(*args)

        return call

    for key, function in (("read", "_read"), ("write", "_write_all"), ("watch", "_wait_hangup")):
        monkeypatch.setattr(stdio, function, named(key, getattr(stdio, function)))
    read_end, write_end = pipe
    gone_read, gone_write = os.pipe()
    os.close(gone_read)
    try:
        with trio.fail_after(GUARD_S):
            await ThreadWriteStream(write_end).send_all(b"line\n")
            assert await ThreadReadStream(read_end).receive_some() == b"line\n"
            await wait_reader_gone(gone_write)
    finally:
        os.close(gone_write)
    assert names == {
        "read": "sidecar stdin read",
        "write": "sidecar stdout write",
        "watch": "sidecar stdout watch",
    }
