"""Bad input and upstream failures on the real process: the right code, and it keeps serving."""

from __future__ import annotations

import socket

import pytest
import trio

from sidecar_testkit.fake_ollama import Script, ScriptedOllama

from .e2e import GUARD_S, TEXT_REPLY, chat_params, checked_sidecar, sidecar_for

BAD_LINES = [
    (b"garbage\n", -32700),
    (b'{"id":1,"method":"status"\n', -32700),
    (b'{"id":2,"method":"st\xff\xfeatus"}\n', -32700),
    (b'[{"jsonrpc":"2.0","id":3,"method":"status"}]\n', -32600),
    (b"[]\n", -32600),
    (b"42\n", -32600),
    (b'{"jsonrpc":"2.0","id":1.5,"method":"status"}\n', -32600),
    (b'{"jsonrpc":"2.0","id":[1],"method":"status"}\n', -32600),
    (b'{"jsonrpc":"1.0","id":4,"method":"status"}\n', -32600),
    (b'{"jsonrpc":"2.0","id":5,"method":7}\n', -32600),
    (b'{"jsonrpc":"2.0","id":6,"method":"no_such_method"}\n', -32601),
    (b'{"jsonrpc":"2.0","id":7,"method":"chat","params":{"messages":"hi"}}\n', -32602),
    (b'{"jsonrpc":"2.0","id":8,"method":"chat","params":{"messages":[]}}\n', -32602),
    (b'{"jsonrpc":"2.0","id":9,"method":"chat","params":{"messages":[{"role":"user","content":1}]}}\n', -32602),
    (b'{"jsonrpc":"2.0","id":10,"method":"chat","params":[1,2]}\n', -32602),
    (b'{"jsonrpc":"2.0","id":11,"method":"cancel_chat","params":{"chat_id":1.5}}\n', -32602),
    (b'{"id":12,"method":"chat","params":{"model":"text","messages":[{"role":"user","content":"' + b"x" * 2000 + b'"}]}}\n', -32600),
]


