"""One process under test (a sidecar, or the official-client relay) and its reader process.

    reader = python -m benchmark.reader        (started first, and ready before the spawn)
    target = python -m sidecar ... --max-chats 64   stdout -> a pipe -> the reader's stdin

The benchmark writes requests to the target's stdin and learns what the reader read from the
reader's event lines (see `reader.py`). Every wait is bounded, and every way a run can go wrong
(no ready line, an error response, a process that does not exit) raises `BenchFailure`, the one
kind of failure that makes `--quick` exit non-zero.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import msgspec
import trio

SCRIPTS_DIR: Final = Path(__file__).resolve().parent.parent
REPO_ROOT: Final = SCRIPTS_DIR.parent
WAIT_S: Final = 60.0
EXIT_S: Final = 10.0

_decoder: Final = msgspec.json.Decoder()
_encoder: Final = msgspec.json.Encoder()


class BenchFailure(Exception):
    """A correctness failure: lost or wrong tokens, an error, a process that misbehaved."""


# Sidecars keep conversations by default: the benchmark's go to a folder of its own, never to
# the user's data folder (removed when the benchmark exits).
DATA_HOME = tempfile.mkdtemp(prefix="sidecar-bench-data-")
atexit.register(shutil.rmtree, DATA_HOME, True)


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OLLAMA_HOST"}
    env["XDG_DATA_HOME"] = DATA_HOME
    paths = [str(SCRIPTS_DIR), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def sidecar_command(url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sidecar", "--ollama-url", url, "--model", "bench",
            "--max-chats", "64", *extra]


def rss_kib(pid: int) -> int | None:
    """VmRSS of `pid` in KiB (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of `pid` so far (None once it is gone): the scheduler's own
    count in nanoseconds (/proc/PID/task/*/schedstat) where there is one, else clock ticks."""
    try:
        return sum(
            int((task / "schedstat").read_bytes().split()[0])
            for task in Path(f"/proc/{pid}/task").iterdir()
        ) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Rig:
    """Create with `open_rig`; `target` is spawned by `spawn` (timed by the caller)."""

    def __init__(self, nursery: trio.Nursery, name: str) -> None:
        self.name = name
        self._nursery = nursery
        self.reader: trio.Process | None = None
        self.target: trio.Process | None = None
        self.spawned_at = 0.0
        self.stderr = tempfile.TemporaryFile()
        self.lines: list[tuple[float, dict[str, Any]]] = []  # non-token lines the reader read
        self.responses: dict[Any, tuple[float, dict[str, Any]]] = {}
        self.firsts: dict[Any, float] = {}
        self.marks: dict[str, float] = {}
        self.summary: dict[str, Any] | None = None
        self._changed = trio.lowlevel.ParkingLot()
        self._reader_done = trio.Event()
        self._write_fd: int | None = None
        self._next_id = 1

    # --- processes ------------------------------------------------------------------------

    async def start_reader(self, *reader_args: str) -> None:
        read_fd, self._write_fd = os.pipe()
        try:
            self.reader = await trio.lowlevel.open_process(
                [sys.executable, "-m", "benchmark.reader", *reader_args],
                stdin=read_fd, stdout=subprocess.PIPE, env=child_env(), cwd=REPO_ROOT,
            )
        finally:
            os.close(read_fd)
        self._nursery.start_soon(self._read_events)
        await self.wait_for(lambda: "hello" in self.marks, "the reader to start")

    async def spawn(self, command: Sequence[str]) -> float:
        """Starts the target with its stdout on the reader's pipe; returns the spawn time."""
        assert self._write_fd is not None, "start_reader first"
        self.spawned_at = time.monotonic()
        try:
            self.target = await trio.lowlevel.open_process(
                list(command), stdin=subprocess.PIPE, stdout=self._write_fd,
                stderr=self.stderr, env=child_env(), cwd=REPO_ROOT,
            )
        finally:
            os.close(self._write_fd)
            self._write_fd = None
        return self.spawned_at

    @property
    def pid(self) -> int:
        assert self.target is not None
        return self.target.pid

    def rss_kib(self) -> int:
        value = rss_kib(self.pid)
        if value is None:
            raise BenchFailure(f"{self.name}: the process is gone{self.stderr_tail()}")
        return value

    def cpu(self) -> tuple[float, float]:
        """CPU seconds used so far by (target, reader)."""
        assert self.target is not None and self.reader is not None
        return cpu_seconds(self.target.pid) or 0.0, cpu_seconds(self.reader.pid) or 0.0

    def stderr_tail(self, limit: int = 2000) -> str:
        self.stderr.seek(0)
        text = self.stderr.read().decode(errors="replace")
        return f"\n--- stderr of {self.name} ---\n{text[-limit:]}" if text.strip() else ""

    async def _read_events(self) -> None:
        assert self.reader is not None and self.reader.stdout is not None
        buffer = b""
        try:
            while True:
                data = await self.reader.stdout.receive_some(1 << 20)
                if not data:
                    return
                buffer += data
                if b"\n" not in data:
                    continue
                *complete, buffer = buffer.split(b"\n")
                for raw in complete:
                    self._on_event(_decoder.decode(raw))
                self._changed.unpark_all()
        finally:
            self._reader_done.set()
            self._changed.unpark_all()

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event["ev"]
        if kind == "line":
            message = event["msg"]
            self.lines.append((event["t"], message))
            if "method" not in message:
                self.responses[message.get("id")] = (event["t"], message)
            elif message["method"] == "sidecar:ready":
                self.marks["ready"] = event["t"]
        elif kind == "first":
            self.firsts[event["chat"]] = event["t"]
        elif kind == "summary":
            self.summary = event
        else:
            self.marks[kind] = event.get("t", 0.0)

    async def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
        with trio.move_on_after(timeout):
            while not predicate():
                if self._reader_done.is_set():
                    raise BenchFailure(f"{self.name}: output ended while waiting for {what}"
                                       f"{self.stderr_tail()}")
                await self._changed.park()
            return
        raise BenchFailure(f"{self.name}: no {what} within {timeout:g} s{self.stderr_tail()}")

    # --- requests -------------------------------------------------------------------------

    async def send(self, method: str, params: Any = None, id: Any = None) -> tuple[Any, float]:
        """Writes one request; returns its id and the time just before the write."""
        if id is None:
            id, self._next_id = self._next_id, self._next_id + 1
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            message["params"] = params
        assert self.target is not None and self.target.stdin is not None
        data = _encoder.encode(message) + b"\n"
        written_at = time.monotonic()
        await self.target.stdin.send_all(data)
        return id, written_at

    async def response(self, id: Any, timeout: float = WAIT_S) -> tuple[float, dict[str, Any]]:
        await self.wait_for(lambda: id in self.responses, f"response to request {id!r}", timeout)
        return self.responses[id]

    async def result(self, id: Any, timeout: float = WAIT_S) -> tuple[float, Any]:
        """The result of request `id`; an error response is a failure."""
        t, message = await self.response(id, timeout)
        if "error" in message:
            raise BenchFailure(f"{self.name}: request {id!r} failed: {message['error']}"
                               f"{self.stderr_tail()}")
        return t, message["result"]

    async def first_token(self, chat: Any, timeout: float = WAIT_S) -> float:
        await self.wait_for(lambda: chat in self.firsts, f"first token of chat {chat!r}", timeout)
        return self.firsts[chat]

    # --- the end --------------------------------------------------------------------------

    async def finish(self, *, shutdown: bool = True, timeout: float = WAIT_S) -> dict[str, Any]:
        """`shutdown` (sidecars), then the target must exit 0 and the reader report its summary."""
        assert self.target is not None and self.reader is not None
        if shutdown:
            id, _ = await self.send("shutdown")
            await self.result(id, timeout)
        with trio.move_on_after(EXIT_S):
            code = await self.target.wait()
        if self.target.returncode is None:
            raise BenchFailure(f"{self.name}: did not exit within {EXIT_S:g} s after shutdown")
        if code != 0:
            raise BenchFailure(f"{self.name}: exited {code}{self.stderr_tail()}")
        await self.wait_for(lambda: self.summary is not None, "the reader's summary", timeout)
        with trio.move_on_after(EXIT_S):
            await self.reader.wait()
        self.stderr.seek(0)
        if b"Traceback" in self.stderr.read():
            raise BenchFailure(f"{self.name}: a traceback on stderr{self.stderr_tail()}")
        assert self.summary is not None
        return self.summary

    def chat_log(self, chat: Any) -> tuple[str, list[list[float]]]:
        """(joined token text, [[arrival, chars], ...]) of one chat, from the summary."""
        assert self.summary is not None
        for entry in self.summary["chats"]:
            if entry["chat"] == chat:
                return entry["text"], entry["arrivals"]
        return "", []

    async def kill(self) -> None:
        for process in (self.target, self.reader):
            if process is not None and process.returncode is None:
                process.kill()
                with trio.CancelScope(shield=True):
                    await process.wait()
        if self._write_fd is not None:
            os.close(self._write_fd)
            self._write_fd = None
        self.stderr.close()


@asynccontextmanager
async def open_rig(name: str) -> AsyncIterator[Rig]:
    """`async with open_rig(name) as rig:` — its processes are killed if still running at exit."""
    async with trio.open_nursery() as nursery:
        rig = Rig(nursery, name)
        try:
            yield rig
        finally:
            await rig.kill()
            nursery.cancel_scope.cancel()


async def start_sidecar(
    rig: Rig, url: str, *reader_args: str, sidecar_args: Sequence[str] = ()
) -> float:
    """Reader, then sidecar (`sidecar_args` added to its command line); returns once
    `sidecar:ready` was read (the ready time)."""
    await rig.start_reader(*reader_args)
    await rig.spawn([*sidecar_command(url), *sidecar_args])
    await rig.wait_for(lambda: "ready" in rig.marks, "sidecar:ready line", 30.0)
    return rig.marks["ready"]


def check_text(name: str, got: str, want: str) -> None:
    """The one token check: the concatenation must be exactly the expected text."""
    if got == want:
        return
    common = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    raise BenchFailure(
        f"{name}: text differs at char {common} (got {len(got)} chars, want {len(want)}): "
        f"got {got[common:common + 40]!r}, want {want[common:common + 40]!r}"
    )
