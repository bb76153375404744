"""A burst of requests never makes the real sidecar deaf or unkillable (issue 11, item 1).

- Past `--max-requests` a request is answered at once with `overloaded` (-32005) and the reader
  keeps reading; `cancel_chat` and `shutdown` are still served.
- Concurrent `status` probes share one `/api/version`, `list_models` one `/api/tags`, and a
  healthy server is never reported unreachable because of the sidecar's own queueing.
- Under a burst of thousands of lines, a signal, `shutdown`, a lost `--parent-pid` and closed
  pipes still end the process within §6's times, and a streaming chat still gets all its text.

`HeldServer` is a tiny upstream on loopback that counts the requests it gets per path and holds
every answer until the test releases it, so "in flight" is a state the test controls.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Final

import trio

from sidecar import errors
from sidecar_testkit.fake_ollama import ScriptedOllama
from sidecar_testkit.harness import SidecarProcess

from .e2e import GUARD_S, chat_params, checked_sidecar
from ..support import read_request_head

# §6: a signal exits within about 1 s, a lost host within 2 s. A contract, not a hang guard.
DEADLINE_S: Final = 2.0
BURST: Final = 10_000
VERSION_BODY: Final = b'{"version":"0.33.0"}'
TAGS_BODY: Final = b'{"models":[]}'


class HeldServer:
    """Answers `/api/version` and `/api/tags` once `release()` is called; counts every request."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: Counter[str] = Counter()
        self.changed = trio.lowlevel.ParkingLot()
        self.released = trio.Event()

    async def wait_requests(self, path: str, count: int) -> None:
        while self.requests[path] < count:
            await self.changed.park()

    async def handle(self, stream: trio.SocketStream) -> None:
        try:
            while (head := await read_request_head(stream)) is not None:
                path = head.split(b" ", 2)[1].decode()
                self.requests[path] += 1
                self.changed.unpark_all()
                await self.released.wait()
                body = VERSION_BODY if path == "/api/version" else TAGS_BODY
                await stream.send_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
        except trio.BrokenResourceError:
            pass
        finally:
            await trio.aclose_forcefully(stream)


@asynccontextmanager
async def held_server() -> AsyncIterator[HeldServer]:
    server = HeldServer()
    async with trio.open_nursery() as nursery:
        [listener] = await nursery.start(partial(trio.serve_tcp, server.handle, 0, host="127.0.0.1"))
        server.url = f"http://127.0.0.1:{listener.socket.getsockname()[1]}"
        yield server
        nursery.cancel_scope.cancel()


def status_lines(first_id: int, count: int) -> bytes:
    return b"".join(
        b'{"jsonrpc":"2.0","id":%d,"method":"status"}\n' % i
        for i in range(first_id, first_id + count)
    )


def mixed_lines(count: int) -> bytes:
    """status, list_models and cancel_chat of nothing, by turns: `count` lines, ids from 1000."""
    methods = (b"status", b"list_models", b"cancel_chat")
    return b"".join(
        b'{"jsonrpc":"2.0","id":%d,"method":"%s","params":{"chat_id":"none"}}\n' % (1000 + i, methods[i % 3])
        for i in range(count)
    )


async def test_past_max_requests_a_request_is_answered_overloaded_at_once() -> None:
    with trio.fail_after(GUARD_S):
        async with held_server() as upstream, checked_sidecar(
            "--ollama-url", upstream.url, "--max-requests", "8"
        ) as sidecar:
            await sidecar.send_raw(status_lines(1, 20))
            # Answered while the 8 admitted ones are still waiting for the upstream.
            for request_id in range(9, 21):
                error = (await sidecar.response(request_id))["error"]
                assert error["code"] == -32005
                assert error["data"]["kind"] == "overloaded"
                assert "--max-requests 8" in error["message"] and error["data"]["hint"]
            await upstream.wait_requests("/api/version", 1)
            # Exempt from the bound: the host can always stop what it started.
            cancel = await sidecar.response(await sidecar.request("cancel_chat", id="stop"))
            assert cancel["result"] == {"cancelled": []}
            shutdown = await sidecar.request("shutdown", id="bye")
            assert (await sidecar.response(shutdown))["result"] == {}
            assert await sidecar.wait_exit() == 0
    assert upstream.requests == {"/api/version": 1}
    for request_id in range(1, 9):  # cut off by shutdown, never overloaded
        error = next(r for r in sidecar.responses() if r["id"] == request_id)["error"]
        assert error["code"] == -32603 and "exiting (shutdown)" in error["message"]


