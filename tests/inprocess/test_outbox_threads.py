"""The Outbox's `put` from another thread (the stream pump's), on a real pipe: lines arrive whole
and in order, a full pipe queues them for the writer task, `gather` writes a pass's lines at
once, and `wait_room` holds a thread while the host is not reading."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from sidecar.outbox import Outbox


@asynccontextmanager
async def piped(limit: int = 1 << 20) -> AsyncIterator[tuple[Outbox, int]]:
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    outbox = Outbox(trio.lowlevel.FdStream(write_fd), limit)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(outbox.run)
            yield outbox, read_fd
            outbox.close()
    finally:
        os.close(read_fd)


async def read_lines(fd: int, count: int) -> list[bytes]:
    data = b""
    with trio.fail_after(10):
        while data.count(b"\n") < count:
            await trio.lowlevel.wait_readable(fd)
            data += os.read(fd, 1 << 20)
    return data.splitlines()


def in_thread(target: object) -> threading.Thread:
    thread = threading.Thread(target=target)  # type: ignore[arg-type]
    thread.start()
    return thread


async def test_lines_put_from_a_thread_and_from_the_loop_arrive_whole_and_in_order() -> None:
    async with piped() as (outbox, fd):
        thread = in_thread(lambda: [outbox.put(b"t%05d\n" % k) for k in range(3000)])
        for k in range(3000):
            outbox.put(b"L%05d\n" % k)
            if k % 100 == 0:
                await trio.sleep(0)
        lines = await read_lines(fd, 6000)
        thread.join()
    assert [line for line in lines if line.startswith(b"t")] == [b"t%05d" % k for k in range(3000)]
    assert [line for line in lines if line.startswith(b"L")] == [b"L%05d" % k for k in range(3000)]
    assert len(lines) == 6000


async def test_a_full_pipe_queues_a_threads_lines_for_the_writer() -> None:
    line = b"x" * 1000 + b"\n"
    async with piped() as (outbox, fd):
        in_thread(lambda: [outbox.put(line) for _ in range(300)]).join()  # 300 KB: over a pipe
        assert outbox.queued_bytes > 0  # what the pipe did not take waits for the writer
        lines = await read_lines(fd, 300)
    assert lines == [line[:-1]] * 300


async def test_gathered_lines_are_written_at_once_when_released() -> None:
    async with piped() as (outbox, fd):
        gathered = threading.Event()
        release = threading.Event()

        def pass_of_the_pump() -> None:
            outbox.gather()
            outbox.put(b"a\n")
            outbox.put(b"b\n")
            gathered.set()
            release.wait()
            outbox.release_gathered()

        thread = in_thread(pass_of_the_pump)
        await trio.to_thread.run_sync(gathered.wait)
        outbox.put(b"loop\n")  # the loop's own lines are not gathered
        assert await read_lines(fd, 1) == [b"loop"]
        release.set()
        await trio.to_thread.run_sync(thread.join)
        assert await read_lines(fd, 2) == [b"a", b"b"]


async def test_wait_room_holds_a_thread_while_the_host_does_not_read() -> None:
    async with piped(limit=64 * 1024) as (outbox, fd):
        big = b"y" * 4095 + b"\n"
        for _ in range(200):  # 800 KB: the pipe takes some, the queue is over its limit
            outbox.put(big)
        assert not outbox.has_room()
        passed = threading.Event()
        stop = threading.Event()
        thread = in_thread(lambda: (outbox.wait_room(stop), passed.set()))
        await trio.sleep(0.2)
        assert not passed.is_set()
        await read_lines(fd, 200)  # the host reads: the writer drains and signals room
        await trio.to_thread.run_sync(thread.join, 10)
        assert passed.is_set() and outbox.has_room()
