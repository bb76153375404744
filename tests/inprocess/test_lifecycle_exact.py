"""The model lifecycle methods (lifecycle.py) as a host sees them, exactly, in-process so that
scripts/mutate's fast set sees them: show, running, delete, load (its `load_ms` on a virtual
clock), unload, pull (its `model:pull_progress` notifications, a change held back and sent while
Ollama is silent, `success`, the cancelled answer, a failure's `data.progress`), and
`cancel_request`'s `cancelled` list (a pull that finished as its cancel came is not in it).
Ollama is a handler over `MemoryOllama` (rig.py)."""

from __future__ import annotations

from typing import Any, Final

import httpx
import msgspec
import pytest
import trio
import trio.testing

from ..support import GUARD_S
from .rig import Rig, ScriptStream, open_rig, slow_closes

SHOWN: Final = {
    "details": {"family": "llama", "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
    "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
    "capabilities": ["completion", "tools"],
    "modified_at": "2026-12-01T10:00:00Z",
}
RUNNING: Final = {"models": [
    {"name": "a:latest", "size": 900, "size_vram": 600, "expires_at": "2026-12-07T13:07:33Z",
     "context_length": 4096},
    {"name": "b:7b", "size": 50, "size_vram": 0, "expires_at": "2026-12-07T13:01:00Z"},
]}
LOAD_S: Final = 1.2346  # what the scripted load takes on the virtual clock


def pull_line(**fields: Any) -> bytes:
    return msgspec.json.encode(fields) + b"\n"


MANIFEST: Final = pull_line(status="pulling manifest")


def layer(name: str, total: int, completed: int = 0) -> bytes:
    return pull_line(status=f"pulling {name}", digest=f"sha256:{name}", total=total,
                     completed=completed)


class Models:
    """The scripted Ollama's model endpoints; pulls answer with the queued bodies, in order."""

    def __init__(self, *pulls: ScriptStream) -> None:
        self.pulls = list(pulls)
        self.bodies: list[tuple[str, str, Any]] = []  # (method, path, decoded body)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = msgspec.json.decode(request.content) if request.content else None
        self.bodies.append((request.method, path, body))
        if path == "/api/show":
            return httpx.Response(200, json=SHOWN)
        if path == "/api/ps":
            return httpx.Response(200, json=RUNNING)
        if path == "/api/delete":
            return httpx.Response(200)
        if path == "/api/chat":
            unload = body.get("keep_alive") == 0
            if not unload:
                await trio.sleep(LOAD_S)
            return httpx.Response(200, json={
                "model": body["model"], "message": {"role": "assistant", "content": ""},
                "done": True, "done_reason": "unload" if unload else "load"})
        if path == "/api/pull":
            return httpx.Response(200, headers={"Content-Type": "application/x-ndjson"},
                                  stream=self.pulls.pop(0))
        raise AssertionError(f"unexpected {request.method} {path}")


async def call(rig: Rig, method: str, params: Any = None, id: Any = None) -> dict[str, Any]:
    return await rig.response(await rig.request(method, params, id=id))


def progress(rig: Rig, id: Any) -> list[dict[str, Any]]:
    return [l["params"] for l in rig.lines
            if l.get("method") == "model:pull_progress" and l["params"]["request_id"] == id]


def note(id: Any, model: str, status: str, total: int = 0, completed: int = 0,
         digest: str | None = None) -> dict[str, Any]:
    """A `model:pull_progress`'s params as the host reads them."""
    params: dict[str, Any] = {"request_id": id, "model": model, "status": status}
    if digest is not None:
        params["digest"] = digest
    return {**params, "total": total, "completed": completed}


async def test_show_running_delete_and_unload_answer_exactly_what_ollama_said() -> None:
    models = Models()
    with trio.fail_after(GUARD_S):
        async with open_rig(models) as rig:
            shown = await call(rig, "show_model", {"model": "llama3.2"})
            running = await call(rig, "running_models")
            deleted = await call(rig, "delete_model", {"model": "old:1b"})
            unloaded = await call(rig, "unload_model", {"model": "a"})
    assert shown["result"] == {
        "name": "llama3.2", "capabilities": ["completion", "tools"], "context_length": 131072,
        "family": "llama", "parameter_size": "3.2B", "quantization": "Q4_K_M",
        "modified_at": "2026-12-01T10:00:00Z",
    }
    assert running["result"] == {"models": [
        {"name": "a:latest", "size": 900, "size_vram": 600, "expires_at": "2026-12-07T13:07:33Z",
         "context_length": 4096},
        {"name": "b:7b", "size": 50, "size_vram": 0, "expires_at": "2026-12-07T13:01:00Z",
         "context_length": None},
    ]}
    assert deleted["result"] == {}
    assert unloaded["result"] == {}
    assert models.bodies == [
        ("POST", "/api/show", {"model": "llama3.2"}),
        ("GET", "/api/ps", None),
        ("DELETE", "/api/delete", {"model": "old:1b"}),
        ("POST", "/api/chat", {"model": "a", "messages": [], "stream": False, "keep_alive": 0}),
    ]


async def test_load_ms_is_the_time_ollama_took_to_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    models = Models()
    with trio.fail_after(GUARD_S):
        async with open_rig(models) as rig:
            timed = await call(rig, "load_model", {"model": "a", "keep_alive": "10m"})
            plain = await call(rig, "load_model", {"model": "b:7b"})
            kept = await call(rig, "load_model", {"model": "c", "keep_alive": -1})
    assert timed["result"] == {"model": "a", "load_ms": 1235}  # round(1234.6)
    assert plain["result"] == {"model": "b:7b", "load_ms": 1235}
    assert kept["result"] == {"model": "c", "load_ms": 1235}
    assert [body for _, _, body in models.bodies] == [
        {"model": "a", "messages": [], "stream": False, "keep_alive": "10m"},
        {"model": "b:7b", "messages": [], "stream": False},  # no keep_alive: Ollama's default
        {"model": "c", "messages": [], "stream": False, "keep_alive": -1},
    ]


async def test_a_pull_streams_its_progress_then_answers_success() -> None:
    body = ScriptStream([
        MANIFEST, layer("a", 100), layer("b", 50, 50), pull_line(status="verifying sha256 digest"),
        pull_line(status="writing manifest"), pull_line(status="success"),
    ])
    models = Models(body)
    with trio.fail_after(GUARD_S):
        async with open_rig(models) as rig:
            answer = await call(rig, "pull_model", {"model": "llama3.2"}, id="p1")
    assert answer["result"] == {"model": "llama3.2", "status": "success"}
    assert progress(rig, "p1") == [
        note("p1", "llama3.2", "pulling manifest"),
        note("p1", "llama3.2", "pulling a", 100, 0, "sha256:a"),
        note("p1", "llama3.2", "pulling b", 150, 50, "sha256:b"),
        note("p1", "llama3.2", "verifying sha256 digest", 150, 150),
        note("p1", "llama3.2", "writing manifest", 150, 150),
        note("p1", "llama3.2", "success", 150, 150),
    ]
    assert rig.lines[-1] is answer  # after its last notification
    assert models.bodies == [("POST", "/api/pull", {"model": "llama3.2"})]


async def test_a_held_back_change_is_sent_when_due_while_ollama_is_silent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    go_on = trio.Event()
    body = ScriptStream([
        MANIFEST, layer("a", 100), layer("a", 100, 30), go_on, layer("a", 100, 100),
        pull_line(status="success"),
    ])
    models = Models(body)
    with trio.fail_after(GUARD_S):
        async with open_rig(models) as rig:
            started = trio.current_time()
            await rig.request("pull_model", {"model": "m2", "insecure": True}, id=7)
            held = await rig.read_until(
                lambda l: l.get("method") == "model:pull_progress" and l["params"]["completed"] == 30
            )
            sent_at = trio.current_time() - started
            assert not go_on.is_set()  # Ollama is still silent
            go_on.set()
            answer = await rig.response(7)
    assert held["params"] == note(7, "m2", "pulling a", 100, 30, "sha256:a")
    assert sent_at == pytest.approx(0.1)  # held back for the throttle's 100 ms, not until Ollama spoke
    assert answer["result"] == {"model": "m2", "status": "success"}
    # 100/100 came at the same virtual instant as the held-back change went out: it is held
    # back again (the throttle counts from that send), and `success` shows it.
    assert progress(rig, 7) == [
        note(7, "m2", "pulling manifest"),
        note(7, "m2", "pulling a", 100, 0, "sha256:a"),
        note(7, "m2", "pulling a", 100, 30, "sha256:a"),
        note(7, "m2", "success", 100, 100),
    ]
    assert models.bodies == [("POST", "/api/pull", {"model": "m2", "insecure": True})]


async def test_a_cancelled_pull_answers_the_bytes_so_far_then_the_cancel_lists_it() -> None:
    stall = ScriptStream([MANIFEST, layer("a", 4000), layer("b", 2000, 1500), trio.Event()])
    other = ScriptStream([MANIFEST, trio.Event()])
    models = Models(stall, other)
    with trio.fail_after(GUARD_S):
        async with open_rig(models) as rig:
            await rig.request("pull_model", {"model": "big"}, id="pull")
            await rig.read_until(lambda l: l.get("params", {}).get("status") == "pulling b")
            await rig.request("pull_model", {"model": "second"}, id="keep")
            await rig.read_until(lambda l: l.get("params", {}).get("request_id") == "keep")
            cancel = await call(rig, "cancel_request", {"id": "pull"}, id="c")
            pulled = await rig.response("pull")
            await stall.closed.wait()  # the connection to Ollama was closed: it stops downloading
            running = await call(rig, "running_models")
            again = await call(rig, "cancel_request", {"id": "keep"})
            kept = await rig.response("keep")
    assert pulled["result"] == {"model": "big", "status": "cancelled", "total": 6000,
                                "completed": 1500}
    assert cancel["result"] == {"cancelled": ["pull"]}
    assert rig.lines.index(pulled) < rig.lines.index(cancel)
    assert [m["name"] for m in running["result"]["models"]] == ["a:latest", "b:7b"]
    assert kept["result"] == {"model": "second", "status": "cancelled", "total": 0, "completed": 0}
    assert again["result"] == {"cancelled": ["keep"]}
    assert rig.lines.index(kept) > rig.lines.index(running)  # still pulling until its cancel


async def test_a_failed_pull_carries_its_last_progress_once_a_layer_was_reached() -> None:
    failing = ScriptStream([MANIFEST, layer("a", 100, 30), pull_line(error="max retries exceeded")])
    early = ScriptStream([MANIFEST, pull_line(error="registry down")])
    # Ends before `success`, its last line without `\n` (read at the end, held back, then sent).
    dropped = ScriptStream([MANIFEST, layer("a", 100, 60), layer("a", 100, 80).rstrip(b"\n")])
    missing = ScriptStream([MANIFEST, layer("a", 100, 10),
                            pull_line(error="pull model manifest: file does not exist")])
    models = Models(failing, early, dropped, missing)
    with trio.fail_after(GUARD_S):
        async with open_rig(models) as rig:
            failed = await call(rig, "pull_model", {"model": "x"}, id="f")
            before = await call(rig, "pull_model", {"model": "y"}, id="e")
            cut = await call(rig, "pull_model", {"model": "z"}, id="d")
            unknown = await call(rig, "pull_model", {"model": "w"}, id="u")
    error = failed["error"]
    assert (error["code"], error["data"]["kind"]) == (-32002, "upstream_error")
    assert error["data"]["progress"] == note("f", "x", "pulling a", 100, 30, "sha256:a")
    assert progress(rig, "f")[-1] == error["data"]["progress"]
    assert (before["error"]["code"], before["error"]["data"]["kind"]) == (-32002, "upstream_error")
    assert "progress" not in before["error"]["data"]  # no layer reached: no bytes to show
    assert (cut["error"]["code"], cut["error"]["data"]["kind"]) == (-32003, "stream_interrupted")
    assert cut["error"]["data"]["progress"] == note("d", "z", "pulling a", 100, 80, "sha256:a")
    assert progress(rig, "d")[-1] == cut["error"]["data"]["progress"]
    assert (unknown["error"]["code"], unknown["error"]["data"]["kind"]) == (-32001, "model_not_found")
    assert "progress" not in unknown["error"]["data"]


async def test_cancel_request_lists_only_a_request_it_stopped() -> None:
    asked = trio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/chat":
            asked.set()
            await trio.sleep_forever()
        return await Models()(request)

    with trio.fail_after(GUARD_S):
        async with open_rig(handler) as rig:
            itself = await call(rig, "cancel_request", {"id": "me"}, id="me")
            unknown = await call(rig, "cancel_request", {"id": 99})
            finished = await call(rig, "running_models", id="done")
            after = await call(rig, "cancel_request", {"id": "done"})
            await rig.request("load_model", {"model": "a"}, id=5)
            await asked.wait()
            stopped = await call(rig, "cancel_request", {"id": 5})
            load = await rig.response(5)
    assert itself["result"] == {"cancelled": []}  # never itself
    assert unknown["result"] == {"cancelled": []}
    assert "result" in finished
    assert after["result"] == {"cancelled": []}
    assert stopped["result"] == {"cancelled": [5]}
    assert (load["error"]["code"], load["error"]["message"]) == (
        -32010, "Cancelled: load_model was cancelled before it finished")
    assert rig.lines.index(load) < rig.lines.index(stopped)


async def test_a_pull_that_finished_as_its_cancel_came_answers_success_and_is_not_listed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The race §4 names, placed: the pull has read `success` and is closing its upstream
    connection (held open by the test; the close is its last step and cannot be cancelled) when
    `cancel_request` comes. It answers `success`, and the cancel lists nothing."""
    closing, release = slow_closes(monkeypatch)
    models = Models(ScriptStream([MANIFEST, pull_line(status="success")]))
    with trio.fail_after(GUARD_S):
        async with open_rig(models) as rig:
            await rig.request("pull_model", {"model": "m"}, id="p")
            await closing.wait()  # the pull is at its very end
            cancel = await rig.request("cancel_request", {"id": "p"})
            await trio.testing.wait_all_tasks_blocked()  # the cancel was asked for
            release.set()
            cancelled = await rig.response(cancel)
            pulled = await rig.response("p")
    assert pulled["result"] == {"model": "m", "status": "success"}
    assert cancelled["result"] == {"cancelled": []}
