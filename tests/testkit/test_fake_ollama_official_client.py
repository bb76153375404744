"""The scripted Ollama answers the official `ollama` Python client like Ollama does (issue 11,
item 6), over every scenario: `chat(stream=False)` gets one JSON object (HTTP 500 and the error for
a reply that fails mid-stream), `chat(messages=[])` one `done_reason: "load"` object (`"unload"`
with `keep_alive=0`), and `chat(stream=True)` the same reply as chunks.

What each scenario should say is read from its raw NDJSON, split on `\\n` only. The official
client splits lines with httpx's `aiter_lines()`, which also splits on U+0085: its streaming mode
is skipped for replies holding that character (the client's bug, which the sidecar does not
share: tests/test_e2e_chat.py streams the `separators` scenario byte for byte).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import msgspec
import ollama
import pytest
import trio

from sidecar_testkit.fake_ollama import ERROR_SCENARIOS, SCENARIOS, ScriptedOllama, open_scripted_ollama

from ..support import GUARD_S

# Scenarios whose reply never completes: no whole answer exists to compare.
HANGS: Final = {"hang"}
# The connection closes mid-reply: a transport error, not an answer.
DROPS: Final = {"drop"}
MESSAGES: Final = [{"role": "user", "content": "Hello"}]


@dataclass
class Expected:
    """What a scenario's streamed reply says, read from its raw bytes."""

    content: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    done_reason: str | None = None
    error: str | None = None  # an {"error"} line, or no done line


async def expected_reply(fake: ScriptedOllama, model: str) -> Expected:
    async with httpx.AsyncClient(base_url=fake.url) as client:
        response = await client.post(
            "/api/chat", json={"model": model, "messages": MESSAGES}, timeout=GUARD_S
        )
    expected = Expected()
    for line in response.content.split(b"\n"):
        if not line.strip():
            continue
        try:
            chunk = msgspec.json.decode(line)
        except msgspec.DecodeError:
            break
        if "error" in chunk:
            expected.error = chunk["error"]
            return expected
        message = chunk.get("message") or {}
        expected.content += message.get("content") or ""
        expected.thinking += message.get("thinking") or ""
        expected.tool_calls += message.get("tool_calls") or []
        if chunk.get("done"):
            expected.done_reason = chunk.get("done_reason")
            return expected
    expected.error = "the model's reply ended before it was complete"
    return expected


def calls(tool_calls: Any) -> list[tuple[str, dict[str, Any]]]:
    return [(c["function"]["name"], dict(c["function"]["arguments"])) for c in tool_calls or []]


@pytest.fixture
async def scripted() -> Any:
    async with open_scripted_ollama() as fake:
        yield fake


@pytest.fixture
def client(scripted: ScriptedOllama) -> Any:
    with ollama.Client(host=scripted.url) as official:
        yield official


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS) - HANGS - DROPS))
async def test_the_official_client_gets_every_scenario_whole_and_streamed(
    scripted: ScriptedOllama, client: ollama.Client, scenario: str
) -> None:
    def whole() -> Any:
        return client.chat(model=scenario, messages=MESSAGES, stream=False)

    def streamed() -> list[Any]:
        return list(client.chat(model=scenario, messages=MESSAGES, stream=True))

    with trio.fail_after(GUARD_S):
        if scenario in ERROR_SCENARIOS:
            status = SCENARIOS[scenario]({"model": scenario, "messages": MESSAGES}).status
            for call in (whole, streamed):
                with pytest.raises(ollama.ResponseError) as refused:
                    await trio.to_thread.run_sync(call)
                assert refused.value.status_code == status
            return
        expected = await expected_reply(scripted, scenario)
        if expected.error is not None:
            with pytest.raises(ollama.ResponseError) as failed:
                await trio.to_thread.run_sync(whole)
            assert failed.value.status_code == 500 and failed.value.error == expected.error
            return
        answer = await trio.to_thread.run_sync(whole)
        chunks = None if "\u0085" in expected.content else await trio.to_thread.run_sync(streamed)
    assert answer.done and answer.done_reason == expected.done_reason
    assert answer.message.role == "assistant"
    assert answer.message.content == expected.content
    assert (answer.message.thinking or "") == expected.thinking
    assert calls(answer.message.tool_calls) == calls(expected.tool_calls)
    if chunks is not None:
        assert "".join(c.message.content or "" for c in chunks) == expected.content
        assert "".join(c.message.thinking or "" for c in chunks) == expected.thinking
        assert chunks[-1].done and chunks[-1].done_reason == expected.done_reason


@pytest.mark.parametrize(("keep_alive", "reason"), [(None, "load"), (0, "unload")])
@pytest.mark.parametrize("stream", [False, True])
async def test_empty_messages_load_or_unload_the_model(
    scripted: ScriptedOllama, client: ollama.Client, keep_alive: int | None, reason: str,
    stream: bool,
) -> None:
    def load() -> Any:
        answer = client.chat(model="text", messages=[], stream=stream, keep_alive=keep_alive)
        return list(answer) if stream else [answer]

    with trio.fail_after(GUARD_S):
        [answer] = await trio.to_thread.run_sync(load)
    assert answer.done and answer.done_reason == reason
    assert answer.model == "text" and answer.message.content == ""
    record = scripted.chat_records[-1]
    assert record.json["messages"] == []


async def test_a_missing_model_is_404_even_with_empty_messages(client: ollama.Client) -> None:
    with trio.fail_after(GUARD_S), pytest.raises(ollama.ResponseError) as refused:
        await trio.to_thread.run_sync(lambda: client.chat(model="no-such-model", messages=[]))
    assert refused.value.status_code == 404


async def test_a_dropped_reply_is_a_transport_error_whole_or_streamed(client: ollama.Client) -> None:
    for stream in (False, True):

        def chat(stream: bool = stream) -> Any:
            answer = client.chat(model="drop", messages=MESSAGES, stream=stream)
            return list(answer) if stream else answer

        with trio.fail_after(GUARD_S), pytest.raises(httpx.TransportError):
            await trio.to_thread.run_sync(chat)
