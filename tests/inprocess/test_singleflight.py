"""`SharedCalls` (singleflight.py), driven directly: concurrent callers with one key share one
run, each gets its own copy of an error, a bug is one internal_error, a caller that stops
waiting does not stop the others, and the run ends once nobody waits for it; and, through the
in-process sidecar, a caller arriving while a run nobody waits for is still ending starts anew."""

from __future__ import annotations

import httpx
import pytest
import trio
import trio.testing

from sidecar import errors
from sidecar.singleflight import SharedCalls

from .rig import open_rig, slow_closes


class Upstream:
    """A call that counts its runs and ends when told."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = trio.Event()
        self.cancelled = 0
        self.outcome: object = "v1"

    async def __call__(self) -> object:
        self.runs += 1
        try:
            await self.release.wait()
        except trio.Cancelled:
            self.cancelled += 1
            raise
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


async def gather(shared: SharedCalls, key: str, fn: Upstream, count: int) -> list[object]:
    results: list[object] = [None] * count

    async def one(i: int) -> None:
        try:
            results[i] = await shared.call(key, fn)
        except errors.RpcError as exc:
            results[i] = exc

    async with trio.open_nursery() as nursery:
        for i in range(count):
            nursery.start_soon(one, i)
        await trio.testing.wait_all_tasks_blocked()
        fn.release.set()
    return results


async def test_concurrent_callers_share_one_run_and_a_later_call_runs_again() -> None:
    fn = Upstream()
    async with trio.open_nursery() as nursery:
        shared = SharedCalls(nursery)
        first = await gather(shared, "probe", fn, 3)
        fn.release, fn.outcome = trio.Event(), "v2"
        other = Upstream()
        other.outcome = "tags"
        both = await gather_two(shared, fn, other)
    assert first == ["v1", "v1", "v1"]
    assert fn.runs == 2  # one for the three, one for the later call
    assert both == ("v2", "tags")  # another key is another run


async def gather_two(shared: SharedCalls, a: Upstream, b: Upstream) -> tuple[object, object]:
    out: dict[str, object] = {}

    async def one(key: str, fn: Upstream) -> None:
        out[key] = await shared.call(key, fn)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(one, "probe", a)
        nursery.start_soon(one, "list_models", b)
        await trio.testing.wait_all_tasks_blocked()
        a.release.set()
        b.release.set()
    return out["probe"], out["list_models"]


async def test_each_caller_gets_its_own_copy_of_the_error() -> None:
    fn = Upstream()
    fn.outcome = errors.RpcError(errors.OLLAMA_UNREACHABLE, "down", hint="start it", status=None)
    async with trio.open_nursery() as nursery:
        a, b = await gather(SharedCalls(nursery), "probe", fn, 2)
    assert isinstance(a, errors.RpcError) and isinstance(b, errors.RpcError)
    assert a is not b and a is not fn.outcome
    for got in (a, b):
        assert (got.code, got.message, got.hint, got.extra) == (
            errors.OLLAMA_UNREACHABLE, "down", "start it", {"status": None}
        )
    assert fn.runs == 1


async def test_a_bug_in_the_call_is_one_internal_error() -> None:
    fn = Upstream()
    fn.outcome = KeyError("boom")
    async with trio.open_nursery() as nursery:
        a, b = await gather(SharedCalls(nursery), "probe", fn, 2)
    for got in (a, b):
        assert isinstance(got, errors.RpcError)
        assert (got.code, got.message) == (errors.INTERNAL_ERROR, "Internal error: KeyError: 'boom'")


async def test_a_caller_that_stops_waiting_leaves_the_run_to_the_others_the_last_ends_it() -> None:
    fn = Upstream()
    async with trio.open_nursery() as nursery:
        shared = SharedCalls(nursery)
        results: list[object] = []
        scopes = [trio.CancelScope(), trio.CancelScope()]

        async def caller(scope: trio.CancelScope) -> None:
            with scope:
                results.append(await shared.call("probe", fn))

        nursery.start_soon(caller, scopes[0])
        nursery.start_soon(caller, scopes[1])
        await trio.testing.wait_all_tasks_blocked()
        scopes[0].cancel()
        await trio.testing.wait_all_tasks_blocked()
        alive = fn.cancelled
        scopes[1].cancel()
        await trio.testing.wait_all_tasks_blocked()
        # Nobody waits any more: the next caller starts a new run.
        fn.release = trio.Event()
        fn.release.set()
        again = await shared.call("probe", fn)
    assert (alive, fn.cancelled) == (0, 1)
    assert results == []
    assert (again, fn.runs) == ("v1", 2)


async def test_a_list_models_after_the_last_caller_left_starts_anew_even_while_the_old_run_ends(
    monkeypatch: pytest.MonkeyPatch, mock_clock: trio.testing.MockClock,
) -> None:
    """Through the in-process sidecar: `list_models` "a" is cancelled (`cancel_request`), its run
    is cancelled too but takes a while to end (its upstream connection is slow to close). A
    `list_models` "b" sent meanwhile must not join that dying run (it would be answered
    "Request interrupted"): it asks the server again and gets the models."""
    closing, release = slow_closes(monkeypatch)
    asked: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if len(asked) == 1:
            await trio.sleep_forever()  # the first asking is never answered
        return httpx.Response(200, json={"models": [{"name": "m:latest"}]})

    async with open_rig(handler) as rig:
        await rig.request("list_models", id="a")
        await trio.testing.wait_all_tasks_blocked()  # the server was asked
        cancel = await rig.response(await rig.request("cancel_request", {"id": "a"}))
        await closing.wait()  # the run of "a" was cancelled and is closing its connection
        await rig.request("list_models", id="b")
        await trio.testing.wait_all_tasks_blocked()
        release.set()
        b = await rig.response("b")
    assert cancel["result"] == {"cancelled": ["a"]}
    assert b.get("error") is None  # not "Request interrupted: the sidecar is exiting"
    assert [m["name"] for m in b["result"]["models"]] == ["m:latest"]
    assert asked == ["/api/tags", "/api/tags"]
