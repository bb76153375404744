"""A chat on a stored thread: the path sent to the model, and the reply kept as it streams.

Why it is built this way: the stream must never wait for the disk. `ThreadChat.run` starts the
chat (`ChatSession.run`, unchanged) and beside it a task that, every `FLUSH_INTERVAL_S`, copies
what the session holds into the store (`sync`): finished messages (replies, tool results) are
written once, the reply in flight is a `streaming` row rewritten while it grows. Each write is
a commit, so a SIGKILL loses at most the last interval. When the chat ends, one last `sync`
writes the final state: `complete`, `interrupted` (cancelled, for any reason) or `failed`
(with the error's kind and message), and the thread's lease is given back.

Before the model is asked, `begin` stores the new messages (store/replies.py `begin_chat`) and
gives the session its history: the thread's `system`, the stored path, the new messages.
"""

from __future__ import annotations

from typing import Final

import msgspec
import trio

from . import errors
from .chat import ChatSession
from .protocol import ChatParams, ChatResult, Message, Usage
from .store import Store, replies, threads
from .store.rows import model_message
from .thread_protocol import StoredError, StoredMessage, StreamingReply

FLUSH_INTERVAL_S: Final = 0.5  # the bound is one second; half leaves room for a slow disk


class ThreadChat:
    """One `chat` with a `thread_id`: what it stored, and what is in flight."""

    def __init__(self, store: Store, session: ChatSession, params: ChatParams) -> None:
        assert isinstance(params.thread_id, str)
        self.store = store
        self.session = session
        self.thread_id = params.thread_id
        after = params.after
        self.after: str | None | bool = True if after is msgspec.UNSET else after
        self.new_messages = list(params.messages)
        self.ids: list[str] = []  # every message this chat stored, in order
        self.reply_id: str | None = None  # the streaming row of the turn in flight
        self._parent: str | None = None
        self._stored = 0  # how many of session.produced are written
        self._written: tuple[int, int, int] = (-1, -1, -1)  # sizes of the row's last write
        self._lock = trio.Lock()

    # --- before the model -------------------------------------------------------------------

    async def begin(self, default_model: str | None) -> None:
        """Stores the new messages and sets the session's history and model. Raises `RpcError`
        (thread_not_found, thread_busy, invalid_params)."""
        if not self.session.model and not default_model:
            # No model anywhere but perhaps the thread's: refused before anything is stored, so
            # a refused chat never leaves a lone user message behind.
            info = await self.store.run(threads.get_info, self.thread_id)
            if not info.model:
                raise _no_model()
        begun = await self.store.run(
            replies.begin_chat, self.thread_id, self.after, self.new_messages, self.store.owner
        )
        self.ids += begun.new_ids
        self._parent = begun.parent_id
        history: list[Message] = []
        if begun.thread.system:
            history.append(Message(role="system", content=begun.thread.system))
        history += [model_message(m) for m in begun.path if _worth_sending(m)]
        self.session.history = history + self.new_messages
        if not self.session.model:
            model = begun.thread.model or default_model
            if not model:
                raise _no_model()
            self.session.model = model

    # --- while it runs ------------------------------------------------------------------------

    async def run(self, default_model: str | None) -> ChatResult:
        """The chat, stored. Raises what the chat raises, after storing how it ended."""
        try:
            await self.begin(default_model)
        except BaseException:
            await self._release()
            raise
        outcome: ChatResult | Exception
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._flush_loop)
                try:
                    outcome = await self.session.run()
                except Exception as exc:  # raised below, not here: the nursery would group it
                    outcome = exc
                nursery.cancel_scope.cancel()
        except BaseException:  # cancelled, for whatever reason (maybe in a group)
            await self._end("interrupted")
            raise
        if isinstance(outcome, errors.RpcError):
            redact = self.session.context.client.redact  # as the answer is (server.py)
            await self._end("failed", StoredError(outcome.kind, redact(outcome.message)))
            raise outcome
        if isinstance(outcome, Exception):
            await self._end("failed", StoredError("internal_error", f"{type(outcome).__name__}: {outcome}"))
            raise outcome
        await self._end("complete", usage=outcome.usage)
        return self.decorate(outcome)

    def decorate(self, result: ChatResult) -> ChatResult:
        result.thread_id = self.thread_id
        result.message_ids = list(self.ids)
        return result

    async def _flush_loop(self) -> None:
        while True:  # the first sync makes the reply's row at once
            await self.sync()
            await trio.sleep(FLUSH_INTERVAL_S)

    async def _end(self, status: str, error: StoredError | None = None, usage: Usage | None = None) -> None:
        with trio.CancelScope(shield=True):
            try:
                await self.sync(status, error, usage)
            finally:
                await self._release()

    async def _release(self) -> None:
        with trio.CancelScope(shield=True):
            await self.store.run(replies.release, self.thread_id, self.store.owner)

    async def sync(
        self, final: str | None = None, error: StoredError | None = None, usage: Usage | None = None
    ) -> None:
        """Writes what the session holds that the store does not; `final` ends the reply."""
        async with self._lock:
            session, store = self.session, self.store
            last_reply: str | None = None
            while self._stored < len(session.produced):
                message = session.produced[self._stored]
                if message.role == "assistant" and self.reply_id is not None:
                    await store.run(
                        replies.finish_reply, self.thread_id, self.reply_id, message, "complete",
                        None, None,
                    )
                    message_id, self.reply_id = self.reply_id, None
                else:
                    message_id = await store.run(replies.add_message, self.thread_id, self._parent, message)
                    self.ids.append(message_id)
                if message.role == "assistant":
                    last_reply = message_id
                self._stored += 1
                self._parent = message_id
            session.recall()  # the stream pump leaves the turn alone until our next checkpoint
            turn = session.turn
            if turn is not None:
                message = turn.assistant_message()
                if self.reply_id is None:
                    self.reply_id = await store.run(
                        replies.start_reply, self.thread_id, self._parent, message, store.owner
                    )
                    self.ids.append(self.reply_id)
                    self._parent = self.reply_id
                    self._written = _sizes(message)
                elif final is None and _sizes(message) != self._written:
                    await store.run(replies.update_reply, self.reply_id, message)
                    self._written = _sizes(message)
                if final is not None:
                    await store.run(
                        replies.finish_reply, self.thread_id, self.reply_id, message,
                        "complete" if final == "complete" else final, error, usage,
                    )
                    self.reply_id = None
            elif final == "complete" and usage is not None and last_reply is not None:
                await store.run(replies.set_usage, last_reply, usage)
            if final is not None and last_reply is None and turn is None and self.ids:
                await store.run(replies.touch, self.thread_id)

    # --- what get_thread shows of it ---------------------------------------------------------

    def streaming(self, messages: list[StoredMessage]) -> StreamingReply:
        """The reply in flight, with exactly the text written to the host so far; the stored
        row of it in `messages` (if read) gets the same text. No checkpoint: the caller's
        answer goes out right after, so the next `chat:token` continues where this ends (the
        stream pump is recalled until then)."""
        self.session.recall()
        turn = self.session.turn
        content = turn.content.value() if turn is not None else ""
        thinking = turn.thinking.value() if turn is not None else ""
        for message in messages:
            if message.id == self.reply_id:
                message.content = content
                message.thinking = thinking or msgspec.UNSET
        return StreamingReply(self.session.chat_id, content, thinking)


def _sizes(message: Message) -> tuple[int, int, int]:
    return (
        len(message.content),
        len(message.thinking or ""),
        len(message.tool_calls or ()),
    )


def _worth_sending(message: StoredMessage) -> bool:
    """An empty reply (failed before its first token) is not sent to the model again."""
    return not (message.role == "assistant" and not message.content and not message.tool_calls)


def _no_model() -> errors.RpcError:
    return errors.invalid_params(
        "no model: pass params.model, give the thread a model, or start the sidecar with "
        "--model NAME"
    )
