"""`ChatSession`'s tool rounds, driven directly: a scripted provider, notifications collected
from `emit`, a real `Workspace` on a temporary folder. No process, no sockets, no stdout.

Each provider reply is Ollama NDJSON read by the real `OllamaTurn`; a body may stop at a
`trio.Event` to hold the chat mid-stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from sidecar import errors
from sidecar.chat import ChatContext, ChatSession, ToolPlan, plan_tools
from sidecar.methods import METHODS
from sidecar.protocol import ApproveToolParams, ChatParams, Notification, ToolResultParams
from sidecar.providers import ChatRequest
from sidecar.providers.ollama.turn import OllamaTurn
from sidecar.tools import Workspace
from sidecar.tools.mcp.config import ServerConfig
from sidecar.tools.mcp.hub import McpHub

Piece = bytes | trio.Event


def text_reply(text: str) -> list[Piece]:
    return [
        msgspec.json.encode({"message": {"role": "assistant", "content": text}, "done": False}) + b"\n",
        b'{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}\n',
    ]


def calls_reply(*calls: tuple[str, str, dict[str, Any]]) -> list[Piece]:
    """A reply whose final chunk carries tool calls (id, name, arguments)."""
    tool_calls = [{"id": i, "function": {"name": n, "arguments": a}} for i, n, a in calls]
    return [
        msgspec.json.encode(
            {"message": {"role": "assistant", "content": "", "tool_calls": tool_calls},
             "done": True, "done_reason": "stop"}
        ) + b"\n"
    ]


class ScriptedBody:
    def __init__(self, pieces: list[Piece]) -> None:
        self._pieces = list(pieces)

    async def read(self) -> bytes:
        while self._pieces:
            piece = self._pieces.pop(0)
            if isinstance(piece, trio.Event):
                await piece.wait()
                continue
            return piece
        return b""


class ScriptedProvider:
    """A `Provider` that answers each round with the next scripted reply and keeps the
    requests; `closed` counts the streams left (the cancel)."""

    url = "http://scripted.test"
    provider = "ollama"

    def __init__(self, *replies: list[Piece]) -> None:
        self.replies = list(replies)
        self.requests: list[ChatRequest] = []
        self.closed = 0

    @asynccontextmanager
    async def chat_stream(self, request: ChatRequest) -> AsyncIterator[ScriptedBody]:
        self.requests.append(request)
        try:
            yield ScriptedBody(self.replies.pop(0))
        finally:
            self.closed += 1

    def new_turn(self, chat_id: Any, started_at: float) -> OllamaTurn:
        return OllamaTurn(chat_id, started_at)

    async def list_models(self) -> list[Any]:
        return []

    async def probe(self) -> str | None:
        return None

    async def context_length(self, model: str) -> int | None:
        return None

    def redact(self, text: str) -> str:
        return text

    async def aclose(self) -> None:
        pass


class Chat:
    """One session over a `ScriptedProvider`, with what it emitted."""

    def __init__(self, root: Path, provider: ScriptedProvider, params: dict[str, Any], **options: Any) -> None:
        self.notes: list[Notification] = []
        self.emitted = trio.lowlevel.ParkingLot()
        self.workspace = Workspace(root, allow_shell=False, shell_timeout_s=5.0)
        self.params = METHODS["chat"].decoder.decode(msgspec.json.encode(params))
        self.context = ChatContext(
            client=provider,
            workspace=self.workspace,
            max_tool_rounds=options.get("max_tool_rounds", 10),
            emit=self._emit,
            wait_writable=trio.lowlevel.checkpoint,
        )
        tools = plan_tools(self.params, self.workspace, options.get("auto_approve", False))
        self.session = ChatSession(7, self.params, "m", tools, self.context, trio.current_time())

    def _emit(self, notes: list[Notification]) -> None:
        self.notes += notes
        self.emitted.unpark_all()

    async def wait_for(self, method: str) -> Notification:
        while True:
            for note in self.notes:
                if note.method == method:
                    return note
            await self.emitted.park()

    def methods(self) -> list[str]:
        return [note.method for note in self.notes]


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "notes.txt").write_text("remember the milk\n")
    return tmp_path


# --- plan_tools -----------------------------------------------------------------------------------


def decode_chat(params: dict[str, Any]) -> ChatParams:
    return METHODS["chat"].decoder.decode(msgspec.json.encode(params))


def test_plan_tools_without_tools_offers_nothing(root: Path) -> None:
    plan = plan_tools(decode_chat(user("hi")), Workspace(root), auto_approve=False)
    assert plan == ToolPlan() and not plan.enabled


def test_plan_tools_true_offers_every_built_in_but_the_shell_without_allow_shell(root: Path) -> None:
    plan = plan_tools(decode_chat({**user("hi"), "tools": True}), Workspace(root), auto_approve=False)
    assert plan.builtins == ("read_file", "list_directory", "search_files", "write_file")
    assert plan.client == {} and plan.auto_approve is False


def test_plan_tools_takes_names_once_and_client_definitions_by_name(root: Path) -> None:
    weather = {"function": {"name": "weather", "parameters": {"type": "object"}}}
    params = decode_chat({**user("hi"), "tools": ["read_file", weather, "read_file"], "approval": "auto"})
    plan = plan_tools(params, Workspace(root), auto_approve=False)
    assert plan.builtins == ("read_file",)
    assert plan.client == {"weather": {"type": "function", **weather}}
    assert plan.auto_approve is True


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        (["exec_shell"], "Invalid params: unknown built-in tool 'exec_shell' - at `$.tools[0]` "
                         "(start the sidecar with --allow-shell to offer it)"),
        (["rm_rf"], "Invalid params: unknown built-in tool 'rm_rf' - at `$.tools[0]` (built-in "
                    "tools: read_file, list_directory, search_files, write_file)"),
        (["fs__read_file"], "Invalid params: unknown tool 'fs__read_file' - at `$.tools[0]`: not a "
                            "built-in (built-in tools: read_file, list_directory, search_files, "
                            "write_file) and no enabled MCP server's SERVER__TOOL (enabled servers: "
                            "none; start the sidecar with --mcp-config FILE)"),
        (["mcp:fs"], "Invalid params: MCP server 'fs' is not in --mcp-config - at `$.tools[0]` "
                     "(enabled servers: none; start the sidecar with --mcp-config FILE)"),
        ([{"function": {}}], "Invalid params: a client tool needs function.name - at `$.tools[0]`"),
        ([{"function": {"name": "read_file"}}],
         "Invalid params: tool name 'read_file' is used twice - at `$.tools[0]`"),
    ],
    ids=["shell-not-allowed", "unknown-built-in", "mcp-tool-without-mcp", "mcp-server-without-mcp",
         "nameless-client-tool", "name-used-twice"],
)
def test_plan_tools_refuses_what_it_cannot_offer_naming_the_place(
    root: Path, tools: list[Any], message: str
) -> None:
    with pytest.raises(errors.RpcError) as refused:
        plan_tools(decode_chat({**user("hi"), "tools": tools}), Workspace(root), auto_approve=False)
    assert (refused.value.code, refused.value.message) == (errors.INVALID_PARAMS, message)


# --- rounds ----------------------------------------------------------------------------------------


async def test_a_reply_without_tool_calls_is_one_round_with_the_chat_params(root: Path) -> None:
    provider = ScriptedProvider(text_reply("Hello!"))
    chat = Chat(root, provider, {**user("hi"), "options": {"temperature": 0}, "keep_alive": "5m"})
    result = await chat.session.run()
    assert result.done_reason == "stop"
    assert [m.content for m in result.messages] == ["Hello!"]
    assert chat.methods() == ["chat:token"]
    (request,) = provider.requests
    assert msgspec.to_builtins(request) == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "options": {"temperature": 0},
        "keep_alive": "5m",
    }


async def test_a_built_in_call_runs_and_the_model_is_asked_again_with_its_result(root: Path) -> None:
    provider = ScriptedProvider(
        calls_reply(("c1", "read_file", {"path": "notes.txt"})), text_reply("You must buy milk.")
    )
    chat = Chat(root, provider, {**user("what do I need?"), "tools": ["read_file"]})
    result = await chat.session.run()
    assert chat.methods() == ["chat:tool_call", "chat:tool_result", "chat:token"]
    assert msgspec.to_builtins(chat.notes[1].params) == {
        "chat_id": 7, "call_id": "c1", "name": "read_file",
        "content": "remember the milk\n", "is_error": False,
    }
    first, second = provider.requests
    assert [spec["function"]["name"] for spec in first.tools] == ["read_file"]
    assert second.tools == first.tools
    assert [(m.role, m.content) for m in second.messages] == [
        ("user", "what do I need?"), ("assistant", ""), ("tool", "remember the milk\n"),
    ]
    assert second.messages[2].tool_call_id == "c1" and second.messages[2].tool_name == "read_file"
    assert [m.role for m in result.messages] == ["assistant", "tool", "assistant"]
    assert result.done_reason == "stop"


async def test_a_call_of_a_tool_that_was_not_offered_answers_the_model_with_an_error(root: Path) -> None:
    provider = ScriptedProvider(calls_reply(("c1", "write_file", {"path": "x", "content": "y"})),
                                text_reply("Sorry."))
    chat = Chat(root, provider, {**user("hi"), "tools": ["read_file"]})
    await chat.session.run()
    note = chat.notes[1].params
    assert (note.is_error, note.content) == (
        True, "unknown tool 'write_file': it was not offered (offered: read_file)"
    )
    assert not (root / "x").exists()


async def test_the_round_limit_ends_the_chat_with_tool_limit_after_one_more_reply(root: Path) -> None:
    call = calls_reply(("c1", "list_directory", {}))
    provider = ScriptedProvider(call, calls_reply(("c2", "list_directory", {})))
    chat = Chat(root, provider, {**user("hi"), "tools": True}, max_tool_rounds=1)
    result = await chat.session.run()
    assert result.done_reason == "tool_limit"
    assert len(provider.requests) == 2
    # The second reply's call is reported but never run.
    assert chat.methods() == ["chat:tool_call", "chat:tool_result", "chat:tool_call"]


async def test_a_forcing_tool_choice_applies_to_the_first_round_only(root: Path) -> None:
    provider = ScriptedProvider(calls_reply(("c1", "list_directory", {})), text_reply("done"))
    chat = Chat(root, provider, {**user("hi"), "tools": True, "tool_choice": "required"})
    await chat.session.run()
    assert [r.tool_choice for r in provider.requests] == ["required", msgspec.UNSET]


# --- approval --------------------------------------------------------------------------------------


async def test_an_approved_write_runs_after_the_approval_request(root: Path) -> None:
    provider = ScriptedProvider(
        calls_reply(("w1", "write_file", {"path": "todo.txt", "content": "milk"})), text_reply("ok")
    )
    chat = Chat(root, provider, {**user("hi"), "tools": ["write_file"]})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(chat.session.run)
        request = await chat.wait_for("chat:approval_request")
        assert (request.params.call_id, request.params.name) == ("w1", "write_file")
        assert not (root / "todo.txt").exists()
        chat.session.answer("approve_tool", "w1", ApproveToolParams(7, "w1", True))
    assert (root / "todo.txt").read_text() == "milk"
    assert chat.methods() == ["chat:tool_call", "chat:approval_request", "chat:tool_result", "chat:token"]


async def test_a_declined_write_tells_the_model_why_and_changes_nothing(root: Path) -> None:
    provider = ScriptedProvider(
        calls_reply(("w1", "write_file", {"path": "todo.txt", "content": "milk"})), text_reply("ok")
    )
    chat = Chat(root, provider, {**user("hi"), "tools": ["write_file"]})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(chat.session.run)
        await chat.wait_for("chat:approval_request")
        chat.session.answer("approve_tool", "w1", ApproveToolParams(7, "w1", False, "not now"))
    note = chat.notes[2].params
    assert (note.is_error, note.content) == (True, "The user declined to run write_file: not now")
    assert not (root / "todo.txt").exists()


async def test_auto_approve_writes_without_asking(root: Path) -> None:
    provider = ScriptedProvider(
        calls_reply(("w1", "write_file", {"path": "todo.txt", "content": "milk"})), text_reply("ok")
    )
    chat = Chat(root, provider, {**user("hi"), "tools": ["write_file"]}, auto_approve=True)
    await chat.session.run()
    assert "chat:approval_request" not in chat.methods()
    assert (root / "todo.txt").read_text() == "milk"


async def test_an_answer_nothing_waits_for_is_refused_by_kind_and_call(root: Path) -> None:
    provider = ScriptedProvider(
        calls_reply(("w1", "write_file", {"path": "todo.txt", "content": "milk"})), text_reply("ok")
    )
    chat = Chat(root, provider, {**user("hi"), "tools": ["write_file"]})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(chat.session.run)
        await chat.wait_for("chat:approval_request")
        with pytest.raises(errors.RpcError) as wrong_kind:
            chat.session.answer("tool_result", "w1", ToolResultParams(7, "w1", "x"))
        assert wrong_kind.value.message == (
            "Invalid params: chat 7 is not waiting for a client tool result for call 'w1'"
        )
        with pytest.raises(errors.RpcError) as wrong_call:
            chat.session.answer("approve_tool", "w2", ApproveToolParams(7, "w2", True))
        assert wrong_call.value.message == (
            "Invalid params: chat 7 is not waiting for an approval for call 'w2'"
        )
        chat.session.answer("approve_tool", "w1", ApproveToolParams(7, "w1", True))


# --- client tools ----------------------------------------------------------------------------------

WEATHER = {"function": {"name": "weather", "parameters": {"type": "object"}}}


async def test_a_client_tool_waits_for_its_result_and_the_model_gets_it(root: Path) -> None:
    provider = ScriptedProvider(calls_reply(("k1", "weather", {"city": "Oslo"})), text_reply("Cold."))
    chat = Chat(root, provider, {**user("weather?"), "tools": [WEATHER]})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(chat.session.run)
        call = await chat.wait_for("chat:tool_call")
        assert msgspec.to_builtins(call.params) == {
            "chat_id": 7, "call_id": "k1", "name": "weather", "arguments": {"city": "Oslo"},
        }
        chat.session.answer("tool_result", "k1", ToolResultParams(7, "k1", "-3 C", is_error=False))
    assert msgspec.to_builtins(chat.notes[1].params)["content"] == "-3 C"
    assert provider.requests[1].messages[-1].content == "-3 C"
    assert provider.requests[0].tools == [{"type": "function", **WEATHER}]


async def test_a_client_tool_may_be_answered_before_the_reply_has_ended(root: Path) -> None:
    hold = trio.Event()
    # The call arrives on a chunk of its own; the reply's end waits for `hold`.
    first = [
        b'{"message":{"role":"assistant","content":"","tool_calls":[{"id":"k1","function":'
        b'{"name":"weather","arguments":{}}}]},"done":false}\n',
        hold,
        b'{"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop"}\n',
    ]
    provider = ScriptedProvider(first, text_reply("Cold."))
    chat = Chat(root, provider, {**user("weather?"), "tools": [WEATHER]})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(chat.session.run)
        await chat.wait_for("chat:tool_call")
        chat.session.answer("tool_result", "k1", ToolResultParams(7, "k1", "early"))
        hold.set()
    assert provider.requests[1].messages[-1].content == "early"


# --- cancellation in each state ----------------------------------------------------------------------


async def run_until_cancelled(chat: Chat, state: str) -> None:
    """Runs the chat inside a cancel scope, cancels it once `state` is emitted, and returns once
    the session has unwound."""
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(chat.session.run)
            await chat.wait_for(state)
            scope.cancel()
    assert scope.cancelled_caught


async def test_cancel_mid_stream_keeps_the_partial_reply_and_closes_the_stream(root: Path) -> None:
    hold = trio.Event()
    provider = ScriptedProvider([text_reply("Half a ")[0], hold])
    chat = Chat(root, provider, user("hi"))
    await run_until_cancelled(chat, "chat:token")
    assert provider.closed == 1
    result = chat.session.result("cancelled", cancelled=True)
    assert result.done_reason == "cancelled"
    assert [(m.role, m.content) for m in result.messages] == [("assistant", "Half a ")]


async def test_cancel_while_waiting_for_approval_runs_nothing_and_forgets_the_wait(root: Path) -> None:
    provider = ScriptedProvider(calls_reply(("w1", "write_file", {"path": "a", "content": "b"})))
    chat = Chat(root, provider, {**user("hi"), "tools": ["write_file"]})
    await run_until_cancelled(chat, "chat:approval_request")
    assert chat.session.pending == {}
    assert not (root / "a").exists()
    result = chat.session.result("cancelled", cancelled=True)
    assert result.done_reason == "cancelled"
    assert [m.role for m in result.messages] == ["assistant"]
    assert result.messages[0].tool_calls[0].id == "w1"
    with pytest.raises(errors.RpcError):
        chat.session.answer("approve_tool", "w1", ApproveToolParams(7, "w1", True))


async def test_cancel_while_waiting_for_a_client_tool_forgets_the_wait(root: Path) -> None:
    provider = ScriptedProvider(calls_reply(("k1", "weather", {})))
    chat = Chat(root, provider, {**user("hi"), "tools": [WEATHER]})
    await run_until_cancelled(chat, "chat:tool_call")
    assert chat.session.pending == {}
    result = chat.session.result("cancelled", cancelled=True)
    assert [m.role for m in result.messages] == ["assistant"]
    assert len(provider.requests) == 1


async def test_cancel_in_the_second_round_keeps_every_message_so_far(root: Path) -> None:
    hold = trio.Event()
    provider = ScriptedProvider(
        calls_reply(("c1", "read_file", {"path": "notes.txt"})), [text_reply("You need ")[0], hold]
    )
    chat = Chat(root, provider, {**user("hi"), "tools": ["read_file"]})
    await run_until_cancelled(chat, "chat:token")
    result = chat.session.result("cancelled", cancelled=True)
    assert [(m.role, m.content) for m in result.messages] == [
        ("assistant", ""), ("tool", "remember the milk\n"), ("assistant", "You need "),
    ]
    assert provider.closed == 2


async def test_cancel_while_the_host_is_not_reading_writes_nothing_more(root: Path) -> None:
    provider = ScriptedProvider(text_reply("never shown"))
    chat = Chat(root, provider, user("hi"))
    blocked = trio.Event()

    async def host_not_reading() -> None:
        blocked.set()
        await trio.sleep_forever()

    chat.context.wait_writable = host_not_reading
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(chat.session.run)
            await blocked.wait()
            scope.cancel()
    assert chat.notes == []
    result = chat.session.result("cancelled", cancelled=True)
    assert [(m.role, m.content) for m in result.messages] == [("assistant", "")]


def mcp_hub(root: Path) -> McpHub:
    """A hub of two enabled servers and a disabled one, never started: what `plan_tools` reads
    (which servers the config enables, and their `SERVER__` prefixes)."""
    servers = (
        ServerConfig("files", "stdio", command="files-mcp"),
        ServerConfig("off", "stdio", command="off-mcp", disabled=True),
        ServerConfig("docs", "http", url="http://127.0.0.1:9/mcp"),
    )
    return McpHub(servers, root, lambda note: None)


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        (["read_file", "mcp:off"], "Invalid params: MCP server 'off' is disabled in --mcp-config - at "
                                   "`$.tools[1]` (enabled servers: files, docs)"),
        (["mcp:nope"], "Invalid params: MCP server 'nope' is not in --mcp-config - at `$.tools[0]` "
                       "(enabled servers: files, docs)"),
        (["off__read"], "Invalid params: unknown tool 'off__read' - at `$.tools[0]`: not a built-in "
                        "(built-in tools: read_file, list_directory, search_files, write_file) and no "
                        "enabled MCP server's SERVER__TOOL (enabled servers: files, docs)"),
    ],
    ids=["disabled-server", "server-not-configured", "tool-of-a-disabled-server"],
)
def test_plan_tools_names_the_enabled_mcp_servers_when_refusing(
    root: Path, tools: list[Any], message: str
) -> None:
    with pytest.raises(errors.RpcError) as refused:
        plan_tools(decode_chat({**user("hi"), "tools": tools}), Workspace(root), False, mcp_hub(root))
    assert (refused.value.code, refused.value.message) == (errors.INVALID_PARAMS, message)


def test_plan_tools_takes_every_entry_after_mcp_servers_and_tools(root: Path) -> None:
    tools = ["mcp:docs", "read_file", "files__search", "list_directory", "mcp:files"]
    plan = plan_tools(decode_chat({**user("hi"), "tools": tools}), Workspace(root), False, mcp_hub(root))
    assert plan.builtins == ("read_file", "list_directory")
    assert plan.mcp_servers == ("docs", "files")
    assert plan.mcp_names == ("files__search",)
    assert plan.mcp_all is False and plan.uses_mcp and plan.enabled


async def test_recall_asks_the_stream_pump_for_the_turn_in_flight_only(tmp_path: Path) -> None:
    recalled: list[Any] = []

    class Pump:
        def recall(self, turn: Any) -> None:
            recalled.append(turn)

    chat = Chat(tmp_path, ScriptedProvider(text_reply("x")), user("hi"))
    chat.session.recall()  # no pump: nothing to ask
    chat.context.pump = Pump()  # type: ignore[assignment]
    chat.session.recall()
    assert recalled == [chat.session.turn] and recalled[0] is not None
    chat.session.turn = None
    chat.session.recall()  # no turn in flight
    assert len(recalled) == 1
