"""The stream pump (sidecar/pump.py) on real sockets: a socket pair stands for the connection to
the model server, the test writes the server's HTTP chunks into one end, and the pump's thread
reads the other. What a host would notice: every token once and in order, the same notes and
outcome as the loop's own read path, nothing written for a chat after it is cancelled, a tool
call registered before the client can answer it, the idle timeout, the output bound, and no
thread left behind."""

from __future__ import annotations

import select
import socket
import threading
import time
from types import SimpleNamespace
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from sidecar.chat import ChatContext, ChatSession, stream_chat
from sidecar.methods import METHODS
from sidecar.tool_plan import plan_tools
from sidecar.tools import Workspace

from .rig import CHAT, ScriptStream, ndjson, open_rig, streaming
from sidecar.errors import RpcError
from sidecar.framing import encode_lines
from sidecar.protocol import Notification
from sidecar.providers.body import ChatBody
from sidecar.providers.http1 import ChunkedBody
from sidecar.providers.ollama.errors import OLLAMA
from sidecar.providers.ollama.turn import OllamaTurn
from sidecar import app as app_module
from sidecar import pump as pump_module
from sidecar.pump import Pump


@pytest.fixture(autouse=True, params=["epoll", "poll"])
def poller(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test with each way to wait: epoll (Linux), and poll() as on macOS, whose poll
    object sees an fd registered meanwhile only on its next call."""
    if request.param == "poll":
        monkeypatch.setattr(pump_module, "_EPOLL", False)
        monkeypatch.setattr(pump_module, "_poller", select.poll)
    return str(request.param)


def chunk(obj: dict[str, Any]) -> bytes:
    line = msgspec.json.encode(obj) + b"\n"
    return b"%x\r\n%s\r\n" % (len(line), line)


def token(text: str) -> bytes:
    return chunk({"message": {"role": "assistant", "content": text}, "done": False})


DONE = chunk({"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"})
END = b"0\r\n\r\n"
TOOL = chunk({
    "message": {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "function": {"name": "read_file", "arguments": {"path": "a"}}}
    ]},
    "done": False,
})


class Room:
    """Stdout's room as the pump sees it: open unless a test closes it."""

    def __init__(self) -> None:
        self.full = False
        self._cond = threading.Condition()

    def wait_room(self, stop: threading.Event) -> None:
        with self._cond:
            while self.full and not stop.is_set():
                self._cond.wait()

    def gather(self) -> None:
        pass

    def release_gathered(self) -> None:
        pass

    def release_room_waiters(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def has_room(self) -> bool:
        return not self.full

    def open(self) -> None:
        with self._cond:
            self.full = False
            self._cond.notify_all()


class Host:
    """What the host received: the encoded lines, in order, from whichever thread wrote them."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.lock = threading.Lock()
        self.threads: set[str] = set()

    def emit(self, notes: list[Notification]) -> None:
        with self.lock:
            self.lines += encode_lines(notes).splitlines()
            self.threads.add(threading.current_thread().name)

    def tokens(self) -> str:
        with self.lock:
            notes = [msgspec.json.decode(line) for line in self.lines]
        return "".join(n["params"]["content"] for n in notes if n["method"] == "chat:token")

    def methods(self) -> list[str]:
        with self.lock:
            return [msgspec.json.decode(line)["method"] for line in self.lines]


class Upstream:
    """The model server's end of the connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, *pieces: bytes) -> None:
        for piece in pieces:
            self.sock.sendall(piece)


@asynccontextmanager
async def connection(idle_timeout_s: float = 30.0) -> AsyncIterator[tuple[ChatBody, Upstream]]:
    """A chat body on one end of a socket pair, the model server's end beside it."""
    mine, theirs = socket.socketpair()
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(mine))
    body = ChatBody(stream, ChunkedBody(), b"", idle_timeout_s, OLLAMA, watch=True)
    try:
        yield body, Upstream(theirs)
    finally:
        body.detach()
        theirs.close()
        await stream.aclose()


@asynccontextmanager
async def pumped(
    room: Room | None = None, idle_timeout_s: float = 30.0
) -> AsyncIterator[tuple[Pump, ChatBody, Upstream]]:
    pump = Pump(room or Room())
    async with connection(idle_timeout_s) as (body, upstream):
        async with trio.open_nursery() as nursery:
            await nursery.start(pump.run)
            yield pump, body, upstream
            nursery.cancel_scope.cancel()


def until(check: Callable[[], bool], what: str) -> None:
    """Waits for `check` without a checkpoint: no task of this trio run can run meanwhile,
    only the pump's thread."""
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


async def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    with trio.move_on_after(timeout):
        while not check():
            await trio.sleep(0.005)
        return
    raise AssertionError(f"timed out waiting for {what}")


async def test_tokens_are_written_by_the_pump_thread_once_and_in_order() -> None:
    host = Host()
    async with pumped() as (pump, body, upstream):
        turn = OllamaTurn(1, 0.0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump.stream, body, turn, host.emit, None)
            for k in range(50):
                upstream.send(token(f"t{k} "))
                await eventually(lambda k=k: host.tokens().endswith(f"t{k} "), f"token {k}")
            upstream.send(DONE, END)
    assert host.tokens() == "".join(f"t{k} " for k in range(50))
    assert turn.finished and turn.assistant_message().content == host.tokens()
    assert "sidecar stream pump" in host.threads


async def test_the_pump_and_the_loop_give_the_same_notes_and_outcome() -> None:
    replies = {
        "a tool call": ([token("Hel"), token("lo, "), TOOL, token("wor"), DONE, END], False),
        "an error line": ([token("so "), chunk({"error": "out of memory"}), END], False),
        "a malformed line": ([token("so "), b"9\r\n{\"message\r\n", END], False),
        "no final chunk": ([token("cut "), END], False),
        "the connection closed": ([token("cut ")], True),
        "framing broken after text": ([token("kept "), b"zz\r\n"], False),
    }

    async def run(pumping: bool, pieces: list[bytes], close: bool) -> tuple[Any, ...]:
        host = Host()
        raised = None
        async with pumped() as (pump, body, upstream):
            turn = OllamaTurn(1, 0.0)
            upstream.send(*pieces)
            if close:
                upstream.sock.shutdown(socket.SHUT_WR)
            try:
                if pumping:
                    with trio.fail_after(10):
                        await pump.stream(body, turn, host.emit, None)
                else:
                    while not turn.ended:
                        data = await body.read()
                        notes = turn.feed(data, 0.0) if data else turn.eof(0.0)
                        if notes:
                            host.emit(notes)
            except RpcError as exc:
                raised = (exc.kind, exc.message)
        failure = None if turn.failure is None else (turn.failure.kind, turn.failure.message)
        return host.lines, raised, failure, turn.assistant_message().content

    for name, (pieces, close) in replies.items():
        pumped_outcome = await run(True, pieces, close)
        assert pumped_outcome == await run(False, pieces, close), name
        assert pumped_outcome[1] or pumped_outcome[2] or name == "a tool call", name


async def test_a_cancelled_chat_gets_nothing_more_and_keeps_exactly_what_the_host_received() -> None:
    host, other_host = Host(), Host()
    async with pumped() as (pump, body, upstream), connection() as (other_body, other_upstream):
        turn, other = OllamaTurn(1, 0.0), OllamaTurn(2, 0.0)
        async with trio.open_nursery() as others:
            others.start_soon(pump.stream, other_body, other, other_host.emit, None)
            with trio.CancelScope() as scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(pump.stream, body, turn, host.emit, None)
                    for k in range(20):
                        upstream.send(token(f"a{k} "))
                    await eventually(lambda: "a19" in host.tokens(), "the first tokens")
                    scope.cancel()
            received = host.tokens()
            upstream.send(*(token(f"late{k} ") for k in range(20)))
            other_upstream.send(token("after"))  # once it is written, the thread made a pass
            until(lambda: other_host.tokens() == "after", "the other chat's token")
            assert host.tokens() == received
            assert turn.assistant_message().content == received
            other_upstream.send(DONE, END)


async def test_a_tool_call_is_registered_on_the_loop_right_after_its_line_and_before_later_tokens() -> None:
    host = Host()
    seen_at_batch: list[list[str]] = []

    def on_batch() -> None:
        seen_at_batch.append(host.methods())
        assert threading.current_thread() is threading.main_thread()

    async with pumped() as (pump, body, upstream):
        turn = OllamaTurn(1, 0.0)
        upstream.send(token("a"))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump.stream, body, turn, host.emit, on_batch)
            await eventually(lambda: host.tokens() == "a", "the first token")
            upstream.send(TOOL)
            await eventually(lambda: bool(seen_at_batch), "the tool call's batch")
            upstream.send(token("b"), DONE, END)
    assert seen_at_batch[0] == ["chat:token", "chat:tool_call"]
    assert host.methods() == ["chat:token", "chat:tool_call", "chat:token"]
    assert [call.function.name for call in turn.tool_calls] == ["read_file"]


