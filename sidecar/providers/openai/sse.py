"""Server-sent events framing, sans-IO: response body bytes in, the `data` of each event out.

OpenAI-compatible servers stream `/chat/completions` as SSE (the WHATWG "event stream"
format): lines end with LF, CRLF or a lone CR; `data:` lines add to the event's data (several
are joined with `\\n`); a blank line dispatches the event; a line starting with `:` is a comment
(servers send them as keep-alives); `event:`, `id:`, `retry:` and unknown fields are ignored,
as no OpenAI-compatible server gives them meaning for chat completions. One space after the
colon is dropped, as the format says.

Line ends are made LF first (a CR at the end of one read and the LF at the start of the next
are one line end, not two). Then the body is cut at each `\n\n` (a line end and a blank line:
the end of an event) and each cut is read: almost always a single `data: ` line, taken at once,
so a read of hundreds of events costs a `find` and a slice per event rather than a pass per line.
Bytes are only decoded once an event is whole, so a UTF-8 character split across reads is kept,
and memory stays bounded: an event larger than the limit is dropped as it arrives and comes out
as an `OversizedLine`.

A read of compact events (each a single `data: {...}` line, as every server streams chat
completions) also comes out whole: `feed_block` returns their data as one block of lines, for
`framing.decode_objects` to decode in one call; any other shape goes through `feed`.

Deviations, each so that what a server said is never lost: an event cut off by the end of the
body (no blank line after it) is still dispatched by `flush`, so a server that closes right after
`data: [DONE]` is read correctly; an `error:` field (some llama.cpp server builds report a failure
as `error: {...}` and then `data: [DONE]`) is dispatched as the data `{"error": ...}`; and a line
that is a bare JSON object (`{"error": ...}` written into the body as is) is dispatched as data.
"""

from __future__ import annotations

from typing import Final

import msgspec

from ...framing import OversizedLine

_COLON: Final = 0x3A  # b":"[0]
_BRACE: Final = 0x7B  # b"{"[0]
_DATA: Final = b"data: "