async def test_an_answered_request_frees_its_place_under_the_bound() -> None:
    with trio.fail_after(GUARD_S):
        async with held_server() as upstream, checked_sidecar(
            "--ollama-url", upstream.url, "--max-requests", "2"
        ) as sidecar:
            await sidecar.send_raw(status_lines(1, 3))
            assert (await sidecar.response(3))["error"]["data"]["kind"] == "overloaded"
            upstream.released.set()
            for request_id in (1, 2):
                assert (await sidecar.response(request_id))["result"]["ollama"]["reachable"]
            assert upstream.requests == {"/api/version": 1}
            answer = await sidecar.response(await sidecar.request("status", id="again"))
            assert answer["result"]["ollama"] == {"reachable": True, "version": "0.33.0", "error": None}


async def test_concurrent_status_probes_share_one_version_call() -> None:
    with trio.fail_after(GUARD_S):
        async with held_server() as upstream, checked_sidecar("--ollama-url", upstream.url) as sidecar:
            await sidecar.send_raw(status_lines(1, 50))
            await upstream.wait_requests("/api/version", 1)
            cancel = await sidecar.response(await sidecar.request("cancel_chat", id="stop"))  # every status line has been read
            assert cancel["result"] == {"cancelled": []}
            upstream.released.set()
            answers = [await sidecar.response(i) for i in range(1, 51)]
    assert upstream.requests == {"/api/version": 1}
    assert all(
        a["result"]["ollama"] == {"reachable": True, "version": "0.33.0", "error": None}
        for a in answers
    )


async def test_concurrent_list_models_share_one_tags_call() -> None:
    lines = b"".join(
        b'{"jsonrpc":"2.0","id":%d,"method":"list_models"}\n' % i for i in range(1, 31)
    )
    with trio.fail_after(GUARD_S):
        async with held_server() as upstream, checked_sidecar("--ollama-url", upstream.url) as sidecar:
            await sidecar.send_raw(lines)
            await upstream.wait_requests("/api/tags", 1)
            await sidecar.response(await sidecar.request("cancel_chat", id="stop"))  # every list_models line has been read
            upstream.released.set()
            answers = [await sidecar.response(i) for i in range(1, 31)]
    assert upstream.requests == {"/api/tags": 1}
    assert all(a["result"] == {"models": []} for a in answers)


async def test_a_burst_of_status_never_reports_a_healthy_server_unreachable(
    fake_ollama: ScriptedOllama,
) -> None:
    with trio.fail_after(GUARD_S):
        async with checked_sidecar("--ollama-url", fake_ollama.url) as sidecar:
            await sidecar.send_raw(status_lines(1, 2_000))
            answers = [await sidecar.response(i) for i in range(1, 2_001)]
    results = [a["result"] for a in answers if "result" in a]
    refused = [a["error"]["data"]["kind"] for a in answers if "error" in a]
    assert results, "no status was served"
    assert set(refused) <= {"overloaded"}
    assert all(r["ollama"]["reachable"] for r in results), [
        r["ollama"]["error"] for r in results if not r["ollama"]["reachable"]
    ][:3]


async def test_a_chat_streams_to_its_end_beside_a_burst(fake_ollama: ScriptedOllama) -> None:
    fake_ollama.pace = 0.002
    with trio.fail_after(GUARD_S):
        async with checked_sidecar("--ollama-url", fake_ollama.url) as sidecar:
            chat = await sidecar.request("chat", chat_params("long"))
            await sidecar.wait_for(lambda l: bool(sidecar.text(chat)))
            await sidecar.send_raw(mixed_lines(BURST))
            answer = await sidecar.response(chat)
            await sidecar.response(1000 + BURST - 1)
    assert answer["result"]["done_reason"] == "stop"
    assert answer["result"]["messages"][-1]["content"] == sidecar.text(chat)
    answered = {r["id"] for r in sidecar.responses()}
    assert set(range(1000, 1000 + BURST)) <= answered


