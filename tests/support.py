"""Helpers shared by the tests of every level (no fixtures here: see conftest.py)."""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import msgspec
import trio

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
TRANSCRIPTS: Final = REPO_ROOT / "testkit" / "sidecar_testkit" / "fake_ollama" / "transcripts"
# A guard against hangs, not a speed assertion: these machines are shared and noisy.
GUARD_S: Final = 30.0
PR_SET_CHILD_SUBREAPER: Final = 36


def transcript(name: str) -> bytes:
    """A byte-exact Ollama fixture transcript."""
    return (TRANSCRIPTS / name).read_bytes()


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def chat_params(model: str, text: str = "hi", **extra: Any) -> dict[str, Any]:
    """The params of a `chat` (or the body of Ollama's `/api/chat`): one user message."""
    return {"model": model, "messages": user(text), **extra}


def request_line(id: int | str, method: str, params: dict[str, Any] | None = None) -> bytes:
    """One JSON-RPC request as the line a host writes to the sidecar's stdin."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return msgspec.json.encode(message) + b"\n"


@contextmanager
def child_subreaper() -> Iterator[None]:
    """Orphans of this test's children are re-parented to the test process, so they can be
    reaped here (this machine's PID 1 does not reap, and a zombie still answers
    `kill(pid, 0)`). Linux only; elsewhere it does nothing."""
    if sys.platform != "linux":
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


async def read_request_head(stream: trio.abc.ReceiveStream) -> bytes | None:
    """What a tiny test server reads of a request: its head through the blank line (and any
    bytes after it), or None when the client hung up first."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = await stream.receive_some(65536)
        if not data:
            return None
        head += data
    return head
