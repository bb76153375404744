"""§6's ways of stopping, driven in-process through `app.serve` with what `python -m sidecar`
passes it (signal handling, a stdout-reader watch, `--parent-pid`, the orphan check), so that
scripts/mutate's fast test set sees app.py's lifecycle: real signals sent to this process, a
real child process as the parent, a real pipe whose reader goes away. The process tests
(process/test_e2e_lifecycle.py, process/test_process_lifetime.py) hold the same end to end.

What a host notices is asserted: the stop reason in the answer of a request still in flight
("Request interrupted: the sidecar is exiting (REASON)"), lines no longer served, and how long
the final answers wait for a host that does not read them (virtual time, not speed)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Final

import httpx
import pytest
import trio
import trio.testing

from sidecar.app import read_requests, serve
from sidecar.config import Config
from sidecar.stdio import wait_reader_gone
from sidecar.store import open_store
from sidecar.tools.mcp.config import ServerConfig
from sidecar_testkit.fake_ollama import ScriptedOllama

from ..process.mcp import FAULT_PY
from ..support import GUARD_S, request_line, user
from .rig import Handler, Rig, ndjson, open_rig, streaming

PROBE: Final = b'{"jsonrpc":"2.0","id":"probe","method":"nope"}\n'  # answered at once: -32601


def held_list_models(release: trio.Event | None = None) -> Handler:
    """Upstream where `list_models` waits for `release` (for ever when not given)."""
    gate = trio.Event() if release is None else release

    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/tags"
        await gate.wait()
        return httpx.Response(200, json={"models": []})

    return handler


async def still_serving(rig: Rig) -> None:
    """A line sent now is answered: the sidecar has not stopped."""
    await rig.send_raw(PROBE)
    assert (await rig.response("probe"))["error"]["code"] == -32601
    rig.lines.clear()


def interrupted(reason: str) -> dict[str, Any]:
    return {"code": -32603, "message": f"Request interrupted: the sidecar is exiting ({reason})",
            "data": {"kind": "internal_error"}}


async def answer_of(rig: Rig, id: Any) -> dict[str, Any]:
    error = (await rig.response(id))["error"]
    error.get("data", {}).pop("hint", None)
    return error


@contextmanager
def signals_land_here() -> Iterator[trio.abc.AsyncIterator[int]]:
    """A receiver outside the sidecar's: a SIGTERM or SIGINT the sidecar does not take lands
    here (and the test fails on its guard) instead of ending pytest."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as outside:
        yield outside


# --- signals ------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_interrupts_what_is_in_flight_and_a_repeat_changes_nothing(
    signum: signal.Signals,
) -> None:
    other = signal.SIGINT if signum == signal.SIGTERM else signal.SIGTERM
    with trio.fail_after(GUARD_S), signals_land_here():
        async with open_rig(held_list_models(), serve_options={"handle_signals": True}) as rig:
            listing = await rig.request("list_models")
            await still_serving(rig)  # the signal watcher runs by now
            os.kill(os.getpid(), signum)
            os.kill(os.getpid(), other)  # while it stops: the first reason stays
            assert await answer_of(rig, listing) == interrupted(signum.name)
            await rig.send_raw(PROBE)  # after the signal: never served
            lines = await rig.read_all()
    assert [l for l in lines if l.get("id") == "probe"] == []
    assert rig.stop_reason == signum.name


async def test_without_signal_handling_a_signal_is_not_the_sidecars() -> None:
    with trio.fail_after(GUARD_S), signals_land_here() as outside:
        async with open_rig(held_list_models()) as rig:
            await rig.request("list_models")
            await still_serving(rig)
            os.kill(os.getpid(), signal.SIGTERM)
            assert await outside.__anext__() == signal.SIGTERM
            await still_serving(rig)
            await rig.request("shutdown")
            await rig.read_all()
    assert rig.stop_reason == "shutdown"


# --- --parent-pid, a stdout without reader, a broken stdout --------------------------------------


async def test_the_sidecar_serves_while_its_parent_lives_and_stops_when_it_is_gone() -> None:
    parent = await trio.lowlevel.open_process(["sleep", "60"])
    try:
        with trio.fail_after(GUARD_S):
            async with open_rig(held_list_models(), parent_pid=parent.pid) as rig:
                listing = await rig.request("list_models")
                await still_serving(rig)
                await still_serving(rig)
                parent.kill()
                await parent.wait()
                reason = f"parent process {parent.pid} is gone"
                assert await answer_of(rig, listing) == interrupted(reason)
                await rig.read_all()
    finally:
        parent.kill()
        await parent.wait()
    assert rig.stop_reason == reason


