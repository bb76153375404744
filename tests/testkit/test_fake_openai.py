"""The scripted upstream's OpenAI-compatible mode, over real loopback sockets with httpx.

The reference client here (`assemble_sse`) is deliberately naive and independent of the sidecar:
it reads SSE the way the OpenAI wire says (blank-line separated events, `:` comments, `data:`
lines, `[DONE]`), so the tests pin what the fake sends, not how the sidecar reads it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import trio

from sidecar_testkit.fake_ollama import (
    FLAVOURS,
    MULTIBYTE_TEXT,
    SCENARIOS,
    SEPARATORS_TEXT,
    ScriptedOllama,
    neutral_messages,
    open_scripted_ollama,
    tool_request_text,
)
from sidecar_testkit.fake_ollama.openai_render import KEEPALIVE, RenderOptions, render
from sidecar_testkit.fake_ollama.openai_wire import argument_fragments, llama_arguments

from ..support import GUARD_S, REPO_ROOT, chat_params, transcript

V1 = "/v1/chat/completions"
G_REPLY_ID = "chatcmpl-Vb7Qm2xLk9RtZp4Nc8Hd1FwYs6Ja3UeG"


def v1_json(model: str, prompt: str = "Why is the sky blue?", **extra: Any) -> dict[str, Any]:
    """A `/v1/chat/completions` body: the chat's params, streamed with usage."""
    return chat_params(
        model, prompt, stream=True, stream_options={"include_usage": True}, **extra
    )


# --- a reference reader for both dialects ---------------------------------------------------------


def assemble_sse(body: bytes) -> dict[str, Any]:
    """What a plain OpenAI streaming client makes of `body`."""
    reply: dict[str, Any] = {"content": "", "thinking": "", "calls": {}, "finish": None,
                             "usage": None, "error": None, "complete": False, "broken": False}
    for block in body.split(b"\n\n"):
        for line in block.split(b"\n"):
            if not line.startswith(b"data: "):
                assert line == b"" or line.startswith(b":"), line
                continue
            data = line[len(b"data: "):]
            if data == b"[DONE]":
                reply["complete"] = True
                continue
            try:
                chunk = msgspec.json.decode(data)
            except msgspec.DecodeError:
                reply["broken"] = True
                continue
            if "error" in chunk:
                reply["error"] = chunk["error"]["message"]
                continue
            if chunk.get("usage"):
                reply["usage"] = (chunk["usage"]["prompt_tokens"], chunk["usage"]["completion_tokens"])
            for choice in chunk["choices"]:
                delta = choice["delta"]
                reply["content"] += delta.get("content") or ""
                reply["thinking"] += delta.get("reasoning") or delta.get("reasoning_content") or ""
                for call in delta.get("tool_calls", []):
                    slot = reply["calls"].setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                    slot["id"] = call.get("id", slot["id"])
                    slot["name"] = call.get("function", {}).get("name", slot["name"])
                    slot["arguments"] += call.get("function", {}).get("arguments", "")
                if choice["finish_reason"]:
                    reply["finish"] = choice["finish_reason"]
    reply["calls"] = [
        {**call, "arguments": msgspec.json.decode(call["arguments"])}
        for _, call in sorted(reply["calls"].items())
    ]
    return reply


