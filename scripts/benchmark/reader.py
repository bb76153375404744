"""The reader: a separate process that consumes a sidecar's stdout the way a desktop shell does.

    python -m benchmark.reader [--stall-after-bytes N --stall-s S]  < sidecar-stdout-pipe

Blocking reads of up to 64 KiB from stdin; every read is stamped with `time.monotonic()` as soon
as it returns, and each line in it is split on `\\n` only and decoded. What it reports goes to its
own stdout, one JSON object per line, for the benchmark process:

- `{"ev":"hello"}` once it is ready to read;
- `{"ev":"line","t":T,"msg":LINE}` for every line that is not a `chat:token` (the ready line,
  responses), at once, so the benchmark can pace its requests;
- `{"ev":"first","chat":ID,"t":T}` when a chat's first `chat:token` arrives;
- `{"ev":"stall","t":T}` / `{"ev":"resume","t":T}` around the deliberate stall;
- at EOF, `{"ev":"summary",...}`: per chat, the joined token text and one `[T, chars]` pair per
  notification, so token arrival times can be recovered whatever the sidecar merged.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import msgspec


class TokenParams(msgspec.Struct):
    chat_id: Any = None
    content: str = ""


class Line(msgspec.Struct):
    method: str = ""
    params: msgspec.Raw = msgspec.Raw(b"null")


class ChatLog:
    __slots__ = ("parts", "arrivals")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.arrivals: list[tuple[float, int]] = []


def _emit(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view) :]


def run(stall_after_bytes: int | None, stall_s: float) -> None:
    line_decoder = msgspec.json.Decoder(Line)
    token_decoder = msgspec.json.Decoder(TokenParams)
    encoder = msgspec.json.Encoder()
    chats: dict[Any, ChatLog] = {}
    buffer = b""
    total = 0
    lines = 0
    stalled = False
    _emit(b'{"ev":"hello"}\n')
    while True:
        data = os.read(0, 65536)
        now = time.monotonic()
        if not data:
            break
        total += len(data)
        buffer += data
        if b"\n" in data:
            *complete, buffer = buffer.split(b"\n")
            for raw in complete:
                lines += 1
                line = line_decoder.decode(raw)
                if line.method == "chat:token":
                    params = token_decoder.decode(line.params)
                    log = chats.get(params.chat_id)
                    if log is None:
                        log = chats[params.chat_id] = ChatLog()
                        _emit(b'{"ev":"first","chat":%b,"t":%r}\n' % (encoder.encode(params.chat_id), now))
                    log.parts.append(params.content)
                    log.arrivals.append((now, len(params.content)))
                else:
                    _emit(b'{"ev":"line","t":%r,"msg":%b}\n' % (now, raw))
        if stall_after_bytes is not None and not stalled and total >= stall_after_bytes:
            stalled = True
            _emit(b'{"ev":"stall","t":%r}\n' % time.monotonic())
            time.sleep(stall_s)
            _emit(b'{"ev":"resume","t":%r}\n' % time.monotonic())
    summary = {
        "ev": "summary",
        "bytes": total,
        "lines": lines,
        "unterminated": len(buffer),
        "chats": [
            {"chat": chat, "text": "".join(log.parts), "arrivals": log.arrivals}
            for chat, log in chats.items()
        ],
    }
    _emit(encoder.encode(summary) + b"\n")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.reader")
    parser.add_argument("--stall-after-bytes", type=int)
    parser.add_argument("--stall-s", type=float, default=5.0)
    args = parser.parse_args()
    run(args.stall_after_bytes, args.stall_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