async def test_no_data_within_the_idle_timeout_ends_the_chat_with_its_text() -> None:
    host = Host()
    async with pumped(idle_timeout_s=0.3) as (pump, body, upstream):
        turn = OllamaTurn(1, 0.0)
        upstream.send(token("so far"))
        with pytest.raises(RpcError) as failed, trio.fail_after(10):
            await pump.stream(body, turn, host.emit, None)
    assert failed.value.kind == "stream_interrupted" and "--idle-timeout" in failed.value.message
    assert host.tokens() == turn.assistant_message().content == "so far"


async def test_a_dropped_connection_and_broken_framing_end_the_chat_after_the_good_text() -> None:
    for tail, words in ((b"", "dropped"), (b"zz\r\n", "broken HTTP framing")):
        host = Host()
        async with pumped() as (pump, body, upstream):
            turn = OllamaTurn(1, 0.0)
            upstream.send(token("kept") + tail)
            if not tail:
                upstream.sock.close()
            with pytest.raises(RpcError) as failed:
                await pump.stream(body, turn, host.emit, None)
        assert failed.value.kind == "stream_interrupted" and words in failed.value.message
        assert host.tokens() == turn.assistant_message().content == "kept"


class FillingHost(Host):
    """A host whose stdout the pump's first write fills."""

    def __init__(self, room: Room) -> None:
        super().__init__()
        self.room = room

    def emit(self, notes: list[Notification]) -> None:
        super().emit(notes)
        if not self.lines[1:]:
            self.room.full = True


