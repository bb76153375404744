"""Input edges on the real process (issue 11, item 4).

- Deeply nested JSON is answered as §5's check order says (-32700 when the line is not JSON,
  -32600 when it is), never as a bug (-32603), and under the line's id when that can be read.
- A line of exactly `--max-line-bytes` followed by `\\r\\n` is served whether or not the `\\r` and
  the `\\n` arrive in the same read: the terminator never counts.
"""

from __future__ import annotations

import array
import fcntl
import termios
from typing import Final

import pytest
import trio

from .e2e import GUARD_S, checked_sidecar

DEPTH: Final = 100_000
DEEP_ARRAY: Final = b"[" * DEPTH + b"]" * DEPTH


@pytest.mark.parametrize(
    ("line", "code", "answer_id"),
    [
        (b"[" * DEPTH, -32700, None),
        (b'{"a":' * DEPTH, -32700, None),
        (DEEP_ARRAY, -32600, None),
        (b'{"a":' * DEPTH + b"1" + b"}" * DEPTH, -32600, None),
        (b'{"id":"deep","method":"status","params":{"x":' + DEEP_ARRAY + b"}}", -32600, "deep"),
        (b'{"jsonrpc":"2.0","id":7,"method":"status","params":' + DEEP_ARRAY + b"}", -32600, 7),
    ],
    ids=["unclosed arrays", "unclosed objects", "closed arrays", "closed objects",
         "readable id, deep params", "readable integer id"],
)
async def test_deeply_nested_json_gets_the_error_of_its_check(
    line: bytes, code: int, answer_id: str | int | None
) -> None:
    with trio.fail_after(GUARD_S):
        async with checked_sidecar("--ollama-url", "http://127.0.0.1:1") as sidecar:
            assert sidecar.process.stdin is not None
            # Past the harness's own bookkeeping, whose decoder has the same depth limit.
            await sidecar.process.stdin.send_all(line + b"\n")
            if answer_id is not None:
                sidecar.sent.setdefault(answer_id, []).append("status")
            answer = await sidecar.wait_for(lambda l: l.is_response)
            after = await sidecar.response(await sidecar.request("cancel_chat", id="after"))
    assert answer.value["id"] == answer_id
    assert answer.value["error"]["code"] == code, answer.value
    assert "nested too deeply" in answer.value["error"]["message"] or code == -32700
    assert after["result"] == {"cancelled": []}  # still serving


def pipe_pending(fd: int) -> int:
    """Bytes written to a pipe and not yet read by the other end."""
    count = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, count)
    return count[0]


async def test_a_line_of_exactly_the_limit_is_served_when_cr_and_lf_come_in_two_reads() -> None:
    head = b'{"id":"edge","method":"cancel_chat"'
    line = head + b" " * (64 - len(head) - 1) + b"}"
    assert len(line) == 64
    with trio.fail_after(GUARD_S):
        async with checked_sidecar("--max-line-bytes", "64") as sidecar:
            assert sidecar.process.stdin is not None
            await sidecar.send_raw(line + b"\r")
            while pipe_pending(sidecar.process.stdin.fileno()):  # the sidecar has read it all
                await trio.sleep(0.005)
            await sidecar.send_raw(b"\n")
            answer = await sidecar.response("edge")
            # The same line in one read, for comparison: served as well.
            await sidecar.send_raw(line.replace(b"edge", b"once") + b"\r\n")
            once = await sidecar.response("once")
    assert answer == {"jsonrpc": "2.0", "id": "edge", "result": {"cancelled": []}}
    assert once == {"jsonrpc": "2.0", "id": "once", "result": {"cancelled": []}}
