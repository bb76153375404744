"""The scripted Ollama's model lifecycle (issue 15) through the official `ollama` Python client:
`show`, `ps`, `pull` (streamed), `delete` and `chat(messages=[])` answer as Ollama's would, and
the endpoints share one state (a pulled model is listed, a deleted one is gone, a loaded one is
running). Plus the raw bytes a client of the wire relies on: pull progress lines, errors under 200.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import ollama
import pytest
import trio

from sidecar_testkit.fake_ollama import ScriptedOllama, open_scripted_ollama
from sidecar_testkit.fake_ollama.models import MANIFEST_MISSING_TEXT, PULL_FAILURE_TEXT

from ..support import GUARD_S


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedOllama]:
    async with open_scripted_ollama() as fake:
        yield fake


@pytest.fixture
def official(scripted: ScriptedOllama) -> Iterator[ollama.Client]:
    with ollama.Client(host=scripted.url) as client:
        yield client


async def in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with trio.fail_after(GUARD_S):
        return await trio.to_thread.run_sync(lambda: fn(*args, **kwargs))


async def test_show_gives_capabilities_and_the_trained_context(official: ollama.Client) -> None:
    shown = await in_thread(official.show, "vision")
    assert shown.capabilities == ["completion", "vision"]
    assert shown.modelinfo["scripted.context_length"] == 131072
    assert (await in_thread(official.show, "plain")).capabilities == ["completion"]
    assert "thinking" in (await in_thread(official.show, "thinking")).capabilities
    with pytest.raises(ollama.ResponseError) as missing:
        await in_thread(official.show, "nope")
    assert (missing.value.status_code, missing.value.error) == (404, "model 'nope:latest' not found")


async def test_load_lists_the_model_as_running_and_unload_removes_it(official: ollama.Client) -> None:
    assert (await in_thread(official.ps)).models == []
    loaded = await in_thread(official.chat, model="text", messages=[], options={"num_ctx": 8192})
    assert loaded.done_reason == "load"
    running = (await in_thread(official.ps)).models
    assert [(m.name, m.context_length) for m in running] == [("text:latest", 8192)]
    unloaded = await in_thread(official.chat, model="text", messages=[], keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert (await in_thread(official.ps)).models == []


async def test_a_streamed_pull_installs_the_model(official: ollama.Client) -> None:
    progress = await in_thread(lambda: list(official.pull("fresh-model", stream=True)))
    statuses = [p.status for p in progress]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    assert len({p.digest for p in progress if p.digest}) == 4  # several layers, config blob last
    names = [m.model for m in (await in_thread(official.list)).models]
    assert "fresh-model:latest" in names
    reply = await in_thread(official.chat, model="fresh-model", messages=[{"role": "user", "content": "hi"}])
    assert reply.message.content


async def test_a_pull_of_a_missing_model_and_a_failing_pull_end_in_an_error_line(
    official: ollama.Client,
) -> None:
    for name, text in (("does-not-exist", MANIFEST_MISSING_TEXT), ("pull-fails", PULL_FAILURE_TEXT)):
        with pytest.raises(ollama.ResponseError) as failed:
            await in_thread(lambda: list(official.pull(name, stream=True)))
        assert failed.value.error == text
    names = [m.model for m in (await in_thread(official.list)).models]
    assert "pull-fails:latest" not in names


async def test_delete_removes_the_model_everywhere(official: ollama.Client) -> None:
    assert (await in_thread(official.delete, "text")).status == "success"
    assert "text:latest" not in [m.model for m in (await in_thread(official.list)).models]
    with pytest.raises(ollama.ResponseError) as again:
        await in_thread(official.delete, "text")
    assert (again.value.status_code, again.value.error) == (404, "model 'text' not found")
    with pytest.raises(ollama.ResponseError) as chat:
        await in_thread(official.chat, model="text", messages=[{"role": "user", "content": "hi"}])
    assert chat.value.status_code == 404


async def test_a_stalled_pull_records_the_client_leaving(scripted: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with httpx.AsyncClient(base_url=scripted.url) as client:
            async with client.stream("POST", "/api/pull", json={"model": "pull-stalls"}) as response:
                lines = []
                async for line in response.aiter_lines():
                    lines.append(msgspec.json.decode(line))
                    if len(lines) == 5:
                        break
        record = await scripted.wait_for_request("/api/pull")
        await record.disconnected.wait()
    assert lines[0] == {"status": "pulling manifest"}
    assert record.client_disconnected and record.finished_at is None


async def test_logprobs_ride_on_the_chunks_that_carry_text(client: httpx.AsyncClient) -> None:
    body = {"model": "text", "messages": [{"role": "user", "content": "hi"}],
            "logprobs": True, "top_logprobs": 2}
    response = await client.post("/api/chat", json=body)
    chunks = [msgspec.json.decode(line) for line in response.content.splitlines() if line]
    texts = [c for c in chunks if c["message"]["content"]]
    assert all(c["logprobs"][0]["token"] == c["message"]["content"] for c in texts)
    assert all(len(c["logprobs"][0]["top_logprobs"]) == 2 for c in texts)
