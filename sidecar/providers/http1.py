"""Just enough HTTP/1.1 for one response: request bytes out, response head and body in.

Sans-IO and synchronous, like h11, but built for a different job. Ollama flushes one HTTP chunk
per token, and a general client (httpx over h11) hands the body back one chunk at a time, with
several layers of async generators per chunk; at thousands of tokens per second that per-chunk
cost was 70% of the sidecar's CPU (docs/benchmarks.md). Here `BodyDecoder.feed` turns a whole
network read into the body bytes it carries in one pass, so a read holding hundreds of tokens is
handled once, and the chat loop writes one batch of notifications per read.

Supported: a status line and headers; bodies framed by `Transfer-Encoding: chunked`,
`Content-Length`, or the end of the connection. Not needed here, so not supported: trailers
(skipped), 1xx responses other than 100 (rejected), pipelining, upgrades.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from typing import Final

MAX_HEAD_BYTES: Final = 64 * 1024
MAX_CHUNK_SIZE_LINE: Final = 1024


class ProtocolError(Exception):
    """The peer sent something that is not the HTTP/1.1 this module understands."""


def encode_request(
    method: str, target: str, host: str, headers: dict[str, str], body: bytes = b"",
    *, body_length: int | None = None,
) -> bytes:
    """The whole request, head and body, as one buffer; with `body_length`, the head alone, for
    a body of that many bytes sent after it (a big body is then not copied).

    Raises ValueError when a header would break the head (CR, LF or NUL in it): one could add
    headers of its own. The message does not quote the value (it may be a key).
    """
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    for line in lines:
        if any(char in line for char in "\r\n\0"):
            raise ValueError(f"a line break in the request head ({line.partition(':')[0]!r})")
    length = len(body) if body_length is None else body_length
    if length or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {length}")
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("latin-1") + body


@dataclass(frozen=True)
class ResponseHead:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "

    def body_decoder(self, request_method: str = "GET") -> BodyDecoder:
        no_body = request_method == "HEAD" or self.status in (204, 304)
        if no_body:
            return LengthBody(0)
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return ChunkedBody()
        length = self.headers.get("content-length")
        if length is not None:
            try:
                return LengthBody(int(length))
            except ValueError:
                raise ProtocolError(f"bad Content-Length {length!r}") from None
        return CloseDelimitedBody()


class HeadParser:
    """Collects bytes until a complete response head; `feed` returns it and the bytes after."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> tuple[ResponseHead | None, bytes]:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    raise ProtocolError("response head too long")
                return None, b""
            head = _parse_head(bytes(self._buffer[:end]))
            rest = bytes(self._buffer[end + 4 :])
            self._buffer.clear()
            if head.status == 100:  # "100 Continue": the real head follows
                self._buffer += rest
                continue
            return head, rest


