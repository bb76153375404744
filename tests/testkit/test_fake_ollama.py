"""The scripted Ollama, exercised over real loopback sockets with httpx."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import trio

from sidecar_testkit.fake_ollama import (
    ERROR_SCENARIOS,
    MULTIBYTE_TEXT,
    SCENARIOS,
    SEPARATORS_TEXT,
    RequestRecord,
    Script,
    ScriptedOllama,
    open_scripted_ollama,
    tool_request_text,
)
from sidecar_testkit.fake_ollama.wire import go_json, rfc3339_nano

from ..support import GUARD_S, REPO_ROOT, chat_params


# scenario -> (transcript, the model name inside it)
FIXTURE_SCENARIOS = {
    "text": ("a-text-stream.ndjson", "llama3.2"),
    "tool-call": ("b-text-then-tool-call.ndjson", "qwen2.5:7b"),
    "tool-calls-only": ("c-tool-calls-only.ndjson", "qwen2.5:7b"),
    "tool-call-final": (
        "c2-native-tool-call-in-final-chunk.ndjson",
        "hf.co/unsloth/Qwen3-4B-Instruct-2507-GGUF:Q4_K_M",
    ),
    "thinking": ("d-thinking-then-content.ndjson", "qwen3:8b"),
    "midstream-error": ("e-midstream-error.ndjson", "llama3.2"),
}
CHUNK_KEYS = [
    "model", "created_at", "message", "done", "done_reason", "total_duration", "load_duration",
    "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration",
]
MESSAGE_KEYS = ["role", "content", "thinking", "tool_calls"]


def fixture(name: str) -> bytes:
    return (resources.files("sidecar_testkit.fake_ollama") / "transcripts" / name).read_bytes()


def with_model(body: bytes, old: str, new: str) -> bytes:
    return body.replace(b'{"model":' + go_json(old), b'{"model":' + go_json(new))


def lines_of(body: bytes) -> list[bytes]:
    return body.splitlines(keepends=True)


def chunks_of(body: bytes) -> list[dict[str, Any]]:
    return [msgspec.json.decode(line) for line in lines_of(body)]


def content_of(body: bytes) -> str:
    return "".join(chunk["message"]["content"] for chunk in chunks_of(body))


def is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def chat_json(model: str, prompt: str = "Why is the sky blue?", **extra: Any) -> dict[str, Any]:
    return chat_params(model, prompt, **extra)


async def raw_pieces(client: httpx.AsyncClient, payload: dict[str, Any]) -> list[bytes]:
    async with client.stream("POST", "/api/chat", json=payload) as response:
        return [piece async for piece in response.aiter_raw()]


# --- fixture replay ------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", FIXTURE_SCENARIOS)
async def test_fixture_scenario_replays_transcript_bytes_exactly(
    fake: ScriptedOllama, client: httpx.AsyncClient, scenario: str
) -> None:
    transcript, model = FIXTURE_SCENARIOS[scenario]
    fake.scenario = scenario
    response = await client.post("/api/chat", json=chat_json(model))
    assert (response.status_code, response.headers["content-type"], response.content) == (
        200, "application/x-ndjson", fixture(transcript),
    )


@pytest.mark.parametrize("scenario", FIXTURE_SCENARIOS)
async def test_fixture_scenario_echoes_the_requested_model(
    client: httpx.AsyncClient, scenario: str
) -> None:
    transcript, model = FIXTURE_SCENARIOS[scenario]
    response = await client.post("/api/chat", json=chat_json(scenario))
    assert response.content == with_model(fixture(transcript), model, scenario)


async def test_rewritten_model_is_go_escaped(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    fake.scenario = "text"
    response = await client.post("/api/chat", json=chat_json('we<ird>&"name'))
    expected = fixture("a-text-stream.ndjson").replace(
        b'{"model":"llama3.2"', b'{"model":"we\\u003cird\\u003e\\u0026\\"name"'
    )
    assert response.content == expected


async def test_model_with_latest_tag_selects_the_scenario(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/chat", json=chat_json("text:latest"))
    expected = with_model(fixture("a-text-stream.ndjson"), "llama3.2", "text:latest")
    assert response.content == expected


# --- framing -------------------------------------------------------------------------------------


async def test_each_line_is_sent_as_one_http_chunk(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    fake.pace = 0.01
    pieces = await raw_pieces(client, chat_json("text"))
    assert pieces == lines_of(with_model(fixture("a-text-stream.ndjson"), "llama3.2", "text"))


async def test_split_bytes_sends_multibyte_characters_across_chunks(
    client: httpx.AsyncClient,
) -> None:
    pieces = await raw_pieces(client, chat_json("multibyte"))
    body = b"".join(pieces)
    expected = [line[i : i + 3] for line in lines_of(body) for i in range(0, len(line), 3)]
    straddling = [piece for piece in pieces if not is_utf8(piece)]
    assert (pieces, content_of(body), straddling != []) == (expected, MULTIBYTE_TEXT, True)


async def test_separators_decode_exactly_and_are_escaped_like_go(
    client: httpx.AsyncClient,
) -> None:
    body = (await client.post("/api/chat", json=chat_json("separators"))).content
    wire_forms = {
        "raw NEL": "\u0085".encode() in body,
        "raw LS": "\u2028".encode() in body,
        "raw PS": "\u2029".encode() in body,
        "escaped LS, PS": b"\\u2028line three\\u2029" in body,
        "escaped <b>&": b"\\u003cb\\u003e\\u0026" in body,
    }
    assert (content_of(body), wire_forms) == (
        SEPARATORS_TEXT,
        {"raw NEL": True, "raw LS": False, "raw PS": False, "escaped LS, PS": True,
         "escaped <b>&": True},
    )


async def test_echo_streams_the_last_user_message_word_by_word(client: httpx.AsyncClient) -> None:
    prompt = "Hello there,  wide world! "
    payload = {
        "model": "echo",
        "messages": [
            {"role": "user", "content": "an older question"},
            {"role": "assistant", "content": "an older answer"},
            {"role": "user", "content": prompt},
        ],
    }
    chunks = chunks_of((await client.post("/api/chat", json=payload)).content)
    pieces = [chunk["message"]["content"] for chunk in chunks]
    assert pieces == ["Hello ", "there,  ", "wide ", "world! ", ""]
    assert "".join(pieces) == prompt
    assert [chunk["done"] for chunk in chunks] == [False, False, False, False, True]


async def test_long_streams_num_predict_tokens_and_stops_for_length(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/chat", json=chat_json("long", options={"num_predict": 3}))
    chunks = chunks_of(response.content)
    assert (content_of(response.content), chunks[-1]["done_reason"]) == (
        "tok1 tok2 tok3 ", "length",
    )


async def test_long_streams_a_thousand_tokens_by_default(client: httpx.AsyncClient) -> None:
    chunks = chunks_of((await client.post("/api/chat", json=chat_json("long"))).content)
    assert (len(chunks), chunks[-2]["message"]["content"], chunks[-1]["done_reason"]) == (
        1001, "tok1000 ", "stop",
    )


# --- errors --------------------------------------------------------------------------------------

ERROR_CASES = [
    ("not-found", "llama9", 404, fixture("error-404-model-not-found.json")),
    ("no-tools", "gemma2:2b", 400, fixture("error-400-does-not-support-tools.json")),
    ("no-thinking", "gemma2:2b", 400, fixture("error-400-does-not-support-thinking.json")),
    ("busy", "llama3.2", 503, fixture("error-503-server-busy.json")),
    ("server-error", "llama3.2", 500,
     b'{"error":"llama runner process has terminated: exit status 2"}'),
]


@pytest.mark.parametrize(("scenario", "model", "status", "body"), ERROR_CASES)
async def test_error_scenario_answers_with_status_and_exact_body(
    fake: ScriptedOllama, client: httpx.AsyncClient,
    scenario: str, model: str, status: int, body: bytes,
) -> None:
    fake.scenario = scenario
    response = await client.post("/api/chat", json=chat_json(model))
    assert (response.status_code, response.headers["content-type"], response.content) == (
        status, "application/json; charset=utf-8", body,
    )


async def test_error_scenario_selected_by_model_names_that_model(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/chat", json=chat_json("no-tools"))
    assert (response.status_code, response.json()) == (
        400, {"error": "registry.ollama.ai/library/no-tools does not support tools"},
    )


async def test_unknown_model_gets_model_not_found(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/chat", json=chat_json("llama9"))
    assert (response.status_code, response.content) == (
        404, fixture("error-404-model-not-found.json"),
    )


async def test_request_without_model_or_body_is_rejected(client: httpx.AsyncClient) -> None:
    no_model = await client.post("/api/chat", json={"messages": []})
    no_body = await client.post("/api/chat")
    assert [(no_model.status_code, no_model.json()), (no_body.status_code, no_body.json())] == [
        (400, {"error": "model is required"}),
        (400, {"error": "missing request body"}),
    ]


# --- endings -------------------------------------------------------------------------------------


async def test_drop_cuts_the_body_so_the_client_sees_a_protocol_error(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/api/chat", json=chat_json("drop"))
    record = fake.chat_records[0]
    assert (record.lines_sent, record.client_disconnected) == (3, False)


async def test_truncated_ends_the_body_cleanly_without_a_done_line(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/chat", json=chat_json("truncated"))
    chunks = chunks_of(response.content)
    assert (response.status_code, [c["done"] for c in chunks], content_of(response.content)) == (
        200, [False, False, False], "This just stops",
    )


async def test_malformed_sends_a_line_that_is_not_json(client: httpx.AsyncClient) -> None:
    lines = lines_of((await client.post("/api/chat", json=chat_json("malformed"))).content)
    assert (len(lines), lines[2]) == (
        3, b'{"model":"x","message":{"role":"assistant","content":"oops"\n',
    )
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(lines[2])


async def test_client_closing_during_hang_is_recorded_as_disconnect(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    fake.scenario = "hang"
    async with client.stream("POST", "/api/chat", json=chat_json("llama3.2")) as response:
        pieces = response.aiter_raw()
        received = [await anext(pieces), await anext(pieces)]
        await pieces.aclose()
    record = await fake.wait_for_request()
    with trio.fail_after(GUARD_S):
        await record.disconnected.wait()
    assert (len(received), record.lines_sent, record.client_disconnected, record.finished_at) == (
        2, 2, True, None,
    )


# --- pausing -------------------------------------------------------------------------------------


async def test_pause_after_holds_every_stream_until_release(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    fake.pause_after = 2
    expected = lines_of(with_model(fixture("a-text-stream.ndjson"), "llama3.2", "text"))
    async with client.stream("POST", "/api/chat", json=chat_json("text")) as response:
        pieces = response.aiter_raw()
        received = [await anext(pieces), await anext(pieces)]
        record = await fake.wait_paused()
        state_at_pause = (record.lines_sent, record.finished.is_set())
        fake.release()
        received += [piece async for piece in pieces]
    assert (state_at_pause, received) == ((2, False), expected)


async def test_client_leaving_while_paused_before_the_first_line_is_recorded(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    fake.pause_after = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(client.post, "/api/chat", json=chat_json("text")))
        record = await fake.wait_paused()
        nursery.cancel_scope.cancel()
    with trio.fail_after(GUARD_S):
        await record.disconnected.wait()
    assert (record.lines_sent, record.client_disconnected) == (0, True)


# --- connection handling and records -------------------------------------------------------------


async def test_two_requests_share_one_keep_alive_connection(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    first = await client.post("/api/chat", json=chat_json("echo", "one"))
    second = await client.post("/api/chat", json=chat_json("echo", "two"))
    assert (content_of(first.content), content_of(second.content)) == ("one", "two")
    assert [(r.connection, r.model, r.finished.is_set()) for r in fake.records] == [
        (1, "echo", True), (1, "echo", True),
    ]


async def test_chunked_request_body_is_read_and_recorded(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    payload = msgspec.json.encode(chat_json("echo", "streamed body"))

    async def body() -> AsyncIterator[bytes]:
        yield payload[:10]
        yield payload[10:]

    response = await client.post("/api/chat", content=body())
    record = fake.chat_records[0]
    assert (content_of(response.content), record.headers["transfer-encoding"], record.body) == (
        "streamed body", "chunked", payload,
    )


async def test_wait_for_request_returns_the_count_th_matching_request(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.get, "/api/version")
        for word in ["first", "second"]:
            nursery.start_soon(partial(client.post, "/api/chat", json=chat_json("echo", word)))
            await fake.wait_for_request(count=1 if word == "first" else 2)
    record = await fake.wait_for_request("/api/chat", count=2)
    assert (record.json["messages"][0]["content"], record.scenario, len(fake.chat_records)) == (
        "second", "echo", 2,
    )


async def test_custom_script_is_added_to_one_instance_only(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    fake.scripts["custom"] = lambda request: Script(lines=[b'{"custom":true}\n'], ending="eof")
    response = await client.post("/api/chat", json=chat_json("custom"))
    assert (response.content, "custom" in SCENARIOS) == (b'{"custom":true}\n', False)


async def test_serve_can_be_started_in_a_callers_nursery() -> None:
    async with trio.open_nursery() as nursery:
        server = ScriptedOllama(scenario="echo")
        await nursery.start(server.serve)
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.post("/api/chat", json=chat_json("any", "hi"))
        nursery.cancel_scope.cancel()
    assert content_of(response.content) == "hi"


# --- other endpoints -----------------------------------------------------------------------------


async def test_root_says_ollama_is_running_also_to_head(client: httpx.AsyncClient) -> None:
    get, head = await client.get("/"), await client.head("/")
    assert [(r.status_code, r.headers["content-length"], r.content) for r in (get, head)] == [
        (200, "17", b"Ollama is running"), (200, "17", b""),
    ]


async def test_version_reports_the_scripted_version(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/version")
    assert response.content == b'{"version":"0.33.0-scripted"}'


async def test_tags_lists_every_streaming_scenario_in_ollama_shape(
    client: httpx.AsyncClient,
) -> None:
    models = (await client.get("/api/tags")).json()["models"]
    first = models[0]
    assert [m["name"] for m in models] == [
        f"{name}:latest" for name in SCENARIOS if name not in ERROR_SCENARIOS
    ]
    assert list(first) == ["name", "model", "modified_at", "size", "digest", "details", "capabilities"]
    digest_is_hex = set(first["digest"]) <= set("0123456789abcdef")
    assert (first["model"], type(first["size"]), len(first["digest"]), digest_is_hex) == (
        "text:latest", int, 64, True,
    )
    assert first["details"] == {
        "parent_model": "", "format": "gguf", "family": "scripted", "families": ["scripted"],
        "parameter_size": "1B", "quantization_level": "Q4_K_M",
    }


async def test_unknown_path_and_wrong_method_get_gin_404(client: httpx.AsyncClient) -> None:
    responses = [await client.get("/api/nope"), await client.get("/api/chat")]
    assert [(r.status_code, r.headers["content-type"], r.content) for r in responses] == [
        (404, "text/plain", b"404 page not found"),
    ] * 2


# --- tool rounds ---------------------------------------------------------------------------------


def without_created_at(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert all(isinstance(chunk.pop("created_at"), str) for chunk in chunks)
    return chunks


def text_chunk(model: str, content: str) -> dict[str, Any]:
    return {"model": model, "message": {"role": "assistant", "content": content}, "done": False}


def done_chunk(model: str, eval_count: int, **message: Any) -> dict[str, Any]:
    """The final chunk ChunkWriter writes after `eval_count - 1` chunks (26 prompt tokens)."""
    eval_duration = eval_count * 41_250_000
    return {
        "model": model, "message": {"role": "assistant", "content": "", **message}, "done": True,
        "done_reason": "stop",
        "total_duration": 18_734_201 + 52_000_000 + eval_duration + 3_171_009,
        "load_duration": 18_734_201, "prompt_eval_count": 26, "prompt_eval_duration": 52_000_000,
        "eval_count": eval_count, "eval_duration": eval_duration,
    }


def call_json(call_id: str, index: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": call_id, "function": {"index": index, "name": name, "arguments": arguments}}


async def chat_chunks(client: httpx.AsyncClient, payload: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.post("/api/chat", json=payload)
    assert response.status_code == 200
    return without_created_at(chunks_of(response.content))


def tool_calls_of(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [call for chunk in chunks for call in chunk["message"].get("tool_calls", [])]


def answered(
    messages: list[dict[str, Any]], chunks: list[dict[str, Any]], results: list[str]
) -> list[dict[str, Any]]:
    """`messages` + the assistant reply in `chunks` + one tool message per call, as a loop does."""
    calls = tool_calls_of(chunks)
    content = "".join(chunk["message"]["content"] for chunk in chunks)
    tool_messages = [
        {"role": "tool", "content": result, "tool_name": call["function"]["name"],
         "tool_call_id": call["id"]}
        for call, result in zip(calls, results, strict=True)
    ]
    return [*messages, {"role": "assistant", "content": content, "tool_calls": calls},
            *tool_messages]


TWO_CALLS = [("read_file", {"path": "notes/a.txt"}),
             ("search_files", {"query": "TODO", "glob": "*.py"})]


async def test_tools_first_round_streams_text_then_both_calls_then_done(
    client: httpx.AsyncClient,
) -> None:
    chunks = await chat_chunks(client, chat_json("tools", tool_request_text(TWO_CALLS)))
    assert chunks == [
        text_chunk("tools", "Let "), text_chunk("tools", "me "), text_chunk("tools", "check."),
        {"model": "tools", "done": False, "message": {
            "role": "assistant", "content": "", "tool_calls": [
                call_json("call_t0000000", 0, "read_file", {"path": "notes/a.txt"}),
                call_json("call_t0000001", 1, "search_files", {"query": "TODO", "glob": "*.py"}),
            ]}},
        done_chunk("tools", 5),
    ]


async def test_tools_on_done_puts_the_calls_on_the_done_chunk(client: httpx.AsyncClient) -> None:
    prompt = tool_request_text(
        [{"name": "list_directory", "arguments": {"path": "src"}}], on_done=True, text="On it."
    )
    chunks = await chat_chunks(client, chat_json("tools", prompt))
    assert (prompt, chunks) == (
        '{"calls":[{"name":"list_directory","arguments":{"path":"src"}}],"on_done":true,'
        '"text":"On it."}',
        [text_chunk("tools", "On "), text_chunk("tools", "it."),
         done_chunk("tools", 3, tool_calls=[
             call_json("call_t0000000", 0, "list_directory", {"path": "src"})])],
    )


async def test_tools_second_round_quotes_each_tool_message_in_order(
    fake: ScriptedOllama, client: httpx.AsyncClient
) -> None:
    first_messages = [{"role": "user", "content": tool_request_text(TWO_CALLS, text="")}]
    first = await chat_chunks(client, {"model": "tools", "messages": first_messages})
    second_messages = answered(first_messages, first, ["line 1\nline 2", "a.py:3: # TODO"])
    second = await chat_chunks(client, {"model": "tools", "messages": second_messages})
    sent_back = fake.chat_records[1].json["messages"][1:]
    assert sent_back == [
        {"role": "assistant", "content": "", "tool_calls": [
            call_json("call_t0000000", 0, "read_file", {"path": "notes/a.txt"}),
            call_json("call_t0000001", 1, "search_files", {"query": "TODO", "glob": "*.py"}),
        ]},
        {"role": "tool", "content": "line 1\nline 2", "tool_name": "read_file",
         "tool_call_id": "call_t0000000"},
        {"role": "tool", "content": "a.py:3: # TODO", "tool_name": "search_files",
         "tool_call_id": "call_t0000001"},
    ]
    pieces = ["Tool ", "results: ", "[read_file] ", "line ", "1\n", "line ", "2 ", "| ",
              "[search_files] ", "a.py:3: ", "# ", "TODO"]
    assert second == [*(text_chunk("tools", piece) for piece in pieces), done_chunk("tools", 13)]
    assert "".join(pieces) == (
        "Tool results: [read_file] line 1\nline 2 | [search_files] a.py:3: # TODO"
    )


async def test_tools_call_ids_count_the_assistant_messages_in_the_history(
    client: httpx.AsyncClient,
) -> None:
    messages = [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": tool_request_text([("read_file", {"path": "b"})], text="")},
    ]
    chunks = await chat_chunks(client, {"model": "tools", "messages": messages})
    assert tool_calls_of(chunks) == [call_json("call_t0010000", 0, "read_file", {"path": "b"})]


@pytest.mark.parametrize(
    "prompt",
    [
        "read a.txt please",
        "[]",
        '{"calls": "read_file"}',
        '{"calls": [{"name": "read_file", "arguments": "{\\"path\\": \\"a\\"}"}]}',
        '{"calls": [{"arguments": {}}]}',
        '{"calls": [], "on_done": "yes"}',
        '{"calls": [], "ondone": true}',
    ],
)
async def test_tools_with_a_user_message_of_another_shape_says_so(
    client: httpx.AsyncClient, prompt: str
) -> None:
    chunks = await chat_chunks(client, chat_json("tools", prompt))
    pieces = ["tools ", "scenario: ", "the ", "last ", "user ", "message ", "must ", "be ", "a ",
              "JSON ", "object ", "with ", "calls"]
    assert chunks == [*(text_chunk("tools", piece) for piece in pieces), done_chunk("tools", 14)]


async def test_tools_forever_calls_list_directory_every_round_with_a_new_id(
    client: httpx.AsyncClient,
) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "list it"}]
    rounds = []
    for _ in range(3):
        chunks = await chat_chunks(client, {"model": "tools-forever", "messages": messages})
        rounds.append(chunks)
        messages = answered(messages, chunks, ["a.txt\nsrc/"])
    assert rounds == [
        [text_chunk("tools-forever", "Looking "), text_chunk("tools-forever", "again."),
         {"model": "tools-forever", "done": False, "message": {
             "role": "assistant", "content": "",
             "tool_calls": [call_json(call_id, 0, "list_directory", {"path": "."})]}},
         done_chunk("tools-forever", 4)]
        for call_id in ["call_f0000000", "call_f0010000", "call_f0020000"]
    ]


# --- scenario contents (pure: no server) ---------------------------------------------------------

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "hi there"}]}


def scripted_chunks(name: str) -> list[dict[str, Any]]:
    return chunks_of(b"".join(SCENARIOS[name](REQUEST).lines))


def test_generated_lines_use_go_field_order_and_echo_the_model() -> None:
    misordered = []
    for name, factory in SCENARIOS.items():
        for line in factory(REQUEST).lines:
            try:
                chunk = msgspec.json.decode(line)
            except msgspec.DecodeError:
                continue
            if "error" in chunk:
                continue
            if list(chunk) != [k for k in CHUNK_KEYS if k in chunk] or chunk["model"] not in {"m"}:
                misordered.append((name, line))
            elif list(chunk["message"]) != [k for k in MESSAGE_KEYS if k in chunk["message"]]:
                misordered.append((name, line))
    assert misordered == []


def test_thinking_and_content_has_one_chunk_carrying_both() -> None:
    messages = [chunk["message"] for chunk in scripted_chunks("thinking-and-content")]
    assert [(m.get("thinking"), m["content"]) for m in messages] == [
        ("The user", ""), (" wants", ""), (" a greeting", ""), (".", "Hi"),
        (None, " there"), (None, ", friend"), (None, "!"), (None, ""),
    ]


def test_tool_call_on_done_puts_the_call_on_the_final_chunk() -> None:
    final = scripted_chunks("tool-call-on-done")[-1]
    assert (final["done"], final["done_reason"], final["message"]["tool_calls"]) == (
        True, "stop",
        [{"id": "call_m4x7q2ze", "function": {"index": 0, "name": "get_weather",
                                               "arguments": {"city": "Tokyo"}}}],
    )


def test_legacy_tool_call_has_neither_id_nor_index() -> None:
    first = scripted_chunks("legacy-tool-call")[0]
    assert first["message"] == {
        "role": "assistant", "content": "",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
    }


def test_length_ends_with_done_reason_length() -> None:
    final = scripted_chunks("length")[-1]
    assert (final["done"], final["done_reason"]) == (True, "length")


def test_slow_first_token_is_text_after_a_first_delay() -> None:
    script = SCENARIOS["slow-first-token"]({"model": "llama3.2"})
    assert (script.first_delay, b"".join(script.lines)) == (2.0, fixture("a-text-stream.ndjson"))


def last_line_kind(line: bytes) -> str:
    try:
        chunk = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return "not json"
    return "error" if "error" in chunk else f"done={chunk['done']}"


def test_streaming_scenarios_end_as_documented() -> None:
    scripts = {name: factory(REQUEST) for name, factory in SCENARIOS.items()}
    endings = {
        name: (script.ending, last_line_kind(script.lines[-1]))
        for name, script in scripts.items()
        if script.body is None
    }
    done = ("done", "done=True")
    assert endings == {
        "text": done, "tool-call": done, "tool-call-fragments": done, "tool-calls-only": done,
        "tool-call-final": done,
        "thinking": done, "midstream-error": ("eof", "error"), "thinking-and-content": done,
        "tool-call-on-done": done, "legacy-tool-call": done, "length": done, "multibyte": done,
        "separators": done, "echo": done, "demo": done, "long": done,
        "drop": ("drop", "done=False"), "truncated": ("eof", "done=False"),
        "hang": ("hang", "done=False"), "slow-first-token": done,
        "malformed": ("eof", "not json"), "tools": done, "tools-forever": done,
        "vision": done, "plain": done,
    }
    assert sorted(set(scripts) - set(endings)) == sorted(ERROR_SCENARIOS)


def test_demo_quotes_the_last_user_message() -> None:
    text = "".join(chunk["message"]["content"] for chunk in scripted_chunks("demo"))
    assert text == (
        "Hello! This reply comes from the scripted Ollama of ollama-sidecar, so no real model "
        "was involved. You wrote: “hi there”. If you can read this as it streams in, word by "
        "word, your shell is wired up correctly."
    )


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (1_787_331_731_105_120_000, "2026-08-21T17:02:11.10512Z"),
        (1_787_331_731_129_642_103, "2026-08-21T17:02:11.129642103Z"),
        (1_787_331_731_000_000_000, "2026-08-21T17:02:11Z"),
    ],
)
def test_created_at_is_rfc3339_with_trailing_zeros_trimmed(ns: int, text: str) -> None:
    assert rfc3339_nano(ns) == text


# --- the command line ----------------------------------------------------------------------------


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sidecar_testkit.fake_ollama", *args]


CLI_ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


async def read_line(stream: trio.abc.ReceiveStream) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = await stream.receive_some(4096)
        if not chunk:
            break
        data += chunk
    return data


async def test_cli_with_port_0_prints_its_url_then_serves_until_sigterm() -> None:
    with trio.fail_after(GUARD_S):
        async with trio.open_nursery() as nursery:
            process: trio.Process = await nursery.start(
                partial(
                    trio.run_process, cli("--port", "0", "--pace", "0"), cwd=REPO_ROOT, env=CLI_ENV,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                )
            )
            assert process.stdout is not None and process.stderr is not None
            announced = msgspec.json.decode(await read_line(process.stdout))
            async with httpx.AsyncClient(base_url=announced["url"]) as http:
                response = await http.post("/api/chat", json=chat_json("echo", "ping"))
            process.terminate()
            errors = b""
            while chunk := await process.stderr.receive_some(4096):
                errors += chunk
    messages = [line.split(" INFO ", 1)[1] for line in errors.decode().splitlines()]
    assert (list(announced), announced["url"].startswith("http://127.0.0.1:")) == (["url"], True)
    assert (content_of(response.content), process.returncode) == ("ping", 0)
    assert messages == [
        f"scripted Ollama listening on {announced['url']}",
        "POST /api/chat model=echo scenario=echo (connection 1)",
        "stopping on SIGTERM",
    ]


async def test_cli_list_names_every_scenario() -> None:
    with trio.fail_after(GUARD_S):
        result = await trio.run_process(cli("--list"), cwd=REPO_ROOT, env=CLI_ENV, capture_stdout=True)
    names = [line.split()[0] for line in result.stdout.decode().splitlines()]
    assert names == list(SCENARIOS)


def test_request_record_reports_client_disconnected_from_disconnected_at() -> None:
    record = RequestRecord("GET", "/", {}, b"", None, None, received_at=0.0)
    before = record.client_disconnected
    record.disconnected_at = 1.0
    assert (before, record.client_disconnected) == (False, True)


# --- raw HTTP/1.1 --------------------------------------------------------------------------------


async def raw_exchange(fake: ScriptedOllama, data: bytes) -> bytes:
    """Send `data` in one write and read until the server closes; Date headers blanked."""
    received = b""
    with trio.fail_after(GUARD_S):
        async with await trio.open_tcp_stream("127.0.0.1", fake.port) as stream:
            await stream.send_all(data)
            while chunk := await stream.receive_some(65536):
                received += chunk
    return re.sub(rb"Date: [^\r]*", b"Date: -", received)


async def test_pipelined_requests_are_answered_in_order(fake: ScriptedOllama) -> None:
    requests = (
        b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert await raw_exchange(fake, requests) == (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nDate: -\r\n"
        b'Content-Length: 29\r\n\r\n{"version":"0.33.0-scripted"}'
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nDate: -\r\n"
        b"Content-Length: 17\r\nConnection: close\r\n\r\nOllama is running"
    )


async def test_malformed_http_gets_400_and_a_closed_connection(fake: ScriptedOllama) -> None:
    assert await raw_exchange(fake, b"NOT HTTP AT ALL\r\n\r\n") == (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nDate: -\r\n"
        b"Content-Length: 15\r\nConnection: close\r\n\r\n400 Bad Request"
    )
