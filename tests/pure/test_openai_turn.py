"""The SSE turn against the byte-exact /v1 fixtures, and the cases they leave out."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from sidecar.providers.openai.turn import OpenAITurn

from ..support import transcript

to_builtins = msgspec.to_builtins
F_OLLAMA = "f-v1-ollama-sse-tool-call.sse"
G_LLAMA_SERVER = "g-v1-llama-server-sse-tool-call.sse"


def run(data: bytes, pieces: int = 0, *, eof: bool = True) -> tuple[OpenAITurn, list[dict[str, Any]]]:
    """Feeds a body to a turn (whole, or `pieces` bytes per read), then its end."""
    turn = OpenAITurn(1, started_at=0.0)
    reads = [data] if not pieces else [data[i : i + pieces] for i in range(0, len(data), pieces)]
    out = []
    for i, read in enumerate(reads, 1):
        out += turn.feed(read, now=float(i))
    if eof and not turn.ended:
        out += turn.eof(now=float(len(reads) + 1))
    return turn, [to_builtins(n) for n in out]


def event(chunk: dict[str, Any]) -> bytes:
    return b"data: " + msgspec.json.encode(chunk) + b"\n\n"


def delta(**fields: Any) -> bytes:
    return event({"choices": [{"index": 0, "delta": fields, "finish_reason": None}]})


def finish(reason: str = "stop") -> bytes:
    return event({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})


def fragment(index: int, arguments: str, **header: Any) -> bytes:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if "name" in header:
        call["function"]["name"] = header.pop("name")
    call.update(header)
    return delta(tool_calls=[call])


DONE = b"data: [DONE]\n\n"


def contents(notes: list[dict[str, Any]], method: str) -> str:
    return "".join(n["params"]["content"] for n in notes if n["method"] == method)


def calls(notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n["params"] for n in notes if n["method"] == "chat:tool_call"]


@pytest.mark.parametrize("pieces", [0, 1, 7, 64])
def test_ollama_v1_fixture_gives_the_same_events_as_the_ollama_path(pieces: int) -> None:
    turn, notes = run(transcript(F_OLLAMA), pieces)
    assert turn.finished and turn.failure is None
    assert contents(notes, "chat:token") == "I'll check the weather in Tokyo.\n"
    assert calls(notes) == [{
        "chat_id": 1, "call_id": "call_k3v9x0qa", "name": "get_weather",
        "arguments": {"city": "Tokyo", "unit": "celsius"},
    }]
    result = to_builtins(turn.result(now=100.0))
    assert result["done_reason"] == "stop"  # finish_reason tool_calls, as Ollama reports it
    assert result["messages"] == [{
        "role": "assistant", "content": "I'll check the weather in Tokyo.\n",
        "tool_calls": [{
            "function": {"name": "get_weather", "arguments": {"city": "Tokyo", "unit": "celsius"},
                         "index": 0},
            "id": "call_k3v9x0qa",
        }],
    }]
    assert (result["usage"]["prompt_tokens"], result["usage"]["completion_tokens"]) == (212, 38)


@pytest.mark.parametrize("pieces", [0, 1, 5, 33])
def test_llama_server_fixture_assembles_the_fragmented_tool_call(pieces: int) -> None:
    turn, notes = run(transcript(G_LLAMA_SERVER), pieces)
    assert turn.finished and turn.failure is None
    assert contents(notes, "chat:token") == "I'll check the weather."
    assert calls(notes) == [{
        "chat_id": 1, "call_id": "Xc4Rj8Lm2Pq7Tz1Wn6Bv9Kd3Hs5Fy0Ga", "name": "get_weather",
        "arguments": {"city": "Tokyo"},
    }]
    usage = to_builtins(turn.result(now=100.0))["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (205, 21)
    # llama-server's own generation time (timings.predicted_ms), not the wall clock.
    assert usage["tokens_per_second"] == round(21 / 0.611883, 2)


def test_the_tool_call_is_written_once_complete_not_at_its_first_fragment() -> None:
    events = transcript(G_LLAMA_SERVER).split(b"\n\n")
    before_finish = b"\n\n".join(events[:7]) + b"\n\n"  # every fragment, not the finish chunk
    turn, notes = run(before_finish, eof=False)
    assert calls(notes) == [] and turn.tool_calls == []
    notes = [to_builtins(n) for n in turn.feed(b"\n\n".join(events[7:]), now=9.0)]
    assert [c["arguments"] for c in calls(notes)] == [{"city": "Tokyo"}]


def test_deltas_of_one_network_read_are_merged_into_one_notification() -> None:
    _, notes = run(delta(content="a") + delta(content="b") + delta(reasoning="c") + finish() + DONE)
    assert [(n["method"], n["params"]["content"]) for n in notes] == [
        ("chat:token", "ab"), ("chat:thinking", "c"),
    ]


def test_keep_alives_crlf_and_multiline_data_are_read() -> None:
    body = (
        b": keep-alive\r\n\r\n"
        b'data: {"choices":[{"index":0,"delta":\r\ndata: {"content":"Hi"}}]}\r\n\r\n'
        b": ping\r\n\r\n" + finish().replace(b"\n", b"\r\n") + b"data: [DONE]\r\n\r\n"
    )
    turn, notes = run(body, pieces=3)
    assert turn.finished and contents(notes, "chat:token") == "Hi"


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_deltas_are_thinking(field: str) -> None:
    turn, notes = run(delta(**{field: "Let me see."}) + delta(content="Yes.") + finish() + DONE)
    assert contents(notes, "chat:thinking") == "Let me see."
    assert to_builtins(turn.assistant_message()) == {
        "role": "assistant", "content": "Yes.", "thinking": "Let me see.",
    }


def test_a_delta_with_both_reasoning_names_is_thinking_once() -> None:
    _, notes = run(delta(reasoning="same", reasoning_content="same") + finish() + DONE)
    assert contents(notes, "chat:thinking") == "same"


def test_a_missing_done_is_a_stream_interruption_keeping_the_partial_reply() -> None:
    turn, notes = run(delta(content="Once upon") + finish())
    assert turn.failure is not None and turn.failure.kind == "stream_interrupted"
    assert "[DONE]" in turn.failure.message and "Ollama" not in turn.failure.message
    assert to_builtins(turn.messages()) == [{"role": "assistant", "content": "Once upon"}]
    assert contents(notes, "chat:token") == "Once upon"


def test_ollamas_bogus_empty_chunk_then_eof_is_a_stream_interruption() -> None:
    bogus = event({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "",
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                "finish_reason": None}]})
    turn, _ = run(delta(content="Once") + bogus)
    assert turn.failure is not None and turn.failure.kind == "stream_interrupted"
    assert turn.content.value() == "Once"


def test_a_body_without_events_says_the_base_url_may_be_wrong() -> None:
    turn, _ = run(b'{"object":"list","data":[]}')
    assert turn.failure is not None and "base URL" in turn.failure.message


@pytest.mark.parametrize(
    "error",
    [{"code": 500, "message": "context overflow", "type": "server_error"}, "context overflow"],
)
def test_an_error_event_fails_the_turn_as_an_upstream_error_under_200(error: Any) -> None:
    turn, notes = run(delta(content="Once upon a time") + event({"error": error}) + delta(content="x"))
    assert turn.failure is not None and turn.failure.kind == "upstream_error"
    assert turn.failure.extra["status"] == 200 and "context overflow" in turn.failure.message
    assert contents(notes, "chat:token") == "Once upon a time"


def test_fragments_of_two_parallel_calls_interleaved_are_assembled_by_index() -> None:
    body = (
        fragment(0, "", id="call_a", name="get_weather", type="function")
        + fragment(1, '{"ci', id="call_b", name="get_time", type="function")
        + fragment(0, '{"city":')
        + fragment(1, 'ty":"Paris"}')
        + fragment(0, '"Tokyo"}')
        + finish("tool_calls") + DONE
    )
    turn, notes = run(body, pieces=11)
    assert calls(notes) == [
        {"chat_id": 1, "call_id": "call_a", "name": "get_weather", "arguments": {"city": "Tokyo"}},
        {"chat_id": 1, "call_id": "call_b", "name": "get_time", "arguments": {"city": "Paris"}},
    ]
    assert [c.function.index for c in turn.tool_calls] == [0, 1]


def test_calls_without_index_continue_the_last_call_until_a_new_id() -> None:
    def untagged(arguments: str, **header: Any) -> bytes:
        call: dict[str, Any] = {"function": {"arguments": arguments}}
        if "name" in header:
            call["function"]["name"] = header.pop("name")
        return delta(tool_calls=[{**call, **header}])

    body = (
        untagged('{"a":', id="c1", name="f") + untagged("1}")
        + untagged("{}", id="c2", name="g") + finish("tool_calls") + DONE
    )
    _, notes = run(body)
    assert [(c["call_id"], c["name"], c["arguments"]) for c in calls(notes)] == [
        ("c1", "f", {"a": 1}), ("c2", "g", {}),
    ]


def test_empty_arguments_are_an_empty_object_and_a_missing_id_is_made_up() -> None:
    _, notes = run(fragment(0, "", name="now") + finish("tool_calls") + DONE)
    [call] = calls(notes)
    assert call["arguments"] == {} and call["call_id"].startswith("call_")


def test_done_without_a_finish_reason_is_an_interrupted_reply() -> None:
    # llama-cpp-python's server ends a reply it interrupted this way (issue 11): not a finish.
    turn, notes = run(delta(content="p0 ") + fragment(0, '{"x":1}', id="c", name="f") + DONE)
    assert turn.failure is not None and turn.failure.kind == "stream_interrupted"
    assert "finish_reason" in turn.failure.message
    assert contents(notes, "chat:token") == "p0 " and calls(notes) == []


@pytest.mark.parametrize("arguments", ['{"city": "Tok', "[1, 2]", "null"])
def test_arguments_that_are_not_a_json_object_fail_the_turn(arguments: str) -> None:
    body = (
        delta(content="Calling.") + fragment(0, "{}", id="ok", name="fine")
        + fragment(1, arguments, id="bad", name="broken") + finish("tool_calls") + DONE
    )
    turn, notes = run(body)
    failure = turn.failure
    assert failure is not None and failure.kind == "upstream_error"
    assert failure.extra["status"] == 200 and "'broken'" in failure.message
    assert failure.hint is not None and "tool call arguments" in failure.hint
    # What was written is what the result keeps: the text and the good call, not the bad one.
    assert [c["call_id"] for c in calls(notes)] == ["ok"]
    assert [c.id for c in turn.tool_calls] == ["ok"]


def test_length_is_reported_and_events_after_done_are_ignored() -> None:
    turn, notes = run(delta(content="a") + finish("length") + DONE + delta(content="b"))
    assert turn.result(now=5.0).done_reason == "length"
    assert contents(notes, "chat:token") == "a"


def test_other_choices_are_not_ours() -> None:
    other = event({"choices": [{"index": 1, "delta": {"content": "nope"}, "finish_reason": None}]})
    _, notes = run(delta(content="yes") + other + finish() + DONE)
    assert contents(notes, "chat:token") == "yes"


def test_a_cancelled_turn_returns_exactly_what_was_written_with_estimated_usage() -> None:
    turn = OpenAITurn(1, started_at=10.0)
    written = turn.feed(delta(content="The sky") + delta(content=" looks") + fragment(0, "{"), 11.0)
    result = to_builtins(turn.result(now=12.0, cancelled=True))
    assert result["done_reason"] == "cancelled"
    text = "".join(n.params.content for n in written)
    assert result["messages"] == [{"role": "assistant", "content": text}] and text == "The sky looks"
    assert result["usage"] == {
        "prompt_tokens": 0, "completion_tokens": 3, "duration_ms": 2000,
        "tokens_per_second": 3.0, "first_token_ms": 1000, "context_length": None,
    }


def test_usage_without_timings_uses_the_time_since_the_first_output() -> None:
    turn = OpenAITurn(1, started_at=0.0)
    turn.feed(delta(content="x"), now=1.0)
    turn.feed(finish() + event({"choices": [], "usage": {"prompt_tokens": 4,
                                                          "completion_tokens": 10}}) + DONE, now=3.0)
    usage = to_builtins(turn.usage(now=3.0))
    assert usage == {
        "prompt_tokens": 4, "completion_tokens": 10, "duration_ms": 3000,
        "tokens_per_second": 5.0, "first_token_ms": 1000, "context_length": None,
    }


def test_a_malformed_event_is_a_stream_interruption() -> None:
    turn, notes = run(delta(content="a") + b"data: {\"choices\":\n\n")
    assert turn.failure is not None and turn.failure.kind == "stream_interrupted"
    assert "malformed event" in turn.failure.message and contents(notes, "chat:token") == "a"


def test_arguments_sent_as_an_object_instead_of_a_string_are_taken_as_they_are() -> None:
    body = delta(tool_calls=[{"index": 0, "id": "c", "function": {"name": "f", "arguments": {"a": [1]}}}])
    _, notes = run(body + finish("tool_calls") + DONE)
    assert [c["arguments"] for c in calls(notes)] == [{"a": [1]}]
