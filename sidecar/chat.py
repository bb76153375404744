"""One chat: the upstream's reply streamed into notifications, with tool rounds in between.

A chat knows nothing of stdout: it is given a `ChatContext` with the provider, the workspace,
and two callables, `emit` (hands over notifications, never waits) and `wait_writable` (returns
once the host has room for more). The dispatcher (server.py) binds them to the Outbox.

`stream_chat` is the thin I/O shell around a `Turn` (Ollama's NDJSON or an OpenAI-compatible
server's SSE; the provider makes the right one): read what the network gives, wait until the
output has room, then feed the turn and emit its notifications in one go. The wait happens
before the turn sees the bytes, so when the chat is cancelled during that wait the turn holds
exactly the text that was written: the result's message always equals the concatenation of the
deltas the host received.

`ChatSession` runs the rounds, building each round's `ChatRequest` from the chat's params. When the chat offered tools and a reply calls some, each call is
run (a built-in in the `Workspace` or an MCP tool through the `McpHub`, after the user's approval
for the ones that ask; a client tool by waiting for the client's `tool_result`), its
`chat:tool_result` is written, and the model is asked again with the assistant message and one
`tool` message per call appended. What the chat offers was checked at admission (tool_plan.py);
MCP tools are resolved when the chat starts, once their servers are ready. An approval's scope
("chat", "always") spares later calls of that tool the question.
A `tool_choice` that forces a call ("required" or a named function) applies to the first round
only, as in OpenAI's Agents SDK: forced again, the model could never give its final answer. A
client may answer a client tool the moment it reads `chat:tool_call`, before the reply has even
ended, so a pending answer is registered when that line is queued, not when the wait starts.
Everything a round waits for sits inside the chat's cancel scope: `cancel_chat` ends any wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
import trio

from . import errors
from .protocol import (
    ChatParams,
    ChatResult,
    Message,
    Notification,
    RequestId,
    ToolCall,
    ToolCallParams,
    ToolChoiceFunction,
    ToolResultNote,
    notification,
)
from .providers import ChatRequest, Provider
from .providers.turn import Turn, TurnCounts, make_usage
from .pump import Pump
from .tools import NEEDS_APPROVAL, ToolResult, Workspace
from .tool_plan import ToolPlan, plan_tools
from .tools.mcp.hub import McpHub, McpTool
from .tools.mcp.offer import McpOffer
from .tools.mcp.results import McpResult

# Hands notifications to the host in one batch; never waits, never raises.
Emit = Callable[[list[Notification]], None]

# tool_choice values that force a call: the first round only (see the module docstring).
_FORCING: Final = ("required",)


async def stream_chat(
    client: Provider,
    request: ChatRequest,
    turn: Turn,
    emit: Emit,
    wait_writable: Callable[[], Awaitable[None]],
    on_batch: Callable[[], None] | None = None,
    pump: Pump | None = None,
) -> None:
    """Streams one reply into `turn`, emitting notifications as chunks arrive.

    `on_batch` runs right after each batch is emitted (no checkpoint in between). Returns when
    the upstream said the reply is done. Raises `RpcError` for every failure (the turn keeps the
    partial reply). Cancellation: closes the upstream connection, which stops the model. A body
    on a plain socket is streamed by the `pump`'s thread when there is one, with the same
    notifications, order and outcome.
    """
    async with client.chat_stream(request) as body:
        if pump is not None and pump.takes(body):
            await pump.stream(body, turn, emit, on_batch)
        while not turn.ended:
            data = await body.read()
            await wait_writable()
            now = trio.current_time()
            notes = turn.feed(data, now) if data else turn.eof(now)
            if notes:
                emit(notes)
                if on_batch is not None:
                    on_batch()
    if turn.failure is not None:
        raise turn.failure


def _forces_a_call(tool_choice: object) -> bool:
    return tool_choice in _FORCING or isinstance(tool_choice, ToolChoiceFunction)


class Pending:
    """An answer the chat waits for: a client tool's result or the user's approval."""

    __slots__ = ("kind", "answered", "value")

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "tool_result" or "approve_tool"
        self.answered = trio.Event()
        self.value: Any = None


@dataclass
class ChatContext:
    """What every chat shares: the way to the model server, the way to the host (`emit`,
    `wait_writable`), the project folder, the limits."""

    client: Provider
    workspace: Workspace
    max_tool_rounds: int
    emit: Emit
    wait_writable: Callable[[], Awaitable[None]]
    mcp: McpHub | None = None
    pump: Pump | None = None  # streams replies on plain sockets from its thread (pump.py)
    # Tools approved with scope "always": for the rest of the sidecar's life.
    always_approved: set[str] = field(default_factory=set)


class ChatSession:
    """One chat's rounds. `run` returns its `ChatResult`; `messages` and `result` give the
    partial reply of a chat that failed or was cancelled; `answer` takes an approval or a client
    tool's result."""

    def __init__(
        self,
        chat_id: RequestId | None,
        params: ChatParams,
        model: str,
        tools: ToolPlan,
        context: ChatContext,
        started_at: float,
    ) -> None:
        self.chat_id = chat_id
        self.params = params
        self.model = model
        self.tools = tools
        self.context = context
        self.started_at = started_at
        self.history = list(params.messages)  # a thread's chat sets its path (thread_chat.py)
        self.produced: list[Message] = []
        self.turn: Turn | None = context.client.new_turn(chat_id, started_at)
        self.pending: dict[str, Pending] = {}
        self._counts: list[TurnCounts] = []
        self._first_output_at: float | None = None
        self._calls_seen = 0
        self._tool_specs: list[dict[str, Any]] | msgspec.UnsetType = msgspec.UNSET
        self.context_length = self._num_ctx()
        if tools.enabled:
            self._tool_specs = context.workspace.specs(tools.builtins) + list(tools.client.values())
        self.mcp = McpOffer(context.mcp, tools)  # the MCP tools this chat offers
        self.approved: set[str] = set()  # tools approved with scope "chat"

    def request(self, round_no: int) -> ChatRequest:
        """What round `round_no` (0 first) asks of the model: the chat's params, the model, the
        tools offered, and the messages so far (the history, then every reply and tool result
        produced). A forcing `tool_choice` applies to the first round only."""
        params = self.params
        tool_choice = params.tool_choice
        if round_no > 0 and _forces_a_call(tool_choice):
            tool_choice = msgspec.UNSET
        return ChatRequest(
            model=self.model,
            messages=[*self.history, *self.produced],
            options=params.options,
            think=params.think,
            format=params.format,
            keep_alive=params.keep_alive,
            tools=self._tool_specs,
            tool_choice=tool_choice,
            logprobs=params.logprobs,
            top_logprobs=params.top_logprobs,
            truncate=params.truncate,
            shift=params.shift,
        )

    def _num_ctx(self) -> int | None:
        options = self.params.options
        num_ctx = options.get("num_ctx") if isinstance(options, dict) else None
        if isinstance(num_ctx, int) and not isinstance(num_ctx, bool) and num_ctx > 0:
            return num_ctx
        return None

    async def _learn_context_length(self) -> None:
        """`usage.context_length`: `options.num_ctx` when given, else what the server says it
        runs the model with (Ollama's /api/ps, asked once the reply is done)."""
        if self.context_length is None:
            self.context_length = await self.context.client.context_length(self.model)

    def recall(self) -> None:
        """Makes `turn` safe to read until the caller's next checkpoint: the stream pump stops
        feeding it until this chat's task runs again (what it holds was all written)."""
        if self.context.pump is not None and self.turn is not None:
            self.context.pump.recall(self.turn)

    # --- the rounds ---------------------------------------------------------------------------

    def _emit(self, notes: list[Notification]) -> None:
        """The rounds' notifications; an MCP tool's `chat:tool_call` names its server."""
        if self.mcp.active:
            for note in notes:
                owner = self.mcp.owner(note.params.name) if note.method == "chat:tool_call" else None
                if owner is not None:
                    note.params.server, note.params.tool = owner
        self.context.emit(notes)

    async def run(self) -> ChatResult:
        if self.mcp.active:
            assert isinstance(self._tool_specs, list)
            self._tool_specs += await self.mcp.offer()
        for round_no in range(self.context.max_tool_rounds + 1):
            if self.turn is None:
                self.turn = self.context.client.new_turn(self.chat_id, trio.current_time())
            turn = self.turn
            self._calls_seen = 0
            context = self.context
            await stream_chat(
                context.client,
                self.request(round_no),
                turn,
                self._emit,
                context.wait_writable,
                self._register_calls,
                context.pump,
            )
            self._end_turn(turn)
            if not (self.tools.enabled and turn.tool_calls):
                await self._learn_context_length()
                return self.result(turn.done_reason)
            if round_no == self.context.max_tool_rounds:
                await self._learn_context_length()
                return self.result("tool_limit")
            for call in turn.tool_calls:
                assert isinstance(call.id, str)  # the turn gives every call an id
                name = call.function.name
                outcome = await self._run_call(call)
                note = ToolResultNote(self.chat_id, call.id, name, outcome.content, outcome.is_error)
                owner = self.mcp.owner(name)
                if owner is not None:
                    note.server, note.tool = owner
                    if isinstance(outcome, McpResult):
                        note.mcp_content = outcome.mcp_content
                self._write("chat:tool_result", note)
                self.produced.append(
                    Message(
                        role="tool",
                        content=outcome.content,
                        tool_name=name,
                        tool_call_id=call.id,
                    )
                )
        raise AssertionError("unreachable: the last round returns")

    def _end_turn(self, turn: Turn) -> None:
        now = trio.current_time()
        self._counts.append(turn.counts(now))
        if self._first_output_at is None:
            self._first_output_at = turn.first_output_at
        self.produced.append(turn.assistant_message())
        self.turn = None

    def _register_calls(self) -> None:
        """Right after a batch with `chat:tool_call` lines is queued: client calls may be
        answered from now on."""
        assert self.turn is not None
        calls = self.turn.tool_calls
        for call in calls[self._calls_seen :]:
            if call.function.name in self.tools.client and isinstance(call.id, str):
                self.pending.setdefault(call.id, Pending("tool_result"))
        self._calls_seen = len(calls)

    async def _run_call(self, call: ToolCall) -> ToolResult | McpResult:
        name = call.function.name
        call_id = call.id
        assert isinstance(call_id, str)
        if name in self.tools.client:
            answer = await self._wait(call_id, "tool_result")
            return ToolResult(answer.content, answer.is_error)
        mcp_tool = self.mcp.tools.get(name)
        if name not in self.tools.builtins and mcp_tool is None:
            late = await self.mcp.late_tool(name, [*self.tools.builtins, *self.tools.client])
            if not isinstance(late, McpTool):
                return late
            mcp_tool = late
        asks = mcp_tool is not None and not mcp_tool.auto_approved or name in NEEDS_APPROVAL
        if asks and not self.tools.auto_approve and not self._approved(name):
            declined = await self._ask(call, mcp_tool)
            if declined is not None:
                return declined
        if mcp_tool is not None:
            assert self.context.mcp is not None
            return await self.context.mcp.call(mcp_tool, call.function.arguments)
        return await self.context.workspace.run(name, call.function.arguments)

    def _approved(self, name: str) -> bool:
        return name in self.approved or name in self.context.always_approved

    async def _ask(self, call: ToolCall, mcp_tool: McpTool | None) -> ToolResult | None:
        """`chat:approval_request`; None once approved (remembering its scope), else the result
        the model gets."""
        name, call_id = call.function.name, call.id
        assert isinstance(call_id, str)
        request = ToolCallParams(self.chat_id, call_id, name, call.function.arguments)
        if mcp_tool is not None:
            request.server, request.tool = mcp_tool.server, mcp_tool.tool
            if mcp_tool.annotations is not None:
                request.annotations = mcp_tool.annotations
        self.pending[call_id] = Pending("approve_tool")
        self._write("chat:approval_request", request)
        answer = await self._wait(call_id, "approve_tool")
        if not answer.approved:
            reason = answer.reason if isinstance(answer.reason, str) and answer.reason else ""
            return ToolResult(
                f"The user declined to run {name}" + (f": {reason}" if reason else "."), True
            )
        if answer.scope == "chat":
            self.approved.add(name)
        elif answer.scope == "always":
            self.context.always_approved.add(name)
        return None

    async def _wait(self, call_id: str, kind: str) -> Any:
        pending = self.pending.setdefault(call_id, Pending(kind))
        try:
            await pending.answered.wait()
        finally:
            del self.pending[call_id]
        return pending.value

    def answer(self, kind: str, call_id: str, value: Any) -> None:
        """An `approve_tool` or `tool_result` for this chat. Raises `RpcError` (invalid_params)
        when nothing of that kind waits for `call_id`."""
        pending = self.pending.get(call_id)
        if pending is None or pending.kind != kind or pending.answered.is_set():
            what = "an approval" if kind == "approve_tool" else "a client tool result"
            raise errors.invalid_params(
                f"chat {self.chat_id!r} is not waiting for {what} for call {call_id!r}"
            )
        pending.value = value
        pending.answered.set()

    def _write(self, method: str, params: Any) -> None:
        self.context.emit([notification(method, params)])

    # --- results ------------------------------------------------------------------------------

    def messages(self) -> list[Message]:
        """Everything produced so far, a partial reply included."""
        messages = list(self.produced)
        if self.turn is not None:
            messages += self.turn.messages()
        return messages

    def result(self, done_reason: str, *, cancelled: bool = False) -> ChatResult:
        now = trio.current_time()
        counts = list(self._counts)
        first = self._first_output_at
        messages = list(self.produced)
        if self.turn is not None:  # cancelled mid-round: the partial reply ends the list
            counts.append(self.turn.counts(now))
            first = first if first is not None else self.turn.first_output_at
            if cancelled or not messages:
                messages.append(self.turn.assistant_message())
        usage = make_usage(counts, self.started_at, first, now)
        usage.context_length = self.context_length
        return ChatResult(
            done_reason="cancelled" if cancelled else done_reason,
            messages=messages,
            usage=usage,
        )
