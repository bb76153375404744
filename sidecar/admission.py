"""The bound on requests in flight (`--max-requests`): past it a request is refused at once.

Why a bound on every kind of request, not only chats: each request in flight is a task, and a
host (or a bug in one) can write thousands of lines in one burst. Unbounded, they all run at
once and the event loop spends its time on them instead of on the stdin reader, the streams in
flight, the signal handler and the stdout watch, so the sidecar turns deaf and unkillable. With a
bound, a request past it costs one decode and one short error line (`overloaded`, -32005), the
reader keeps reading, and everything already running keeps its pace.

`cancel_chat`, `cancel_request` and `shutdown` are never refused (`EXEMPT`) and not counted: they end work, they
finish at once, and a host must be able to stop what it started however much it sent before.

Pure and synchronous: the dispatcher calls `enter` while it checks a line (the last check of §5's
order) and `leave` when the request has queued its answer.
"""

from __future__ import annotations

from typing import Final

from . import errors

EXEMPT: Final = frozenset({"cancel_chat", "cancel_request", "shutdown"})


def overloaded(limit: int) -> errors.RpcError:
    return errors.RpcError(
        errors.OVERLOADED,
        f"Overloaded: {limit} requests are already in flight (--max-requests {limit})",
        hint=(
            "Wait for answers before sending more requests, or start the sidecar with a higher "
            "--max-requests. cancel_chat, cancel_request and shutdown are always served."
        ),
    )


class Admission:
    """Counts the requests in flight that the bound applies to."""

    __slots__ = ("in_flight", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def enter(self, method: str) -> bool:
        """Admits one request of `method`; True when it was counted (call `leave` once it is
        answered). Raises `RpcError` (overloaded) when the bound is reached."""
        if method in EXEMPT:
            return False
        if self.in_flight >= self.limit:
            raise overloaded(self.limit)
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1
