"""The real sidecar process with --provider openai: the key never reaches stdout or stderr.

The upstream here is a few lines of trio on loopback that refuses every request with 401 and
echoes the Authorization header it got, as a careless server might.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import os
import subprocess
import sys

import msgspec
import pytest
import trio

from .e2e import checked_sidecar
from ..support import GUARD_S, read_request_head, user

SECRET = "sk-live-never-print-me-4b1d"


async def _refuse(stream: trio.SocketStream) -> None:
    head = await read_request_head(stream)
    if head is None:
        return
    auth = next(
        (line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
         if line.lower().startswith(b"authorization:")),
        b"",
    )
    body = msgspec.json.encode({"error": {"message": f"bad key {auth.decode()}", "type": "auth"}})
    await stream.send_all(
        b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
    )
    await stream.aclose()


@asynccontextmanager
async def refusing_server() -> AsyncIterator[str]:
    async with trio.open_nursery() as nursery:
        [listener] = await nursery.start(partial(trio.serve_tcp, _refuse, 0, host="127.0.0.1"))
        yield f"http://127.0.0.1:{listener.socket.getsockname()[1]}/v1"
        nursery.cancel_scope.cancel()


async def test_the_key_is_sent_but_never_logged_answered_or_announced() -> None:
    with trio.fail_after(GUARD_S):
        async with refusing_server() as base, checked_sidecar(
            "--provider", "openai", "--base-url", base, "--api-key-env", "LLM_KEY",
            "--model", "m", "--log-level", "DEBUG", env={"LLM_KEY": SECRET},
        ) as sidecar:
            chat = await sidecar.call("chat", {"messages": user("hi")})
            models = await sidecar.call("list_models")
            status = await sidecar.call("status")
            await sidecar.call("shutdown")
            assert await sidecar.wait_exit() == 0
    assert sidecar.ready["provider"] == "openai"
    assert sidecar.ready["ollama_url"] == base
    assert chat["error"]["data"]["kind"] == models["error"]["data"]["kind"] == "upstream_error"
    assert "[redacted]" in chat["error"]["message"]  # the echoed key was scrubbed
    assert "LLM_KEY" in chat["error"]["data"]["hint"]
    assert status["result"]["provider"] == "openai"
    assert SECRET not in b"".join(line.raw for line in sidecar.lines).decode()
    assert SECRET.encode() not in sidecar.stderr
    assert b"DEBUG" in sidecar.stderr  # the logs were on, and still said nothing of it


async def test_a_key_with_a_windows_line_end_is_sent_without_it() -> None:
    # A .env file written on Windows leaves "\r" at the end; the server gets the key alone.
    with trio.fail_after(GUARD_S):
        async with refusing_server() as base, checked_sidecar(
            "--provider", "openai", "--base-url", base, "--model", "m",
            env={"OPENAI_API_KEY": SECRET + "\r"},
        ) as sidecar:
            chat = await sidecar.call("chat", {"messages": user("hi")})
    # the server echoed what it got, which the sidecar redacted: the whole key, and nothing else
    assert chat["error"]["message"].endswith("bad key Bearer [redacted]")


@pytest.mark.parametrize("key", [SECRET + "\r\nX-Injected: 1", "sk live " + SECRET])
def test_a_key_no_header_can_carry_stops_the_start_with_exit_2_and_is_not_shown(key: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "--provider", "openai", "--base-url", "http://127.0.0.1:9"],
        input=b"", capture_output=True, timeout=GUARD_S, env={**os.environ, "OPENAI_API_KEY": key},
    )
    assert done.returncode == 2
    assert done.stdout == b""  # no sidecar:ready: a host sees the process end, and stderr says why
    assert b"OPENAI_API_KEY" in done.stderr and SECRET.encode() not in done.stderr