def _parse_head(raw: bytes) -> ResponseHead:
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        raise ProtocolError(f"bad status code in {lines[0][:80]!r}") from None
    if 100 <= status < 200:
        if status != 100:
            raise ProtocolError(f"unsupported informational response {status}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"bad header line {line[:80]!r}")
        name = name.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return ResponseHead(status, parts[2] if len(parts) > 2 else "", headers)


class BodyDecoder:
    """Body framing: `feed` returns the body bytes in `data`; `done` once the body is complete.

    `eof()` is called when the connection ends; it raises `ProtocolError` if that cuts the body
    short. When a read holds good body bytes and then broken framing, `feed` returns the good
    bytes and keeps the error in `error`, raised by the next `feed`: text received is never
    thrown away because of what came after it in the same read.
    """

    done: bool = False
    error: ProtocolError | None = None

    def feed(self, data: bytes) -> bytes:
        raise NotImplementedError

    def eof(self) -> None:
        if not self.done:
            raise ProtocolError("the connection closed before the end of the body")


class LengthBody(BodyDecoder):
    def __init__(self, length: int) -> None:
        self._left = length
        self.done = length == 0

    def feed(self, data: bytes) -> bytes:
        body = data[: self._left]
        self._left -= len(body)
        self.done = self._left == 0
        return body


class CloseDelimitedBody(BodyDecoder):
    def feed(self, data: bytes) -> bytes:
        return data

    def eof(self) -> None:
        self.done = True


class ChunkedBody(BodyDecoder):
    """`Transfer-Encoding: chunked`, decoded a whole read at a time.

    Servers that stream write one chunk per token, so a read holds hundreds of small chunks.
    `_pairs` takes the run of whole chunks at the start of a read in a few C-level passes
    (`split` on CRLF, every size parsed by `map(int)` and compared with its data's length), and
    the exact loop reads what is left: a partial chunk at the end, the last chunk and the
    trailers, and whatever the quick pass did not vouch for (data holding a CRLF, an extension,
    a bad size), which then gets the loop's own answer and error.
    """

    def __init__(self) -> None:
        self._buffer = b""  # unparsed framing (a size line or a CRLF split across reads)
        self._left = 0  # data bytes left in the current chunk
        self._need_crlf = False  # the CRLF after a chunk's data is still to come
        self._in_trailers = False

    def feed(self, data: bytes) -> bytes:
        if self.error is not None:
            raise self.error
        if not (self._buffer or self._left or self._need_crlf or self._in_trailers):
            # The read of a model that writes a chunk per token: exactly one whole chunk (its
            # size, as the loop parses it, is the length of what lies between the CRLFs).
            eol = data.find(b"\r\n", 0, MAX_CHUNK_SIZE_LINE)
            if eol > 0 and data.endswith(b"\r\n"):
                start, end = eol + 2, len(data) - 2
                try:
                    size = int(data[:eol], 16)
                except ValueError:  # an extension, or no size: the loop says which
                    size = 0
                if size > 0 and size == end - start:
                    return data[start:end]
        out: list[bytes] = []
        try:
            self._feed(data, out)
        except ProtocolError as exc:
            if not out:
                raise
            self.error = exc
        return b"".join(out)

    def _feed(self, data: bytes, out: list[bytes]) -> None:
        if self._buffer:
            data, self._buffer = self._buffer + data, b""
        pos, end = 0, len(data)
        quick = True  # `_pairs` is tried once, at the first chunk boundary
        while pos < end and not self.done:
            if self._left:
                take = min(self._left, end - pos)
                out.append(data[pos : pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    self._need_crlf = True
                continue
            if quick and not (self._need_crlf or self._in_trailers):
                quick = False
                pos += self._pairs(data[pos:] if pos else data, out)
                continue
            eol = data.find(b"\r\n", pos)
            if eol < 0:
                if end - pos > MAX_CHUNK_SIZE_LINE:
                    raise ProtocolError("chunk size line too long")
                self._buffer = data[pos:]
                break
            line = data[pos:eol]
            pos = eol + 2
            if self._need_crlf:
                if line:
                    raise ProtocolError("missing CRLF after chunk data")
                self._need_crlf = False
            elif self._in_trailers:
                if not line:
                    self.done = True
            else:
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size {size_text[:20]!r}") from None
                if size < 0:
                    raise ProtocolError(f"bad chunk size {size_text[:20]!r}")
                if size == 0:
                    self._in_trailers = True
                else:
                    self._left = size

    @staticmethod
    def _pairs(data: bytes, out: list[bytes]) -> int:
        """Appends the data of the whole chunks (not the last) that start `data`, as the loop
        would; returns the bytes they take, 0 when the loop must read them."""
        parts = data.split(b"\r\n")
        count = (len(parts) - 1) // 2  # (size, data) pairs, each followed by a CRLF
        if not count:
            return 0
        sizes = parts[0 : 2 * count : 2]
        chunks = parts[1 : 2 * count : 2]
        try:
            wanted = list(map(int, sizes, repeat(16)))
        except ValueError:  # an extension, or no size at all: the loop says which
            return 0
        if 0 in wanted:  # the last chunk: the loop reads it and the trailers
            count = wanted.index(0)
            del wanted[count:], sizes[count:], chunks[count:]
        lengths = list(map(len, chunks))
        if wanted != lengths:  # data holding a CRLF, or a bad size
            return 0
        out += chunks
        return sum(map(len, sizes)) + sum(lengths) + 4 * count
