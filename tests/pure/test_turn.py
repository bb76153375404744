"""The chat turn against every fixture transcript, and the cases the fixtures leave out."""

from typing import Any

import msgspec

from sidecar.framing import OversizedLine
from sidecar.providers.ollama.turn import OllamaTurn

from ..support import transcript

to_builtins = msgspec.to_builtins


def run(data: bytes, pieces: int = 0) -> tuple[OllamaTurn, list[dict[str, Any]]]:
    """Feeds a transcript to a turn (whole, or `pieces` bytes per read); returns notifications."""
    turn = OllamaTurn(1, started_at=0.0)
    reads = [data] if not pieces else [data[i : i + pieces] for i in range(0, len(data), pieces)]
    out = []
    for i, read in enumerate(reads, 1):
        out += turn.feed(read, now=float(i))
    return turn, [to_builtins(n) for n in out]


def contents(notes: list[dict[str, Any]], method: str) -> str:
    return "".join(n["params"]["content"] for n in notes if n["method"] == method)


def test_text_stream_deltas_concatenate_to_the_reply_and_usage_comes_from_the_final_chunk() -> None:
    turn, notes = run(transcript("a-text-stream.ndjson"), pieces=7)
    reply = "The sky looks blue because air scatters blue & violet light more."
    assert contents(notes, "chat:token") == reply
    assert turn.finished and turn.failure is None
    result = to_builtins(turn.result(now=2.0))
    assert result["done_reason"] == "stop"
    assert result["messages"] == [{"role": "assistant", "content": reply}]
    assert result["usage"]["prompt_tokens"] == 31
    assert result["usage"]["completion_tokens"] == 12
    assert result["usage"]["duration_ms"] == 1288
    assert result["usage"]["tokens_per_second"] == round(12 / 1.098532, 2)


def test_deltas_of_one_network_read_are_merged_into_one_notification() -> None:
    _, notes = run(transcript("a-text-stream.ndjson"))
    assert [n["method"] for n in notes] == ["chat:token"]
    _, notes = run(transcript("a-text-stream.ndjson"), pieces=1)
    assert len(notes) == 8


def test_text_then_tool_call_mid_stream() -> None:
    turn, notes = run(transcript("b-text-then-tool-call.ndjson"), pieces=50)
    assert contents(notes, "chat:token") == "I'll check the weather in Tokyo.\n"
    calls = [n["params"] for n in notes if n["method"] == "chat:tool_call"]
    assert calls == [
        {
            "chat_id": 1,
            "call_id": "call_k3v9x0qa",
            "name": "get_weather",
            "arguments": {"city": "Tokyo", "unit": "celsius"},
        }
    ]
    message = to_builtins(turn.assistant_message())
    assert message["tool_calls"] == [
        {
            "function": {
                "name": "get_weather",
                "arguments": {"city": "Tokyo", "unit": "celsius"},
                "index": 0,
            },
            "id": "call_k3v9x0qa",
        }
    ]


def test_parallel_tool_calls_each_get_a_notification() -> None:
    turn, notes = run(transcript("c-tool-calls-only.ndjson"))
    calls = [(n["params"]["call_id"], n["params"]["arguments"]) for n in notes]
    assert calls == [("call_7fz2m1pd", {"city": "Tokyo"}), ("call_q0ke93xb", {"city": "Paris"})]
    assert turn.assistant_message().content == ""


def test_tool_call_on_the_final_done_chunk_is_not_lost() -> None:
    turn, notes = run(transcript("c2-native-tool-call-in-final-chunk.ndjson"))
    assert [n["params"]["call_id"] for n in notes] == ["q3ZfT8bW0nLk2VxR7yHc4MdJ9sPa1GuE"]
    assert turn.finished and len(turn.tool_calls) == 1


def test_thinking_then_content() -> None:
    turn, notes = run(transcript("d-thinking-then-content.ndjson"), pieces=40)
    assert contents(notes, "chat:thinking") == "Okay, the user says hi. I should greet them back."
    assert contents(notes, "chat:token") == "Hello! How can I help you today?"
    methods = [n["method"] for n in notes]
    assert methods.index("chat:token") > max(
        i for i, m in enumerate(methods) if m == "chat:thinking"
    )
    message = to_builtins(turn.assistant_message())
    assert message["thinking"].startswith("Okay") and message["content"].startswith("Hello")


def test_a_chunk_with_both_thinking_and_content_emits_thinking_first() -> None:
    line = (
        b'{"model":"m","created_at":"t","message":{"role":"assistant","content":"Hi",'
        b'"thinking":"done."},"done":false}\n'
    )
    _, notes = run(line)
    assert [(n["method"], n["params"]["content"]) for n in notes] == [
        ("chat:thinking", "done."),
        ("chat:token", "Hi"),
    ]


def test_midstream_error_line_fails_the_turn_and_keeps_the_partial_reply() -> None:
    turn, notes = run(transcript("e-midstream-error.ndjson"))
    assert contents(notes, "chat:token") == "Once upon a time"
    assert turn.failure is not None and turn.failure.code == -32002
    assert turn.failure.extra["status"] == 200
    assert "unexpected EOF" in turn.failure.message
    assert to_builtins(turn.messages()) == [{"role": "assistant", "content": "Once upon a time"}]