def assemble_ndjson(lines: list[bytes]) -> dict[str, Any]:
    """The same summary of an `/api/chat` stream."""
    reply: dict[str, Any] = {"content": "", "thinking": "", "calls": [], "finish": None,
                             "usage": None, "error": None, "complete": False, "broken": False}
    for line in lines:
        try:
            chunk = msgspec.json.decode(line)
        except msgspec.DecodeError:
            reply["broken"] = True
            continue
        if "error" in chunk:
            reply["error"] = chunk["error"]
            continue
        message = chunk["message"]
        reply["content"] += message["content"]
        reply["thinking"] += message.get("thinking", "")
        reply["calls"] += [
            {"id": c.get("id", ""), "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
            for c in message.get("tool_calls", [])
        ]
        if chunk["done"]:
            reply["complete"] = True
            reply["finish"] = "tool_calls" if reply["calls"] else chunk["done_reason"]
            reply["usage"] = (chunk["prompt_eval_count"], chunk["eval_count"])
    return reply


def rendered(name: str, flavour: str, request: dict[str, Any] | None = None, **options: Any) -> bytes:
    request = request or {"model": name, "messages": [{"role": "user", "content": "hi there"}]}
    script = SCENARIOS[name](request)
    out = render(script, RenderOptions(flavour=flavour, model=name, reply_id="chatcmpl-1", **options))
    return b"".join(out.lines)


STREAMING = [name for name in SCENARIOS if SCENARIOS[name]({"model": "m"}).body is None]


# --- the same reply in both dialects -----------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("name", STREAMING)
def test_every_scenario_says_the_same_through_v1_in_each_flavour(name: str, flavour: str) -> None:
    request = {"model": name, "messages": [{"role": "user", "content": "hi there"}]}
    expected = assemble_ndjson(SCENARIOS[name](request).lines)
    got = assemble_sse(rendered(name, flavour, request, include_usage=True))
    assert all(call["id"] for call in got["calls"])  # made up where the script has none
    for want, have in zip(expected["calls"], got["calls"], strict=True):
        want["id"] = want["id"] or have["id"]
    assert got == expected


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_without_include_usage_there_is_no_usage_chunk(flavour: str) -> None:
    events = rendered("text", flavour, include_usage=False, keepalive=False).split(b"\n\n")
    finish = msgspec.json.decode(events[-3].removeprefix(b"data: "))
    assert (assemble_sse(b"\n\n".join(events))["usage"], events[-2]) == (None, b"data: [DONE]")
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert ("timings" in finish) == (flavour == "llama-server")  # llama-server: on the last chunk


# --- byte-exact fixtures -------------------------------------------------------------------------


async def test_ollama_flavour_renders_fixture_b_as_fixture_f_byte_for_byte(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    fake.openai_flavour, fake.openai_keepalive, fake.scenario = "ollama", False, "tool-call"
    response = await client.post(V1, json=v1_json("qwen2.5:7b"))
    assert (response.status_code, response.headers["content-type"], response.content) == (
        200, "text/event-stream", transcript("f-v1-ollama-sse-tool-call.sse"),
    )


async def test_llama_server_flavour_replays_fixture_g_byte_for_byte(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    fake.openai_keepalive, fake.scenario = False, "tool-call-fragments"
    response = await client.post(V1, json=v1_json("qwen2.5-7b-instruct"))
    assert response.content == transcript("g-v1-llama-server-sse-tool-call.sse")


def test_llama_server_rendering_matches_fixture_g_but_for_clock_and_timings() -> None:
    def unclocked(body: bytes) -> bytes:
        body = re.sub(rb'"created":\d+', b'"created":0', body)
        return re.sub(rb',"timings":\{[^}]*\}', b"", body)

    script = SCENARIOS["tool-call-fragments"]({"model": "qwen2.5-7b-instruct"})
    options = RenderOptions(model="qwen2.5-7b-instruct", reply_id=G_REPLY_ID, include_usage=True,
                            keepalive=False)
    body = b"".join(render(replace(script, v1_events={}), options).lines)
    assert unclocked(body) == unclocked(transcript("g-v1-llama-server-sse-tool-call.sse"))
    assert body.count(b'"timings":{"cache_n":0,"prompt_n":205,') == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_keepalive_comments_come_early_and_are_the_only_extra_bytes(
    fake: ScriptedOllama, client: httpx.AsyncClient, flavour: str
) -> None:
    fake.openai_flavour = flavour
    with_pings = (await client.post(V1, json=v1_json("text"))).content
    fake.openai_keepalive = False
    without = (await client.post(V1, json=v1_json("text"))).content
    assert with_pings.startswith(KEEPALIVE) and with_pings.count(KEEPALIVE) == 2
    same_reply = re.sub(rb'"(created|id)":("[^"]*"|\d+)', b"", with_pings.replace(KEEPALIVE, b""))
    assert same_reply == re.sub(rb'"(created|id)":("[^"]*"|\d+)', b"", without)


# --- llama-server's argument fragments ------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "fragments"),
    [
        ({"city": "Tokyo"}, ['{"city": "', "Tokyo", '"}']),
        ({"path": "a b\\\"c", "n": 5}, ['{"path": "', "a ", 'b\\\\\\"c', '", "n": 5}']),
        ({}, ["{}"]),
        ({"list": ["x", 1]}, ['{"list": ["', "x", '", 1]}']),
    ],
)
def test_arguments_are_cut_inside_string_values_and_never_inside_an_escape(
    arguments: dict[str, Any], fragments: list[str]
) -> None:
    text = llama_arguments(arguments)
    assert argument_fragments(text) == fragments
    assert msgspec.json.decode("".join(fragments)) == arguments


# --- errors, keys, models ------------------------------------------------------------------------

ERROR_CASES = [
    ("not-found", "llama9", 404, "model 'llama9' not found"),
    ("no-tools", "gemma2:2b", 400, "registry.ollama.ai/library/gemma2:2b does not support tools"),
    ("busy", "llama3.2", 503, "server busy, please try again.  maximum pending requests exceeded"),
    ("server-error", "llama3.2", 500, "llama runner process has terminated: exit status 2"),
]
ERROR_TYPES = {
    "ollama": {404: "not_found_error", 400: "invalid_request_error", 503: "api_error", 500: "api_error"},
    "llama-server": {404: "not_found_error", 400: "invalid_request_error", 503: "unavailable_error",
                     500: "server_error"},
}


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(("scenario", "model", "status", "message"), ERROR_CASES)
async def test_errors_before_the_stream_are_openai_shaped_with_the_status(
    fake: ScriptedOllama, client: httpx.AsyncClient,
    flavour: str, scenario: str, model: str, status: int, message: str,
) -> None:
    fake.openai_flavour, fake.scenario = flavour, scenario
    response = await client.post(V1, json=v1_json(model))
    expected = {"message": message, "type": ERROR_TYPES[flavour][status], "param": None, "code": None}
    if flavour == "llama-server":
        expected = {"code": status, "message": message, "type": ERROR_TYPES[flavour][status]}
    assert (response.status_code, response.headers["content-type"], response.json()) == (
        status, "application/json; charset=utf-8", {"error": expected},
    )


async def test_missing_model_is_the_v1_fixture_byte_for_byte(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    fake.openai_flavour = "ollama"
    response = await client.post(V1, json=v1_json("llama9"))
    assert (response.status_code, response.content) == (404, transcript("error-404-v1-openai-format.json"))


async def test_a_required_key_is_checked_on_every_v1_route_only(fake: ScriptedOllama) -> None:
    fake.api_key = "sk-scripted-secret"
    async with httpx.AsyncClient(base_url=fake.url, timeout=GUARD_S) as http:
        missing = await http.post(V1, json=v1_json("text"))
        wrong = await http.get("/v1/models", headers={"Authorization": "Bearer sk-other"})
        native = await http.post("/api/chat", json=v1_json("text"))
    async with httpx.AsyncClient(
        base_url=fake.url, timeout=GUARD_S, headers={"Authorization": "Bearer sk-scripted-secret"}
    ) as http:
        right = await http.post(V1, json=v1_json("text"))
        models = await http.get("/v1/models")
    refused = {"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}
    assert [(missing.status_code, missing.json()), (wrong.status_code, wrong.json())] == [(401, refused)] * 2
    assert [native.status_code, right.status_code, models.status_code] == [200, 200, 200]
    assert b"sk-scripted-secret" not in missing.content + wrong.content
    assert assemble_sse(right.content)["complete"] is True


@pytest.mark.parametrize(("flavour", "owner"), [("ollama", "library"), ("llama-server", "llamacpp")])
async def test_models_lists_what_tags_lists_in_openai_shape(
    fake: ScriptedOllama, client: httpx.AsyncClient, flavour: str, owner: str
) -> None:
    fake.openai_flavour = flavour
    listing = (await client.get("/v1/models")).json()
    tags = (await client.get("/api/tags")).json()["models"]
    assert (listing["object"], [m["id"] for m in listing["data"]]) == ("list", [m["name"] for m in tags])
    first = listing["data"][0]
    assert (list(first), first["object"], first["owned_by"], type(first["created"])) == (
        ["id", "object", "created", "owned_by"], "model", owner, int,
    )


async def test_a_request_that_does_not_stream_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(V1, json={"model": "text", "messages": [{"role": "user", "content": "hi"}]})
    assert (response.status_code, response.json()["error"]["type"]) == (400, "invalid_request_error")
    assert "stream" in response.json()["error"]["message"]


# --- endings, pacing, pauses -------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_midstream_error_is_an_error_event_and_no_done(
    fake: ScriptedOllama, client: httpx.AsyncClient, flavour: str
) -> None:
    fake.openai_flavour = flavour
    body = (await client.post(V1, json=v1_json("midstream-error"))).content
    reply = assemble_sse(body)
    assert (reply["content"], reply["error"], reply["complete"], reply["finish"]) == (
        "Once upon a time", "an error was encountered while running the model: unexpected EOF", False, None,
    )
    assert body.split(b"\n\n")[-2].startswith(b'data: {"error":{')  # the last event


async def test_truncated_ends_cleanly_without_done(client: httpx.AsyncClient) -> None:
    response = await client.post(V1, json=v1_json("truncated"))
    reply = assemble_sse(response.content)
    assert (response.status_code, reply["content"], reply["complete"], reply["finish"]) == (
        200, "This just stops", False, None,
    )


async def test_malformed_sends_an_event_that_is_not_json(client: httpx.AsyncClient) -> None:
    body = (await client.post(V1, json=v1_json("malformed"))).content
    assert body.endswith(b'data: {"model":"x","message":{"role":"assistant","content":"oops"\n\n')
    assert assemble_sse(body)["broken"] is True


async def test_drop_cuts_the_v1_body(fake: ScriptedOllama, client: httpx.AsyncClient) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(V1, json=v1_json("drop"))
    record = fake.chat_records[0]
    assert (record.path, record.lines_sent, record.client_disconnected) == (V1, 3, False)


async def test_client_leaving_a_hanging_v1_stream_is_recorded(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    async with client.stream("POST", V1, json=v1_json("hang")) as response:
        received = b""
        pieces = response.aiter_raw()
        while b"hard" not in received:
            received += await anext(pieces)
        await pieces.aclose()
    record = await fake.wait_for_chat()
    with trio.fail_after(GUARD_S):
        await record.disconnected.wait()
    assert (assemble_sse(received)["content"], record.lines_sent, record.finished_at) == (
        "Thinking hard", 2, None,
    )


async def test_pause_after_counts_script_lines_in_v1_too(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    fake.pause_after = 2
    async with client.stream("POST", V1, json=v1_json("text")) as response:
        pieces = response.aiter_raw()
        received = b""
        record = await fake.wait_paused()
        while assemble_sse(received)["content"] != "The sky":
            received += await anext(pieces)
        state = (record.lines_sent, record.finished.is_set())
        fake.release()
        received += b"".join([piece async for piece in pieces])
    reply = assemble_sse(received)
    assert (state, reply["content"], reply["complete"]) == (
        (2, False), "The sky looks blue because air scatters blue & violet light more.", True,
    )


async def test_multibyte_text_is_split_across_http_chunks(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", V1, json=v1_json("multibyte")) as response:
        pieces = [piece async for piece in response.aiter_raw()]
    assert max(map(len, pieces)) == 3
    assert assemble_sse(b"".join(pieces))["content"] == MULTIBYTE_TEXT


@pytest.mark.parametrize(("flavour", "raw_separators"), [("ollama", False), ("llama-server", True)])
async def test_separators_are_escaped_only_by_ollama(
    fake: ScriptedOllama, client: httpx.AsyncClient, flavour: str, raw_separators: bool
) -> None:
    fake.openai_flavour = flavour
    body = (await client.post(V1, json=v1_json("separators"))).content
    assert assemble_sse(body)["content"] == SEPARATORS_TEXT
    assert ("\u2028".encode() in body, "\u0085".encode() in body) == (raw_separators, True)


# --- what was sent, in one shape -------------------------------------------------------------------


def tool_round(dialect: str) -> dict[str, Any]:
    """The second request of a tool round (call answered), as a client of `dialect` sends it."""
    user = {"role": "user", "content": tool_request_text([("read_file", {"path": "a.txt"})], text="")}
    if dialect == "v1":
        return {"model": "tools", "stream": True, "max_tokens": 64, "messages": [
            user,
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_t0000000", "type": "function",
                "function": {"name": "read_file", "arguments": '{"path": "a.txt"}'}}]},
            {"role": "tool", "tool_call_id": "call_t0000000", "content": "hello"},
        ], "tools": [{"type": "function", "function": {"name": "read_file"}}]}
    return {"model": "tools", "stream": True, "options": {"num_predict": 64}, "messages": [
        user,
        {"role": "assistant", "content": "", "tool_calls": [{
            "id": "call_t0000000", "function": {"index": 0, "name": "read_file", "arguments": {"path": "a.txt"}}}]},
        {"role": "tool", "content": "hello", "tool_name": "read_file", "tool_call_id": "call_t0000000"},
    ], "tools": [{"type": "function", "function": {"name": "read_file"}}]}


async def test_record_chat_is_the_same_for_both_dialects(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    v1 = await client.post(V1, json=tool_round("v1"))
    native = await client.post("/api/chat", json=tool_round("api"))
    sent_v1, sent_native = (record.chat for record in fake.chat_records)
    assert sent_v1 == sent_native == {
        "model": "tools",
        "messages": [
            {"role": "user", "content": tool_round("api")["messages"][0]["content"]},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_t0000000", "name": "read_file", "arguments": {"path": "a.txt"}}]},
            {"role": "tool", "content": "hello", "tool_name": "read_file", "tool_call_id": "call_t0000000"},
        ],
        "tools": [{"type": "function", "function": {"name": "read_file"}}],
        "options": {"num_predict": 64},
    }
    assert neutral_messages(tool_round("api")["messages"]) == sent_native["messages"]
    # The tool message named no tool on /v1: the scenario still quoted it by name.
    assert assemble_sse(v1.content)["content"] == "Tool results: [read_file] hello"
    assert native.status_code == 200 and fake.records[0].chat is not None
    assert [r.chat for r in fake.records if r.method == "GET"] == []


async def test_max_tokens_reaches_the_scenario_as_num_predict(client: httpx.AsyncClient) -> None:
    reply = assemble_sse((await client.post(V1, json=v1_json("long", max_tokens=3))).content)
    assert (reply["content"], reply["finish"], reply["usage"]) == ("tok1 tok2 tok3 ", "length", (26, 4))


# --- the command line -----------------------------------------------------------------------------


async def test_cli_serves_the_ollama_flavour_and_demands_the_key() -> None:
    command = [sys.executable, "-m", "sidecar_testkit.fake_ollama", "--port", "0", "--pace", "0",
               "--openai-flavour", "ollama", "--api-key", "k-123"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            process: trio.Process = await nursery.start(partial(
                trio.run_process, command, cwd=REPO_ROOT, env=env,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False,
            ))
            assert process.stdout is not None
            line = b""
            while not line.endswith(b"\n"):
                line += await process.stdout.receive_some(4096)
            url = msgspec.json.decode(line)["url"]
            async with httpx.AsyncClient(base_url=url) as http:
                refused = await http.post(V1, json=v1_json("echo", "ping"))
                served = await http.post(V1, json=v1_json("echo", "ping"),
                                         headers={"Authorization": "Bearer k-123"})
            process.terminate()
    assert (refused.status_code, process.returncode) == (401, 0)
    assert b'"system_fingerprint":"fp_ollama"' in served.content
    assert assemble_sse(served.content)["content"] == "ping"


# --- what the real servers refuse ------------------------------------------------------------------


def history(*calls: dict[str, Any], content: Any = "") -> dict[str, Any]:
    return v1_json("text", messages=[
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": content, "tool_calls": list(calls)},
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ])


UNTYPED = {"id": "c1", "function": {"name": "read_file", "arguments": '{"path":"a"}'}}
OBJECT_ARGUMENTS = {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": {"path": "a"}}}
GOOD = {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": '{"path":"a"}'}}


@pytest.mark.parametrize(
    ("flavour", "body", "status", "message"),
    [
        ("llama-server", history(UNTYPED), 500,
         ('Failed to parse messages: Missing tool call type: {"id":"c1","function":'
         '{"name":"read_file","arguments":"{\\"path\\":\\"a\\"}"}}')),
        ("llama-server", history(OBJECT_ARGUMENTS), 200, None),
        ("llama-server", history(GOOD, content=None), 200, None),
        ("llama-server", v1_json("text", messages=[{"role": "user"}]), 500,
         ("Failed to parse messages: Expected 'content' or 'tool_calls' (ref: "
         "https://github.com/ggml-org/llama.cpp/issues/8367 & "
         "https://github.com/ggml-org/llama.cpp/issues/12279)")),
        ("llama-server", v1_json("text", tools=[{"function": {"name": "x"}}]), 500,
         'Failed to parse tools: Unsupported tool type: {"function":{"name":"x"}}'),
        ("ollama", history(UNTYPED), 200, None),
        ("ollama", history(OBJECT_ARGUMENTS), 400,
         ("json: cannot unmarshal object into Go struct field .messages.tool_calls.function.arguments"
         " of type string")),
        ("ollama", history({**GOOD, "function": {"name": "x", "arguments": "{"}}), 400,
         "invalid tool call arguments"),
        ("ollama", v1_json("text", messages=[{"role": "user", "content": None}]), 400,
         "invalid message content type: <nil>"),
    ],
)
async def test_histories_the_real_server_refuses_are_refused(
    fake: ScriptedOllama, client: httpx.AsyncClient,
    flavour: str, body: dict[str, Any], status: int, message: str | None,
) -> None:
    fake.openai_flavour = flavour
    response = await client.post(V1, json=body)
    refused = response.json()["error"]["message"] if response.status_code != 200 else None
    assert (response.status_code, refused) == (status, message)
