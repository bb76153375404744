"""What only `--provider openai` has to get right, on the real process against the scripted upstream.

Every test in the other `test_e2e_*` modules already runs once per provider. These run only in the
"openai" variant: SSE details a client must survive (argument fragments, keep-alives, a missing
`[DONE]`, both servers' flavours), the API key, and the promise that the client sees the same
thing whichever provider the sidecar uses (`test_the_client_sees_the_same_chats_from_both_providers`
runs the same chats through `--ollama-url` and through `--provider openai` and compares).
"""

from __future__ import annotations

import socket
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from sidecar_testkit.fake_ollama import ERROR_SCENARIOS, FLAVOURS, Script, ScriptedOllama
from sidecar_testkit.fake_ollama.openai_render import RenderOptions, render
from sidecar_testkit.harness import SidecarProcess

from .e2e import GUARD_S, TEXT_REPLY, chat_params, checked_sidecar, sidecar_for

pytestmark = pytest.mark.variants("openai")

SECRET = "sk-e2e-7f3a9c-never-print-me"
G_CALL_ID = "Xc4Rj8Lm2Pq7Tz1Wn6Bv9Kd3Hs5Fy0Ga"


def chat_lines(sidecar: SidecarProcess, chat_id: Any) -> dict[str, Any]:
    """What a client makes of one chat: its streamed texts, tool calls and final answer."""
    response = next(r for r in sidecar.responses() if r.get("id") == chat_id)
    return {
        "tokens": sidecar.text(chat_id),
        "thinking": sidecar.text(chat_id, "chat:thinking"),
        "tool_calls": sidecar.notifications("chat:tool_call", chat_id),
        "response": response,
    }


# --- the same chat through both providers -----------------------------------------------------------

SAME_CHAT_SCENARIOS = [
    "text", "tool-call", "tool-call-fragments", "tool-calls-only", "tool-call-final", "thinking",
    "thinking-and-content", "tool-call-on-done", "legacy-tool-call", "length", "multibyte",
    "separators", "echo", "midstream-error", "truncated", "drop", "malformed", "llama9", "no-tools",
    "busy", "server-error",
]


def comparable(chat: dict[str, Any], *, legacy_calls: bool) -> dict[str, Any]:
    """A chat without what legitimately differs between providers: timings and prose.

    With `legacy_calls` (an old Ollama's calls, without id or index: each provider made up an
    id, and `/v1` always carries an index), call ids are numbered in order of appearance and
    `function.index` is left out.
    """
    text = msgspec.json.encode(chat).decode()
    if legacy_calls:
        ids = [n["call_id"] for n in chat["tool_calls"]]
        for number, call_id in enumerate(dict.fromkeys(ids)):
            text = text.replace(call_id, f"call#{number}")
    chat = msgspec.json.decode(text)
    response = chat["response"]
    for message in response.get("result", {}).get("messages", []) if legacy_calls else []:
        for call in message.get("tool_calls", []):
            call["function"].pop("index", None)
    usage = response.get("result", {}).get("usage")
    if usage is not None:
        # context_length: /api/ps is Ollama's; an OpenAI-compatible server cannot say (null).
        for key in ("duration_ms", "tokens_per_second", "first_token_ms", "context_length"):
            usage.pop(key, None)
    error = response.get("error")
    if error is not None:
        error.pop("message")
        error["data"].pop("hint", None)
    return chat


