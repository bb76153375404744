"""The request dispatcher: one task and one cancel scope per request, one place for answers.

`dispatch` runs synchronously in the stdin reader for every line: decoding, the duplicate-id,
`--max-chats` and `--max-requests` checks and the registration of the request all happen before
the next line is read, so a `cancel_chat` always finds the chat that was sent before it. The work
itself runs in a task of the request nursery, inside the request's own cancel scope: the method's
handler, looked up in the one method table (methods.py).

`_serve` is the single place where outcomes become responses: a result Struct, an `RpcError`,
an unexpected exception (-32603) or the request's cancellation (a chat answers
`done_reason: "cancelled"` with its partial reply). The answer is queued, then the request is
unregistered, with no checkpoint in between, so whoever waits for a request to end (cancel_chat,
shutdown) finds its answer already queued ahead of theirs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import msgspec
import trio

from . import errors
from .admission import Admission
from .chat import ChatContext, ChatSession
from .config import Config
from .framing import OversizedLine, encode_lines
from .methods import METHODS, Method, methods_for
from .outbox import Outbox
from .protocol import ChatParams, Notification, RequestId
from .providers import Provider
from .pump import Pump
from .rpc import (
    BadRequest,
    Request,
    chat_params,
    decode_chat_head,
    decode_messages,
    decode_params,
    decode_request,
    encode_error,
    encode_result,
)
from .singleflight import SharedCalls
from .store import Store
from .thread_chat import ThreadChat
from .tool_plan import plan_tools
from .tools import Workspace
from .tools.mcp.hub import McpHub

logger = logging.getLogger(__name__)

SOFT_STOP: Final = "eof"  # the only stop reason that lets in-flight requests finish
BIG_LINE_BYTES: Final = 256 * 1024  # lines this long are read in pieces (`dispatch_big`)
MESSAGES_PER_PIECE: Final = 100  # messages decoded between two checkpoints


class Handle:
    """One request in flight."""

    __slots__ = (
        "request", "scope", "done", "session", "thread", "stop_after", "cancelled", "counted",
        "on_cancel",
    )

    def __init__(self, request: Request, session: ChatSession | None = None) -> None:
        self.request = request
        self.thread: ThreadChat | None = None  # a chat on a stored thread
        self.scope = trio.CancelScope()
        self.done = trio.Event()
        self.session = session
        self.stop_after = False
        self.cancelled = False  # answered as cancelled (not merely asked to be)
        self.counted = False  # counted against --max-requests (admission.py)
        # The answer of a request that was cancelled, when it has one (a pull's "cancelled").
        self.on_cancel: Callable[[], Any] | None = None

    @property
    def id(self) -> RequestId | None:
        return self.request.id


class Server:
    def __init__(
        self,
        config: Config,
        client: Provider,
        outbox: Outbox,
        nursery: trio.Nursery,
        store: Store | None = None,
        mcp: McpHub | None = None,
        pump: Pump | None = None,
    ) -> None:
        self.config = config
        self.store = store  # None: --no-store
        self.client = client
        self.outbox = outbox
        self.chat_context = ChatContext(
            client=client,
            workspace=Workspace(
                Path(config.root),
                allow_shell=config.allow_shell,
                shell_timeout_s=config.shell_timeout_s,
            ),
            max_tool_rounds=config.max_tool_rounds,
            emit=self._emit,
            wait_writable=outbox.wait_writable,
            mcp=mcp,
            pump=pump,
        )
        self._nursery = nursery
        # Keyed by request id; a notification (no id) is keyed by its own Handle.
        self.handles: dict[object, Handle] = {}
        self.chat_handles: dict[object, Handle] = {}  # the chats among them, in arrival order
        self.thread_chats: dict[str, Handle] = {}  # the chats on stored threads, by thread id
        self.admission = Admission(config.max_requests)
        # Concurrent status probes share one /api/version, list_models one /api/tags.
        self.shared = SharedCalls(nursery)
        self.supported = frozenset(methods_for(client.provider))
        self.accepting = True
        self.stop_reason: str | None = None
        self._stopping = trio.Event()
        self._hard_stop = trio.Event()
        self._changed = trio.lowlevel.ParkingLot()

    def _emit(self, notes: list[Notification]) -> None:
        """How chats write: their notifications, encoded as one batch of lines."""
        self.outbox.put(encode_lines(notes))

    # --- intake (synchronous) ---------------------------------------------------------------

    def dispatch(self, line: bytes | OversizedLine) -> None:
        """Handles one input line: answers it at once or starts its task. Never raises."""
        if not self.accepting:
            return
        try:
            self._dispatch(line)
        except Exception as exc:  # a bug must not stop the reader: answer and go on
            logger.exception("dispatching a line failed")
            self.outbox.put(encode_error(None, errors.internal_error(exc)))

    async def dispatch_big(self, line: bytes) -> None:
        """`dispatch` for a big line, letting the loop run while it is decoded: a valid chat is
        read in pieces (rpc.decode_chat_head), anything else by `dispatch`. Nothing else is
        dispatched meanwhile (the reader waits for this), so the order of lines holds."""
        params: Any = None
        # The reader's step already copied the line out of its reads: let the loop run before
        # the scan of the envelope, so the two are not one long block.
        await trio.lowlevel.checkpoint()
        try:
            head = decode_chat_head(line) if self.accepting else None
            if head is not None:
                request, raw = head
                messages: list[Any] = []
                for start in range(0, len(raw.messages), MESSAGES_PER_PIECE):
                    await trio.lowlevel.checkpoint()
                    piece = decode_messages(raw.messages[start : start + MESSAGES_PER_PIECE])
                    if piece is None:
                        break
                    messages += piece
                else:
                    params = chat_params(raw, messages)
        except Exception:  # a bug here: the line is read as always
            logger.exception("reading a big line in pieces failed")
            params = None
        if params is None:
            self.dispatch(line)  # not a valid chat: read as always, with its exact error
        elif self.accepting:
            try:
                self._start(request, params)
            except Exception as exc:
                logger.exception("dispatching a line failed")
                self.outbox.put(encode_error(None, errors.internal_error(exc)))

    def _dispatch(self, line: bytes | OversizedLine) -> None:
        try:
            request = decode_request(line, self.config.max_line_bytes)
        except BadRequest as bad:
            self.outbox.put(encode_error(bad.id, bad.error))
            return
        if request is None:
            return
        self._start(request)

    def _start(self, request: Request, params: Any = None) -> None:
        """Admits a decoded request and starts its task, or answers why not."""
        try:
            handle, method, params = self._admit(request, params)
            handle.counted = self.admission.enter(request.method)
        except errors.RpcError as exc:
            if not request.is_notification:
                self.outbox.put(encode_error(request.id, exc))
            else:
                logger.info("notification %s dropped: %s", request.method, exc.message)
            return
        key = handle if request.is_notification else request.id
        self.handles[key] = handle
        if handle.session is not None:
            self.chat_handles[key] = handle
        if handle.thread is not None:
            self.thread_chats[handle.thread.thread_id] = handle
        if request.method == "shutdown":
            self.accepting = False  # nothing read after `shutdown` is served
        self._nursery.start_soon(self._serve, handle, method, params)

    def _admit(self, request: Request, params: Any = None) -> tuple[Handle, Method, Any]:
        method = METHODS.get(request.method)
        if method is None:
            raise errors.RpcError(
                errors.METHOD_NOT_FOUND,
                f"Method not found: {request.method!r} (methods: {', '.join(METHODS)})",
            )
        if request.id is not None and request.id in self.handles:
            raise errors.invalid_request(f"id {request.id!r} is already in flight")
        if request.method not in self.supported:
            raise errors.not_supported(self.client.provider, request.method)
        if params is None:
            params = decode_params(request, method.decoder)
        if not isinstance(params, ChatParams):
            return Handle(request), method, params
        on_thread = params.thread_id is not msgspec.UNSET
        if on_thread:
            self.require_store("chat with thread_id")
            if params.thread_id in self.thread_chats:
                raise errors.thread_busy(str(params.thread_id), elsewhere=False)
        elif not params.messages:
            raise errors.invalid_params("Expected `array` of length >= 1 - at `$.messages`")
        elif params.after is not msgspec.UNSET:
            raise errors.invalid_params("`after` needs a `thread_id` - at `$.after`")
        model = params.model if params.model is not msgspec.UNSET else None
        if model is None and not on_thread:  # a thread's chat: params.model, the thread's, --model
            model = self.config.model
        if not model and not on_thread:
            raise errors.invalid_params(
                "no model: pass params.model, or start the sidecar with --model NAME"
            )
        running = len(self.chat_handles)
        if running >= self.config.max_chats:
            raise errors.RpcError(
                errors.BUSY,
                f"Busy: {running} chats are already running (--max-chats {self.config.max_chats})",
                hint="Wait for a chat to finish, or stop one with cancel_chat.",
            )
        context = self.chat_context
        tools = plan_tools(params, context.workspace, self.config.auto_approve, context.mcp)
        session = ChatSession(
            request.id, params, model or "", tools, self.chat_context, trio.current_time()
        )
        handle = Handle(request, session)
        if on_thread:
            assert self.store is not None
            handle.thread = ThreadChat(self.store, session, params)
        return handle, method, params

    # --- the one place where outcomes become answers -----------------------------------------

    async def _serve(self, handle: Handle, method: Method, params: Any) -> None:
        outcome: Any
        try:
            with handle.scope:
                outcome = await method.handler(self, handle, params)
            if handle.scope.cancelled_caught:
                handle.cancelled = True
                outcome = self._interrupted(handle)
        except errors.RpcError as exc:
            outcome = exc
        except Exception as exc:
            logger.exception("request %r (%s) failed", handle.id, handle.request.method)
            outcome = errors.internal_error(exc)
        if isinstance(outcome, errors.RpcError):
            # A server may echo the API key in any error it sends (a status, a mid-stream line):
            # scrubbed here, and in `status`, the two places upstream text reaches the client.
            outcome.message = self.client.redact(outcome.message)
            if outcome.hint is not None:
                outcome.hint = self.client.redact(outcome.hint)
            if handle.session is not None:
                outcome.extra.setdefault("messages", handle.session.messages())
        if not handle.request.is_notification:
            if isinstance(outcome, errors.RpcError):
                self.outbox.put(encode_error(handle.id, outcome))
            else:
                self.outbox.put(encode_result(handle.id, outcome))
        key = handle if handle.request.is_notification else handle.id
        del self.handles[key]
        self.chat_handles.pop(key, None)
        if handle.thread is not None:
            self.thread_chats.pop(handle.thread.thread_id, None)
        if handle.counted:
            self.admission.leave()
        handle.done.set()
        self._changed.unpark_all()
        if handle.stop_after:
            self.stop("shutdown")

    def _interrupted(self, handle: Handle) -> Any:
        if handle.session is not None:
            result = handle.session.result("cancelled", cancelled=True)
            return result if handle.thread is None else handle.thread.decorate(result)
        if handle.on_cancel is not None:
            return handle.on_cancel()
        if self.stop_reason is None:  # cancel_request, not the sidecar exiting
            return errors.cancelled(handle.request.method)
        return errors.RpcError(
            errors.INTERNAL_ERROR,
            f"Request interrupted: the sidecar is exiting ({self.stop_reason})",
        )

    # --- what the handlers (methods.py) use ---------------------------------------------------

    def require_store(self, method: str) -> Store:
        """The store; raises `RpcError` (not_supported) when the sidecar keeps none (--no-store):
        the params may be right, this sidecar cannot serve them."""
        if self.store is None:
            raise errors.store_off(method)
        return self.store

    def chats(self) -> list[Handle]:
        """The chats in flight, in the order they came."""
        return list(self.chat_handles.values())

    def session(self, chat_id: RequestId) -> ChatSession:
        """The running chat `chat_id`; raises `RpcError` (invalid_params) when there is none."""
        handle = self.handles.get(chat_id)
        if handle is None or handle.session is None:
            raise errors.invalid_params(f"no chat with id {chat_id!r} is running")
        return handle.session

    async def cancel(self, targets: list[Handle]) -> None:
        """Cancels requests and returns once each has queued its answer."""
        for target in targets:
            target.scope.cancel()
        for target in targets:
            await target.done.wait()

    # --- stopping ---------------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Stops taking requests. `eof` lets in-flight requests finish (--drain-timeout); any
        other reason (shutdown, a signal, a lost parent, a broken stdout) cancels them now."""
        if self.stop_reason is None or (reason != SOFT_STOP and not self._hard_stop.is_set()):
            self.stop_reason = reason
            logger.info("stopping: %s", reason)
        self.accepting = False
        self._stopping.set()
        if reason != SOFT_STOP:
            self._hard_stop.set()
        self._changed.unpark_all()

    @property
    def hard_stop(self) -> bool:
        return self._hard_stop.is_set()

    async def wait_stopping(self) -> None:
        """Returns once `stop` was called, for any reason."""
        await self._stopping.wait()

    async def finish(self) -> None:
        """Waits for `stop`, drains or cancels in-flight requests, and returns once every one
        of them has queued its answer."""
        await self._stopping.wait()
        if not self._hard_stop.is_set() and self.handles:
            logger.info("stdin closed; waiting for %d requests", len(self.handles))
            with trio.move_on_after(self.config.drain_timeout_s):
                while self.handles and not self._hard_stop.is_set():
                    await self._changed.park()
        await self.cancel(list(self.handles.values()))
