"""The real sidecar against an https server (a remote inference server behind a private CA).

The chat stream and the short requests (the sidecar's own HTTP/1.1 over trio.SSLStream) must
trust the same certificates: the system's store, or SSL_CERT_FILE. The server is a few lines of
trio on loopback with a certificate from a throwaway CA (trustme). Each test runs against
`python -m sidecar` and against the frozen binary (scripts/build-sidecar), which carries its
own ssl and OpenSSL and nothing of the crypto libraries it never calls.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import msgspec
import pytest
import trio
import trustme

from .e2e import GUARD_S, checked_sidecar
from ..support import read_request_head, user

MODELS = msgspec.json.encode({"object": "list", "data": [{"id": "remote-model", "object": "model"}]})
STREAM = (
    b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"over "},"finish_reason":null}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{"content":"TLS"},"finish_reason":null}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


async def _answer(stream: trio.SSLStream[trio.SocketStream]) -> None:
    try:
        head = await read_request_head(stream)
        if head is None:
            return
        request_line = head.split(b"\r\n", 1)[0]
        if request_line.startswith(b"GET /v1/models "):
            response = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(MODELS), MODELS)
            )
        else:  # POST /v1/chat/completions: the body is not needed
            response = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + STREAM
        await stream.send_all(response)
    except trio.BrokenResourceError:
        return  # a client that refused our certificate hung up during the handshake
    finally:
        await trio.aclose_forcefully(stream)


@asynccontextmanager
async def https_server(ca: trustme.CA) -> AsyncIterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    async with trio.open_nursery() as nursery:
        [listener] = await nursery.start(
            partial(trio.serve_ssl_over_tcp, _answer, 0, context, host="127.0.0.1")
        )
        port = listener.transport_listener.socket.getsockname()[1]
        yield f"https://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


@pytest.fixture(params=["python", "frozen"])
def command(request: pytest.FixtureRequest) -> list[str] | None:
    """How the sidecar is started: `python -m sidecar` (None), or the frozen binary."""
    if request.param == "python":
        return None
    return [str(request.getfixturevalue("frozen_binary"))]


@pytest.fixture
def ca_file(tmp_path: Path) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    path = tmp_path / "private-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


async def test_chat_and_list_models_trust_the_ca_in_ssl_cert_file(
    ca_file: tuple[trustme.CA, Path], command: list[str] | None
) -> None:
    ca, path = ca_file
    with trio.fail_after(GUARD_S):
        async with https_server(ca) as url, checked_sidecar(
            "--provider", "openai", "--base-url", url, "--model", "remote-model",
            env={"SSL_CERT_FILE": str(path)}, command=command,
        ) as sidecar:
            models = await sidecar.call("list_models")
            chat = await sidecar.call("chat", {"messages": user("hi")})
            status = await sidecar.call("status")
    assert [m["name"] for m in models["result"]["models"]] == ["remote-model"]
    assert chat["result"]["messages"] == [{"role": "assistant", "content": "over TLS"}]
    assert status["result"]["ollama"]["reachable"] is True


async def test_an_untrusted_certificate_is_reported_as_such_by_chat_and_list_models(
    ca_file: tuple[trustme.CA, Path], command: list[str] | None
) -> None:
    ca, _ = ca_file
    with trio.fail_after(GUARD_S):
        async with https_server(ca) as url, checked_sidecar(
            "--provider", "openai", "--base-url", url, "--model", "remote-model",
            command=command,
        ) as sidecar:
            models = await sidecar.call("list_models")
            chat = await sidecar.call("chat", {"messages": user("hi")})
    for error in (models["error"], chat["error"]):
        assert error["data"]["kind"] == "ollama_unreachable"
        assert "CERTIFICATE_VERIFY_FAILED" in error["message"], error["message"]