async def every_chat(upstream: list[str]) -> dict[str, dict[str, Any]]:
    """Each scenario of SAME_CHAT_SCENARIOS as one chat, in order, through one sidecar."""
    chats = {}
    async with checked_sidecar(*upstream) as sidecar:
        for model in SAME_CHAT_SCENARIOS:
            chat = await sidecar.request("chat", chat_params(model, "one two three"))
            await sidecar.response(chat)
            chats[model] = chat_lines(sidecar, chat)
    return {
        model: comparable(chat, legacy_calls=model == "legacy-tool-call")
        for model, chat in chats.items()
    }


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_the_client_sees_the_same_chats_from_both_providers(
    fake_ollama: ScriptedOllama, flavour: str
) -> None:
    fake_ollama.openai_flavour = flavour
    with trio.fail_after(2 * GUARD_S):
        native = await every_chat(["--ollama-url", fake_ollama.url])
        openai = await every_chat(["--provider", "openai", "--base-url", fake_ollama.url + "/v1"])
    paths = {r.path for r in fake_ollama.chat_records}
    assert paths == {"/api/chat", "/v1/chat/completions"}
    assert openai == native
    assert native["tool-call"]["tool_calls"][0]["arguments"] == {"city": "Tokyo", "unit": "celsius"}
    assert native["thinking"]["thinking"].startswith("Okay")


# --- SSE details -----------------------------------------------------------------------------------

TOOL_CALL_CASES = [
    ("tool-call", "I'll check the weather in Tokyo.\n",
     [("call_k3v9x0qa", "get_weather", {"city": "Tokyo", "unit": "celsius"})]),
    ("tool-call-fragments", "I'll check the weather.",
     [(G_CALL_ID, "get_weather", {"city": "Tokyo"})]),
    ("tool-calls-only", "",
     [("call_7fz2m1pd", "get_weather", {"city": "Tokyo"}),
      ("call_q0ke93xb", "get_weather", {"city": "Paris"})]),
]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize(("model", "text", "calls"), TOOL_CALL_CASES)
async def test_tool_call_arguments_are_assembled_into_one_tool_call_each(
    fake_ollama: ScriptedOllama, flavour: str, model: str, text: str, calls: list[tuple[str, str, dict]]
) -> None:
    fake_ollama.openai_flavour = flavour  # llama-server: arguments in fragments; ollama: whole
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            chat = await sidecar.request("chat", chat_params(model))
            response = await sidecar.response(chat)
    assert sidecar.text(chat) == text
    assert sidecar.notifications("chat:tool_call", chat) == [
        {"chat_id": chat, "call_id": call_id, "name": name, "arguments": arguments}
        for call_id, name, arguments in calls
    ]
    [message] = response["result"]["messages"]
    assert [(c["id"], c["function"]["arguments"]) for c in message["tool_calls"]] == [
        (call_id, arguments) for call_id, _, arguments in calls
    ]


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_reasoning_deltas_stream_as_chat_thinking(fake_ollama: ScriptedOllama, flavour: str) -> None:
    fake_ollama.openai_flavour = flavour  # `reasoning` (Ollama) or `reasoning_content` (llama-server)
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            chat = await sidecar.request("chat", chat_params("thinking-and-content"))
            response = await sidecar.response(chat)
    assert sidecar.text(chat, "chat:thinking") == "The user wants a greeting."
    assert sidecar.text(chat) == "Hi there, friend!"
    assert response["result"]["messages"][0]["thinking"] == "The user wants a greeting."