# --- every way to stop still works under a burst --------------------------------------------


async def _burst_then(sidecar: SidecarProcess, stop: Callable[[], Awaitable[None]]) -> float:
    """Writes a burst of status lines without waiting for the sidecar to read them all; once
    it answers the first, calls `stop()`; returns the seconds from the stop until the exit."""
    async with trio.open_nursery() as nursery:

        async def write() -> None:
            with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await sidecar.send_raw(status_lines(1, BURST))

        nursery.start_soon(write)
        await sidecar.wait_for(lambda line: line.is_response)  # it is busy with the burst
        stopped_at = time.monotonic()
        await stop()
        await sidecar.process.wait()
        took = time.monotonic() - stopped_at
        nursery.cancel_scope.cancel()
    return took


async def test_sigterm_ends_the_sidecar_in_time_under_a_burst() -> None:
    async def stop() -> None:
        sidecar.send_signal(signal.SIGTERM)

    with trio.fail_after(GUARD_S):
        # Port 1 refuses connections: every probe fails at once.
        async with checked_sidecar("--ollama-url", "http://127.0.0.1:1") as sidecar:
            took = await _burst_then(sidecar, stop)
    assert sidecar.process.returncode == 0
    assert took <= DEADLINE_S, f"exited {took:.2f} s after SIGTERM"


async def test_closed_pipes_end_the_sidecar_in_time_under_a_burst() -> None:
    async def stop() -> None:
        assert sidecar.process.stdin is not None and sidecar.process.stdout is not None
        await trio.aclose_forcefully(sidecar.process.stdout)
        await trio.aclose_forcefully(sidecar.process.stdin)

    with trio.fail_after(GUARD_S):
        async with held_server() as upstream, checked_sidecar("--ollama-url", upstream.url) as sidecar:
            took = await _burst_then(sidecar, stop)
    assert sidecar.process.returncode == 0
    assert took <= DEADLINE_S, f"exited {took:.2f} s after its host closed both pipes"


async def test_a_lost_parent_ends_the_sidecar_in_time_under_a_burst() -> None:
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:

        async def stop() -> None:
            parent.kill()
            parent.wait()

        with trio.fail_after(GUARD_S):
            async with held_server() as upstream, checked_sidecar(
                "--ollama-url", upstream.url, "--parent-pid", str(parent.pid)
            ) as sidecar:
                took = await _burst_then(sidecar, stop)
    finally:
        parent.kill()
        parent.wait()
    assert sidecar.process.returncode == 0
    assert took <= DEADLINE_S, f"exited {took:.2f} s after its parent died"


async def test_shutdown_after_a_burst_is_read_and_served_in_time() -> None:
    burst = status_lines(1, BURST) + b'{"jsonrpc":"2.0","id":"bye","method":"shutdown"}\n'
    with trio.fail_after(GUARD_S):
        async with held_server() as upstream, checked_sidecar("--ollama-url", upstream.url) as sidecar:
            # The upstream never answers: the admitted statuses stay in flight to the end.
            await sidecar.send_raw(burst)
            written_at = time.monotonic()
            await sidecar.process.wait()
            took = time.monotonic() - written_at
            await sidecar.stdout_closed.wait()
    assert sidecar.process.returncode == 0
    assert next(r for r in sidecar.responses() if r["id"] == "bye")["result"] == {}
    assert len(sidecar.responses()) == BURST + 1  # every line answered, once
    assert took <= DEADLINE_S, f"exited {took:.2f} s after the burst and shutdown were written"


def test_overloaded_has_its_own_code() -> None:
    assert errors.OVERLOADED == -32005
    assert errors.KIND_BY_CODE[errors.OVERLOADED] == "overloaded"
    assert list(errors.KIND_BY_CODE.values()).count("overloaded") == 1