class SSEDecoder:
    """`feed` returns the data of every event a read completes; `flush` ends the stream."""

    __slots__ = ("_after_cr", "_buffer", "_discarding", "max_event_bytes")

    def __init__(self, max_event_bytes: int) -> None:
        self.max_event_bytes = max_event_bytes
        self._buffer = bytearray()  # the lines of an event whose blank line has not come yet
        self._discarding = 0  # bytes dropped so far of an oversized event, 0 when not dropping
        self._after_cr = False  # the last read ended with CR: a LF first in the next is its pair

    def feed(self, data: bytes) -> list[bytes | OversizedLine]:
        return self._split(self._normalize(data))

    def feed_block(self, data: bytes) -> tuple[bytes | None, list[bytes | OversizedLine]]:
        """`(block, [])`: the data of the events `data` completes, as `\n`-terminated lines
        (`b""` when none), when each is one compact `data: {...}` line of at most the size limit;
        otherwise `(None, events)`, the events as `feed` returns them."""
        text = self._normalize(data)
        buffer = self._buffer
        if self._discarding:
            return None, self._split(text)
        whole = bytes(buffer) + text if buffer else text
        cut = whole.rfind(b"\n\n") + 2
        if cut == 1:  # no event ends in this read
            if len(whole) > self.max_event_bytes:
                return None, self._split(text)
            buffer += text
            return b"", []
        if cut > self.max_event_bytes or len(whole) - cut > self.max_event_bytes:
            return None, self._split(text)
        block = whole[:cut]
        events = block.count(b"\n\n")
        if not (
            block.startswith(b"data: {")
            and block.endswith(b"}\n\n")
            and block.count(b"\n") == 2 * events
            and block.count(b"}\n\ndata: {") == events - 1
        ):
            return None, self._split(text)
        buffer.clear()
        buffer += whole[cut:]
        # `data: {a}\n\ndata: {b}\n\n` -> `{a}\n{b}\n`: a raw line break is never inside JSON.
        return block[6:-1].replace(b"\n\ndata: ", b"\n"), []

    def _normalize(self, data: bytes) -> bytes:
        """Line ends made LF (a CR ending one read and a LF starting the next are one)."""
        if self._after_cr:
            self._after_cr = False
            if data.startswith(b"\n"):
                data = data[1:]
        if b"\r" in data:
            self._after_cr = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        return data

    def _split(self, data: bytes) -> list[bytes | OversizedLine]:
        events: list[bytes | OversizedLine] = []
        buffer = self._buffer
        text: bytes | bytearray = data  # the common case: the read starts with a new event
        scan = 0
        if buffer:
            scan = len(buffer) - 1  # a "\n\n" may straddle the reads
            buffer += data
            text = buffer
        start = 0
        # An event ends at a line end followed by a blank line: the first "\n\n" after it.
        while (end := text.find(b"\n\n", scan)) >= 0:
            if self._discarding:
                events.append(OversizedLine(self._discarding + end))
                self._discarding = 0
            else:
                self._block(bytes(text[start:end]), events)
            start = scan = end + 2
        if text is buffer:
            del buffer[:start]
        elif start < len(text):
            buffer += text[start:]
        if len(buffer) > self.max_event_bytes + 1:
            # Drop an event too large to hold; keep its last byte, which may be half a "\n\n".
            self._discarding += len(buffer) - 1
            del buffer[:-1]
        return events

    def flush(self) -> list[bytes | OversizedLine]:
        """At the end of the body: an event that had no blank line after it is still read."""
        events: list[bytes | OversizedLine] = []
        if self._discarding:
            events.append(OversizedLine(self._discarding + len(self._buffer)))
        elif self._buffer:
            self._block(bytes(self._buffer), events)
        self._buffer.clear()
        self._discarding = 0
        return events

    @property
    def pending(self) -> int:
        """Bytes held of an event still incomplete."""
        return len(self._buffer)

    def _block(self, block: bytes, events: list[bytes | OversizedLine]) -> None:
        """The lines up to a blank line: almost always one `data: ` line, read at once."""
        if block.startswith(_DATA) and b"\n" not in block:
            data = block[6:]
            if len(data) > self.max_event_bytes:
                events.append(OversizedLine(len(block)))
            else:
                events.append(data)
            return
        parts: list[bytes] = []
        seen = False  # a `data` field came (an empty one too), so the blank line dispatches
        for line in block.split(b"\n"):
            if not line:  # a blank line inside the block (several in a row): dispatch
                if seen:
                    self._dispatch(parts, events)
                parts, seen = [], False
            elif line[0] == _COLON:
                continue  # a comment: keep-alive
            elif line.startswith(b"data:"):
                parts.append(line[6:] if line.startswith(_DATA) else line[5:])
                seen = True
            elif line == b"data":
                parts.append(b"")
                seen = True
            elif line[0] == _BRACE and b'"error"' in line:  # a bare JSON error in the body:
                if seen:  # a whole line, so an event of its own
                    self._dispatch(parts, events)
                self._dispatch([line], events)
                parts, seen = [], False
            elif line.startswith(b"error:"):
                parts.append(_error_data(line[6:].strip()))
                seen = True
            # event:, id:, retry: and unknown fields change nothing here.
        if seen:
            self._dispatch(parts, events)

    def _dispatch(self, parts: list[bytes], events: list[bytes | OversizedLine]) -> None:
        data = parts[0] if len(parts) == 1 else b"\n".join(parts)
        events.append(OversizedLine(len(data)) if len(data) > self.max_event_bytes else data)


def _error_data(value: bytes) -> bytes:
    """The data of an `error:` field: `{"error": VALUE}`, VALUE as sent when it is JSON-shaped,
    else as a JSON string."""
    if value[:1] in (b"{", b'"', b"["):
        return b'{"error":' + value + b"}"
    return b'{"error":' + msgspec.json.encode(value.decode("utf-8", "replace")) + b"}"