def chatty(flavour: str, lines: list[bytes], *, done: bool = True) -> Script:
    """The `text` reply in `flavour` with comment lines around every event (and no [DONE] if not
    `done`), as a proxy or a keep-alive timer might write them."""
    script = render(Script(lines=lines), RenderOptions(
        flavour=flavour, model="chatty", reply_id="chatcmpl-9", include_usage=True, keepalive=False,
    ))
    events = [e + b"\n\n" for piece in script.lines for e in piece.split(b"\n\n") if e]
    if not done:
        events.remove(b"data: [DONE]\n\n")
    comments = [b": ping\n\n", b":\n\n", b": OPENROUTER PROCESSING\n\n"]
    noisy = [comments[i % 3] + event for i, event in enumerate(events)]
    return Script(lines=lines, ending="done" if done else "eof", v1_events={flavour: noisy})


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_keep_alive_comments_are_ignored(fake_ollama: ScriptedOllama, flavour: str) -> None:
    text_lines = fake_ollama.scripts["text"]({"model": "chatty"}).lines
    fake_ollama.scripts["chatty"] = lambda request: chatty(flavour, text_lines)
    fake_ollama.openai_flavour = flavour
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            response = await sidecar.call("chat", chat_params("chatty"))
    result = response["result"]
    assert (sidecar.text(response["id"]), result["done_reason"]) == (TEXT_REPLY, "stop")
    assert (result["usage"]["prompt_tokens"], result["usage"]["completion_tokens"]) == (31, 12)


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_stream_without_done_is_interrupted_and_keeps_the_reply(
    fake_ollama: ScriptedOllama, flavour: str
) -> None:
    text_lines = fake_ollama.scripts["text"]({"model": "chatty"}).lines
    fake_ollama.scripts["chatty"] = lambda request: chatty(flavour, text_lines, done=False)
    fake_ollama.openai_flavour = flavour
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            chat = await sidecar.request("chat", chat_params("chatty"))
            error = (await sidecar.response(chat))["error"]
    assert (error["code"], error["data"]["kind"]) == (-32003, "stream_interrupted")
    assert error["data"]["messages"] == [{"role": "assistant", "content": TEXT_REPLY}]


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_an_error_event_mid_stream_is_an_upstream_error(fake_ollama: ScriptedOllama, flavour: str) -> None:
    fake_ollama.openai_flavour = flavour
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            chat = await sidecar.request("chat", chat_params("midstream-error"))
            error = (await sidecar.response(chat))["error"]
    assert (error["code"], error["data"]["kind"], error["data"]["status"]) == (-32002, "upstream_error", 200)
    assert "unexpected EOF" in error["message"]
    assert error["data"]["messages"] == [{"role": "assistant", "content": "Once upon a time"}]


# --- the key -----------------------------------------------------------------------------------------


def everything_written(sidecar: SidecarProcess) -> bytes:
    return b"\n".join(line.raw for line in sidecar.lines) + bytes(sidecar.stderr)


async def chat_then_exit(sidecar: SidecarProcess) -> tuple[dict[str, Any], dict[str, Any]]:
    """A chat and a status, then shutdown and exit, so that stderr can be read to its end."""
    chat = await sidecar.call("chat", chat_params("text"))
    status = await sidecar.call("status")
    await sidecar.request("shutdown")
    await sidecar.wait_exit()
    await sidecar.stdout_closed.wait()
    await trio.testing.wait_all_tasks_blocked(cushion=0.05)  # the stderr reader drains the pipe
    return chat, status


@pytest.mark.parametrize(
    ("env", "flags", "named"),
    [
        ({"OPENAI_API_KEY": ""}, [], "OPENAI_API_KEY"),
        ({"OPENAI_API_KEY": "sk-wrong-0123456789"}, [], "OPENAI_API_KEY"),
        ({"MY_SERVER_KEY": "sk-wrong-0123456789", "OPENAI_API_KEY": SECRET},
         ["--api-key-env", "MY_SERVER_KEY"], "MY_SERVER_KEY"),
    ],
)
async def test_a_refused_key_is_an_upstream_error_that_names_the_variable_not_the_key(
    fake_ollama: ScriptedOllama, env: dict[str, str], flags: list[str], named: str
) -> None:
    fake_ollama.api_key = SECRET
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, *flags, "--log-level", "DEBUG", env=env) as sidecar:
            chat, status = await chat_then_exit(sidecar)
    error = chat["error"]
    assert (error["code"], error["data"]["kind"], error["data"]["status"]) == (-32002, "upstream_error", 401)
    assert named in error["data"]["hint"]
    assert status["result"]["ollama"]["reachable"] is False
    written = everything_written(sidecar)
    assert SECRET.encode() not in written and b"sk-wrong-0123456789" not in written


async def test_the_right_key_is_sent_as_a_bearer_token_and_never_written(fake_ollama: ScriptedOllama) -> None:
    fake_ollama.api_key = SECRET
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--log-level", "DEBUG", env={"OPENAI_API_KEY": SECRET}) as sidecar:
            models = await sidecar.call("list_models")
            chat, status = await chat_then_exit(sidecar)
    assert chat["result"]["messages"] == [{"role": "assistant", "content": TEXT_REPLY}]
    assert status["result"]["ollama"]["reachable"] is True
    assert models["result"]["models"][0]["name"] == "text:latest"
    v1 = [r for r in fake_ollama.records if r.path.startswith("/v1/")]
    assert {r.headers["authorization"] for r in v1} == {f"Bearer {SECRET}"}
    assert SECRET.encode() not in everything_written(sidecar)