async def test_a_zombie_parent_counts_as_gone() -> None:
    parent = await trio.lowlevel.open_process(["sleep", "60"])
    try:
        with trio.fail_after(GUARD_S):
            async with open_rig(held_list_models(), parent_pid=parent.pid) as rig:
                listing = await rig.request("list_models")
                await still_serving(rig)
                os.kill(parent.pid, signal.SIGKILL)  # not reaped: a zombie
                reason = f"parent process {parent.pid} is gone"
                assert await answer_of(rig, listing) == interrupted(reason)
                await rig.read_all()
    finally:
        parent.kill()
        await parent.wait()


async def test_a_stdout_nobody_reads_any_more_stops_the_sidecar_at_once() -> None:
    read_end, write_end = os.pipe()
    try:
        with trio.fail_after(GUARD_S):
            options = {"wait_stdout_gone": partial(wait_reader_gone, write_end)}
            async with open_rig(held_list_models(), serve_options=options) as rig:
                listing = await rig.request("list_models")
                await still_serving(rig)
                os.close(read_end)
                assert await answer_of(rig, listing) == interrupted("stdout has no reader")
                await rig.read_all()
    finally:
        for fd in (read_end, write_end):
            try:
                os.close(fd)
            except OSError:
                pass  # closed above
    assert rig.stop_reason == "stdout has no reader"


async def test_a_broken_stdout_stops_the_sidecar() -> None:
    with trio.fail_after(GUARD_S):
        async with open_rig(held_list_models()) as rig:
            await rig.request("list_models")
            await still_serving(rig)
            await rig.stdout.aclose()
            await rig.send_raw(PROBE)  # its answer finds stdout broken
            await rig.stopped.wait()
    assert rig.stop_reason == "stdout closed"


# --- the orphan check during a drain --------------------------------------------------------------


async def test_a_drain_goes_on_while_the_host_is_there_and_turns_urgent_once_it_is_gone() -> None:
    orphaned = False
    release = trio.Event()
    with trio.fail_after(GUARD_S):
        options = {"orphaned": lambda: orphaned}
        async with open_rig(held_list_models(release), serve_options=options) as rig:
            first = await rig.request("list_models")
            await rig.stdin.aclose()  # a drain: `first` may still finish
            await trio.testing.wait_all_tasks_blocked()
            assert not rig.stopped.is_set()
            orphaned = True  # the host died: no one waits for the drain any more
            error = await answer_of(rig, first)
            await rig.read_all()
    assert error == interrupted("stdin closed and the parent process is gone")
    assert rig.stop_reason == "stdin closed and the parent process is gone"


async def test_a_drain_with_the_host_still_there_lets_the_request_finish() -> None:
    release = trio.Event()
    with trio.fail_after(GUARD_S):
        async with open_rig(held_list_models(release), serve_options={"orphaned": lambda: False}) as rig:
            first = await rig.request("list_models")
            await rig.stdin.aclose()
            await trio.testing.wait_all_tasks_blocked()  # the orphan check has looked
            assert not rig.stopped.is_set()
            release.set()
            assert (await rig.response(first))["result"] == {"models": []}
            await rig.read_all()
    assert rig.stop_reason == "eof"


# --- how long the final answers wait for a host that does not read them (§6's flush limits) --------


@pytest.mark.parametrize(
    ("trigger", "limit"),
    [("eof", 5.0), ("shutdown", 5.0), ("stdout has no reader", 0.5),
     ("stdin closed and the parent process is gone", 0.5)],
)
async def test_the_final_answers_wait_for_a_host_that_does_not_read_them_up_to_the_limit(
    autojump_clock: trio.testing.MockClock, trigger: str, limit: float
) -> None:
    reader_gone = trio.Event()
    options: dict[str, Any] = {"wait_stdout_gone": reader_gone.wait}
    orphan = trigger.startswith("stdin closed")
    if orphan:
        options["orphaned"] = lambda: True
    async with open_rig(held_list_models(), lockstep=True, serve_options=options) as rig:
        if orphan:
            await rig.request("list_models")  # in flight: the drain the orphan check cuts short
        await rig.send_raw(PROBE)  # its answer waits for the host, who reads no more
        await trio.testing.wait_all_tasks_blocked()
        start = trio.current_time()
        if trigger == "shutdown":
            await rig.request("shutdown")
        elif trigger == "stdout has no reader":
            reader_gone.set()
        else:
            await rig.stdin.aclose()
        await rig.stopped.wait()
    assert rig.stop_reason == trigger
    assert rig.stopped_at - start == pytest.approx(limit)


# --- what serve wires up: the ready line, the store, the MCP servers, its own client ---------------


