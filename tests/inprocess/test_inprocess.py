"""The whole sidecar in one trio run: memory streams for stdio, httpx.MockTransport for Ollama."""

from __future__ import annotations

import threading

import httpx
import msgspec
import pytest
import trio
import trio.testing

from sidecar.methods import METHODS, STORE_ONLY

from .rig import CHAT, ScriptStream, ndjson, open_rig, streaming
from ..support import transcript, user


def pumping() -> bool:
    return any(t.name == "sidecar stream pump" for t in threading.enumerate())


# `sockets`: the upstream on real socket pairs, so the stream pump's thread streams the chat.
@pytest.mark.parametrize("sockets", [False, True])
async def test_tokens_are_written_as_the_upstream_sends_them(sockets: bool) -> None:
    gate = trio.Event()
    body = ScriptStream([*ndjson("Hel")[:1], gate, *ndjson("lo", " there")])
    async with open_rig(streaming(body), sockets=sockets) as rig:
        chat = await rig.request("chat", CHAT)
        first = await rig.notification("chat:token")
        assert first["params"] == {"chat_id": chat, "content": "Hel"}
        assert body.sent == 1  # the upstream is still waiting
        assert pumping() == sockets
        gate.set()
        response = await rig.response(chat)
    assert rig.text(chat) == "Hello there"
    assert response["result"]["done_reason"] == "stop"
    assert response["result"]["messages"] == [{"role": "assistant", "content": "Hello there"}]


async def test_ollama_receives_a_streaming_request_with_the_passed_through_fields() -> None:
    params = {
        "model": "qwen3:8b", "messages": user("hi"), "options": {"temperature": 0.2},
        "think": False, "format": "json", "keep_alive": 0,
    }
    async with open_rig(streaming(ndjson("x"))) as rig:
        await rig.response(await rig.request("chat", params))
    [request, ps] = rig.requests  # then /api/ps: the chat's usage.context_length
    assert (ps.method, ps.url.path) == ("GET", "/api/ps")
    assert (request.method, request.url.path) == ("POST", "/api/chat")
    assert msgspec.json.decode(request.content) == {
        "model": "qwen3:8b", "messages": [{"role": "user", "content": "hi"}], "stream": True,
        "options": {"temperature": 0.2}, "think": False, "format": "json", "keep_alive": 0,
    }


async def test_the_model_falls_back_to_the_flag_and_is_required() -> None:
    async with open_rig(streaming(ndjson("x")), model="from-flag") as rig:
        await rig.response(await rig.request("chat", CHAT))
        assert msgspec.json.decode(rig.requests[0].content)["model"] == "from-flag"
    async with open_rig(streaming(), model=None) as rig:
        response = await rig.response(await rig.request("chat", CHAT))
    assert response["error"]["code"] == -32602
    assert "--model" in response["error"]["message"]


@pytest.mark.parametrize("sockets", [False, True])
async def test_cancel_mid_stream_answers_cancelled_before_the_cancel_result(sockets: bool) -> None:
    body = ScriptStream([*ndjson("par", "tial", done=False), trio.Event()])
    async with open_rig(streaming(body), sockets=sockets) as rig:
        chat = await rig.request("chat", CHAT)
        await rig.read_until(lambda l: rig.text(chat) == "partial")
        cancel = await rig.request("cancel_chat", {"chat_id": chat})
        cancel_response = await rig.response(cancel)
        chat_response = await rig.response(chat)
        with trio.fail_after(5):
            await body.closed.wait()  # the upstream response was closed: Ollama stops
    assert cancel_response["result"] == {"cancelled": [chat]}
    assert rig.lines.index(chat_response) < rig.lines.index(cancel_response)
    result = chat_response["result"]
    assert result["done_reason"] == "cancelled"
    assert result["messages"] == [{"role": "assistant", "content": "partial"}]
    assert all(
        l.get("params", {}).get("chat_id") != chat for l in rig.lines[rig.lines.index(chat_response):]
    )


async def test_cancel_of_an_unknown_or_finished_id_cancels_nothing() -> None:
    async with open_rig(streaming(ndjson("x"))) as rig:
        chat = await rig.request("chat", CHAT)
        await rig.response(chat)
        assert (await rig.response(await rig.request("cancel_chat", {"chat_id": chat})))[
            "result"
        ] == {"cancelled": []}
        assert (await rig.response(await rig.request("cancel_chat", {"chat_id": "nope"})))[
            "result"
        ] == {"cancelled": []}