async def test_every_bad_line_gets_its_code_and_the_next_good_line_is_served(
    fake_ollama: ScriptedOllama,
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--max-line-bytes", "1000") as sidecar:
            for line, code in BAD_LINES:
                before = len(sidecar.responses())
                await sidecar.send_raw(line)
                answer = await sidecar.wait_for(
                    lambda l: l.is_response and len(sidecar.responses()) > before
                )
                error = answer.value["error"]
                assert (error["code"], line) == (code, line)
                assert error["data"]["kind"] and error["message"]
            status = await sidecar.call("status")
            chat = await sidecar.call("chat", chat_params("text"))
    assert status["result"]["protocol"] == 1
    assert chat["result"]["messages"][0]["content"] == TEXT_REPLY
    errors = [r for r in sidecar.responses() if "error" in r]
    assert [e["id"] for e in errors[:3]] == [None, None, None]
    assert [e["id"] for e in errors if e["error"]["code"] in (-32601, -32602)] == [6, 7, 8, 9, 10, 11]


async def test_a_request_written_a_few_bytes_at_a_time_is_read_whole(
    fake_ollama: ScriptedOllama,
) -> None:
    line = '{"id":"é","method":"chat","params":{"model":"echo","messages":[{"role":"user","content":"日本 🙂"}]}}\r\n'.encode()
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            for i in range(0, len(line), 3):
                await sidecar.send_raw(line[i : i + 3])
                await trio.sleep(0.001)
            response = await sidecar.response("é")
    assert response["result"]["messages"][0]["content"] == "日本 🙂"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_ollama_down_is_reported_with_a_hint_and_the_process_keeps_serving() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with trio.fail_after(GUARD_S):
        async with checked_sidecar("--ollama-url", url, "--model", "llama3.2") as sidecar:
            chat = await sidecar.call("chat", {"messages": [{"role": "user", "content": "hi"}]})
            status = await sidecar.call("status")
    error = chat["error"]
    assert (error["code"], error["data"]["kind"]) == (-32000, "ollama_unreachable")
    assert url in error["message"] and "OLLAMA_HOST" in error["data"]["hint"]
    assert status["result"]["ollama"]["reachable"] is False


@pytest.mark.variants("ollama")  # OLLAMA_HOST is Ollama's variable; openai: test_e2e_openai.py
async def test_ollama_host_is_used_when_no_url_flag_is_given(fake_ollama: ScriptedOllama) -> None:
    host = fake_ollama.url.removeprefix("http://")
    with trio.fail_after(GUARD_S):
        async with checked_sidecar(env={"OLLAMA_HOST": host}) as sidecar:
            chat = await sidecar.call("chat", chat_params("text"))
    assert sidecar.ready["ollama_url"] == fake_ollama.url
    assert chat["result"]["done_reason"] == "stop"


@pytest.mark.parametrize(
    ("model", "code", "kind", "partial", "status"),
    [
        ("llama9", -32001, "model_not_found", "", None),
        ("no-tools", -32002, "upstream_error", "", 400),
        ("busy", -32002, "upstream_error", "", 503),
        ("server-error", -32002, "upstream_error", "", 500),
        ("midstream-error", -32002, "upstream_error", "Once upon a time", 200),
        ("truncated", -32003, "stream_interrupted", None, None),
        ("drop", -32003, "stream_interrupted", None, None),
        ("malformed", -32003, "stream_interrupted", None, None),
    ],
)
async def test_upstream_failures_keep_the_partial_reply(
    fake_ollama: ScriptedOllama, model: str, code: int, kind: str, partial: str | None, status: int | None
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            chat = await sidecar.request("chat", chat_params(model))
            error = (await sidecar.response(chat))["error"]
            after = await sidecar.call("chat", chat_params("text"))
    assert (error["code"], error["data"]["kind"]) == (code, kind)
    streamed = sidecar.text(chat)
    if partial is not None:
        assert streamed == partial
    messages = error["data"]["messages"]
    assert messages == ([{"role": "assistant", "content": streamed}] if streamed else [])
    if status is not None:
        assert error["data"]["status"] == status
    if model == "llama9":
        assert "llama9" in error["data"]["hint"]
        if "pull_model" in sidecar.ready["methods"]:  # Ollama: the method first, then the terminal
            assert error["data"]["hint"].startswith("Pull it with the pull_model method")
            assert "`ollama pull llama9`" in error["data"]["hint"]
        else:  # an OpenAI-compatible server: pull_model answers not_supported
            assert "pull_model" not in error["data"]["hint"]
    assert after["result"]["messages"][0]["content"] == TEXT_REPLY


async def test_an_idle_upstream_times_out(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--idle-timeout", "0.5") as sidecar:
            chat = await sidecar.request("chat", chat_params("hang"))
            error = (await sidecar.response(chat))["error"]
            record = fake_ollama.chat_records[0]
            await record.disconnected.wait()
    assert error["code"] == -32003 and "--idle-timeout" in error["message"]
    assert error["data"]["messages"] == [{"role": "assistant", "content": "Thinking hard"}]


async def test_a_slow_stream_with_data_within_the_idle_timeout_is_not_cut(
    fake_ollama: ScriptedOllama,
) -> None:
    """The idle timeout counts from the last data, not from the start of the reply: a reply
    that takes four idle periods and more, with a token every half of one, arrives whole."""
    lines = fake_ollama.scripts["text"]({"model": "slow-text"}).lines
    fake_ollama.scripts["slow-text"] = lambda request: Script(lines=lines, pace=0.3)
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--idle-timeout", "0.6") as sidecar:
            chat = await sidecar.request("chat", chat_params("slow-text"))
            response = await sidecar.response(chat)
    assert "result" in response, response
    assert response["result"]["messages"][0]["content"] == sidecar.text(chat) == TEXT_REPLY