def test_a_malformed_chunk_is_a_stream_interruption() -> None:
    turn, notes = run(b'{"message":{"role":"assistant","content":"a"},"done":false}\n{"message":\n')
    assert contents(notes, "chat:token") == "a"
    assert turn.failure is not None and turn.failure.code == -32003
    assert "malformed chunk" in turn.failure.message


def test_an_oversized_chunk_is_a_stream_interruption() -> None:
    turn = OllamaTurn(1, 0.0)
    assert turn.feed_lines([OversizedLine(99)], 1.0) == []
    assert turn.failure is not None and turn.failure.code == -32003


def test_unicode_separators_in_content_survive_intact() -> None:
    text = "a\u0085b\u2028c\u2029d"
    line = msgspec.json.encode(
        {"message": {"role": "assistant", "content": text}, "done": False}
    ) + b"\n"
    _, notes = run(line.replace("\u2028".encode(), b"\\u2028"), pieces=3)
    assert contents(notes, "chat:token") == text


def test_old_servers_without_tool_call_id_or_index_get_a_synthesised_id() -> None:
    line = (
        b'{"message":{"role":"assistant","content":"","tool_calls":[{"function":'
        b'{"name":"f","arguments":{}}}]},"done":true,"done_reason":"stop"}\n'
    )
    turn, notes = run(line)
    call_id = notes[0]["params"]["call_id"]
    assert call_id.startswith("call_") and len(call_id) == 13
    assert to_builtins(turn.assistant_message())["tool_calls"][0]["id"] == call_id


def test_unknown_fields_are_ignored_and_length_is_reported() -> None:
    line = (
        b'{"model":"m","remote_host":"x","created_at":"t","message":{"role":"assistant",'
        b'"content":"x"},"done":true,"done_reason":"length","logprobs":[],"eval_count":1,'
        b'"eval_duration":1000000000}\n'
    )
    turn, _ = run(line)
    assert turn.result(1.0).done_reason == "length"


def test_a_cancelled_turn_reports_cancelled_with_the_partial_text_and_estimated_usage() -> None:
    turn = OllamaTurn(1, started_at=10.0)
    lines = transcript("a-text-stream.ndjson").split(b"\n")[:3]
    turn.feed_lines(lines, now=11.0)
    result = to_builtins(turn.result(now=12.0, cancelled=True))
    assert result["done_reason"] == "cancelled"
    assert result["messages"] == [{"role": "assistant", "content": "The sky looks"}]
    assert result["usage"] == {
        "prompt_tokens": 0,
        "completion_tokens": 3,
        "duration_ms": 2000,
        "tokens_per_second": 3.0,
        "first_token_ms": 1000, "context_length": None,
    }


def test_lines_after_done_are_ignored() -> None:
    data = transcript("c2-native-tool-call-in-final-chunk.ndjson") * 2
    turn, notes = run(data)
    assert len(notes) == 1 and len(turn.tool_calls) == 1


def test_a_long_reply_is_kept_exactly_across_text_blocks() -> None:
    from sidecar.providers.turn import TextBuffer

    buffer = TextBuffer()
    pieces = [f"t{i:06d} " for i in range(2000)]
    for piece in pieces:
        buffer.append(piece)
    assert buffer.value() == "".join(pieces)
    assert not TextBuffer()


def test_a_body_that_ends_without_done_is_a_stream_interruption() -> None:
    data = b"\n".join(transcript("a-text-stream.ndjson").split(b"\n")[:3]) + b"\n"
    turn, notes = run(data)
    assert turn.eof(now=9.0) == [] and turn.failure is not None
    assert turn.failure.code == -32003 and "without its final chunk" in turn.failure.message
    assert contents(notes, "chat:token") == "The sky looks"


def test_an_unterminated_last_line_is_read_at_the_end_of_the_body() -> None:
    line = b'{"message":{"role":"assistant","content":"x"},"done":true,"done_reason":"stop"}'
    turn, notes = run(line)
    assert notes == [] and not turn.ended
    assert [to_builtins(n)["params"]["content"] for n in turn.eof(now=2.0)] == ["x"]
    assert turn.finished and turn.failure is None


def test_a_read_of_one_line_after_the_end_or_with_an_error_is_read_as_any_other() -> None:
    """A read that is one compact line takes `feed`'s quick path only while the turn streams
    and the chunk is text and nothing else: a line after `done`, or a text chunk that also says
    `error`, is what it would be in any read."""
    line = b'{"message":{"role":"assistant","content":"%s"},"done":false}\n'
    turn = OllamaTurn(1, started_at=0.0)
    assert [to_builtins(n) for n in turn.feed(line % b"hi", now=1.0)] == [
        {"jsonrpc": "2.0", "method": "chat:token", "params": {"chat_id": 1, "content": "hi"}}
    ]
    assert turn.feed(b'{"message":{"role":"assistant","content":""},"done":true}\n', 2.0) == []
    assert turn.feed(line % b"late", now=3.0) == []
    assert turn.finished and turn.content.value() == "hi" and turn.chunks_seen == 2

    turn = OllamaTurn(1, started_at=0.0)
    notes = turn.feed(b'{"message":{"role":"assistant","content":"x"},"error":"boom"}\n', 1.0)
    assert notes == [] and turn.content.value() == ""
    assert turn.failure is not None and turn.failure.kind == "upstream_error"
    assert "boom" in turn.failure.message
