"""One HTTP/1.1 server connection: an h11 state machine over a trio stream.

Why it is a module of its own: the server's routing and scripts never touch bytes or h11 states
directly. They read a whole request, send lists of h11 events (one `send_all` per call, so
one call per NDJSON line means one HTTP chunk per line), and run `watch_for_close` next to a
response so that a client leaving is noticed while nothing is being written.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus
from typing import Final

import h11
import trio

RECEIVE_BYTES: Final = 65536


class Connection:
    """One accepted TCP connection: its stream, its h11 state machine and who closed it."""

    def __init__(self, stream: trio.abc.Stream, number: int) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.SERVER)
        self.number = number
        self.peer_closed_at: float | None = None

    async def read_request(self) -> tuple[h11.Request, bytes] | None:
        """The next request and its whole body, or None once the client has closed.

        Raises h11.RemoteProtocolError for a malformed request.
        """
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                if self.peer_closed_at is not None:
                    return None
                try:
                    data = await self.stream.receive_some(RECEIVE_BYTES)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return None
                self.h11.receive_data(data)
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                return request, bytes(body)
            else:  # ConnectionClosed, PAUSED
                return None

    async def send(self, events: list[h11.Event]) -> None:
        """Write the bytes of `events` with a single `send_all`.

        Raises trio.BrokenResourceError if the client has gone.
        """
        data = b"".join(self.h11.send(event) or b"" for event in events)
        await self.stream.send_all(data)

    async def watch_for_close(self, cancel_scope: trio.CancelScope) -> None:
        """Read until EOF, then note the time and cancel `cancel_scope` (the playing response).

        Cancellation: returns quietly; data already read stays in h11's buffer.
        """
        while True:
            try:
                data = await self.stream.receive_some(RECEIVE_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self.peer_closed_at = time.monotonic()
                cancel_scope.cancel()
                return
            self.h11.receive_data(data)


def response_head(
    status: int, content_type: str, length: int | None = None, *, close: bool = False
) -> h11.Response:
    """Status line and headers as Go net/http writes them (Content-Length only when known)."""
    headers = [("Content-Type", content_type), ("Date", formatdate(usegmt=True))]
    if length is not None:
        headers.append(("Content-Length", str(length)))
    if close:
        headers.append(("Connection", "close"))
    return h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase)
