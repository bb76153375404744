"""The sidecar against a real model: Gemma 3 270M in llama-cpp-python's server, on loopback.

`scripts/test --real` runs these (never the default run). The model is the base model, so its
text is nonsense: every assertion is about the plumbing (streaming, usage, cancel, tool-call
assembly, model listing), never about the words.
"""

from __future__ import annotations

import json
import time
from typing import Any, Final

import jsonschema
import trio

from sidecar_testkit.harness import SidecarProcess

from .llama import LlamaServer, stream_direct

# Guards against hangs only, never speed assertions: on two shared cores a busy machine makes
# this model slow (each token waits for both of llama.cpp's threads).
GUARD_S: Final = 300.0
QUIET_S: Final = 0.5  # the server's CPU time flat this long: it is idle
PROMPT: Final = [{"role": "user", "content": "Count with me: 1, 2, 3, 4, 5, 6, 7,"}]
WEATHER: Final = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 24},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
WEATHER_SCHEMA: Final = WEATHER["function"]["parameters"]
FORCE_WEATHER: Final = {"type": "function", "function": {"name": "get_weather"}}
QUESTION: Final = [{"role": "user", "content": "What is the weather in Paris?"}]


def tokens(sidecar: SidecarProcess, chat_id: Any) -> list[Any]:
    """The chat:token lines of one chat (with their arrival times)."""
    return [
        line for line in sidecar.lines
        if line.method == "chat:token" and line.value["params"]["chat_id"] == chat_id
    ]


async def wait_for_tokens(sidecar: SidecarProcess, chat_id: Any, count: int) -> None:
    """Until `count` chat:token lines came (failing if the chat answers first)."""
    await sidecar.wait_for(
        lambda line: len(tokens(sidecar, chat_id)) >= count
        or (line.is_response and line.value.get("id") == chat_id)
    )
    came = len(tokens(sidecar, chat_id))
    assert came >= count, f"the reply ended after {came} token lines: {sidecar.text(chat_id)!r}"


async def cpu_once_idle(server: LlamaServer) -> float:
    """Waits until the server's CPU time stays flat for QUIET_S, and returns it."""
    cpu, since = server.cpu_seconds(), time.monotonic()
    while time.monotonic() - since < QUIET_S:
        await trio.sleep(0.01)
        if (now := server.cpu_seconds()) != cpu:
            cpu, since = now, time.monotonic()
    return cpu


async def test_a_streamed_reply_arrives_token_by_token_with_usage(sidecar: SidecarProcess) -> None:
    with trio.fail_after(GUARD_S):
        chat_id = await sidecar.request(
            "chat", {"messages": PROMPT, "options": {"seed": 1, "num_predict": 48}}
        )
        response = await sidecar.response(chat_id)

    result = response["result"]
    lines = tokens(sidecar, chat_id)
    text = "".join(line.value["params"]["content"] for line in lines)
    assert result["messages"] == [{"role": "assistant", "content": text}]
    # Streamed, not buffered: the tokens came in many separate reads of the sidecar's stdout,
    # spread over the generation (the harness stamps each read once).
    arrivals = sorted({line.received_at for line in lines})
    assert len(arrivals) >= 10, f"{len(lines)} token lines in {len(arrivals)} reads"
    assert lines[-1].received_at > lines[0].received_at
    assert result["done_reason"] in ("stop", "length")
    usage = result["usage"]
    # llama-cpp-python sends no usage in a stream: the sidecar counts the chunks with output.
    assert len(lines) <= usage["completion_tokens"] <= 48
    assert usage["duration_ms"] > 0
    assert usage["tokens_per_second"] > 0
    assert usage["first_token_ms"] is not None and usage["first_token_ms"] > 0