@pytest.mark.parametrize(
    ("config", "served", "not_served"),
    [({}, {"chat", "pull_model", "list_mcp_servers"}, {"create_thread", "list_threads"}),
     ({"data_dir": "DIR"}, {"chat", "pull_model", "create_thread", "export_thread"}, set()),
     ({"provider": "openai"}, {"chat", "list_models"}, {"pull_model", "create_thread"})],
    ids=["no-store", "store", "openai"],
)
async def test_the_ready_line_lists_the_methods_this_sidecar_serves(
    tmp_path: Path, config: dict[str, Any], served: set[str], not_served: set[str]
) -> None:
    if "data_dir" in config:
        config["data_dir"] = str(tmp_path)
    with trio.fail_after(GUARD_S):
        async with open_rig(held_list_models(), **config) as rig:
            methods = set(rig.lines[0]["params"]["methods"])
    assert served <= methods and not methods & not_served


async def test_the_store_it_is_given_keeps_the_threads(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    try:
        with trio.fail_after(GUARD_S):
            options = {"store": store}
            async with open_rig(held_list_models(), data_dir=str(tmp_path), serve_options=options) as rig:
                created = (await rig.response(await rig.request("create_thread", {})))["result"]
                listed = (await rig.response(await rig.request("list_threads", {})))["result"]
    finally:
        store.close()
    assert [t["id"] for t in listed["threads"]] == [created["thread"]["id"]]


async def test_an_enabled_mcp_server_starts_after_ready_and_a_disabled_one_never(
    tmp_path: Path,
) -> None:
    def server(name: str, disabled: bool) -> ServerConfig:
        return ServerConfig(
            name=name, transport="stdio", command=sys.executable,
            args=(str(FAULT_PY), "serve", str(tmp_path / name)), disabled=disabled,
        )

    with trio.fail_after(GUARD_S):
        async with open_rig(
            held_list_models(), mcp_servers=(server("on", False), server("off", True))
        ) as rig:
            ready = await rig.read_until(
                lambda l: l.get("method") == "mcp:server_status" and l["params"]["status"] == "ready"
            )
            listed = (await rig.response(await rig.request("list_mcp_servers")))["result"]
            await rig.request("shutdown")
            lines = await rig.read_all()
    assert ready["params"]["server"] == "on" and "on__ok" in ready["params"]["tools"]
    assert {s["name"]: s["status"] for s in listed["servers"]} == {"on": "ready", "off": "stopped"}
    assert not [l for l in lines if l.get("params", {}).get("server") == "off"]
    assert not (tmp_path / "off").exists()  # never started


async def test_without_a_client_given_serve_makes_its_own_after_the_ready_line(
    fake_ollama: ScriptedOllama,
) -> None:
    config = Config(base_url=fake_ollama.url, model="m")
    stdin_send, stdin_recv = trio.testing.memory_stream_one_way_pair()
    stdout_send, stdout_recv = trio.testing.memory_stream_one_way_pair()
    rig = Rig(stdin_send, stdout_recv)
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            async def run() -> None:
                rig.stop_reason = await serve(config, stdin_recv, stdout_send)
                await stdout_send.aclose()

            nursery.start_soon(run)
            assert (await rig.read_line())["method"] == "sidecar:ready"
            status = (await rig.response(await rig.request("status")))["result"]
            await rig.stdin.aclose()
            await rig.read_all()
    assert status["ollama"]["reachable"] is True
    assert rig.stop_reason == "eof"


class ClosingClient:
    """Just enough of a provider for a sidecar that never calls upstream; records its close."""

    provider = "ollama"

    def __init__(self, hangs: bool = False) -> None:
        self.hangs = hangs
        self.closed = False

    def redact(self, text: str) -> str:
        return text

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
        if self.hangs:
            await trio.sleep_forever()
        self.closed = True


async def run_serve(client: ClosingClient, scope: trio.CancelScope | None = None) -> tuple[Rig, float]:
    """`serve` over memory streams with `client`; stops it at once by stdin EOF (or by `scope`'s
    cancel, when given); returns the rig and how long the end took after that."""
    stdin_send, stdin_recv = trio.testing.memory_stream_one_way_pair()
    stdout_send, stdout_recv = trio.testing.memory_stream_one_way_pair()
    rig = Rig(stdin_send, stdout_recv)
    config = Config(base_url="http://ollama.test", model="m")
    async with trio.open_nursery() as nursery:
        async def run() -> None:
            with scope or trio.CancelScope():
                rig.stop_reason = await serve(config, stdin_recv, stdout_send, client=client)  # type: ignore[arg-type]
            rig.stopped_at = trio.current_time()
            rig.stopped.set()

        nursery.start_soon(run)
        assert (await rig.read_line())["method"] == "sidecar:ready"
        start = trio.current_time()
        if scope is None:
            await rig.stdin.aclose()
        else:
            scope.cancel()
        await rig.stopped.wait()
    assert rig.stopped_at is not None
    return rig, rig.stopped_at - start


async def test_the_upstream_client_is_closed_at_the_end_and_a_hanging_close_waits_1_s(
    autojump_clock: trio.testing.MockClock,
) -> None:
    client = ClosingClient()
    rig, took = await run_serve(client)
    assert client.closed and took == 0 and rig.stop_reason == "eof"
    rig, took = await run_serve(ClosingClient(hangs=True))
    assert took == pytest.approx(1.0) and rig.stop_reason == "eof"


async def test_a_serve_cancelled_from_outside_still_closes_its_client() -> None:
    client = ClosingClient()
    with trio.fail_after(GUARD_S):
        await run_serve(client, trio.CancelScope())
    assert client.closed


# --- the stdin reader ---------------------------------------------------------------------------


class Intake:
    """What `read_requests` needs of a server: records each line it takes (none once stopped,
    as `Server.dispatch`)."""

    def __init__(self) -> None:
        self.config = Config()
        self.accepting = True
        self.lines: list[bytes] = []
        self.stop_reason: str | None = None

    def dispatch(self, line: bytes) -> None:
        if self.accepting:
            self.lines.append(line)

    async def dispatch_big(self, line: bytes) -> None:
        self.lines.append(line)

    def stop(self, reason: str) -> None:
        self.stop_reason = reason
        self.accepting = False


async def test_a_burst_in_one_read_lets_other_tasks_run_every_16_lines() -> None:
    intake = Intake()
    stdin_send, stdin_recv = trio.testing.memory_stream_one_way_pair()
    await stdin_send.send_all(b"".join(b"line %d\n" % n for n in range(40)))  # one read
    await stdin_send.aclose()
    seen: list[int] = []  # how many lines were handled each time the other task ran

    async def other_task() -> None:
        while True:
            seen.append(len(intake.lines))
            await trio.lowlevel.checkpoint()

    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(other_task)
            await read_requests(stdin_recv, intake)  # type: ignore[arg-type]
            nursery.cancel_scope.cancel()
    assert intake.lines == [b"line %d" % n for n in range(40)]
    assert intake.stop_reason == "eof"
    assert set(seen) <= {0, 16, 32, 40}
    assert set(seen) & {16, 32}  # it ran between batches, not only between reads


async def test_a_stop_between_two_batches_of_one_read_refuses_the_lines_after_it() -> None:
    intake = Intake()
    stdin_send, stdin_recv = trio.testing.memory_stream_one_way_pair()
    await stdin_send.send_all(b"x\n" * 40)

    async def stop_at_the_first_batch() -> None:
        while not intake.lines:
            await trio.lowlevel.checkpoint()
        intake.stop("SIGTERM")

    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stop_at_the_first_batch)
            await read_requests(stdin_recv, intake)  # type: ignore[arg-type]
    # whole batches of 16, then the reader returns (stdin is still open)
    assert len(intake.lines) in (16, 32)
    assert intake.stop_reason == "SIGTERM"


