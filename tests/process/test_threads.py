"""Conversations the sidecar keeps, through a real sidecar and a real SQLite file: the thread
methods, a chat on a thread (the path sent, the messages stored, regenerate and edit as
versions), the errors of their own, and get_thread's continuity with the tokens after it."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import trio

from sidecar_testkit.fake_ollama import ScriptedOllama

from ..support import GUARD_S, user
from .e2e import checked_sidecar
from .threads_support import add_paced, error, query, result, stored_sidecar


async def test_a_thread_keeps_its_messages_and_sends_its_path(
    fake_ollama: ScriptedOllama, data_dir: Path
) -> None:
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir) as sidecar:
            created = await result(sidecar, "create_thread", {"model": "echo", "system": "Be brief."})
            thread = created["thread"]
            assert (thread["title"], thread["model"], thread["system"]) == ("", "echo", "Be brief.")
            first = await result(sidecar, "chat", {"thread_id": thread["id"], "messages": user("Why is the sky blue today")})
            second = await result(sidecar, "chat", {"thread_id": thread["id"], "messages": user("And at night")})
            got = await result(sidecar, "get_thread", {"thread_id": thread["id"]})
    assert fake_ollama.chat_records[-1].json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Why is the sky blue today"},
        {"role": "assistant", "content": "Why is the sky blue today"},
        {"role": "user", "content": "And at night"},
    ]
    assert first["thread_id"] == second["thread_id"] == thread["id"]
    assert [m["id"] for m in got["messages"]] == first["message_ids"] + second["message_ids"]
    assert [(m["role"], m["content"], m["status"]) for m in got["messages"]] == [
        ("user", "Why is the sky blue today", "complete"),
        ("assistant", "Why is the sky blue today", "complete"),
        ("user", "And at night", "complete"),
        ("assistant", "And at night", "complete"),
    ]
    assert got["messages"][1]["usage"] == first["usage"]
    assert [m["parent_id"] for m in got["messages"]] == [None, *[m["id"] for m in got["messages"][:-1]]]
    assert all(m["versions"] == [m["id"]] for m in got["messages"])
    assert got["thread"]["title"] == "Why is the sky blue today"
    assert got["streaming"] is None


async def test_list_rename_delete_and_search(fake_ollama: ScriptedOllama, data_dir: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir, "--model", "echo") as sidecar:
            old = (await result(sidecar, "create_thread", {}))["thread"]["id"]
            await result(sidecar, "chat", {"thread_id": old, "messages": user("tell me about photosynthesis please")})
            new = (await result(sidecar, "create_thread", {"title": "Named"}))["thread"]["id"]
            await result(sidecar, "chat", {"thread_id": new, "messages": user("something else")})
            listed = (await result(sidecar, "list_threads"))["threads"]
            found = (await result(sidecar, "list_threads", {"query": "photosynth"}))["threads"]
            page = (await result(sidecar, "list_threads", {"limit": 1, "before": new}))["threads"]
            newest_time = listed[0]["updated_at"]
            by_time = (await result(sidecar, "list_threads", {"before": newest_time}))["threads"]
            await result(sidecar, "rename_thread", {"thread_id": old, "title": "Plants"})
            renamed = (await result(sidecar, "get_thread", {"thread_id": old}))["thread"]["title"]
            assert await result(sidecar, "delete_thread", {"thread_id": new}) == {}
            after_delete = (await result(sidecar, "list_threads"))["threads"]
    assert [(t["id"], t["title"], t["message_count"], t["preview"]) for t in listed] == [
        (new, "Named", 2, "something else"),
        (old, "tell me about photosynthesis please", 2, "tell me about photosynthesis please"),
    ]
    assert [t["id"] for t in found] == [old]
    assert [t["id"] for t in page] == [old]
    assert [t["id"] for t in by_time] == [old]  # `before` an `updated_at`: threads updated before it
    assert renamed == "Plants"
    assert [t["id"] for t in after_delete] == [old]


async def test_regenerate_edit_and_a_new_root_are_versions(
    fake_ollama: ScriptedOllama, data_dir: Path
) -> None:
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir) as sidecar:
            tid = (await result(sidecar, "create_thread", {"model": "echo"}))["thread"]["id"]
            first = await result(sidecar, "chat", {"thread_id": tid, "messages": user("one two")})
            question, answer = first["message_ids"]
            again = await result(sidecar, "chat", {"thread_id": tid, "after": question})
            newest = await result(sidecar, "get_thread", {"thread_id": tid})
            older = await result(sidecar, "get_thread", {"thread_id": tid, "leaf": answer})
            edited = await result(sidecar, "chat", {"thread_id": tid, "after": None, "messages": user("three")})
            final = await result(sidecar, "get_thread", {"thread_id": tid})
    regenerated = again["message_ids"]
    assert len(regenerated) == 1 and regenerated[0] != answer
    assert [m["id"] for m in newest["messages"]] == [question, regenerated[0]]
    assert newest["messages"][1]["versions"] == [answer, regenerated[0]]
    assert [m["id"] for m in older["messages"]] == [question, answer]
    assert [m["content"] for m in final["messages"]] == ["three", "three"]
    assert final["messages"][0]["versions"] == [question, edited["message_ids"][0]]
    assert fake_ollama.chat_records[1].json["messages"] == user("one two")  # regenerate: no reply in it


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("chat", {"thread_id": "thr_missing", "messages": user("hi"), "model": "echo"}),
        ("get_thread", {"thread_id": "thr_missing"}),
        ("rename_thread", {"thread_id": "thr_missing", "title": "x"}),
        ("delete_thread", {"thread_id": "thr_missing"}),
        ("export_thread", {"thread_id": "thr_missing", "format": "json"}),
    ],
)
async def test_an_unknown_thread_is_thread_not_found(
    fake_ollama: ScriptedOllama, data_dir: Path, method: str, params: dict[str, object]
) -> None:
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir) as sidecar:
            err = await error(sidecar, method, params)
    assert (err["code"], err["data"]["kind"]) == (-32007, "thread_not_found")
    assert fake_ollama.chat_records == []


async def test_a_message_of_another_thread_is_invalid_params_and_a_renamed_title_stays(
    fake_ollama: ScriptedOllama, data_dir: Path
) -> None:
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir) as sidecar:
            tid = (await result(sidecar, "create_thread", {"model": "echo"}))["thread"]["id"]
            other = await result(sidecar, "create_thread", {"model": "echo", "messages": user("elsewhere")})
            foreign = (await result(sidecar, "get_thread", {"thread_id": other["thread"]["id"]}))["messages"][0]["id"]
            bad_after = await error(sidecar, "chat", {"thread_id": tid, "after": foreign, "messages": user("hi")})
            bad_leaf = await error(sidecar, "get_thread", {"thread_id": tid, "leaf": foreign})
            assert await result(sidecar, "rename_thread", {"thread_id": tid, "title": "  Plants \n"}) == {}
            await result(sidecar, "chat", {"thread_id": tid, "messages": user("Why is the sky blue")})
            got = await result(sidecar, "get_thread", {"thread_id": tid})
    assert (bad_after["code"], bad_after["data"]["kind"]) == (-32602, "invalid_params")
    assert (bad_leaf["code"], bad_leaf["data"]["kind"]) == (-32602, "invalid_params")
    assert len(fake_ollama.chat_records) == 1  # the refused chat asked no model
    assert got["thread"]["title"] == "Plants"
    assert [m["content"] for m in got["messages"]] == ["Why is the sky blue", "Why is the sky blue"]


async def test_a_thread_with_a_reply_in_flight_is_thread_busy(
    fake_ollama: ScriptedOllama, data_dir: Path
) -> None:
    add_paced(fake_ollama)
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir) as sidecar:
            tid = (await result(sidecar, "create_thread", {"model": "paced"}))["thread"]["id"]
            fake_ollama.pause_after = 3
            running = await sidecar.request("chat", {"thread_id": tid, "messages": user("go")})
            await fake_ollama.wait_paused()
            busy = await error(sidecar, "chat", {"thread_id": tid, "messages": user("again")})
            busy_delete = await error(sidecar, "delete_thread", {"thread_id": tid})
            fake_ollama.pause_after = None
            await sidecar.response(running)
            fake_ollama.scripts["paced"] = fake_ollama.scripts["echo"]
            later = await result(sidecar, "chat", {"thread_id": tid, "messages": user("now")})
    assert (busy["code"], busy["data"]["kind"]) == (-32006, "thread_busy")
    assert busy_delete["data"]["kind"] == "thread_busy"
    assert later["messages"][0]["content"] == "now"


async def test_get_thread_mid_reply_then_the_tokens_continue_exactly(
    fake_ollama: ScriptedOllama, data_dir: Path
) -> None:
    tokens = add_paced(fake_ollama, count=300, pace=0.005)
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir) as sidecar:
            tid = (await result(sidecar, "create_thread", {"model": "paced"}))["thread"]["id"]
            chat = await sidecar.request("chat", {"thread_id": tid, "messages": user("count")})
            await sidecar.wait_for(lambda line: line.method == "chat:token")
            ids = [await sidecar.request("get_thread", {"thread_id": tid}) for _ in range(5)]
            answers = [await sidecar.response(i) for i in ids]
            final = await sidecar.response(chat)
            lines = list(sidecar.lines)
    full = "".join(tokens)
    assert final["result"]["messages"][0]["content"] == full
    for request_id, answer in zip(ids, answers):
        position = next(n for n, line in enumerate(lines) if line.is_response and line.value.get("id") == request_id)
        before = "".join(l.value["params"]["content"] for l in lines[:position] if l.method == "chat:token")
        after = "".join(l.value["params"]["content"] for l in lines[position:] if l.method == "chat:token")
        streaming = answer["result"]["streaming"]
        if streaming is None:  # answered after the reply ended
            assert answer["result"]["messages"][-1]["content"] == full
            continue
        assert streaming["chat_id"] == chat
        assert streaming["content"] == before and before + after == full
        assert answer["result"]["messages"][-1]["status"] == "streaming"
        assert answer["result"]["messages"][-1]["content"] == before


async def test_cancelled_and_failed_replies_are_stored(
    fake_ollama: ScriptedOllama, data_dir: Path
) -> None:
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir) as sidecar:
            tid = (await result(sidecar, "create_thread", {"model": "hang"}))["thread"]["id"]
            chat = await sidecar.request("chat", {"thread_id": tid, "messages": user("wait")})
            await sidecar.wait_for(lambda line: sidecar.text(chat) == "Thinking hard")
            await result(sidecar, "cancel_chat", {"chat_id": chat})
            cancelled = (await sidecar.response(chat))["result"]
            failed = await error(sidecar, "chat", {"thread_id": tid, "messages": user("x"), "model": "midstream-error"})
            got = await result(sidecar, "get_thread", {"thread_id": tid})
    assert cancelled["done_reason"] == "cancelled" and cancelled["thread_id"] == tid
    statuses = [(m["role"], m["status"]) for m in got["messages"]]
    assert statuses == [("user", "complete"), ("assistant", "interrupted"), ("user", "complete"), ("assistant", "failed")]
    assert got["messages"][1]["content"] == "Thinking hard"
    assert got["messages"][3]["content"] == failed["data"]["messages"][0]["content"]
    assert got["messages"][3]["error"] == {"kind": failed["data"]["kind"], "message": failed["message"]}


async def test_a_reply_that_failed_before_its_first_token_is_stored_but_not_sent_again(
    fake_ollama: ScriptedOllama, data_dir: Path
) -> None:
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir) as sidecar:
            tid = (await result(sidecar, "create_thread", {"model": "echo"}))["thread"]["id"]
            failed = await error(sidecar, "chat", {"thread_id": tid, "messages": user("first"), "model": "server-error"})
            await result(sidecar, "chat", {"thread_id": tid, "messages": user("second")})
            got = await result(sidecar, "get_thread", {"thread_id": tid})
    assert failed["data"]["messages"] == []
    assert [(m["role"], m["content"], m["status"]) for m in got["messages"]] == [
        ("user", "first", "complete"),
        ("assistant", "", "failed"),
        ("user", "second", "complete"),
        ("assistant", "second", "complete"),
    ]
    assert fake_ollama.chat_records[-1].json["messages"] == [*user("first"), *user("second")]


async def test_export_as_json_and_markdown(fake_ollama: ScriptedOllama, data_dir: Path) -> None:
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir) as sidecar:
            tid = (await result(sidecar, "create_thread", {"model": "echo", "title": "Export me"}))["thread"]["id"]
            await result(sidecar, "chat", {"thread_id": tid, "messages": user("hello")})
            as_json = (await result(sidecar, "export_thread", {"thread_id": tid, "format": "json"}))["content"]
            as_md = (await result(sidecar, "export_thread", {"thread_id": tid, "format": "markdown"}))["content"]
            got = await result(sidecar, "get_thread", {"thread_id": tid})
    assert msgspec.json.decode(as_json) == {"thread": got["thread"], "messages": got["messages"]}
    assert as_md.startswith("# Export me\n")
    assert "## User\n\nhello\n\n## Assistant\n\nhello\n" in as_md


async def test_without_a_store_chats_work_and_threads_are_refused(
    fake_ollama: ScriptedOllama, tmp_path: Path
) -> None:
    data_home = tmp_path / "xdg"
    with trio.fail_after(GUARD_S):
        async with checked_sidecar(
            "--ollama-url", fake_ollama.url, "--no-store", "--model", "echo",
            env={"XDG_DATA_HOME": str(data_home)},
        ) as sidecar:
            plain = await result(sidecar, "chat", {"messages": user("plain")})
            status = await result(sidecar, "status", {})
            advertised = sidecar.ready["methods"]
            refused = [
                await error(sidecar, method, params)
                for method, params in [
                    ("create_thread", {}),
                    ("list_threads", {}),
                    ("get_thread", {"thread_id": "thr_x"}),
                    ("rename_thread", {"thread_id": "thr_x", "title": "t"}),
                    ("delete_thread", {"thread_id": "thr_x"}),
                    ("export_thread", {"thread_id": "thr_x", "format": "json"}),
                    ("chat", {"thread_id": "thr_x", "messages": user("x")}),
                ]
            ]
            empty = await error(sidecar, "chat", {"messages": []})
            still = await result(sidecar, "chat", {"messages": user("still serving")})
    assert plain["messages"] == [{"role": "assistant", "content": "plain"}]
    assert "thread_id" not in plain and "message_ids" not in plain
    # The params are right; this sidecar keeps no conversations: not_supported, saying why.
    for refusal in refused:
        assert (refusal["code"], refusal["data"]["kind"]) == (-32008, "not_supported"), refusal
        assert "--no-store" in refusal["message"] and "--no-store" in refusal["data"]["hint"]
    assert "create_thread" in refused[0]["message"] and "thread_id" in refused[-1]["message"]
    # The methods list says what this sidecar serves: no thread methods, chat still there.
    thread_methods = {"create_thread", "list_threads", "get_thread", "rename_thread", "delete_thread", "export_thread"}
    assert "chat" in advertised and not thread_methods & set(advertised)
    assert status["methods"] == advertised
    assert empty["code"] == -32602
    assert still["messages"] == [{"role": "assistant", "content": "still serving"}]
    assert not (data_home / "ollama-sidecar").exists()


async def test_a_thread_without_a_model_uses_the_threads_then_the_flag(
    fake_ollama: ScriptedOllama, data_dir: Path
) -> None:
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir, "--model", "echo") as sidecar:
            own = (await result(sidecar, "create_thread", {"model": "vision"}))["thread"]["id"]
            bare = (await result(sidecar, "create_thread", {}))["thread"]["id"]
            by_thread = await result(sidecar, "chat", {"thread_id": own, "messages": user("look")})
            by_flag = await result(sidecar, "chat", {"thread_id": bare, "messages": user("flag")})
            by_param = await result(
                sidecar, "chat", {"thread_id": own, "model": "echo", "messages": user("param")}
            )
    # vision answers how many images it saw; echo repeats the words.
    assert by_thread["messages"][-1]["content"] == "I see 0 image(s)."
    assert by_flag["messages"][-1]["content"] == "flag"
    assert by_param["messages"][-1]["content"] == "param"
    assert [r.json["model"] for r in fake_ollama.chat_records] == ["vision", "echo", "echo"]


async def test_the_default_folder_is_the_user_data_folder(
    fake_ollama: ScriptedOllama, tmp_path: Path
) -> None:
    home = tmp_path / "xdg"
    with trio.fail_after(GUARD_S):
        async with checked_sidecar(
            "--ollama-url", fake_ollama.url, env={"XDG_DATA_HOME": str(home)}
        ) as sidecar:
            tid = (await result(sidecar, "create_thread", {"title": "kept"}))["thread"]["id"]
    assert query(home / "ollama-sidecar", "SELECT id, title FROM threads") == [(tid, "kept")]


async def test_create_thread_can_import_a_conversation(fake_ollama: ScriptedOllama, data_dir: Path) -> None:
    imported = [
        {"role": "user", "content": "an old question"},
        {"role": "assistant", "content": "an old answer"},
    ]
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir) as sidecar:
            thread = (await result(sidecar, "create_thread", {"model": "echo", "messages": imported}))["thread"]
            await result(sidecar, "chat", {"thread_id": thread["id"], "messages": user("new")})
            got = await result(sidecar, "get_thread", {"thread_id": thread["id"]})
    assert thread["title"] == "an old question"
    assert [m["content"] for m in got["messages"]] == ["an old question", "an old answer", "new", "new"]
    assert fake_ollama.chat_records[0].json["messages"] == [*imported, *user("new")]
    assert fake_ollama.chat_records == fake_ollama.chat_records[:1]  # the import asked no model


async def test_tool_rounds_are_stored_in_the_thread(
    fake_ollama: ScriptedOllama, data_dir: Path, root: Path
) -> None:
    (root / "notes.txt").write_text("hello")
    ask = msgspec.json.encode(
        {"calls": [{"name": "list_directory", "arguments": {"path": "."}}], "text": "Let me look."}
    ).decode()
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir, "--root", str(root)) as sidecar:
            tid = (await result(sidecar, "create_thread", {"model": "tools"}))["thread"]["id"]
            done = await result(sidecar, "chat", {"thread_id": tid, "messages": user(ask), "tools": ["list_directory"]})
            got = await result(sidecar, "get_thread", {"thread_id": tid})
    stored = got["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant", "tool", "assistant"]
    assert [m["id"] for m in stored] == done["message_ids"]
    assert stored[1]["content"] == "Let me look." and stored[1]["tool_calls"] == done["messages"][0]["tool_calls"]
    assert stored[2]["tool_call_id"] == stored[1]["tool_calls"][0]["id"]
    assert stored[2]["content"] == done["messages"][1]["content"]
    assert stored[3]["content"] == done["messages"][2]["content"]
    assert stored[3]["usage"] == done["usage"] and "usage" not in stored[1]
    assert {m["status"] for m in stored} == {"complete"}


async def test_a_chat_with_no_model_anywhere_stores_nothing(
    fake_ollama: ScriptedOllama, data_dir: Path
) -> None:
    with trio.fail_after(GUARD_S):
        async with stored_sidecar(fake_ollama, data_dir) as sidecar:  # no --model
            tid = (await result(sidecar, "create_thread", {}))["thread"]["id"]
            refused = await error(sidecar, "chat", {"thread_id": tid, "messages": user("lost?")})
            after = await result(sidecar, "get_thread", {"thread_id": tid})
            answered = await result(
                sidecar, "chat", {"thread_id": tid, "model": "echo", "messages": user("again")}
            )
    assert refused["code"] == -32602 and "no model" in refused["message"]
    assert after["messages"] == []  # no lone user message left behind
    assert answered["messages"][-1]["content"] == "again"
    assert fake_ollama.chat_records[-1].json["messages"] == user("again")  # not two in a row