async def test_cancel_stops_the_model_and_the_next_chat_starts(
    llama_server: LlamaServer, sidecar: SidecarProcess
) -> None:
    with trio.fail_after(GUARD_S):
        # Long enough that a server that kept generating would stay busy for minutes.
        chat_id = await sidecar.request(
            "chat", {"messages": PROMPT, "options": {"seed": 2, "num_predict": 1500}}
        )
        # What generating costs the server: CPU per token and CPU share, over 10 tokens.
        await wait_for_tokens(sidecar, chat_id, 5)
        cpu_0, wall_0 = llama_server.cpu_seconds(), time.monotonic()
        await wait_for_tokens(sidecar, chat_id, 15)
        cpu_1, wall_1 = llama_server.cpu_seconds(), time.monotonic()
        per_token = (cpu_1 - cpu_0) / (len(tokens(sidecar, chat_id)) - 5)
        busy = (cpu_1 - cpu_0) / (wall_1 - wall_0)

        cancel = await sidecar.call("cancel_chat", {"chat_id": chat_id})
        response = await sidecar.response(chat_id)
        assert cancel["result"] == {"cancelled": [chat_id]}
        result = response["result"]
        assert result["done_reason"] == "cancelled"
        partial = "".join(line.value["params"]["content"] for line in tokens(sidecar, chat_id))
        assert partial and result["messages"] == [{"role": "assistant", "content": partial}]

        # The server notices the closed connection at its next token and goes idle: after the
        # cancel it spends a few tokens' worth of CPU, not the 1,500 tokens' worth it was asked
        # for, and then its CPU use drops to nothing.
        spent = await cpu_once_idle(llama_server) - cpu_1
        assert spent < 20 * per_token, f"{spent:.2f} s of CPU after cancel; {per_token:.3f} s/token"
        cpu_2, wall_2 = llama_server.cpu_seconds(), time.monotonic()
        await trio.sleep(1.0)
        idle = (llama_server.cpu_seconds() - cpu_2) / (time.monotonic() - wall_2)
        assert idle < busy / 4, f"server CPU {busy:.0%} while generating, {idle:.0%} after cancel"

        # And it is free: with --interrupt_requests false a new request would otherwise wait
        # for the cancelled reply's 1,500 tokens. Measured in the server's CPU, not in seconds
        # (a shared machine): from the request to the next chat's end the server does that
        # chat's work (a short prompt, 3 tokens), not what was left of the cancelled one.
        cpu_3, wall_3 = llama_server.cpu_seconds(), time.monotonic()
        next_id = await sidecar.request(
            "chat", {"messages": PROMPT, "options": {"seed": 3, "num_predict": 3}}
        )
        await wait_for_tokens(sidecar, next_id, 1)
        assert "result" in await sidecar.response(next_id)
        next_spent = llama_server.cpu_seconds() - cpu_3
        assert next_spent < 40 * per_token, (
            f"the next 3-token chat cost {next_spent:.2f} s of server CPU "
            f"({per_token:.3f} s/token) and {time.monotonic() - wall_3:.2f} s"
        )


async def forced_weather_call(sidecar: SidecarProcess) -> tuple[Any, dict[str, Any]]:
    """A chat that must call the client tool get_weather; returns its id and the chat:tool_call."""
    chat_id = await sidecar.request("chat", {
        "messages": QUESTION, "tools": [WEATHER], "tool_choice": FORCE_WEATHER,
        "options": {"seed": 4, "num_predict": 64},
    })
    line = await sidecar.wait_for(
        lambda seen: seen.method == "chat:tool_call"
        or (seen.is_response and seen.value.get("id") == chat_id)
    )
    assert line.method == "chat:tool_call", line.value
    return chat_id, line.value["params"]


async def test_a_forced_tool_call_arrives_in_fragments_and_is_assembled(
    llama_server: LlamaServer, sidecar: SidecarProcess
) -> None:
    with trio.fail_after(GUARD_S):
        # Straight from the server: the arguments come as many string fragments.
        direct = await stream_direct(llama_server, {
            "model": llama_server.model, "messages": QUESTION, "tools": [WEATHER],
            "tool_choice": FORCE_WEATHER, "seed": 4, "max_tokens": 64,
        })
        fragments = direct.argument_fragments()
        assert len(fragments) >= 5, fragments
        jsonschema.validate(json.loads("".join(fragments)), WEATHER_SCHEMA)

        # Through the sidecar: one chat:tool_call whose arguments is the assembled object.
        chat_id, call = await forced_weather_call(sidecar)
        assert call["chat_id"] == chat_id and call["name"] == "get_weather" and call["call_id"]
        assert isinstance(call["arguments"], dict)
        jsonschema.validate(call["arguments"], WEATHER_SCHEMA)

        # The chat now waits for the client's answer; Stop ends the wait and keeps the call.
        await sidecar.call("cancel_chat", {"chat_id": chat_id})
        response = await sidecar.response(chat_id)

    assert sidecar.notifications("chat:tool_call", chat_id) == [call]
    assert response["result"]["done_reason"] == "cancelled"
    (sent,) = response["result"]["messages"][0]["tool_calls"]
    assert sent["id"] == call["call_id"]
    assert sent["function"]["name"] == "get_weather"
    assert sent["function"]["arguments"] == call["arguments"]


async def test_a_client_tool_answer_goes_back_to_the_model(sidecar: SidecarProcess) -> None:
    with trio.fail_after(GUARD_S):
        chat_id, call = await forced_weather_call(sidecar)
        # The chat sends the assistant's call and our answer back to the server, which takes
        # them (the forcing applies to the first round only) and replies.
        await sidecar.call("tool_result", {
            "chat_id": chat_id, "call_id": call["call_id"], "content": "Sunny, 21 degrees",
        })
        response = await sidecar.response(chat_id)

    assert "result" in response, response
    messages = response["result"]["messages"]
    assert [m["role"] for m in messages] == ["assistant", "tool", "assistant"]
    assert messages[0]["tool_calls"][0]["function"]["arguments"] == call["arguments"]
    assert messages[1]["content"] == "Sunny, 21 degrees"
    assert messages[2]["content"] == sidecar.text(chat_id)
    assert response["result"]["done_reason"] in ("stop", "length")


async def test_list_models_and_status_name_the_served_model(
    llama_server: LlamaServer, sidecar: SidecarProcess
) -> None:
    with trio.fail_after(GUARD_S):
        models = await sidecar.call("list_models")
        status = await sidecar.call("status")
    names = [model["name"] for model in models["result"]["models"]]
    assert names == [llama_server.model]
    assert status["result"]["provider"] == "openai"
    assert status["result"]["ollama"]["reachable"] is True

