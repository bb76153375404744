"""What `app.serve` wires up (the ready line's methods, the store, the MCP servers, the upstream
client it makes or is given and closes) and its stdin reader (`read_requests`: batches of 16
lines, read errors, big lines), in-process so that scripts/mutate's fast test set sees them.
The ways of stopping: test_app_lifecycle.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from sidecar.app import read_requests, serve
from sidecar.config import Config
from sidecar.store import open_store
from sidecar.tools.mcp.config import ServerConfig
from sidecar_testkit.fake_ollama import ScriptedOllama

from ..process.mcp import FAULT_PY
from ..support import GUARD_S, request_line, user
from .rig import CHAT, Rig, ndjson, open_rig, streaming, tool_calls
from .test_app_lifecycle import PROBE, held_list_models


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


def fault_server(folder: Path, name: str, disabled: bool = False) -> ServerConfig:
    """tests/mcp-servers/fault_server.py as a stdio server (its marks in `folder / name`)."""
    return ServerConfig(
        name=name, transport="stdio", command=sys.executable,
        args=(str(FAULT_PY), "serve", str(folder / name)), disabled=disabled,
        auto_approve=frozenset({"roots"}),
    )


async def test_an_mcp_server_starts_after_ready_and_is_offered_root_as_its_root(
    tmp_path: Path, root: Path
) -> None:
    reply = streaming(tool_calls(("c1", "on__roots", {})), ndjson("done"))
    with trio.fail_after(GUARD_S):
        async with open_rig(reply, root=str(root), mcp_servers=(fault_server(tmp_path, "on"),)) as rig:
            ready = await rig.read_until(
                lambda l: l.get("method") == "mcp:server_status" and l["params"]["status"] == "ready"
            )
            listed = (await rig.response(await rig.request("list_mcp_servers")))["result"]
            chat = await rig.request("chat", {**CHAT, "tools": ["on__roots"]})
            await rig.response(chat)
            await rig.request("shutdown")
            await rig.read_all()
    assert ready["params"]["server"] == "on" and "on__roots" in ready["params"]["tools"]
    assert {s["name"]: s["status"] for s in listed["servers"]} == {"on": "ready"}
    [result] = [l["params"] for l in rig.lines if l.get("method") == "chat:tool_result"]
    assert (result["is_error"], result["content"]) == (False, root.as_uri())


async def test_a_disabled_mcp_server_is_listed_and_never_started(tmp_path: Path) -> None:
    with trio.fail_after(GUARD_S):
        options = {"mcp_servers": (fault_server(tmp_path, "off", disabled=True),)}
        async with open_rig(held_list_models(), **options) as rig:
            listed = (await rig.response(await rig.request("list_mcp_servers")))["result"]
            await rig.request("shutdown")
            lines = await rig.read_all()
    assert listed["servers"] == [
        {"name": "off", "transport": "stdio", "status": "stopped", "tools": [], "error": None}
    ]
    assert not [l for l in lines if l.get("method") == "mcp:server_status"]
    assert not (tmp_path / "off").exists()  # its marks folder: the process never ran


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
