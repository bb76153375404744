"""A long conversation's request body, encoded and sent a piece at a time.

A `chat` of thousands of messages makes a body of megabytes. Encoding it in one call, joining it
into one buffer and handing it to the kernel in one `send` would each hold the loop for
milliseconds, and every other chat's tokens would wait that long (issue 14: a 5.6 MB request
must not delay another stream by more than a few ms). So both dialects' bodies are encoded
`MESSAGES_PER_PIECE` messages at a time, the loop running in between, and kept as a list of
parts that are written one after the other (`send_parts`), never joined, in writes of at most
`SEND_PIECE_BYTES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

import msgspec
import trio

from .base import ChatRequest

MESSAGES_PER_PIECE: Final = 200  # a long conversation's body is encoded this many at a time
SEND_PIECE_BYTES: Final = 256 * 1024  # the most handed to the kernel in one write
_EMPTY: Final = b'"messages":[]'


async def body_in_pieces(
    request: ChatRequest, encode: Callable[[ChatRequest], bytes]
) -> list[bytes]:
    """`encode(request)` as parts whose concatenation is it, byte for byte, with the loop let run
    between pieces of a long conversation. The encoders write messages one after the other, so
    the body is the body without messages with the pieces' arrays put in; a piece that does not
    fit that shape (or a body without `"messages":[]`) makes it encode at once."""
    messages = request.messages
    if len(messages) <= MESSAGES_PER_PIECE:
        return [encode(request)]
    shell = encode(msgspec.structs.replace(request, messages=[]))
    at = shell.find(_EMPTY)  # the first: a model name before it is a string, quotes escaped
    if at < 0:
        return [encode(request)]
    prefix, suffix = shell[: at + len(_EMPTY) - 1], shell[at + len(_EMPTY) - 1 :]
    parts: list[bytes] = [prefix]
    for start in range(0, len(messages), MESSAGES_PER_PIECE):
        await trio.lowlevel.checkpoint()
        piece = encode(
            msgspec.structs.replace(request, messages=messages[start : start + MESSAGES_PER_PIECE])
        )
        if not (piece.startswith(prefix) and piece.endswith(suffix)):
            return [encode(request)]
        if start:
            parts.append(b",")
        parts.append(piece[len(prefix) : len(piece) - len(suffix)])
    parts.append(suffix)
    return parts


async def send_parts(stream: trio.abc.SendStream, parts: Sequence[bytes]) -> None:
    """Writes `parts` in order, in writes of at most `SEND_PIECE_BYTES` (a megabyte handed to the
    kernel at once is a long copy with the loop held)."""
    for part in parts:
        if len(part) <= SEND_PIECE_BYTES:
            await stream.send_all(part)
            continue
        with memoryview(part) as view:
            for start in range(0, len(part), SEND_PIECE_BYTES):
                await stream.send_all(view[start : start + SEND_PIECE_BYTES])
