"""Line framing, both ways: bytes in, whole lines out; values in, LF-terminated lines out.

Sans-IO on purpose: the stdin reader and the Ollama body reader both feed raw reads of any size
into a `LineSplitter` and get complete lines back, so a UTF-8 character or a JSON value split
across two reads is never decoded in halves. Only `b"\\n"` ends a line:
U+0085, U+2028 and friends are ordinary bytes here, unlike `str.splitlines` and httpx's
`aiter_lines()`.

A read of a model's stream holds many lines. `LineSplitter.feed_block` hands over a read's whole
lines as one block, and `decode_objects` decodes such a block with one msgspec call when the
result is sure to be what decoding line by line gives (one object per line); otherwise it says
so and the caller takes the lines one by one, which keeps every error exactly as it was.

Output lines escape U+2028 and U+2029 because Node's `readline` splits on them;
msgspec writes them raw. Both characters encode as `E2 80 A8` / `E2 80 A9`, byte sequences that
can only occur inside a JSON string, so a byte-level replace is exact.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import msgspec

T = TypeVar("T")

LS_RAW: Final = "\u2028".encode()
PS_RAW: Final = "\u2029".encode()
_E2_80: Final = b"\xe2\x80"

_encoder: Final = msgspec.json.Encoder()


class OversizedLine:
    """Marks a line that exceeded the limit; its bytes were discarded, `size` counts them."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def __repr__(self) -> str:
        return f"OversizedLine({self.size})"


class LineSplitter:
    """Splits a byte stream on `\\n` into lines (without the terminator, a trailing `\\r` dropped).

    At most `max_line_bytes` of an unfinished line are held; a longer line is dropped as it
    arrives and reported once, as an `OversizedLine`, when its `\\n` comes. Memory stays bounded
    however long the line.
    """

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()
        self._discarding = 0  # bytes dropped so far from an oversized line, 0 when not dropping

    def feed(self, data: bytes) -> list[bytes | OversizedLine]:
        lines: list[bytes | OversizedLine] = []
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            if self._discarding:
                lines.append(OversizedLine(self._discarding + end - start))
                self._discarding = 0
            elif self._buffer:
                self._buffer += data[start:end]
                lines.append(self._take_buffer())
            else:
                lines.append(self._check(data[start:end]))
            start = end + 1
        rest = len(data) - start
        if rest:
            if self._discarding:
                self._discarding += rest
            elif len(self._buffer) + rest > self.max_line_bytes + (data[-1] == 0x0D):
                # (A `\r` last in the read may be the first half of the `\r\n` that ends a
                # line of exactly the limit: the terminator never counts.)
                self._discarding = len(self._buffer) + rest
                self._buffer.clear()
            else:
                self._buffer += data[start:]
        return lines

    def feed_block(self, data: bytes) -> bytes | None:
        """The whole lines that `data` completes, as one block of `\n`-terminated lines (`b""`
        when there are none), when no line of it can be over the limit; `None` when the caller
        must use `feed` instead (nothing was taken: an oversized line is being dropped, or could
        be). `split_block` makes the block into the lines `feed` would have returned."""
        if self._discarding:
            return None
        cut = data.rfind(b"\n") + 1
        if not cut:
            if len(self._buffer) + len(data) > self.max_line_bytes:
                return None
            self._buffer += data
            return b""
        rest = len(data) - cut
        if len(self._buffer) + cut > self.max_line_bytes or rest > self.max_line_bytes:
            return None
        if self._buffer:
            block = bytes(self._buffer) + data[:cut]
            self._buffer.clear()
        else:
            block = data[:cut] if rest else data
        if rest:
            self._buffer += data[cut:]
        return block

    def flush(self) -> list[bytes | OversizedLine]:
        """At end of input: the unterminated last line, if any, as a line of its own."""
        if self._discarding:
            size, self._discarding = self._discarding, 0
            return [OversizedLine(size)]
        if self._buffer:
            return [self._take_buffer()]
        return []

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line seen so far (held or discarded)."""
        return len(self._buffer) + self._discarding

    def _take_buffer(self) -> bytes | OversizedLine:
        line = bytes(self._buffer)
        self._buffer.clear()
        return self._check(line)

    def _check(self, line: bytes) -> bytes | OversizedLine:
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > self.max_line_bytes:
            return OversizedLine(len(line))
        return line


def split_block(block: bytes) -> list[bytes]:
    """The lines of a block from `LineSplitter.feed_block`, as `feed` returns them."""
    lines = block.split(b"\n")
    del lines[-1]  # what follows the last `\n`: nothing
    if b"\r" in block:
        lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    return lines


def decode_objects(decoder: msgspec.json.Decoder[T], block: bytes) -> list[T] | None:
    """The lines of `block` (whole `\n`-terminated lines) decoded in one call, when every
    line is a compact object (`{` first, `}` last, nothing around them); else, or when the call
    fails, `None`: then decoding line by line gives the answer and its exact error.

    Why one call gives exactly what decoding line by line would: a raw line break cannot be
    inside a JSON string, so the `}` that ends a line is structural; a value left open at a
    line end would need `,`, `]` or `}` next, never the `{` that starts the next line. So each
    value ends on its own line, each line starts one, and a line holding two values shows up as
    a count that does not match.
    """
    lines = block.count(b"\n")
    if not (block.startswith(b"{") and lines):
        return None
    if block.endswith(b"}\n"):
        joins = block.count(b"}\n{")
    elif block.endswith(b"}\r\n"):
        joins = block.count(b"}\r\n{")
    else:
        return None
    if joins != lines - 1:
        return None
    try:
        values = decoder.decode_lines(block)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return values if len(values) == lines else None


def escape_separators(data: bytes) -> bytes:
    """Escapes raw U+2028/U+2029 in encoded JSON (a no-op scan for almost every line)."""
    if _E2_80 in data:
        data = data.replace(LS_RAW, b"\\u2028").replace(PS_RAW, b"\\u2029")
    return data


def encode_line(value: Any) -> bytes:
    """One protocol line: compact JSON, separators escaped, `\\n`-terminated."""
    return escape_separators(_encoder.encode(value)) + b"\n"


def encode_lines(values: list[Any]) -> bytes:
    """Several protocol lines as one buffer, for a single write."""
    if len(values) == 1:  # a streamed token's usual batch
        return encode_line(values[0])
    return b"".join([encode_line(value) for value in values])
