"""The model lifecycle methods' handlers: show, running, pull, delete, load, unload, and the
cancel of any request (`cancel_request`).

Each is one call of the provider (providers/base.py) except `pull_model`, which streams like a
chat: `pull` reads the body into the provider's pull state (Ollama's: `PullState` in
providers/ollama/pull.py, made by `Provider.new_pull` as a chat's turn is) and emits
its `model:pull_progress` notifications as they come, after `wait_writable` says the host has
room. A cancelled pull answers `{"model", "status": "cancelled", "total", "completed"}` through
the request's `on_cancel` (the dispatcher, server.py, calls it when the request's scope was
cancelled); leaving the stream closed the connection, which is what stops Ollama downloading.
A pull that fails after it started carries its last progress in `error.data.progress`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import msgspec
import trio

from .errors import RpcError
from .protocol import EmptyResult
from .protocol_models import (
    CancelRequestParams,
    CancelRequestResult,
    LoadModelParams,
    LoadModelResult,
    ModelParams,
    PullModelParams,
    PullModelResult,
    RunningModelsResult,
    ShowModelResult,
)

if TYPE_CHECKING:
    from .protocol import NoParams
    from .server import Handle, Server


async def show_model(server: Server, handle: Handle, params: ModelParams) -> ShowModelResult:
    return await server.client.show_model(params.model)


async def running_models(server: Server, handle: Handle, params: NoParams) -> RunningModelsResult:
    return await server.client.running_models()


async def delete_model(server: Server, handle: Handle, params: ModelParams) -> EmptyResult:
    await server.client.delete_model(params.model)
    return EmptyResult()


async def load_model(server: Server, handle: Handle, params: LoadModelParams) -> LoadModelResult:
    keep_alive = None if params.keep_alive is msgspec.UNSET else params.keep_alive
    started = trio.current_time()
    await server.client.load_model(params.model, keep_alive)
    load_ms = round((trio.current_time() - started) * 1000)
    return LoadModelResult(model=params.model, load_ms=load_ms)


async def unload_model(server: Server, handle: Handle, params: ModelParams) -> EmptyResult:
    await server.client.unload_model(params.model)
    return EmptyResult()


async def pull_model(server: Server, handle: Handle, params: PullModelParams) -> PullModelResult:
    """Streams the pull's progress; returns `success`. Raises `RpcError`: model_not_found (the
    registry does not know the name), upstream_error / stream_interrupted (with the last
    progress in `data.progress` once a layer was reached), ollama_unreachable.
    Cancellation: closes the upstream connection; `handle.on_cancel` gives the answer."""
    state = server.client.new_pull(handle.id, params.model)
    handle.on_cancel = lambda: PullModelResult(
        model=params.model, status="cancelled", total=state.total, completed=state.completed
    )
    insecure = None if params.insecure is msgspec.UNSET else params.insecure
    emit = server.chat_context.emit
    try:
        async with server.client.pull_stream(params.model, insecure) as body:
            while not state.ended:
                # A change held back by the throttle goes out when it is due, even while
                # Ollama sends nothing (a read that is cancelled loses nothing).
                due = state.due_at
                with trio.move_on_at(due if due is not None else math.inf) as waiting:
                    data = await body.read()
                await server.outbox.wait_writable()
                now = trio.current_time()
                if waiting.cancelled_caught:
                    notes = state.flush(now)
                else:
                    notes = state.feed(data, now) if data else state.eof(now)
                if notes:
                    emit(notes)
        if state.failure is not None:
            raise state.failure
    except RpcError as exc:
        if state.total and exc.kind != "model_not_found":
            exc.extra.setdefault("progress", state.progress())
        raise
    return PullModelResult(model=params.model, status="success")


async def cancel_request(
    server: Server, handle: Handle, params: CancelRequestParams
) -> CancelRequestResult:
    target = server.handles.get(params.id)
    targets = [target] if target is not None and target is not handle else []
    await server.cancel(targets)
    # A request that finished in the same instant answered normally: it is not listed.
    return CancelRequestResult(
        cancelled=[h.id for h in targets if h.cancelled and h.id is not None]
    )