@pytest.mark.parametrize("filled_by", ["the host", "the pump's own write"])
async def test_while_stdout_has_no_room_the_pump_reads_nothing_and_that_is_not_idleness(
    filled_by: str,
) -> None:
    """Stdout filled by the host (data then waits unread) or by the pump's own write (the wait
    starts at once, not when data next comes, while the server is silent): either way the
    thread reads nothing meanwhile and the wait is not counted against the server."""
    room = Room()
    host = Host() if filled_by == "the host" else FillingHost(room)
    async with pumped(room, idle_timeout_s=0.3) as (pump, body, upstream):
        turn = OllamaTurn(1, 0.0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump.stream, body, turn, host.emit, None)
            upstream.send(token("one "))
            await eventually(lambda: host.tokens() == "one ", "the first token")
            if filled_by == "the host":
                room.full = True
                upstream.send(token("two "))
            until(lambda: pump._waiting_room, "the thread to wait for room")
            assert host.tokens() == turn.assistant_message().content == "one "
            await trio.sleep(1.0)  # three idle timeouts, the loop running
            assert not turn.ended and host.tokens() == "one "
            room.open()
            if filled_by != "the host":
                upstream.send(token("two "))
            await eventually(lambda: host.tokens() == "one two ", "the token held back")
            upstream.send(DONE, END)
    assert turn.finished


async def test_a_recalled_turn_stays_as_written_until_its_task_runs_again() -> None:
    host, other_host = Host(), Host()
    async with pumped() as (pump, body, upstream), connection() as (other_body, other_upstream):
        turn = OllamaTurn(1, 0.0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump.stream, body, turn, host.emit, None)
            nursery.start_soon(pump.stream, other_body, OllamaTurn(2, 0.0), other_host.emit, None)
            upstream.send(token("before "))
            await eventually(lambda: host.tokens() == "before ", "the first token")
            await eventually(lambda: len(pump._flows) == 2, "both flows registered")
            pump.recall(turn)
            upstream.send(token("after "))
            other_upstream.send(token("x"))  # once it is written, the thread made a pass
            until(lambda: other_host.tokens() == "x", "the other chat's token")
            assert turn.assistant_message().content == host.tokens() == "before "
            await eventually(lambda: host.tokens() == "before after ", "the token after")
            upstream.send(DONE, END)
            other_upstream.send(DONE, END)


async def test_a_bug_in_one_chat_ends_it_with_internal_error_and_the_others_stream_on() -> None:
    host, other_host = Host(), Host()
    async with pumped() as (pump, body, upstream), connection() as (other_body, other_upstream):
        broken = OllamaTurn(1, 0.0)

        def feed(data: bytes, now: float) -> list[Notification]:
            raise ValueError("a bug")

        broken.feed = feed  # type: ignore[method-assign]
        fine = OllamaTurn(2, 0.0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump.stream, other_body, fine, other_host.emit, None)
            upstream.send(token("boom"))
            with pytest.raises(RpcError) as failed:
                await pump.stream(body, broken, host.emit, None)
            other_upstream.send(token("still here"), DONE, END)
    assert failed.value.kind == "internal_error"
    assert other_host.tokens() == "still here" and fine.finished


