"""Helpers shared by the tests (no fixtures here: see conftest.py)."""

from __future__ import annotations

from pathlib import Path

import trio

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "testkit" / "sidecar_testkit" / "fake_ollama" / "transcripts"


def transcript(name: str) -> bytes:
    """A byte-exact Ollama fixture transcript."""
    return (TRANSCRIPTS / name).read_bytes()


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


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
