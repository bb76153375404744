"""§6's ways of stopping, driven in-process through `app.serve` with what `python -m sidecar`
passes it (signal handling, a stdout-reader watch, `--parent-pid`, the orphan check), so that
scripts/mutate's fast test set sees app.py's lifecycle: real signals sent to this process, a
real child process as the parent, a real pipe whose reader goes away. The process tests
(process/test_e2e_lifecycle.py, process/test_process_lifetime.py) hold the same end to end.

What a host notices is asserted: the stop reason in the answer of a request still in flight
("Request interrupted: the sidecar is exiting (REASON)"), lines no longer served, and how long
the final answers wait for a host that does not read them (virtual time, not speed). What
`serve` wires up and the stdin reader: test_app_wiring.py."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import Any, Final

import httpx
import pytest
import trio
import trio.testing

from sidecar.stdio import wait_reader_gone

from ..support import GUARD_S
from .rig import CHAT, Handler, Rig, ndjson, open_rig, slow_closes, streaming

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
def signals_land_here() -> Iterator[list[int]]:
    """Handlers outside the sidecar's: a SIGTERM or SIGINT the sidecar does not take (or
    re-delivers as it exits) lands in the list this yields instead of ending pytest. Plain
    handlers, not a trio receiver, which would re-deliver what it still holds as it closes."""
    caught: list[int] = []
    before = {s: signal.signal(s, lambda signum, frame: caught.append(signum))
              for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield caught
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


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


async def test_lines_written_after_a_signal_while_the_sidecar_winds_down_are_not_served(
    monkeypatch: pytest.MonkeyPatch, mock_clock: trio.testing.MockClock,
) -> None:
    """The host keeps writing after its SIGTERM, and the sidecar is still alive (its cancelled
    chat's upstream connection is slow to close): those lines are read and dropped, never
    answered. (A frozen clock: the close's own time limit does not run out meanwhile.)"""
    closing, release = slow_closes(monkeypatch)
    with signals_land_here():
        async with open_rig(
            streaming([*ndjson("a", done=False), trio.Event()]),
            serve_options={"handle_signals": True},
        ) as rig:
            chat = await rig.request("chat", CHAT)
            await rig.notification("chat:token")
            os.kill(os.getpid(), signal.SIGTERM)
            await closing.wait()  # stopped: the cancelled chat is closing its connection
            await rig.send_raw(PROBE)
            await trio.testing.wait_all_tasks_blocked()  # the reader has had the line
            assert not rig.stopped.is_set()
            release.set()
            lines = await rig.read_all()
    answers = [l for l in lines if "method" not in l]
    assert [a["id"] for a in answers] == [chat]  # no answer to the probe
    assert answers[0]["result"]["done_reason"] == "cancelled"
    assert rig.text(chat) == "a"
    assert rig.stop_reason == "SIGTERM"


async def test_without_signal_handling_a_signal_is_not_the_sidecars() -> None:
    with trio.fail_after(GUARD_S), signals_land_here() as outside:
        async with open_rig(held_list_models()) as rig:
            await rig.request("list_models")
            await still_serving(rig)
            os.kill(os.getpid(), signal.SIGTERM)
            await trio.testing.wait_all_tasks_blocked()
            assert outside == [signal.SIGTERM]
            await still_serving(rig)
            await rig.request("shutdown")
            await rig.read_all()
    assert rig.stop_reason == "shutdown"


# --- --parent-pid, a stdout without reader, a broken stdout --------------------------------------


@asynccontextmanager
async def parent_of(
    handler: Handler,
) -> AsyncIterator[tuple[trio.Process, Rig, Any]]:
    """A sidecar whose `--parent-pid` is a real child process, with a `list_models` held open;
    the child is killed and reaped on the way out, whatever the test did to it."""
    parent = await trio.lowlevel.open_process(["sleep", "60"])
    try:
        with trio.fail_after(GUARD_S):
            async with open_rig(handler, parent_pid=parent.pid) as rig:
                listing = await rig.request("list_models")
                await still_serving(rig)
                yield parent, rig, listing
    finally:
        parent.kill()
        await parent.wait()


async def test_the_sidecar_serves_while_its_parent_lives_and_stops_when_it_is_gone() -> None:
    async with parent_of(held_list_models()) as (parent, rig, listing):
        await still_serving(rig)
        parent.kill()
        await parent.wait()
        reason = f"parent process {parent.pid} is gone"
        assert await answer_of(rig, listing) == interrupted(reason)
        await rig.read_all()
    assert rig.stop_reason == reason


async def test_a_zombie_parent_counts_as_gone() -> None:
    async with parent_of(held_list_models()) as (parent, rig, listing):
        os.kill(parent.pid, signal.SIGKILL)  # not reaped: a zombie
        reason = f"parent process {parent.pid} is gone"
        assert await answer_of(rig, listing) == interrupted(reason)
        await rig.read_all()


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
