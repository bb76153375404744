"""The real `python -m sidecar` process, over pipes, against the scripted Ollama on loopback."""

from __future__ import annotations

import sys

import msgspec
import trio

from sidecar.methods import methods_for
from sidecar_testkit.fake_ollama import MULTIBYTE_TEXT, SEPARATORS_TEXT, ScriptedOllama

from .e2e import E2E_VARIANTS, GUARD_S, TEXT_REPLY, chat_params, sidecar_for, variant


def upstream(fake: ScriptedOllama) -> tuple[str, str]:
    """(provider, base URL) the current variant's arguments point the sidecar at."""
    args = E2E_VARIANTS[variant()](fake)

    def value(flag: str) -> str | None:
        return args[args.index(flag) + 1] if flag in args else None

    url = value("--base-url") or value("--ollama-url")
    assert url is not None
    return value("--provider") or "ollama", url


async def test_ready_is_the_first_line_and_describes_the_process(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            first = sidecar.lines[0].value
    provider, url = upstream(fake_ollama)
    assert first == {
        "jsonrpc": "2.0",
        "method": "sidecar:ready",
        "params": {
            "name": "ollama-sidecar", "version": "0.1.0", "protocol": 1,
            "ollama_url": url, "pid": sidecar.process.pid, "provider": provider,
            "methods": methods_for(provider),
        },
    }


async def test_tokens_arrive_while_the_upstream_is_still_streaming(fake_ollama: ScriptedOllama) -> None:
    fake_ollama.pause_after = 2
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            chat = await sidecar.request("chat", chat_params("text"))
            record = await fake_ollama.wait_paused()
            await sidecar.wait_for(lambda l: sidecar.text(chat) == "The sky")
            assert record.finished_at is None  # Ollama has not finished: no buffering to the end
            fake_ollama.release()
            response = await sidecar.response(chat)
    assert sidecar.text(chat) == TEXT_REPLY
    assert response["result"]["done_reason"] == "stop"
    assert response["result"]["messages"] == [{"role": "assistant", "content": TEXT_REPLY}]
    assert response["result"]["usage"]["completion_tokens"] == 12


async def test_cancel_mid_stream_keeps_the_partial_text_and_disconnects_from_ollama(
    fake_ollama: ScriptedOllama,
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            chat = await sidecar.request("chat", chat_params("hang"))
            record = await fake_ollama.wait_for_chat()
            await sidecar.wait_for(lambda l: sidecar.text(chat) == "Thinking hard")
            cancel = await sidecar.request("cancel_chat", {"chat_id": chat})
            cancel_response = await sidecar.response(cancel)
            await record.disconnected.wait()
    chat_response = next(l.value for l in sidecar.lines if l.value.get("id") == chat)
    order = [l.value for l in sidecar.lines]
    assert order.index(chat_response) < order.index(cancel_response)
    assert cancel_response["result"] == {"cancelled": [chat]}
    assert chat_response["result"]["done_reason"] == "cancelled"
    assert chat_response["result"]["messages"] == [{"role": "assistant", "content": "Thinking hard"}]
    assert record.client_disconnected


async def test_eof_with_a_chat_in_flight_completes_it_then_exits_0(fake_ollama: ScriptedOllama) -> None:
    fake_ollama.pause_after = 3
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--log-level", "INFO") as sidecar:
            chat = await sidecar.request("chat", chat_params("text"))
            await fake_ollama.wait_paused()
            await sidecar.close_stdin()
            # The sidecar has seen the EOF and says it drains (server.py logs it): wait for that.
            while b"stdin closed; waiting for 1 requests" not in sidecar.stderr:
                await trio.sleep(0.01)
            assert sidecar.process.poll() is None  # still draining
            fake_ollama.release()
            code = await sidecar.wait_exit()
    assert code == 0
    assert sidecar.lines[-1].value["id"] == chat
    assert sidecar.lines[-1].value["result"]["messages"][0]["content"] == TEXT_REPLY


async def test_thinking_and_tool_calls_stream_as_their_own_notifications(
    fake_ollama: ScriptedOllama,
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            thinking = await sidecar.request("chat", chat_params("thinking"))
            tool_mid = await sidecar.request("chat", chat_params("tool-call"))
            tool_final = await sidecar.request("chat", chat_params("tool-call-final"))
            results = {i: (await sidecar.response(i))["result"] for i in (thinking, tool_mid, tool_final)}
    assert sidecar.text(thinking, "chat:thinking") == "Okay, the user says hi. I should greet them back."
    assert sidecar.text(thinking) == "Hello! How can I help you today?"
    assert results[thinking]["messages"][0]["thinking"].startswith("Okay")
    assert sidecar.notifications("chat:tool_call", tool_mid) == [{
        "chat_id": tool_mid, "call_id": "call_k3v9x0qa", "name": "get_weather",
        "arguments": {"city": "Tokyo", "unit": "celsius"},
    }]
    assert [c["call_id"] for c in sidecar.notifications("chat:tool_call", tool_final)] == [
        "q3ZfT8bW0nLk2VxR7yHc4MdJ9sPa1GuE"
    ]
    assert results[tool_final]["messages"][0]["tool_calls"][0]["function"]["name"] == "get_weather"


async def test_separators_and_multibyte_text_survive_intact(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            separators = await sidecar.request("chat", chat_params("separators"))
            multibyte = await sidecar.request("chat", chat_params("multibyte"))
            await sidecar.response(separators)
            await sidecar.response(multibyte)
    assert sidecar.text(separators) == SEPARATORS_TEXT
    assert sidecar.text(multibyte) == MULTIBYTE_TEXT
    raw = b"".join(line.raw + b"\n" for line in sidecar.lines)
    assert "\u2028".encode() not in raw and "\u2029".encode() not in raw
    assert b"\\u2028" in raw and "\u0085".encode() in raw
    assert b"\r" not in raw


async def test_chats_run_concurrently_each_with_its_own_id(fake_ollama: ScriptedOllama) -> None:
    # Chat A is held mid-stream by the scripted Ollama; chat B must start, stream and finish
    # while A is still open. Chats run one after another would never answer B (the guard fails).
    fake_ollama.pause_after = 2
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            a = await sidecar.request("chat", chat_params("echo", "one two three four five"))
            await fake_ollama.wait_paused()
            await sidecar.wait_for(lambda l: sidecar.text(a) != "")  # A is streaming
            fake_ollama.pause_after = 1_000  # A stays held; B passes
            b = await sidecar.request("chat", chat_params("echo", "six seven eight nine ten"))
            await sidecar.response(b)
            a_before_b_ended = sidecar.text(a)
            a_answered_early = [r for r in sidecar.responses() if r["id"] == a]
            fake_ollama.release()
            await sidecar.response(a)
    assert a_answered_early == []
    assert a_before_b_ended and "one two three four five".startswith(a_before_b_ended)
    assert a_before_b_ended != "one two three four five"
    assert sidecar.text(a) == "one two three four five"
    assert sidecar.text(b) == "six seven eight nine ten"


async def test_chats_beyond_max_chats_are_busy(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--max-chats", "1") as sidecar:
            first = await sidecar.request("chat", chat_params("hang"))
            await fake_ollama.wait_for_chat()
            second = await sidecar.call("chat", chat_params("text"))
            cancelled = await sidecar.call("cancel_chat", {})
            third = await sidecar.call("chat", chat_params("text"))
    assert second["error"]["code"] == -32004
    assert cancelled["result"] == {"cancelled": [first]}
    assert third["result"]["done_reason"] == "stop"


async def test_list_models_and_status_against_the_scripted_ollama(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            models = (await sidecar.call("list_models"))["result"]["models"]
            status = (await sidecar.call("status"))["result"]
    provider, url = upstream(fake_ollama)
    names = [m["name"] for m in models]
    assert names[0] == "text:latest" and "tool-call:latest" in names and "busy:latest" not in names
    text = models[0]
    assert set(text) == {
        "name", "size", "modified_at", "family", "parameter_size", "quantization", "capabilities",
    }
    if provider == "ollama":
        assert (text["family"], text["quantization"]) == ("scripted", "Q4_K_M")
        assert text["capabilities"] == ["completion", "tools"]
        version = "0.33.0-scripted"
    else:  # /v1/models names the models and nothing more; there is no version endpoint
        assert (text["size"], text["family"], text["quantization"]) == (0, "", "")
        assert text["capabilities"] == []
        version = None
    assert status["ollama"] == {"reachable": True, "version": version, "error": None}
    assert (status["protocol"], status["chats"], status["ollama_url"]) == (1, [], url)
    assert status["provider"] == provider
    assert status["methods"] == methods_for(provider)


async def test_commands_file_on_stdin_is_answered_in_full(fake_ollama: ScriptedOllama, tmp_path) -> None:
    commands = tmp_path / "commands.jsonl"
    commands.write_bytes(
        b'{"jsonrpc":"2.0","id":1,"method":"chat","params":{"model":"text","messages":'
        b'[{"role":"user","content":"hi"}]}}\r\n'
        b'{"jsonrpc":"2.0","id":2,"method":"status"}\n'
        b'{"id":3,"method":"chat","params":{"model":"echo","messages":[{"role":"user","content":"last line"}]}}'
    )
    out = tmp_path / "out.jsonl"
    with trio.fail_after(GUARD_S), open(commands, "rb") as stdin, open(out, "wb") as stdout:
        result = await trio.run_process(
            [sys.executable, "-m", "sidecar", *E2E_VARIANTS[variant()](fake_ollama)],
            stdin=stdin, stdout=stdout, check=False,
        )
    lines = [msgspec.json.decode(l) for l in out.read_bytes().splitlines()]
    assert result.returncode == 0
    answers = {l["id"]: l for l in lines if "id" in l}
    assert answers[1]["result"]["messages"][0]["content"] == TEXT_REPLY
    assert answers[2]["result"]["protocol"] == 1
    assert answers[3]["result"]["messages"][0]["content"] == "last line"


async def test_a_long_conversation_sent_whole_reaches_the_model_exactly(
    fake_ollama: ScriptedOllama,
) -> None:
    # About 2.4 MB on one line, one message of 600 KB among them: read, encoded and sent upstream
    # in pieces (issue 14), which must change nothing a client or the model can see; a short
    # chat written right after it is answered too, after it.
    history = [
        {"role": "user" if i % 2 == 0 else "assistant",
         "content": f"{i} caf\u00e9 \u2028 \"quoted\" \\ " + "lorem ipsum dolor sit amet " * 30}
        for i in range(2200)
    ]
    history[7]["content"] = "one message of 600 KB, as a pasted file " * 15_000
    params = chat_params("text")
    params["messages"] = [*history, *params["messages"]]
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            big = await sidecar.request("chat", params)
            small = await sidecar.request("chat", chat_params("text"))
            big_response = await sidecar.response(big)
            small_response = await sidecar.response(small)
    assert len(msgspec.json.encode(params)) > 2_000_000
    assert big_response["result"]["messages"] == [{"role": "assistant", "content": TEXT_REPLY}]
    assert small_response["result"]["done_reason"] == "stop"
    assert sidecar.text(big) == TEXT_REPLY
    record = max(fake_ollama.chat_records, key=lambda r: len(r.body))
    assert len(record.body) > 2_000_000
    sent = [(m["role"], m["content"]) for m in params["messages"]]
    assert [(m["role"], m["content"]) for m in record.json["messages"]] == sent