async def test_cancel_all_cancels_every_running_chat() -> None:
    bodies = [ScriptStream([*ndjson("a", done=False), trio.Event()]) for _ in range(3)]
    async with open_rig(streaming(*bodies)) as rig:
        chats = [await rig.request("chat", CHAT) for _ in range(3)]
        for chat in chats:
            await rig.read_until(lambda l, c=chat: rig.text(c) == "a")
        cancel = await rig.request("cancel_chat", {})
        result = (await rig.response(cancel))["result"]
        for chat in chats:
            assert (await rig.response(chat))["result"]["done_reason"] == "cancelled"
    assert result["cancelled"] == chats  # in the order accepted (§4), not sorted


async def test_more_chats_than_max_chats_are_refused_as_busy() -> None:
    bodies = [ScriptStream([trio.Event()]) for _ in range(2)]
    async with open_rig(streaming(*bodies), max_chats=2) as rig:
        await rig.request("chat", CHAT)
        await rig.request("chat", CHAT)
        third = await rig.request("chat", CHAT)
        error = (await rig.response(third))["error"]
    assert error["code"] == -32004 and error["data"]["kind"] == "busy"
    assert "hint" in error["data"]


async def test_a_duplicate_in_flight_id_is_an_invalid_request() -> None:
    async with open_rig(streaming(ScriptStream([trio.Event()]))) as rig:
        await rig.request("chat", CHAT, id="same")
        await rig.request("status", id="same")
        error = (await rig.response("same"))["error"]
        status = await rig.response(await rig.request("status"))
    assert error["code"] == -32600 and "already in flight" in error["message"]
    assert status["result"]["chats"] == ["same"]


async def test_a_notification_is_carried_out_but_never_answered() -> None:
    async with open_rig(streaming(ndjson("quiet"))) as rig:
        await rig.send({"jsonrpc": "2.0", "method": "chat", "params": CHAT})
        await rig.send({"jsonrpc": "2.0", "method": "no_such_thing"})
        await rig.read_until(lambda l: l.get("method") == "chat:token")
        status = await rig.response(await rig.request("status"))
    assert [l for l in rig.lines if "method" not in l] == [status]
    assert rig.lines[1]["params"] == {"chat_id": None, "content": "quiet"}


@pytest.mark.parametrize(
    ("status", "body", "code", "kind"),
    [
        (404, transcript("error-404-model-not-found.json"), -32001, "model_not_found"),
        (400, transcript("error-400-does-not-support-tools.json"), -32002, "upstream_error"),
        (400, transcript("error-400-does-not-support-thinking.json"), -32002, "upstream_error"),
        (503, transcript("error-503-server-busy.json"), -32002, "upstream_error"),
        (404, transcript("error-404-v1-openai-format.json"), -32001, "model_not_found"),
        (404, b"404 page not found", -32002, "upstream_error"),
        (500, b"", -32002, "upstream_error"),
    ],
)
async def test_http_errors_map_to_specific_codes(
    status: int, body: bytes, code: int, kind: str
) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    async with open_rig(handler, model="llama9") as rig:
        error = (await rig.response(await rig.request("chat", CHAT)))["error"]
    assert (error["code"], error["data"]["kind"]) == (code, kind)
    assert error["data"]["messages"] == []
    if kind == "model_not_found":
        assert error["data"]["hint"].startswith("Pull it with the pull_model method")
        assert "`ollama pull llama9`" in error["data"]["hint"]
    else:
        assert error["data"]["status"] == status


async def test_ollama_down_is_unreachable_with_a_hint() -> None:
    async with open_rig(streaming(), refuse=True) as rig:
        chat = (await rig.response(await rig.request("chat", CHAT)))["error"]
        models = (await rig.response(await rig.request("list_models")))["error"]
        status = (await rig.response(await rig.request("status")))["result"]
    assert chat["code"] == models["code"] == -32000
    assert "OLLAMA_HOST" in chat["data"]["hint"]
    assert status["ollama"]["reachable"] is False
    assert "not reachable" in status["ollama"]["error"]


