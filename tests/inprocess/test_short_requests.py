"""`HttpProvider._request`, the one call for a short request (models, version, and the endpoints
other capabilities add): over the sidecar's own HTTP/1.1, against `MemoryOllama`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import trio
import trio.testing

from sidecar.config import Config
from sidecar.errors import RpcError
from sidecar.providers.ollama.client import OllamaClient

from .rig import Handler, MemoryOllama


@asynccontextmanager
async def client_for(handler: Handler, **config: object) -> AsyncIterator[OllamaClient]:
    async with trio.open_nursery() as nursery:
        server = MemoryOllama(handler, nursery, refuse=False)
        base = Config(base_url="http://ollama.test/base", model="m", **config)  # type: ignore[arg-type]
        yield OllamaClient(base, connector=server.connect)
        nursery.cancel_scope.cancel()


async def test_a_post_sends_its_json_body_and_the_key_and_reads_the_whole_answer() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"license": "x" * 100_000})

    async with client_for(handler, api_key="sk-test") as client:
        reply = await client._request("POST", "/api/show", b'{"model":"m"}')
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    assert reply.body == b'{"license":"' + b"x" * 100_000 + b'"}'
    [request] = seen
    assert (request.method, request.url.path, request.content) == ("POST", "/base/api/show", b'{"model":"m"}')
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer sk-test"


async def test_an_error_status_raises_the_dialects_error_unless_the_caller_reads_it() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": "model 'llama9' not found"})

    async with client_for(handler) as client:
        with pytest.raises(RpcError) as raised:
            await client._request("DELETE", "/api/delete", b'{"model":"llama9"}', model="llama9")
        reply = await client._request("DELETE", "/api/delete", b'{"model":"llama9"}', check=False)
    assert raised.value.data()["kind"] == "model_not_found"
    assert (reply.status, reply.body) == (404, b'{"error":"model \'llama9\' not found"}')


async def test_no_answer_within_the_time_limit_is_unreachable(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await trio.sleep_forever()
        raise AssertionError

    async with client_for(handler) as client:
        with pytest.raises(RpcError) as raised:
            await client._request("GET", "/api/ps", timeout_s=2.0)
    assert raised.value.data()["kind"] == "ollama_unreachable"
    assert "no answer to /api/ps within 2 s" in raised.value.message