# --- models, status, addresses -------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_missing_model_is_model_not_found(fake_ollama: ScriptedOllama, flavour: str) -> None:
    fake_ollama.openai_flavour = flavour
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            error = (await sidecar.call("chat", chat_params("llama9")))["error"]
    assert (error["code"], error["data"]["kind"], error["data"]["messages"]) == (-32001, "model_not_found", [])
    assert "llama9" in error["message"] and "list_models" in error["data"]["hint"]
    assert "pull_model" not in error["data"]["hint"]  # not_supported with this provider


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_list_models_reads_v1_models(fake_ollama: ScriptedOllama, flavour: str) -> None:
    fake_ollama.openai_flavour = flavour
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            models = (await sidecar.call("list_models"))["result"]["models"]
    listed = [r for r in fake_ollama.records if r.path == "/v1/models"]
    assert [m["name"] for m in models] == [
        f"{name}:latest" for name in fake_ollama.scripts if name not in ERROR_SCENARIOS
    ]
    assert [(r.method, r.path) for r in fake_ollama.records] == [("GET", "/v1/models")] * len(listed)


async def test_status_reports_the_provider_and_base_url(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            status = (await sidecar.call("status"))["result"]
    assert (status["provider"], status["ollama_url"]) == ("openai", fake_ollama.url + "/v1")
    assert status["ollama"] == {"reachable": True, "version": None, "error": None}
    assert sidecar.ready["provider"] == "openai"


async def test_openai_base_url_is_used_when_no_flag_is_given(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with checked_sidecar("--provider", "openai", env={"OPENAI_BASE_URL": fake_ollama.url}) as sidecar:
            chat = await sidecar.call("chat", chat_params("text"))
    assert sidecar.ready["ollama_url"] == fake_ollama.url + "/v1"  # a URL without a path gets /v1
    assert chat["result"]["messages"][0]["content"] == TEXT_REPLY
    assert [r.path for r in fake_ollama.chat_records] == ["/v1/chat/completions"]


async def test_an_unreachable_server_is_reported_with_a_hint(fake_ollama: ScriptedOllama) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with trio.fail_after(GUARD_S):
        async with checked_sidecar("--provider", "openai", "--base-url", url) as sidecar:
            chat = await sidecar.call("chat", chat_params("text"))
            status = await sidecar.call("status")
    error = chat["error"]
    assert (error["code"], error["data"]["kind"]) == (-32000, "ollama_unreachable")
    assert url in error["message"] and "--base-url" in error["data"]["hint"]
    assert status["result"]["ollama"]["reachable"] is False


# --- cancel --------------------------------------------------------------------------------------------


async def test_cancel_between_argument_fragments_disconnects_the_upstream(fake_ollama: ScriptedOllama) -> None:
    fake_ollama.pause_after = 6  # fixture g: role, 3 text events, the call's header, 1 fragment
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            chat = await sidecar.request("chat", chat_params("tool-call-fragments"))
            record = await fake_ollama.wait_paused()
            await sidecar.wait_for(lambda l: sidecar.text(chat) == "I'll check the weather.")
            cancelled = await sidecar.call("cancel_chat", {"chat_id": chat})
            await record.disconnected.wait()
            fake_ollama.release()
    response = next(r for r in sidecar.responses() if r["id"] == chat)
    assert cancelled["result"] == {"cancelled": [chat]}
    assert response["result"]["done_reason"] == "cancelled"
    assert response["result"]["messages"] == [{"role": "assistant", "content": "I'll check the weather."}]
    assert sidecar.notifications("chat:tool_call", chat) == []  # half a call is no call
    assert (record.lines_sent, record.client_disconnected) == (6, True)