async def test_a_midstream_error_keeps_the_partial_reply_in_the_error() -> None:
    async with open_rig(streaming([transcript("e-midstream-error.ndjson")])) as rig:
        chat = await rig.request("chat", CHAT)
        error = (await rig.response(chat))["error"]
    assert error["code"] == -32002 and error["data"]["status"] == 200
    assert error["data"]["messages"] == [{"role": "assistant", "content": "Once upon a time"}]
    assert rig.text(chat) == "Once upon a time"


async def test_a_stream_that_ends_without_done_is_interrupted() -> None:
    async with open_rig(streaming(ndjson("a", "b", done=False))) as rig:
        error = (await rig.response(await rig.request("chat", CHAT)))["error"]
    assert error["code"] == -32003 and error["data"]["kind"] == "stream_interrupted"
    assert error["data"]["messages"] == [{"role": "assistant", "content": "ab"}]


async def test_a_dropped_connection_is_interrupted() -> None:
    class Dropping(ScriptStream):
        async def __anext__(self) -> bytes:
            if not self.sent:
                self.sent = 1
                return ndjson("a", done=False)[0]
            raise httpx.RemoteProtocolError("peer closed connection")

    async with open_rig(streaming(Dropping([]))) as rig:
        error = (await rig.response(await rig.request("chat", CHAT)))["error"]
    assert error["code"] == -32003 and "dropped" in error["message"]
    assert error["data"]["messages"] == [{"role": "assistant", "content": "a"}]


async def test_idle_upstream_times_out(autojump_clock: trio.testing.MockClock) -> None:
    body = ScriptStream([*ndjson("slow", done=False), trio.Event()])
    async with open_rig(streaming(body), idle_timeout_s=30.0) as rig:
        error = (await rig.response(await rig.request("chat", CHAT)))["error"]
    assert error["code"] == -32003 and "30 s" in error["message"]
    assert error["data"]["messages"] == [{"role": "assistant", "content": "slow"}]


async def test_a_slow_model_load_is_not_a_timeout(autojump_clock: trio.testing.MockClock) -> None:
    body = ScriptStream([200.0, *ndjson("late")])
    async with open_rig(streaming(body)) as rig:
        response = await rig.response(await rig.request("chat", CHAT))
    assert response["result"]["messages"][0]["content"] == "late"


async def test_eof_lets_the_chat_in_flight_finish_then_stops() -> None:
    gate = trio.Event()
    async with open_rig(streaming([*ndjson("a", done=False), gate, *ndjson("b")])) as rig:
        chat = await rig.request("chat", CHAT)
        await rig.notification("chat:token")
        await rig.stdin.aclose()
        gate.set()
        lines = await rig.read_all()
    assert lines[-1]["id"] == chat and lines[-1]["result"]["done_reason"] == "stop"
    assert rig.stop_reason == "eof"


async def test_eof_drain_timeout_cancels_what_is_left(autojump_clock: trio.testing.MockClock) -> None:
    async with open_rig(streaming([*ndjson("a", done=False), trio.Event()]), drain_timeout_s=60.0) as rig:
        chat = await rig.request("chat", CHAT)
        await rig.notification("chat:token")
        await rig.stdin.aclose()
        lines = await rig.read_all()
    assert lines[-1]["id"] == chat
    assert lines[-1]["result"]["done_reason"] == "cancelled"
    assert lines[-1]["result"]["messages"] == [{"role": "assistant", "content": "a"}]


async def test_shutdown_cancels_chats_answers_then_stops() -> None:
    async with open_rig(streaming([*ndjson("a", done=False), trio.Event()])) as rig:
        chat = await rig.request("chat", CHAT)
        await rig.notification("chat:token")
        shutdown = await rig.request("shutdown")
        await rig.send_raw(b'{"id":99,"method":"status"}\n')  # after shutdown: never served
        lines = await rig.read_all()
    answers = [l for l in lines if "method" not in l]
    assert [a["id"] for a in answers] == [chat, shutdown]
    assert answers[0]["result"]["done_reason"] == "cancelled"
    assert answers[1]["result"] == {}
    assert rig.stop_reason == "shutdown"


async def test_list_models_reshapes_api_tags() -> None:
    tags = {"models": [{
        "name": "llama3.2:latest", "model": "llama3.2:latest", "modified_at": "2026-08-01T10:00:00Z",
        "size": 2019393189, "digest": "a" * 64,
        "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                    "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
    }]}

    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/tags"
        return httpx.Response(200, json=tags)

    async with open_rig(handler) as rig:
        result = (await rig.response(await rig.request("list_models")))["result"]
    assert result == {"models": [{
        "name": "llama3.2:latest", "size": 2019393189, "modified_at": "2026-08-01T10:00:00Z",
        "family": "llama", "parameter_size": "3.2B", "quantization": "Q4_K_M", "capabilities": [],
    }]}