class FailingStdin(trio.abc.ReceiveStream):
    """Gives `data`, then fails with `error`, then reads as closed."""

    def __init__(self, data: bytes, error: BaseException) -> None:
        self.reads: list[bytes | BaseException] = [data, error]

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        if not self.reads:
            return b""
        read = self.reads.pop(0)
        if isinstance(read, BaseException):
            raise read
        return read

    async def aclose(self) -> None:
        pass


@pytest.mark.parametrize(
    "error",
    [trio.BrokenResourceError("gone"), trio.ClosedResourceError("closed"), OSError(5, "EIO")],
    ids=["broken", "closed", "oserror"],
)
async def test_a_read_error_is_stdin_eof_and_the_last_unterminated_line_is_served(
    error: BaseException,
) -> None:
    intake = Intake()
    stdin = FailingStdin(b"first\nlast, unterminated", error)
    with trio.fail_after(GUARD_S):
        await read_requests(stdin, intake)  # type: ignore[arg-type]
    assert intake.lines == [b"first", b"last, unterminated"]
    assert intake.stop_reason == "eof"
    assert stdin.reads == []  # it did not read again after the error


async def test_a_big_chat_line_and_the_line_after_it_in_the_same_read_are_both_served() -> None:
    big = request_line(1, "chat", {"messages": user("x" * (300 * 1024))})
    with trio.fail_after(GUARD_S):
        async with open_rig(streaming(ndjson("ok"))) as rig:
            await rig.send_raw(big + PROBE)
            done = await rig.response(1)
            probe = await rig.response("probe")
    assert done["result"]["messages"] == [{"role": "assistant", "content": "ok"}]
    assert probe["error"]["code"] == -32601
