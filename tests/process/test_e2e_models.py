"""The model lifecycle (issue 15) through a real sidecar process against the scripted Ollama:
show, list with capabilities, running models, pull with progress, cancel mid-pull (the scripted
Ollama sees the disconnect), delete, load and unload, each error; `not_supported` and the
`methods` list under --provider openai; chat's logprobs, forwarded options, context length and
the sign-in 401. Every line the sidecar writes is checked against the schema (`sidecar_for`).
"""

from __future__ import annotations

from typing import Any, Final

import pytest
import trio

from sidecar.methods import METHODS, OLLAMA_ONLY
from sidecar_testkit.fake_ollama import ScriptedOllama
from sidecar_testkit.fake_ollama.scenarios import SIGNIN_URL, Script
from sidecar_testkit.harness import SidecarProcess

from .e2e import GUARD_S, chat_params, sidecar_for

ALL_METHODS: Final = list(METHODS)


def error_of(response: dict[str, Any]) -> tuple[int, str]:
    return response["error"]["code"], response["error"]["data"]["kind"]


def progress_of(sidecar: SidecarProcess, id: int | str) -> list[dict[str, Any]]:
    return [p for p in sidecar.notifications("model:pull_progress") if p["request_id"] == id]


@pytest.mark.variants("ollama")
async def test_show_model_gives_capabilities_and_the_trained_context(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            vision = await sidecar.call("show_model", {"model": "vision"})
            plain = await sidecar.call("show_model", {"model": "plain:latest"})
            missing = await sidecar.call("show_model", {"model": "nope"})
    shown = vision["result"]
    assert {k: v for k, v in shown.items() if k != "modified_at"} == {
        "name": "vision", "capabilities": ["completion", "vision"], "context_length": 131072,
        "family": "scripted", "parameter_size": "1B", "quantization": "Q4_K_M",
    }
    assert shown["modified_at"]
    assert plain["result"]["capabilities"] == ["completion"]
    assert plain["result"]["context_length"] is None
    assert error_of(missing) == (-32001, "model_not_found")


@pytest.mark.variants("ollama")
async def test_list_models_carries_capabilities_or_an_empty_list(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            listed = (await sidecar.call("list_models"))["result"]["models"]
            fake_ollama.tags_capabilities = False
            fake_ollama.models.pulled.append("other:latest")  # a new answer, not a shared one
            older = (await sidecar.call("list_models"))["result"]["models"]
    by_name = {m["name"]: m["capabilities"] for m in listed}
    assert by_name["thinking:latest"] == ["completion", "tools", "thinking"]
    assert by_name["vision:latest"] == ["completion", "vision"]
    assert by_name["text:latest"] == ["completion", "tools"]
    assert {tuple(m["capabilities"]) for m in older} == {()}


@pytest.mark.variants("ollama")
async def test_load_lists_the_model_as_running_and_unload_frees_it(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            loaded = await sidecar.call("load_model", {"model": "text", "keep_alive": "10m"})
            running = await sidecar.call("running_models")
            unloaded = await sidecar.call("unload_model", {"model": "text"})
            after = await sidecar.call("running_models")
            missing = await sidecar.call("load_model", {"model": "nope"})
    assert loaded["result"]["model"] == "text" and loaded["result"]["load_ms"] >= 0
    [model] = running["result"]["models"]
    assert (model["name"], model["context_length"]) == ("text:latest", 4096)
    assert model["size"] == model["size_vram"] > 0 and model["expires_at"]
    assert unloaded["result"] == {}
    assert after["result"] == {"models": []}
    assert error_of(missing) == (-32001, "model_not_found")
    load_body = fake_ollama.chat_records[0].json
    assert load_body == {"model": "text", "messages": [], "stream": False, "keep_alive": "10m"}
    assert fake_ollama.chat_records[1].json["keep_alive"] == 0


@pytest.mark.variants("ollama")
async def test_pull_streams_summed_progress_and_installs_the_model(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            pull = await sidecar.request("pull_model", {"model": "fresh"})
            answer = await sidecar.response(pull)
            listed = (await sidecar.call("list_models"))["result"]["models"]
    assert answer["result"] == {"model": "fresh", "status": "success"}
    progress = progress_of(sidecar, pull)
    statuses = list(dict.fromkeys(p["status"] for p in progress))
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert "verifying sha256 digest" in statuses and len(statuses) == 8  # 4 layers
    completed = [p["completed"] for p in progress]
    assert completed == sorted(completed)
    assert all(p["completed"] <= p["total"] and p["model"] == "fresh" for p in progress)
    assert progress[-1]["total"] == progress[-1]["completed"] == 4_000_000 + 2_500_000 + 1429 + 561
    # The pull answered after its last progress line.
    lines = [l.value for l in sidecar.lines]
    assert lines.index(answer) > max(i for i, l in enumerate(lines) if l.get("method") == "model:pull_progress")
    assert "fresh:latest" in [m["name"] for m in listed]


@pytest.mark.variants("ollama")
async def test_pull_errors_are_specific_and_keep_the_last_progress(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            missing = await sidecar.call("pull_model", {"model": "does-not-exist"})
            failed_id = await sidecar.request("pull_model", {"model": "pull-fails"})
            failed = await sidecar.response(failed_id)
    assert error_of(missing) == (-32001, "model_not_found")
    assert "file does not exist" in missing["error"]["message"]
    assert error_of(failed) == (-32002, "upstream_error")
    assert "max retries exceeded" in failed["error"]["message"]
    # The hint speaks of a download, not of a model generating a reply.
    assert "pull again" in failed["error"]["data"]["hint"]
    assert "generating" not in failed["error"]["data"]["hint"]
    last = progress_of(sidecar, failed_id)[-1]
    assert failed["error"]["data"]["progress"] == last
    assert 4_000_000 < last["completed"] < last["total"]


async def pull_under_way(sidecar: SidecarProcess) -> Any:
    """Starts a pull that stalls after its first bytes; returns its id once bytes have come."""
    pull = await sidecar.request("pull_model", {"model": "pull-stalls"})
    await sidecar.wait_for(
        lambda l: l.method == "model:pull_progress" and l.value["params"]["completed"] > 0
    )
    return pull


@pytest.mark.variants("ollama")
async def test_cancel_request_mid_pull_answers_cancelled_first_and_closes_upstream(
    fake_ollama: ScriptedOllama,
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            pull = await pull_under_way(sidecar)
            cancel = await sidecar.request("cancel_request", {"id": pull})
            cancelled = await sidecar.response(cancel)
            record = await fake_ollama.wait_for_request("/api/pull")
            await record.disconnected.wait()
            again = await sidecar.call("cancel_request", {"id": pull})
            listed = (await sidecar.call("list_models"))["result"]["models"]
    answers = sidecar.responses()
    assert answers.index(await sidecar.response(pull)) < answers.index(cancelled)
    result = (await sidecar.response(pull))["result"]
    last = progress_of(sidecar, pull)[-1]
    assert result == {
        "model": "pull-stalls", "status": "cancelled",
        "total": last["total"], "completed": last["completed"],
    }
    assert cancelled["result"] == {"cancelled": [pull]}
    assert again["result"] == {"cancelled": []}
    assert "pull-stalls:latest" not in [m["name"] for m in listed]


@pytest.mark.variants("ollama")
async def test_shutdown_mid_pull_answers_the_pull_cancelled_before_its_own_answer(
    fake_ollama: ScriptedOllama,
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            pull = await pull_under_way(sidecar)
            stop = await sidecar.request("shutdown")
            stopped = await sidecar.response(stop)
            assert await sidecar.wait_exit() == 0
            record = await fake_ollama.wait_for_request("/api/pull")
            await record.disconnected.wait()
    answers = sidecar.responses()
    pulled = await sidecar.response(pull)
    # Like a chat: the pull writes its one (cancelled) answer, then shutdown answers {}.
    assert answers.index(pulled) < answers.index(stopped)
    assert pulled["result"]["status"] == "cancelled"
    assert pulled["result"]["completed"] == progress_of(sidecar, pull)[-1]["completed"]
    assert stopped["result"] == {}


@pytest.mark.variants("ollama")
async def test_cancel_request_cancels_a_chat_like_cancel_chat(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            chat = await sidecar.request("chat", chat_params("hang"))
            await sidecar.wait_for(lambda l: sidecar.text(chat) == "Thinking hard")
            cancel = await sidecar.call("cancel_request", {"id": chat})
            await fake_ollama.chat_records[0].disconnected.wait()
    assert cancel["result"] == {"cancelled": [chat]}
    assert (await sidecar.response(chat))["result"]["done_reason"] == "cancelled"


@pytest.mark.variants("ollama")
async def test_delete_model_removes_it_and_an_unknown_one_is_model_not_found(
    fake_ollama: ScriptedOllama,
) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            deleted = await sidecar.call("delete_model", {"model": "echo"})
            again = await sidecar.call("delete_model", {"model": "echo"})
            listed = (await sidecar.call("list_models"))["result"]["models"]
    assert deleted["result"] == {}
    assert error_of(again) == (-32001, "model_not_found")
    assert "echo:latest" not in [m["name"] for m in listed]
    delete = fake_ollama.records[0]
    assert (delete.method, delete.path, delete.json) == ("DELETE", "/api/delete", {"model": "echo"})


@pytest.mark.variants("ollama")
async def test_ready_and_status_list_every_method_under_ollama(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            status = await sidecar.call("status")
    assert sidecar.ready["methods"] == ALL_METHODS
    assert status["result"]["methods"] == ALL_METHODS


@pytest.mark.variants("openai")
async def test_the_openai_provider_answers_not_supported_and_says_so_up_front(
    fake_ollama: ScriptedOllama,
) -> None:
    calls = {
        "show_model": {"model": "text"}, "running_models": None, "pull_model": {"model": "x"},
        "delete_model": {"model": "text"}, "load_model": {"model": "text"},
        "unload_model": {"model": "text"},
    }
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            answers = {m: await sidecar.call(m, p) for m, p in calls.items()}
            status = await sidecar.call("status")
            listed = await sidecar.call("list_models")
    supported = [m for m in ALL_METHODS if m not in OLLAMA_ONLY]
    assert sidecar.ready["methods"] == status["result"]["methods"] == supported
    assert set(calls) == OLLAMA_ONLY
    for method, answer in answers.items():
        assert error_of(answer) == (-32008, "not_supported")
        assert method in answer["error"]["message"] and "openai" in answer["error"]["message"]
        assert answer["error"]["data"]["hint"]
    assert listed["result"]["models"]
    assert {r.path for r in fake_ollama.records} == {"/v1/models"}  # nothing else was asked


@pytest.mark.variants("ollama")
async def test_chat_forwards_logprobs_and_options_and_gives_them_back(fake_ollama: ScriptedOllama) -> None:
    extra = {"logprobs": True, "top_logprobs": 2, "truncate": False, "shift": False}
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            answer = await sidecar.call("chat", chat_params("text", **extra))
    sent = fake_ollama.chat_records[0].json
    assert {k: sent[k] for k in extra} == extra
    tokens = sidecar.notifications("chat:token")
    assert all("".join(lp["token"] for lp in t["logprobs"]) == t["content"] for t in tokens)
    [message] = answer["result"]["messages"]
    assert "".join(lp["token"] for lp in message["logprobs"]) == message["content"]
    assert all(len(lp["top_logprobs"]) == 2 for lp in message["logprobs"])


@pytest.mark.variants("ollama")
async def test_usage_context_length_is_num_ctx_else_what_ollama_runs(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            given = await sidecar.call("chat", chat_params("text", options={"num_ctx": 8192}))
            running = await sidecar.call("chat", chat_params("echo"))
    assert given["result"]["usage"]["context_length"] == 8192
    assert running["result"]["usage"]["context_length"] == 4096


@pytest.mark.variants("ollama")
async def test_a_401_keeps_the_signin_url_and_says_to_sign_in(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            answer = await sidecar.call("chat", chat_params("unauthorized"))
    data = answer["error"]["data"]
    assert (answer["error"]["code"], data["kind"], data["status"]) == (-32002, "upstream_error", 401)
    assert data["signin_url"] == SIGNIN_URL
    assert "ollama signin" in data["hint"] and "API key" not in data["hint"]


@pytest.mark.variants("ollama")
async def test_cancel_request_is_served_past_max_requests(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama, "--max-requests", "1") as sidecar:
            pull = await sidecar.request("pull_model", {"model": "pull-stalls"})
            await sidecar.wait_for(lambda l: l.method == "model:pull_progress")
            refused = await sidecar.call("show_model", {"model": "text"})
            cancel = await sidecar.call("cancel_request", {"id": pull})
    assert error_of(refused) == (-32005, "overloaded")
    assert cancel["result"] == {"cancelled": [pull]}
    assert (await sidecar.response(pull))["result"]["status"] == "cancelled"


@pytest.mark.variants("ollama")
async def test_logprobs_of_a_reply_sent_back_are_not_sent_upstream(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            first = await sidecar.call("chat", chat_params("text", logprobs=True))
            history = [{"role": "user", "content": "hi"}, *first["result"]["messages"],
                       {"role": "user", "content": "again"}]
            await sidecar.call("chat", {"model": "text", "messages": history})
    assert "logprobs" in first["result"]["messages"][0]
    sent = fake_ollama.chat_records[1].json["messages"]
    assert [sorted(m) for m in sent] == [["content", "role"]] * 3


@pytest.mark.variants("ollama")
async def test_thinking_deltas_carry_their_own_logprobs(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            answer = await sidecar.call("chat", chat_params("thinking", think=True, logprobs=True))
    thoughts = sidecar.notifications("chat:thinking")
    assert thoughts and all(
        "".join(lp["token"] for lp in t["logprobs"]) == t["content"] for t in thoughts
    )
    [message] = answer["result"]["messages"]
    tokens = "".join(lp["token"] for lp in message["logprobs"])
    assert tokens == message["thinking"] + message["content"]  # every entry, in arrival order


@pytest.mark.variants("ollama")
async def test_pull_passes_insecure_through(fake_ollama: ScriptedOllama) -> None:
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            answer = await sidecar.call("pull_model", {"model": "text", "insecure": True})
    assert answer["result"] == {"model": "text", "status": "success"}
    assert fake_ollama.records[0].json == {"model": "text", "insecure": True}


@pytest.mark.variants("ollama")
async def test_cancel_request_of_another_method_answers_it_cancelled_first(fake_ollama: ScriptedOllama) -> None:
    # A model that never finishes loading: the load stays in flight until it is cancelled.
    fake_ollama.scripts["never-loads"] = lambda request: Script(lines=[], first_delay=3600.0)
    with trio.fail_after(GUARD_S):
        async with sidecar_for(fake_ollama) as sidecar:
            load = await sidecar.request("load_model", {"model": "never-loads"})
            record = await fake_ollama.wait_for_request("/api/chat")
            cancel = await sidecar.request("cancel_request", {"id": load})
            cancelled = await sidecar.response(cancel)
            await record.disconnected.wait()
            unknown = await sidecar.call("cancel_request", {"id": "never-sent"})
            finished = await sidecar.call("cancel_request", {"id": load})
    loaded = await sidecar.response(load)
    answers = sidecar.responses()
    assert answers.index(loaded) < answers.index(cancelled)
    assert error_of(loaded) == (-32010, "cancelled")
    assert loaded["error"]["message"] == "Cancelled: load_model was cancelled before it finished"
    assert cancelled["result"] == {"cancelled": [load]}
    assert unknown["result"] == finished["result"] == {"cancelled": []}