async def test_status_reports_version_and_chats() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"version": "0.33.0"})

    async with open_rig(handler) as rig:
        result = (await rig.response(await rig.request("status")))["result"]
    assert result == {
        "version": "0.1.0", "protocol": 1, "ollama_url": "http://ollama.test", "chats": [],
        "ollama": {"reachable": True, "version": "0.33.0", "error": None}, "provider": "ollama",
        # Every method of Ollama's, less the thread methods: the rig keeps no conversations.
        "methods": [name for name in METHODS if name not in STORE_ONLY],
    }


async def test_a_host_that_stops_reading_bounds_memory_and_can_still_cancel() -> None:
    """Upstream floods; the host reads nothing: the queue stays near its limit, and
    cancel_chat still gets its chat answered once the host reads again."""
    flood = [b'{"message":{"role":"assistant","content":"' + b"x" * 1000 + b'"},"done":false}\n'] * 5000
    body = ScriptStream(flood)
    async with open_rig(streaming(body), lockstep=True, output_buffer_bytes=64 * 1024) as rig:
        chat = await rig.request("chat", CHAT)
        await rig.notification("chat:token")
        await trio.testing.wait_all_tasks_blocked()  # the chat filled the queue: it waits
        sent_while_stuck = body.sent
        cancel = await rig.request("cancel_chat", {"chat_id": chat})
        with trio.fail_after(10):
            cancel_response = await rig.response(cancel)
    assert sent_while_stuck < 200  # ~64 KiB queued, not 5 MB
    assert cancel_response["result"] == {"cancelled": [chat]}
    chat_response = next(l for l in rig.lines if l.get("id") == chat)
    assert chat_response["result"]["done_reason"] == "cancelled"
    # The final message holds exactly the text that was streamed.
    assert chat_response["result"]["messages"][0]["content"] == rig.text(chat)


async def test_a_tags_body_that_is_not_ollamas_is_an_upstream_error_and_serving_goes_on() -> None:
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(200, json={"models": [{"name": "x", "details": "not an object"}]})
        return httpx.Response(200, json={"version": "0.33.0"})

    async with open_rig(handler) as rig:
        models = await rig.response(await rig.request("list_models"))
        status = await rig.response(await rig.request("status"))
    # A body that is not Ollama's is upstream's fault, not a bug of ours (-32603: the next test).
    assert (models["error"]["code"], models["error"]["data"]["kind"]) == (-32002, "upstream_error")
    assert status["result"]["ollama"]["reachable"] is True


async def test_a_bug_in_a_method_is_answered_as_internal_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from sidecar.providers.ollama.client import OllamaClient

    async def broken(self: OllamaClient) -> list:
        raise RuntimeError("boom")

    monkeypatch.setattr(OllamaClient, "list_models", broken)
    async with open_rig(streaming(ndjson("still here"))) as rig:
        error = (await rig.response(await rig.request("list_models")))["error"]
        chat = await rig.response(await rig.request("chat", CHAT))
    assert (error["code"], error["data"]["kind"]) == (-32603, "internal_error")
    assert "RuntimeError: boom" in error["message"]
    assert chat["result"]["messages"][0]["content"] == "still here"


async def test_a_hung_api_tags_is_reported_not_crashed(autojump_clock: trio.testing.MockClock) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await trio.sleep_forever()
        raise AssertionError

    async with open_rig(handler) as rig:
        error = (await rig.response(await rig.request("list_models")))["error"]
    assert (error["code"], error["data"]["kind"]) == (-32000, "ollama_unreachable")
    assert "/api/tags" in error["message"]


async def test_a_chat_cancelled_before_its_first_token_answers_an_empty_assistant_message() -> None:
    async with open_rig(streaming(ScriptStream([trio.Event()]))) as rig:
        chat = await rig.request("chat", CHAT)
        cancel = await rig.request("cancel_chat", {"chat_id": chat})
        await rig.response(cancel)
        result = (await rig.response(chat))["result"]
    assert result["done_reason"] == "cancelled"
    assert result["messages"] == [{"role": "assistant", "content": ""}]
