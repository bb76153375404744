"""One upstream call shared by every request that asks the same question at the same time.

Why: `status` probes `/api/version` and `list_models` asks `/api/tags`, and a host may send many
of them at once. One HTTP request each would make the sidecar open a connection per request
and load the server with identical questions (a pooled client queued them behind each other
until their time limits ran out, reporting a healthy server as unreachable). The answer to "is the server up?" or "which models are
installed?" is the same for every request asking at that moment, so the first one starts the
call and the others wait for its outcome (a "single flight").

The call runs in a task of its own, in the nursery given at construction (the request nursery),
inside its own cancel scope, so a caller that is cancelled (`shutdown`, a signal) merely stops
waiting; when the last caller stops waiting, the call is cancelled too, so nothing outlives the
requests that wanted it. Its time limit is the call's own (a probe's 3 s start when the call
starts), never stretched or cut by how many callers wait.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import trio

from . import errors

logger = logging.getLogger(__name__)

T = TypeVar("T")


class _Flight(Generic[T]):
    __slots__ = ("done", "error", "result", "scope", "waiters")

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.done = trio.Event()
        self.waiters = 0
        self.result: T | None = None
        self.error: errors.RpcError | None = None


class SharedCalls:
    """Concurrent `call(key, fn)`s with the same key share one run of `fn`."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._flights: dict[str, _Flight[Any]] = {}

    async def call(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        """`fn()`'s result, from the run in flight for `key` or from a new one.

        Raises the `RpcError` the run raised (a copy for each caller); any other exception of
        the run is logged once and raised as internal_error. Cancellation: the caller stops
        waiting; the run is cancelled once no caller waits for it.
        """
        flight: _Flight[T] | None = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = _Flight()
            self._nursery.start_soon(self._run, key, flight, fn)
        flight.waiters += 1
        try:
            await flight.done.wait()
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.done.is_set():
                flight.scope.cancel()
                self._forget(key, flight)
        if flight.error is not None:
            return _raise_copy(flight.error)
        if flight.scope.cancelled_caught:  # cut short from outside: this caller is going too
            await trio.lowlevel.checkpoint()
            raise errors.RpcError(errors.INTERNAL_ERROR, "Request interrupted: the sidecar is exiting")
        return flight.result  # type: ignore[return-value]

    async def _run(self, key: str, flight: _Flight[T], fn: Callable[[], Awaitable[T]]) -> None:
        try:
            with flight.scope:
                try:
                    flight.result = await fn()
                except errors.RpcError as exc:
                    flight.error = exc
                except Exception as exc:
                    logger.exception("shared call %r failed", key)
                    flight.error = errors.internal_error(exc)
        finally:
            self._forget(key, flight)
            flight.done.set()

    def _forget(self, key: str, flight: _Flight[Any]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]


def _raise_copy(error: errors.RpcError) -> Any:
    # Each caller gets its own exception: the dispatcher edits the one it answers with.
    raise errors.RpcError(error.code, error.message, hint=error.hint, **error.extra)
