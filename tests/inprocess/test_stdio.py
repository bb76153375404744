"""The stdio streams on real fds: the thread-backed path (`--stdio threads`, Windows) and the
stdout watch. Process-level behaviour is in test_process_lifetime.py."""

from __future__ import annotations

import os
import select
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from sidecar.stdio import (
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
        with pytest.raises(trio.ClosedResourceError):
            await stream.receive_some()


async def test_a_failed_read_is_a_broken_stream(pipe: tuple[int, int]) -> None:
    _, write_end = pipe
    stream = ThreadReadStream(write_end)  # not readable: EBADF
    with trio.fail_after(GUARD_S), pytest.raises(trio.BrokenResourceError):
        await stream.receive_some()


async def test_two_readers_at_once_are_refused(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    stream = ThreadReadStream(read_end)
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stream.receive_some)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(trio.BusyResourceError):
                await stream.receive_some()
            os.write(write_end, b"x")


async def test_writing_to_a_pipe_nobody_reads_is_a_broken_stream(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.close(read_end)
    stream = ThreadWriteStream(write_end)
    with trio.fail_after(GUARD_S):
        with pytest.raises(trio.BrokenResourceError):
            await stream.send_all(b"line\n")
        with pytest.raises(trio.BrokenResourceError):
            await stream.send_all(b"again\n")


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
