"""The whole sidecar in one trio run with --provider openai: same wire to the client, SSE upstream."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
import trio

from sidecar.methods import methods_for

from .rig import CHAT, ScriptStream, open_rig, sse, streaming
from ..support import transcript, user

KEY = "sk-test-0123456789abcdef"


def openai_rig(handler: Any, **config: Any) -> Any:
    return open_rig(handler, provider="openai", **config)


async def test_a_chat_streams_from_chat_completions_with_the_key_and_usage() -> None:
    gate = trio.Event()
    body = ScriptStream([*sse("Hel")[:1], gate, *sse("lo", " there")])
    async with openai_rig(streaming(body), api_key=KEY) as rig:
        chat = await rig.request("chat", {**CHAT, "options": {"num_predict": 20}})
        first = await rig.notification("chat:token")
        assert first["params"] == {"chat_id": chat, "content": "Hel"}
        gate.set()
        result = (await rig.response(chat))["result"]
    [request] = rig.requests
    assert (request.method, request.url.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "text/event-stream"
    assert msgspec.json.decode(request.content) == {
        "model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True,
        "stream_options": {"include_usage": True}, "max_tokens": 20,
    }
    assert rig.text(chat) == "Hello there"
    assert result["done_reason"] == "stop"
    assert result["messages"] == [{"role": "assistant", "content": "Hello there"}]
    assert (result["usage"]["prompt_tokens"], result["usage"]["completion_tokens"]) == (3, 2)


async def test_the_llama_server_fixture_gives_a_tool_call_like_ollamas() -> None:
    async with openai_rig(streaming([transcript("g-v1-llama-server-sse-tool-call.sse")])) as rig:
        chat = await rig.request("chat", CHAT)
        call = (await rig.notification("chat:tool_call"))["params"]
        result = (await rig.response(chat))["result"]
    assert call == {"chat_id": chat, "call_id": "Xc4Rj8Lm2Pq7Tz1Wn6Bv9Kd3Hs5Fy0Ga",
                    "name": "get_weather", "arguments": {"city": "Tokyo"}}
    assert result["messages"][0]["tool_calls"][0]["function"]["arguments"] == {"city": "Tokyo"}


async def test_cancel_mid_stream_closes_the_upstream_response() -> None:
    body = ScriptStream([*sse("par", "tial", done=False), trio.Event()])
    async with openai_rig(streaming(body)) as rig:
        chat = await rig.request("chat", CHAT)
        await rig.read_until(lambda l: rig.text(chat) == "partial")
        cancelled = await rig.response(await rig.request("cancel_chat", {"chat_id": chat}))
        result = (await rig.response(chat))["result"]
        with trio.fail_after(5):
            await body.closed.wait()
    assert cancelled["result"] == {"cancelled": [chat]}
    assert result["done_reason"] == "cancelled"
    assert result["messages"] == [{"role": "assistant", "content": "partial"}]


async def test_a_forced_tool_choice_applies_to_the_first_round_only() -> None:
    call = (
        b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1",'
        b'"type":"function","function":{"name":"pick","arguments":"{}"}}]},"finish_reason":null}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\ndata: [DONE]\n\n'
    )
    tool = {"type": "function", "function": {"name": "pick", "parameters": {"type": "object"}}}
    async with openai_rig(streaming([call], sse("done"))) as rig:
        chat = await rig.request("chat", {**CHAT, "tools": [tool], "tool_choice": "required"})
        await rig.notification("chat:tool_call")
        await rig.request("tool_result", {"chat_id": chat, "call_id": "c1", "content": "42"})
        result = (await rig.response(chat))["result"]
    first, second = (msgspec.json.decode(r.content) for r in rig.requests)
    assert first["tool_choice"] == "required" and "tool_choice" not in second
    assert second["messages"][-2:] == [
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "pick", "arguments": "{}"}, "id": "c1"}]},
        {"role": "tool", "content": "42", "tool_call_id": "c1", "name": "pick"},
    ]
    assert result["messages"][-1] == {"role": "assistant", "content": "done"}


async def test_tool_choice_is_not_sent_to_ollama() -> None:
    from .rig import CHAT, ndjson

    async with open_rig(streaming(ndjson("x"))) as rig:
        await rig.response(await rig.request("chat", {**CHAT, "tool_choice": "none"}))
    assert "tool_choice" not in msgspec.json.decode(rig.requests[0].content)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, transcript("error-404-v1-openai-format.json"), "model_not_found"),
        (404, (b'{"error":{"message":"The model `llama9` does not exist",'
               b'"type":"invalid_request_error","param":null,"code":"model_not_found"}}'),
         "model_not_found"),
        (404, b'{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}',
         "upstream_error"),
        # vLLM's own error body, with no "error" key
        (404, (b'{"object":"error","message":"The model `llama9` does not exist.",'
               b'"type":"NotFoundError","param":null,"code":404}'), "model_not_found"),
        (400, b'{"error":{"message":"bad request","type":"invalid_request_error"}}', "upstream_error"),
        (503, b'{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}',
         "upstream_error"),
    ],
)
async def test_http_errors_map_to_the_same_kinds_as_ollamas(status: int, body: bytes, kind: str) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    async with openai_rig(handler, model="llama9") as rig:
        error = (await rig.response(await rig.request("chat", CHAT)))["error"]
    assert error["data"]["kind"] == kind and error["data"]["messages"] == []
    if kind == "model_not_found":
        assert "'llama9'" in error["message"] and "list_models" in error["data"]["hint"]
    else:
        assert error["data"]["status"] == status and "Ollama" not in error["message"]


@pytest.mark.parametrize(("key", "says"), [(KEY, "refused the API key from"), (None, "is not set")])
async def test_401_hints_at_the_key_variable_and_never_shows_the_key(key: str | None, says: str) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        sent = request.headers.get("authorization", "")
        return httpx.Response(401, json={"error": {"message": f"Invalid key: {sent}"}})

    async with openai_rig(handler, api_key=key, api_key_env="MY_LLM_KEY") as rig:
        chat = (await rig.response(await rig.request("chat", CHAT)))["error"]
        models = (await rig.response(await rig.request("list_models")))["error"]
        status = (await rig.response(await rig.request("status")))["result"]
    assert chat["data"]["kind"] == models["data"]["kind"] == "upstream_error"
    assert chat["data"]["status"] == 401
    assert says in chat["data"]["hint"] and "MY_LLM_KEY" in chat["data"]["hint"]
    assert "--api-key-env" in chat["data"]["hint"]
    everything = msgspec.json.encode(rig.lines).decode()
    assert KEY not in everything
    if key is not None:
        assert "[redacted]" in chat["message"] and status["ollama"]["reachable"] is False


async def test_an_unreachable_server_is_not_told_to_run_ollama() -> None:
    async with openai_rig(streaming(), refuse=True) as rig:
        chat = (await rig.response(await rig.request("chat", CHAT)))["error"]
        status = (await rig.response(await rig.request("status")))["result"]
    assert chat["data"]["kind"] == "ollama_unreachable"
    assert chat["message"].startswith("The OpenAI-compatible server is not reachable at http://ollama.test/v1")
    assert "--base-url" in chat["data"]["hint"] and "ollama serve" not in chat["data"]["hint"]
    assert status["ollama"]["reachable"] is False


async def test_list_models_maps_data_ids() -> None:
    models = {"object": "list", "data": [
        {"id": "gemma-3-270m", "object": "model", "created": 1787331731, "owned_by": "llamacpp"},
        {"id": "qwen2.5:7b", "object": "model"},
    ]}

    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/models"
        return httpx.Response(200, json=models)

    async with openai_rig(handler) as rig:
        result = (await rig.response(await rig.request("list_models")))["result"]
    neutral = {"size": 0, "family": "", "parameter_size": "", "quantization": "", "capabilities": []}
    assert result == {"models": [
        {"name": "gemma-3-270m", "modified_at": "2026-08-21T17:02:11Z", **neutral},
        {"name": "qwen2.5:7b", "modified_at": "", **neutral},
    ]}


async def test_status_reports_the_provider_and_probes_models() -> None:
    async with openai_rig(streaming()) as rig:
        result = (await rig.response(await rig.request("status")))["result"]
    assert result == {
        "version": "0.1.0", "protocol": 1, "ollama_url": "http://ollama.test/v1", "chats": [],
        "ollama": {"reachable": True, "version": None, "error": None}, "provider": "openai",
        "methods": methods_for("openai", store=False),  # the rig keeps no conversations
    }
    assert [r.url.path for r in rig.requests] == ["/v1/models"]


async def test_a_key_echoed_in_a_mid_stream_error_is_redacted() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        sent = request.headers["authorization"]
        body = sse("Hi", done=False)[0] + b'data: {"error":{"message":"token ' + sent.encode() + b' expired"}}\n\n'
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async with openai_rig(handler, api_key=KEY) as rig:
        error = (await rig.response(await rig.request("chat", CHAT)))["error"]
    assert error["data"]["kind"] == "upstream_error"
    assert "expired" in error["message"] and "[redacted]" in error["message"]
    assert error["data"]["messages"] == [{"role": "assistant", "content": "Hi"}]
    assert KEY not in msgspec.json.encode(rig.lines).decode()