async def test_the_thread_is_joined_when_its_owner_ends() -> None:
    async with pumped() as (pump, body, upstream):
        upstream.send(token("x"), DONE, END)
        await pump.stream(body, OllamaTurn(1, 0.0), Host().emit, None)
        assert any(t.name == "sidecar stream pump" for t in threading.enumerate())
    assert not any(t.name == "sidecar stream pump" for t in threading.enumerate())


async def test_stream_chat_hands_a_plain_socket_body_to_the_pump() -> None:
    host = Host()
    batches: list[list[str]] = []

    class Client:
        def __init__(self, body: ChatBody) -> None:
            self.body = body

        @asynccontextmanager
        async def chat_stream(self, request: object) -> AsyncIterator[ChatBody]:
            yield self.body

    async def writable() -> None:
        pass

    async with pumped() as (pump, body, upstream):
        turn = OllamaTurn(1, 0.0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                stream_chat, Client(body), None, turn, host.emit, writable,
                lambda: batches.append(host.methods()), pump,
            )
            upstream.send(token("via the pump"))
            await eventually(lambda: host.tokens() == "via the pump", "the token")
            upstream.send(TOOL, DONE, END)
    assert turn.finished and "sidecar stream pump" in host.threads
    assert batches == [["chat:token", "chat:tool_call"]]  # on_batch after the call's line


async def test_a_chat_session_streams_through_the_pump_it_is_given(tmp_path: Path) -> None:
    host = Host()
    async with pumped() as (pump, body, upstream):

        class Client:
            @asynccontextmanager
            async def chat_stream(self, request: object) -> AsyncIterator[ChatBody]:
                yield body

            def new_turn(self, chat_id: Any, started_at: float) -> OllamaTurn:
                return OllamaTurn(chat_id, started_at)

            async def context_length(self, model: str) -> int | None:
                return None

        params = METHODS["chat"].decoder.decode(b'{"messages":[{"role":"user","content":"hi"}]}')
        workspace = Workspace(tmp_path, allow_shell=False, shell_timeout_s=5.0)
        context = ChatContext(
            client=Client(),  # type: ignore[arg-type]
            workspace=workspace,
            max_tool_rounds=1,
            emit=host.emit,
            wait_writable=trio.lowlevel.checkpoint,
            pump=pump,
        )
        tools = plan_tools(params, workspace, False)
        session = ChatSession(1, params, "m", tools, context, trio.current_time())
        results = []

        async def run() -> None:
            results.append(await session.run())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            upstream.send(token("through the pump"))
            await eventually(lambda: host.tokens() == "through the pump", "the token")
            upstream.send(DONE, END)
    assert host.threads == {"sidecar stream pump"}
    assert results[0].messages[0].content == "through the pump"


async def test_a_reply_read_but_not_yet_written_is_written_by_recall_and_only_once() -> None:
    host = Host()
    async with pumped() as (pump, body, upstream):
        turn = OllamaTurn(1, 0.0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump.stream, body, turn, host.emit, None)
            await eventually(lambda: bool(pump._flows), "the flow registered")
            upstream.send(token("last") + DONE + END)  # the thread ends the turn, hands it back
            until(lambda: turn.ended, "the thread to end the turn")  # its task cannot run yet
            assert turn.assistant_message().content == "last"
            pump.recall(turn)  # what get_thread does before it reads the turn
            assert host.tokens() == "last"
    assert host.tokens() == "last"


async def test_on_windows_the_sidecar_streams_without_a_pump(monkeypatch: pytest.MonkeyPatch) -> None:
    # A socket is no fd there: chats keep the loop's own reads, and no thread is started.
    monkeypatch.setattr(app_module, "sys", SimpleNamespace(platform="win32"))
    async with open_rig(streaming(ScriptStream(ndjson("on", " the loop"))), sockets=True) as rig:
        chat = await rig.request("chat", CHAT)
        response = await rig.response(chat)
        assert not any(t.name == "sidecar stream pump" for t in threading.enumerate())
    assert response["result"]["messages"] == [{"role": "assistant", "content": "on the loop"}]
