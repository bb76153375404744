"""What the dispatcher (server.py) answers, exactly, in-process so that scripts/mutate's fast set
sees it: chats on stored threads (a store in a tmp folder: one reply in flight per thread, the
thread freed when its reply ends, a cancelled reply naming its thread), a sidecar without a store,
the refusals of §5 word for word, and a short request cancelled by cancel_request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from sidecar.store import Store, open_store

from ..support import user
from .rig import CHAT, ScriptStream, ndjson, open_rig, streaming


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(tmp_path / "data")
    yield opened
    opened.close()


async def test_one_reply_per_thread_and_the_thread_is_free_again_once_it_answered(
    store: Store,
) -> None:
    held = ScriptStream([*ndjson("par", done=False), trio.Event()])
    async with open_rig(streaming(held, ndjson("second")), store=store) as rig:
        # The thread's model, not --model (m): a chat on a thread without params.model uses it.
        tid = (await rig.call("create_thread", {"model": "tm"}))["result"]["thread"]["id"]
        await rig.request("chat", {"thread_id": tid, "messages": user("go")}, id="first")
        await rig.read_until(lambda l: rig.text("first") == "par")
        busy = await rig.call("chat", {"thread_id": tid, "messages": user("again")})
        busy_delete = await rig.call("delete_thread", {"thread_id": tid})
        got = await rig.call("get_thread", {"thread_id": tid})
        cancel = await rig.call("cancel_chat", {"chat_id": "first"})
        first = await rig.response("first")
        later = await rig.call("chat", {"thread_id": tid, "messages": user("now")})
        status = await rig.call("status")
    assert busy["error"]["code"] == -32006
    assert busy["error"]["message"] == (
        f"Thread busy: a reply is in flight on thread {tid!r} (in this sidecar)"
    )
    assert busy_delete["error"]["code"] == -32006
    assert got["result"]["streaming"]["chat_id"] == "first"
    assert got["result"]["streaming"]["content"] == "par"
    assert cancel["result"] == {"cancelled": ["first"]}
    cancelled = first["result"]
    assert (cancelled["done_reason"], cancelled["thread_id"]) == ("cancelled", tid)
    assert cancelled["messages"] == [{"role": "assistant", "content": "par"}]
    assert len(cancelled["message_ids"]) == 2  # the user's message and the partial reply
    assert later["result"]["thread_id"] == tid
    assert later["result"]["messages"] == [{"role": "assistant", "content": "second"}]
    assert "create_thread" in status["result"]["methods"]  # a store: the thread methods too
    models = [body["model"] for body in rig.chat_bodies()]
    assert models == ["tm", "tm"]


async def test_without_a_store_thread_methods_and_thread_chats_are_not_supported() -> None:
    async with open_rig(streaming()) as rig:
        listed = await rig.call("list_threads", {})
        chat = await rig.call("chat", {"thread_id": "t1", "messages": user("hi")})
        status = await rig.call("status")
    assert listed["error"]["code"] == -32008
    assert listed["error"]["message"] == (
        "Not supported: list_threads needs the conversation store, and this sidecar was started "
        "with --no-store (it keeps no conversations)"
    )
    assert chat["error"]["code"] == -32008
    assert chat["error"]["message"].startswith("Not supported: chat with thread_id needs the ")
    assert [r.url.path for r in rig.requests] == ["/api/version"]  # status's probe, no chat
    assert "create_thread" not in status["result"]["methods"]


async def test_chat_params_refusals_say_exactly_what_is_wrong() -> None:
    async with open_rig(streaming()) as rig:
        empty = await rig.call("chat", {"messages": []})
        after = await rig.call("chat", {**CHAT, "after": "m1"})
    assert (empty["error"]["code"], empty["error"]["message"]) == (
        -32602, "Invalid params: Expected `array` of length >= 1 - at `$.messages`"
    )
    assert (after["error"]["code"], after["error"]["message"]) == (
        -32602, "Invalid params: `after` needs a `thread_id` - at `$.after`"
    )


async def test_a_model_method_on_an_openai_server_names_the_method_and_the_provider() -> None:
    async with open_rig(streaming(), provider="openai") as rig:
        refused = await rig.call("show_model", {"model": "m"})
    assert refused["error"]["code"] == -32008
    assert refused["error"]["message"] == (
        "Not supported: show_model needs Ollama's own API, and this sidecar speaks to an "
        "openai server (--provider openai)"
    )


async def test_cancel_request_of_a_short_request_answers_it_cancelled_naming_its_method() -> None:
    asked = trio.Event()

    async def handler(request: Any) -> Any:
        asked.set()
        await trio.sleep_forever()

    async with open_rig(handler) as rig:
        await rig.request("show_model", {"model": "m"}, id="show")
        await asked.wait()
        cancel = await rig.call("cancel_request", {"id": "show"})
        show = await rig.response("show")
    assert cancel["result"] == {"cancelled": ["show"]}
    assert show["error"]["code"] == -32010
    assert show["error"]["message"] == "Cancelled: show_model was cancelled before it finished"
    assert rig.lines.index(show) < rig.lines.index(cancel)


async def test_a_thread_without_a_model_chats_with_the_model_flag(store: Store) -> None:
    async with open_rig(streaming(ndjson("hello")), store=store) as rig:  # --model m
        tid = (await rig.call("create_thread", {}))["result"]["thread"]["id"]
        answer = await rig.call("chat", {"thread_id": tid, "messages": user("hi")})
    assert answer["result"]["messages"] == [{"role": "assistant", "content": "hello"}]
    [body] = rig.chat_bodies()
    assert body["model"] == "m"


async def test_the_request_bound_says_exactly_why_and_frees_each_place_once() -> None:
    held = [ScriptStream([trio.Event()]) for _ in range(4)]
    async with open_rig(streaming(*held), max_requests=2) as rig:
        await rig.request("chat", CHAT, id="a")
        await rig.request("chat", CHAT, id="b")
        refused = await rig.call("status")
        cancel = await rig.call("cancel_chat", {})  # never counted: both places free again
        await rig.request("chat", CHAT, id="c")
        await rig.request("chat", CHAT, id="d")
        again = await rig.call("status")  # c and d were admitted before it was read
        answers = [await rig.response(i) for i in ("a", "b")]
    assert refused["error"]["code"] == -32005
    assert refused["error"]["message"] == "Overloaded: 2 requests are already in flight (--max-requests 2)"
    assert refused["error"]["data"]["hint"] == (
        "Wait for answers before sending more requests, or start the sidecar with a higher "
        "--max-requests. cancel_chat, cancel_request and shutdown are always served."
    )
    assert cancel["result"] == {"cancelled": ["a", "b"]}
    assert [a["result"]["done_reason"] for a in answers] == ["cancelled", "cancelled"]
    assert again["error"]["code"] == -32005  # c and d hold both places
    assert not [l for l in rig.lines if l.get("id") in ("c", "d")]  # both were admitted, running
